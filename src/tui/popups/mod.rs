//! Popups: one file each. A popup owns the keyboard while it is open.

pub mod command_line;
mod composer;
pub mod detail;
pub mod help;
mod keys;

pub use composer::{Composer, ComposerPurpose};

use super::view::LogLine;
use crate::domain::{ApprovalId, TaskId};

/// The keys that scroll and close a popup, as the keymap has them: `j/k PgUp/PgDn g/G scroll ·
/// Esc closes`.
pub fn scroll_hint(app: &super::app::App) -> String {
    use super::action::Action;
    let k = |a| app.keymap.key_for(a);
    format!(
        "{}/{} {}/{} {}/{} scroll · {} closes",
        k(Action::Down),
        k(Action::Up),
        k(Action::PageUp),
        k(Action::PageDown),
        k(Action::Top),
        k(Action::Bottom),
        k(Action::Close)
    )
}

/// Pasted text for a multi-line field: line ends as `\n`, no other control characters.
pub fn multi_line(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| if c == '\r' { '\n' } else { c })
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .collect()
}

/// Pasted text for a one-line field: its lines joined with spaces, no control characters.
pub fn one_line(text: &str) -> String {
    multi_line(text)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect()
}

/// A two-phase action: it runs only after `y`.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    CancelTask(TaskId),
    StopRun,
}

impl Confirm {
    /// The question, with the keys that answer it (`yes`, `no`) as the keymap has them.
    pub fn question(&self, yes: &str, no: &str) -> String {
        match self {
            Confirm::CancelTask(t) => format!("Cancel {t}? Its agent stops at once. [{yes}/{no}]"),
            Confirm::StopRun => {
                format!("Stop the run for good and quit? It cannot be resumed. [{yes}/{no}]")
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
    /// A page of text: an approval request examined (`approval` is the request its keys
    /// answer), the run's rules.
    Text {
        title: String,
        lines: Vec<String>,
        scroll: usize,
        approval: Option<ApprovalId>,
    },
    /// A task's diff under review (`d`).
    Diff(Box<super::diff::DiffView>),
}
