//! Exports of a run: the event log as JSON lines (the stable interchange format) and the run
//! report in Markdown, and the same report as one HTML page. Pure functions over records and
//! state.

mod html;
mod jsonl;
mod literal;
mod markdown;

pub use html::page as html_page;
pub use jsonl::{ExportLine, jsonl_line};
pub use markdown::report;

/// RFC 3339 time of a unix-millisecond timestamp.
pub fn rfc3339(ts_ms: u64) -> String {
    humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ts_ms),
    )
    .to_string()
}

/// `1h 02m`, `3m 04s`, `12s`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s / 60) % 60),
    }
}

/// `$0.0123`, or `unknown` / a lower bound when some requests could not be priced.
pub fn usd(amount: f64, unpriced: u64) -> String {
    if unpriced == 0 {
        format!("${amount:.4}")
    } else if amount == 0.0 {
        "unknown".to_owned()
    } else {
        format!("≥ ${amount:.4} ({unpriced} unpriced)")
    }
}
