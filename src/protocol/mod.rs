//! What crosses a session: commands from a client, a snapshot and live events from the engine.
//! The same types travel in-process and (later) over the socket.

pub mod wire;

use crate::domain::{AgentId, ApprovalId, Autonomy, Budget, BudgetTarget, RunState, TaskId};
use serde::{Deserialize, Serialize};

/// The version of this protocol; a client and server must agree on it.
///
/// 4: `TogglePause` and `ToggleAgentPause`; a server of 3 would close the connection on them, so
/// the handshake refuses a mismatch instead.
/// 5: `ServerMsg::Live`, live text ahead of the recorded events.
pub const PROTOCOL_VERSION: u32 = 5;

/// A person's instruction to the engine. It takes effect at the next step boundary unless it
/// says `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    PauseRun {
        #[serde(default)]
        now: bool,
    },
    ResumeRun,
    PauseAgent {
        agent: AgentId,
    },
    ResumeAgent {
        agent: AgentId,
    },
    /// Pauses the run when it is not paused, else resumes it: the engine, which holds the
    /// truth, decides, so a second press during a round trip undoes the first.
    TogglePause {
        #[serde(default)]
        now: bool,
    },
    /// Pauses the agent when it is not paused, else resumes it (see `TogglePause`).
    ToggleAgentPause {
        agent: AgentId,
    },
    /// A message to an agent; `None` means the supervisor.
    Inject {
        target: Option<AgentId>,
        text: String,
    },
    Approve {
        approval: ApprovalId,
        #[serde(default)]
        always: bool,
    },
    Deny {
        approval: ApprovalId,
        reason: String,
    },
    RetryTask {
        task: TaskId,
    },
    CancelTask {
        task: TaskId,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Sets a scope's budget (the run's when no target is given).
    SetBudget {
        #[serde(default)]
        target: BudgetTarget,
        budget: Budget,
    },
    /// Extends a reached budget by the amount it started with; without a target, the scope
    /// that reached its budget last (or the run's).
    ExtendBudget {
        #[serde(default)]
        target: Option<BudgetTarget>,
    },
    /// Switches the autonomy level for the rest of the run.
    SetAutonomy {
        level: Autonomy,
    },
    /// Takes back a rule a person added in this run (counting from 1).
    RevokeRule {
        index: usize,
    },
    StopRun {
        #[serde(default)]
        reason: Option<String>,
    },
}

/// The state of a run at one sequence number; live events follow from `state.last_seq + 1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub state: RunState,
}

/// Streamed text on its way to viewers before it is durable. The same text is recorded as
/// `AgentDelta` events a moment later (coalesced, after the store's flush); a viewer shows
/// it at once and counts bytes so that the recorded copy is never shown twice
/// (`tui::view`). Nothing anyone acts on travels this way: tool calls, approvals, commands
/// and statuses are events, durable before anyone sees them. A crash loses at most the
/// text of the steps in flight, which recovery already puts back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "live", rename_all = "snake_case")]
pub enum LiveDelta {
    /// An agent starts a model request: its step header, ahead of `llm_request_started`.
    Step {
        agent: AgentId,
        task: Option<TaskId>,
        step: u32,
        model: String,
    },
    /// Text of that request; `offset` is how many bytes of the request's text (every kind)
    /// came before it.
    Text {
        agent: AgentId,
        task: Option<TaskId>,
        step: u32,
        offset: u64,
        kind: crate::domain::DeltaKind,
        text: String,
    },
}

impl LiveDelta {
    pub fn agent(&self) -> &AgentId {
        match self {
            LiveDelta::Step { agent, .. } | LiveDelta::Text { agent, .. } => agent,
        }
    }
}

/// What a viewer receives after its snapshot, in the order the engine made it: recorded
/// events, and live text that runs ahead of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Feed {
    /// Boxed: the channels that carry the feed hold many small live pieces.
    Record(Box<crate::domain::EventRecord>),
    Live(LiveDelta),
}
