//! Exports of a run: the event log as JSON lines (the stable interchange format) and the run
//! report in Markdown, and the same report as one HTML page. Pure functions over records and
//! state.
//!
//! Exports stream: a [`Report`] takes a run's records one at a time (folding the state and
//! keeping only what the report prints, see `scan`), then writes the report section by
//! section; JSON lines are written one record at a time. Memory does not grow with a run's
//! length.

mod html;
mod jsonl;
mod literal;
mod markdown;
mod scan;

pub use html::page as html_page;
pub use jsonl::{ExportLine, jsonl_line};
pub use markdown::report;

use crate::domain::{EventRecord, RunState};

/// The report of a run, made from one pass over its records.
#[derive(Default)]
pub struct Report {
    state: RunState,
    scan: scan::Scan,
}

impl Report {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next record of the run, in order.
    pub fn feed(&mut self, rec: &EventRecord) {
        self.state.apply(rec);
        self.scan.feed(rec);
    }

    /// The run's state, folded from the records fed so far.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// Writes the Markdown report, section by section.
    pub fn write_markdown(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        markdown::sections(&self.state, &self.scan, |s| out.write_all(s.as_bytes()))
    }

    /// Writes the report as one HTML page, section by section.
    pub fn write_html(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        html::write_page(out, &self.state, &self.scan)
    }
}

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
