//! Status machines for runs, tasks and agents. Every change carries a reason (see `Event`);
//! these functions say which changes are legal so the fold can refuse nonsense.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[default]
    Planning,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    /// Planning or Running: the time counts as active.
    pub fn is_working(self) -> bool {
        matches!(self, Self::Planning | Self::Running)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// `Planning → Running ⇄ Paused → Completed | Failed | Cancelled`. Planning may also be
    /// paused, and any live status may end.
    pub fn can_become(self, next: RunStatus) -> bool {
        use RunStatus::*;
        if self.is_terminal() {
            return false;
        }
        match (self, next) {
            (a, b) if a == b => false,
            (Planning, Running | Paused) => true,
            (Running, Paused) | (Paused, Running | Planning) | (Planning, Planning) => true,
            (_, Completed | Failed | Cancelled) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    #[default]
    Pending,
    Ready,
    Running,
    AwaitingApproval,
    Done,
    Failed,
    Cancelled,
    Blocked,
    /// Its branch does not merge cleanly into the run branch: its worktree holds the merge with
    /// conflict markers, for its agent (or a person) to resolve.
    Conflict,
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Running | Self::AwaitingApproval | Self::Conflict
        )
    }

    /// `Pending → Ready → Running → (AwaitingApproval) → Done | Failed | Cancelled | Blocked`.
    /// A failed, cancelled or blocked task may be retried (back to Pending or Ready); an
    /// interrupted running task goes back to Ready.
    pub fn can_become(self, next: TaskStatus) -> bool {
        use TaskStatus::*;
        match (self, next) {
            (a, b) if a == b => false,
            (Done, _) => false,
            (Pending, Ready | Blocked | Cancelled) => true,
            (Ready, Running | Pending | Blocked | Cancelled) => true,
            (
                Running,
                AwaitingApproval | Done | Failed | Cancelled | Blocked | Ready | Conflict,
            ) => true,
            (
                AwaitingApproval,
                Running | Done | Failed | Cancelled | Blocked | Ready | Conflict,
            ) => true,
            // A conflict is resolved (by its agent or a person) and merged, or given up.
            (Conflict, Running | AwaitingApproval | Done | Failed | Cancelled | Ready) => true,
            (Failed | Cancelled | Blocked, Pending | Ready) => true,
            (Blocked, Cancelled | Failed) => true,
            // A failed task given up for good (cancelled, or replaced by another).
            (Failed, Cancelled) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    #[default]
    Idle,
    Thinking,
    CallingTool,
    WaitingForApproval,
    Paused,
    Stuck,
}

macro_rules! display_snake {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn label(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}

display_snake!(RunStatus { Planning => "planning", Running => "running", Paused => "paused",
    Completed => "completed", Failed => "failed", Cancelled => "cancelled" });
display_snake!(TaskStatus { Pending => "pending", Ready => "ready", Running => "running",
    AwaitingApproval => "awaiting approval", Done => "done", Failed => "failed",
    Cancelled => "cancelled", Blocked => "blocked", Conflict => "conflict" });
display_snake!(AgentStatus { Idle => "idle", Thinking => "thinking", CallingTool => "calling tool",
    WaitingForApproval => "waiting for approval", Paused => "paused", Stuck => "stuck" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_runs_never_change() {
        for s in [
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ] {
            assert!(!s.can_become(RunStatus::Running));
            assert!(!s.can_become(RunStatus::Paused));
        }
        assert!(RunStatus::Running.can_become(RunStatus::Paused));
        assert!(RunStatus::Paused.can_become(RunStatus::Running));
        assert!(!RunStatus::Running.can_become(RunStatus::Running));
    }

    #[test]
    fn done_tasks_are_final() {
        for next in [TaskStatus::Ready, TaskStatus::Running, TaskStatus::Failed] {
            assert!(!TaskStatus::Done.can_become(next));
        }
        assert!(TaskStatus::Failed.can_become(TaskStatus::Ready));
        assert!(!TaskStatus::Pending.can_become(TaskStatus::Running));
    }
}
