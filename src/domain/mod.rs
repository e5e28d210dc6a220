//! Pure data and pure functions: ids, events, the run state and its fold, the task graph,
//! status machines, budgets and policy decisions. Nothing here does I/O or knows about sled,
//! HTTP or terminals.

pub mod budget;
pub mod describe;
mod effort;
pub mod event;
pub mod graph;
pub mod ids;
pub mod meta;
pub mod policy;
pub mod remote_code;
pub mod sanitize;
mod shell_words;
pub mod state;
pub mod status;
pub mod workspace_path;

pub use budget::{Budget, BudgetScope, BudgetTarget, Budgets, Spend, Usage};
pub use effort::Effort;
pub use event::{
    Actor, ApprovalDecision, DeltaKind, Event, EventRecord, LogLevel, RoleChoice, SCHEMA_VERSION,
    json_len,
};
pub use graph::{GraphError, TaskGraph};
pub use ids::{AgentId, ApprovalId, CallId, RunId, TaskId};
pub use meta::RunMeta;
pub use policy::{Autonomy, Decision, Risk, Rule};
pub use state::{AgentState, ApprovalState, RunBranchInfo, RunState, TaskState};
pub use status::{AgentStatus, RunStatus, TaskStatus};
