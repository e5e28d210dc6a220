//! Popups: one file each. A popup owns the keyboard while it is open.

pub mod command_line;
mod composer;
pub mod detail;
pub mod help;
mod keys;

pub use composer::{Composer, ComposerPurpose};

use super::view::LogLine;
use crate::domain::TaskId;

/// A two-phase action: it runs only after `y`.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    CancelTask(TaskId),
    StopRun,
}

impl Confirm {
    pub fn question(&self) -> String {
        match self {
            Confirm::CancelTask(t) => format!("Cancel {t}? Its agent stops at once. [y/n]"),
            Confirm::StopRun => {
                "Stop the run for good and quit? It cannot be resumed. [y/n]".into()
            }
        }
    }
}

pub enum Popup {
    Help {
        filter: String,
        scroll: usize,
    },
    Detail {
        task: TaskId,
        scroll: usize,
    },
    LogEntry(LogLine),
    Confirm(Confirm),
    Composer(Box<Composer>),
    /// A page of text: an approval request examined, the run's rules.
    Text {
        title: String,
        lines: Vec<String>,
        scroll: usize,
    },
}
