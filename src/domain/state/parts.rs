//! The parts of a run's state: the run itself, tasks, agents, approvals, calls in flight and
//! people's messages.

use crate::domain::budget::Usage;
use crate::domain::event::{Actor, ApprovalDecision};
use crate::domain::ids::{AgentId, ApprovalId, CallId, RunId, TaskId};
use crate::domain::policy::{Autonomy, Risk, Rule};
use crate::domain::status::{AgentStatus, TaskStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: RunId,
    pub goal: String,
    pub workspace: String,
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub base_url: Option<String>,
    pub simulated: bool,
    pub concurrency: u32,
    pub max_attempts: u32,
    pub autonomy: Autonomy,
    pub seed: u64,
    pub created_by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub id: TaskId,
    pub title: String,
    pub description: String,
    pub role: String,
    pub depends_on: Vec<TaskId>,
    pub status: TaskStatus,
    pub status_reason: String,
    pub attempts: u32,
    pub agent: Option<AgentId>,
    pub summary: Option<String>,
    pub evidence: Option<String>,
    pub artifacts: Vec<String>,
    /// The reason of every failed attempt, oldest first.
    pub failures: Vec<String>,
    pub usage: Usage,
    pub cost_usd: f64,
    pub turns: u64,
    pub created_by: AgentId,
    /// When the first attempt started and when the task ended (ms), for its wall time.
    #[serde(default)]
    pub started_ms: Option<u64>,
    #[serde(default)]
    pub ended_ms: Option<u64>,
    /// What done means, and the command the engine runs before it accepts completion.
    #[serde(default)]
    pub acceptance: Option<String>,
    #[serde(default)]
    pub check: Option<String>,
    /// The last run of the check: passed, and the tail of its output.
    #[serde(default)]
    pub last_check: Option<(bool, String)>,
    /// The supervisor's guidance for retries, oldest first.
    #[serde(default)]
    pub guidance: Vec<String>,
    /// The task that stands in for this one.
    #[serde(default)]
    pub replaced_by: Option<TaskId>,
    /// Lines added and removed per file the task changed (`artifacts`), summed over attempts.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub diffstat: std::collections::BTreeMap<String, LineCounts>,
    /// The git commit of the task's work, once the engine has made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The worktree of its latest attempt, while it exists, with its branch and the commit of
    /// the run branch it started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The merge commit of its branch into the run branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<String>,
    /// What the merge queue has taken of it (recorded, not yet merged or turned back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merging: Option<PendingMerge>,
    /// Who approved its calls, each once, in the order of their first approval (the state
    /// keeps only the latest answered approvals; the task's commit names them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
}

/// A completion in the merge queue: the tip of the task's branch, and the summary and
/// evidence its task is done with once merged (recovery needs them when the merge landed
/// and its record did not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMerge {
    pub tip: String,
    pub summary: String,
    pub evidence: String,
}

/// The branch a run works on (see `Event::RunBranch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunBranchInfo {
    pub repo: String,
    pub branch: String,
    pub base: String,
    pub worktree: String,
    pub existing: bool,
}

/// Lines a task added to and removed from one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCounts {
    pub added: u32,
    pub removed: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    pub id: AgentId,
    pub role: String,
    pub model: String,
    /// The provider the model is reached through (empty in runs recorded before it was kept).
    #[serde(default)]
    pub provider: String,
    pub status: AgentStatus,
    pub status_reason: String,
    pub task: Option<TaskId>,
    pub usage: Usage,
    pub cost_usd: f64,
    /// Requests whose cost could not be priced.
    pub unpriced_requests: u64,
    pub requests: u64,
    /// Input tokens of the latest request: how full the context is.
    pub context_tokens: u64,
    /// The model's context window (0: not known).
    #[serde(default)]
    pub context_window: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalState {
    pub id: ApprovalId,
    pub call: CallId,
    pub agent: AgentId,
    pub task: Option<TaskId>,
    pub tool: String,
    pub risk: String,
    pub summary: String,
    #[serde(default)]
    pub label: Option<Risk>,
    pub requested_seq: u64,
    pub resolution: Option<(ApprovalDecision, Actor)>,
    /// The call it was for was abandoned (the process stopped while it waited, or the run
    /// was stopped).
    pub expired: bool,
    /// Why it expired, when that was recorded (older logs: an interruption).
    #[serde(default)]
    pub expiry: Option<String>,
}

impl ApprovalState {
    pub fn is_pending(&self) -> bool {
        self.resolution.is_none() && !self.expired
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingCall {
    pub call: CallId,
    pub agent: AgentId,
    pub task: Option<TaskId>,
    pub tool: String,
    /// The arguments, as the model sent them.
    #[serde(default)]
    pub args: serde_json::Value,
    /// What decided the call.
    #[serde(default)]
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HumanNote {
    pub target: AgentId,
    pub text: String,
    pub by: Actor,
    pub seq: u64,
}

/// A rule a person added during the run ("approve always for this kind").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRule {
    pub rule: Rule,
    pub by: Actor,
    pub seq: u64,
}

/// A scope whose budget was reached and is paused until a person extends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetHold {
    pub target: crate::domain::budget::BudgetTarget,
    pub reason: String,
    pub seq: u64,
}

/// What the sandbox can do where the run runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxNote {
    pub complete: bool,
    pub detail: String,
    /// The parts that are not fully there.
    #[serde(default)]
    pub missing: Vec<String>,
}
