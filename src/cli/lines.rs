//! One line of text per event, for `--headless` output.

use crate::domain::EventRecord;
use crate::domain::describe::{clock, describe};

pub fn line(rec: &EventRecord) -> String {
    let (who, what) = describe(&rec.event);
    format!("{:>6} {} {:<12} {what}", rec.seq, clock(rec.ts_ms), who)
}
