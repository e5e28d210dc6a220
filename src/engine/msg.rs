//! Messages into the engine actor, and its answers. Every answer is sent only after the events
//! it depends on are durable.

use crate::domain::{Actor, AgentId, CallId, Event, EventRecord, RunState, TaskId};
use crate::llm::RequestContext;
use crate::protocol::Command;
use crate::tools::{ToolCall, ToolError, ToolOutput};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

pub(crate) enum Msg {
    Command {
        by: Actor,
        command: Command,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The state, the live events after it, and the recorded events `backlog` asks for.
    Subscribe {
        backlog: Backlog,
        reply: oneshot::Sender<Subscription>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    Agent(AgentMsg),
}

/// Which recorded events a subscriber wants along with the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    None,
    /// From this sequence number on.
    From(u64),
    /// The last this many.
    Last(u64),
}

/// What a subscriber gets: recorded events it asked for, the state after them, and the live
/// events that follow.
pub struct Subscription {
    pub backlog: Vec<EventRecord>,
    pub state: RunState,
    pub events: broadcast::Receiver<EventRecord>,
    /// The same events with live text among them, for viewers (see [`crate::protocol::Feed`]).
    pub feed: broadcast::Receiver<crate::protocol::Feed>,
}

/// From an agent loop.
pub(crate) enum AgentMsg {
    /// Events to record as they are (deltas, request accounting, logs).
    Emit(Vec<Event>),
    /// The git worker is through with a finished task: its commit (or why there is none).
    Committed {
        task: TaskId,
        event: Option<Box<Event>>,
    },
    /// The merge queue's worker did a step.
    Merge(Box<super::actor::merger::Report>),
    /// The agent is at a step boundary and asks whether to go on. `idle` means it has nothing
    /// to do until something happens (the supervisor between wakes).
    Boundary {
        agent: AgentId,
        idle: bool,
        reply: oneshot::Sender<Go>,
    },
    /// The agent wants to call a tool.
    Tool {
        ask: ToolAsk,
        reply: oneshot::Sender<Verdict>,
    },
    /// The check command a `Verdict::Check` asked for has run.
    Checked {
        agent: AgentId,
        call: CallId,
        result: Result<ToolOutput, ToolError>,
        reply: oneshot::Sender<Verdict>,
    },
    /// A tool the engine allowed has finished.
    ToolDone {
        agent: AgentId,
        task: Option<TaskId>,
        call: CallId,
        result: Result<ToolOutput, ToolError>,
        duration_ms: u64,
    },
    /// The agent's model provider refuses in a way only a person can fix (quota or spend
    /// limit, a rejected key, an unknown model, a server that cannot be reached). The agent
    /// waits at its boundary and tries the step again once the run is resumed.
    Blocked { agent: AgentId, reason: String },
    /// The agent loop ended.
    Exited { agent: AgentId, outcome: Outcome },
}

/// The engine's answer at a step boundary.
pub(crate) enum Go {
    Continue {
        messages: Vec<String>,
        context: Box<RequestContext>,
        step_cancel: StepStop,
    },
    Stop,
}

/// Stops one step of an agent (pause now, a budget reached, a provider refusal) and says why,
/// so the cancelled step is recorded with its real cause.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepStop {
    token: CancellationToken,
    why: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl StepStop {
    /// Stops the step; the first reason given is the one recorded.
    pub fn stop(&self, why: impl Into<String>) {
        if let Ok(mut w) = self.why.lock() {
            w.get_or_insert_with(|| why.into());
        }
        self.token.cancel();
    }

    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }

    pub fn why(&self) -> String {
        self.why
            .lock()
            .ok()
            .and_then(|w| w.clone())
            .unwrap_or_else(|| "the step was stopped".to_owned())
    }
}

/// A tool call an agent asks for, as the gate reads it.
pub(crate) struct ToolAsk {
    pub agent: AgentId,
    pub task: Option<TaskId>,
    pub name: String,
    pub args: serde_json::Value,
    pub parsed: Result<ToolCall, ToolError>,
    pub from: CallFrom,
}

/// Who asks for a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFrom {
    /// The model. `batched`: other calls of the same turn came before this one, so the model
    /// sent it without seeing their results.
    Model { batched: bool },
    /// The engine: the check command of the agent's task, run at complete_task. It passes
    /// the policy like any command, whatever tools the role has.
    Check,
}

/// The engine's answer to a tool request.
pub(crate) enum Verdict {
    /// Carry it out, as this call; `network` when policy grants a command the network.
    Run { call: CallId, network: bool },
    /// The result is this text (engine tools, denials, bad arguments); `ends_task` when the
    /// call finished the agent's work.
    Answer { text: String, ends_task: bool },
    /// Run the task's check command (through the policy, in the sandbox) and send the result
    /// back with `AgentMsg::Checked`; the engine then completes the task or says why not.
    Check { call: CallId, command: String },
}

/// Why an agent loop ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// It called complete_task, fail_task or finish_run.
    Finished,
    /// The engine told it to stop.
    Stopped,
    /// It could not go on.
    Failed(String),
}
