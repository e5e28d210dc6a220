use crate::domain::{Event, EventRecord, RunId};
use serde::Serialize;

/// One line of `export --format jsonl`.
#[derive(Debug, Serialize)]
pub struct ExportLine<'a> {
    pub seq: u64,
    pub time: String,
    pub ts_ms: u64,
    pub run: &'a RunId,
    pub v: u16,
    pub event: &'a Event,
}

/// The line, with every value exactly as recorded; DEL, C1 and bidi controls, which JSON leaves
/// raw, are written as `\uXXXX` escapes so the line is safe to show on a terminal.
pub fn jsonl_line(rec: &EventRecord) -> Result<String, serde_json::Error> {
    let line = serde_json::to_string(&ExportLine {
        seq: rec.seq,
        time: super::rfc3339(rec.ts_ms),
        ts_ms: rec.ts_ms,
        run: &rec.run,
        v: rec.v,
        event: &rec.event,
    })?;
    Ok(match crate::domain::sanitize::json(&line) {
        std::borrow::Cow::Borrowed(_) => line,
        std::borrow::Cow::Owned(escaped) => escaped,
    })
}
