//! One line of text per event, for `--headless` output. What models, commands and people
//! wrote is sanitised: no terminal control reaches the terminal, and no text forges a line.

use crate::domain::EventRecord;
use crate::domain::describe::{clock, describe};
use crate::domain::sanitize;

pub fn line(rec: &EventRecord) -> String {
    let (who, what) = describe(&rec.event);
    format!(
        "{:>6} {} {:<12} {}",
        rec.seq,
        clock(rec.ts_ms),
        sanitize::line(&who),
        sanitize::line(&what)
    )
}
