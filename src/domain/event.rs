//! The event log's vocabulary. Everything that happens in a run is one of these, appended with
//! a sequence number and a time. The encoding is JSON with a `type` tag and a schema version on
//! every record, so old logs stay readable as the set grows.

use super::budget::{Budget, BudgetScope, BudgetTarget, Budgets, Usage};
use super::ids::{AgentId, ApprovalId, CallId, RunId, TaskId};
use super::policy::{Autonomy, Risk, Rule};
use super::status::{AgentStatus, RunStatus, TaskStatus};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The version of the event schema written by this build.
pub const SCHEMA_VERSION: u16 = 1;

/// One entry of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Schema version of `event`.
    pub v: u16,
    pub run: RunId,
    /// Contiguous from 1 within a run.
    pub seq: u64,
    /// Unix time in milliseconds.
    pub ts_ms: u64,
    pub event: Event,
}

/// Who did something a person may ask about afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A person at a keyboard (or the `--yes` flag they passed, when `auto`).
    Human {
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(default)]
        auto: bool,
    },
    /// The engine itself (recovery, budgets, policy).
    Engine,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Human { user, host, auto } => {
                f.write_str(user)?;
                if let Some(h) = host {
                    write!(f, "@{h}")?;
                }
                if *auto {
                    f.write_str(" (--yes)")?;
                }
                Ok(())
            }
            Actor::Engine => f.write_str("engine"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaKind {
    Reasoning,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ApprovalDecision {
    Approve,
    /// Approve, and allow every later call of this kind (tool) in this run.
    ApproveAlways,
    Deny {
        reason: String,
    },
}

/// Everything that can happen in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunCreated {
        goal: String,
        workspace: String,
        provider: String,
        model: String,
        /// Where the provider was reached (not for `sim`); a resume goes there too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
        simulated: bool,
        budget: Budget,
        /// Budgets per role and per task (the run's is `budget`).
        #[serde(default, skip_serializing_if = "is_default")]
        budgets: Budgets,
        concurrency: u32,
        max_attempts: u32,
        autonomy: Autonomy,
        seed: u64,
        by: Actor,
    },
    RunStatusChanged {
        status: RunStatus,
        reason: String,
    },
    TaskCreated {
        task: TaskId,
        title: String,
        description: String,
        role: String,
        depends_on: Vec<TaskId>,
        by: AgentId,
        /// What done means, as the supervisor wrote it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        acceptance: Option<String>,
        /// A command the engine runs in the sandbox before it accepts complete_task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<String>,
    },
    /// The supervisor starts a task again with guidance for the next attempt (a
    /// `task_status_changed` to Ready follows).
    TaskRetried {
        task: TaskId,
        guidance: String,
        by: AgentId,
    },
    /// `replacement` stands in for `task`: the dependents listed wait for it instead.
    TaskReplaced {
        task: TaskId,
        replacement: TaskId,
        dependents: Vec<TaskId>,
        by: AgentId,
    },
    /// The engine ran a task's check command when its agent called complete_task; the task
    /// completes only when it passed. `output` is the tail of what it printed.
    TaskChecked {
        task: TaskId,
        command: String,
        ok: bool,
        output: String,
    },
    TaskStatusChanged {
        task: TaskId,
        status: TaskStatus,
        reason: String,
    },
    /// A task starts an attempt on an agent (the task becomes Running).
    TaskAssigned {
        task: TaskId,
        agent: AgentId,
        attempt: u32,
    },
    /// A task is done, with the agent's evidence (the task becomes Done).
    TaskCompleted {
        task: TaskId,
        summary: String,
        evidence: String,
    },
    AgentSpawned {
        agent: AgentId,
        role: String,
        model: String,
        /// The provider the agent's model is reached through.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        provider: String,
    },
    AgentStatusChanged {
        agent: AgentId,
        status: AgentStatus,
        reason: String,
    },
    LlmRequestStarted {
        agent: AgentId,
        task: Option<TaskId>,
        model: String,
        prompt_hash: String,
        step: u32,
        /// The model's context window in tokens (0: not known).
        #[serde(default, skip_serializing_if = "is_zero")]
        context_window: u64,
    },
    AgentDelta {
        agent: AgentId,
        kind: DeltaKind,
        text: String,
    },
    /// A message the engine gave an agent (the supervisor's opening and its updates, a
    /// person's message as delivered), so that a resumed run can give the agent its
    /// conversation back.
    AgentInput {
        agent: AgentId,
        text: String,
    },
    LlmRequestFinished {
        agent: AgentId,
        task: Option<TaskId>,
        usage: Usage,
        /// `None` when the model's price is unknown (never shown as zero).
        cost_usd: Option<f64>,
        duration_ms: u64,
        stop_reason: String,
    },
    ToolCallRequested {
        agent: AgentId,
        task: Option<TaskId>,
        call: CallId,
        tool: String,
        args: serde_json::Value,
        /// What decided the call (a policy rule, a person's standing allowance, the autonomy
        /// level), for the audit trail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<String>,
    },
    ApprovalRequested {
        approval: ApprovalId,
        call: CallId,
        agent: AgentId,
        task: Option<TaskId>,
        tool: String,
        risk: String,
        summary: String,
        /// What the call touches, whether it can be undone, whether it reaches the network.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<Risk>,
    },
    ApprovalResolved {
        approval: ApprovalId,
        decision: ApprovalDecision,
        by: Actor,
    },
    /// A pending approval that can no longer be answered (the run was stopped).
    ApprovalExpired {
        approval: ApprovalId,
        reason: String,
        by: Actor,
    },
    ToolCallFinished {
        agent: AgentId,
        call: CallId,
        ok: bool,
        output: String,
        duration_ms: u64,
    },
    FileChanged {
        agent: AgentId,
        task: Option<TaskId>,
        path: String,
        added: u32,
        removed: u32,
    },
    HumanMessage {
        target: AgentId,
        text: String,
        by: Actor,
    },
    BudgetExceeded {
        /// Whose budget (the run's in logs written before there were others).
        #[serde(default, skip_serializing_if = "BudgetTarget::is_run")]
        target: BudgetTarget,
        scope: BudgetScope,
        limit: f64,
        used: f64,
    },
    BudgetChanged {
        #[serde(default, skip_serializing_if = "BudgetTarget::is_run")]
        target: BudgetTarget,
        budget: Budget,
        by: Actor,
    },
    /// A person's "approve always for this kind": a rule for the rest of the run.
    RunRuleAdded {
        rule: Rule,
        by: Actor,
    },
    /// A run rule taken back (`index` counts from 1 in the list at that moment).
    RunRuleRevoked {
        index: usize,
        rule: Rule,
        by: Actor,
    },
    AutonomyChanged {
        level: Autonomy,
        by: Actor,
    },
    /// The config's `[[policy]]` rules in force from here on (recorded when they change).
    PolicyRules {
        rules: Vec<Rule>,
    },
    /// The provider and model each role runs on, as config and flags set them (recorded at
    /// start and when they change): a resumed run keeps them unless new flags say otherwise.
    RoleSettings {
        roles: std::collections::BTreeMap<String, RoleChoice>,
    },
    /// What the kernel lets the sandbox do on the machine running the run.
    SandboxReported {
        complete: bool,
        detail: String,
        /// The parts of the sandbox that are not fully there (`network`, `processes`, …).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        missing: Vec<String>,
    },
    /// The process stopped while work was in flight; that work was put back.
    Recovered {
        reason: String,
        tasks: Vec<TaskId>,
        calls: Vec<CallId>,
    },
    Log {
        level: LogLevel,
        source: String,
        text: String,
    },
    /// A finished task's work was committed to the workspace's git repository.
    TaskCommitted {
        task: TaskId,
        sha: String,
    },
    /// The run works on a branch of a git repository: a fresh one (greenfield), or the
    /// person's own (`run --repo`), whose work tree, index, HEAD and other branches it never
    /// touches. `worktree` holds the run branch: the merged result.
    RunBranch {
        repo: String,
        branch: String,
        /// The commit the run branch started from.
        base: String,
        worktree: String,
        /// The repository is the person's (not made for the run).
        existing: bool,
    },
    /// A task attempt got its own worktree and branch, made from the run branch at `base`.
    WorktreeCreated {
        task: TaskId,
        attempt: u32,
        path: String,
        branch: String,
        base: String,
    },
    /// A task's worktree was removed (its work merged, the task cancelled, or the run over).
    WorktreeRemoved {
        task: TaskId,
        path: String,
    },
    /// The merge queue took a task's branch at `tip` to merge into the run branch; recorded
    /// before any git step, so that recovery finds a merge the process did not live to record.
    MergeStarted {
        task: TaskId,
        tip: String,
        summary: String,
        evidence: String,
    },
    /// A task's branch merged into the run branch: `sha` is the merge commit.
    TaskMerged {
        task: TaskId,
        sha: String,
    },
}

impl Event {
    /// The `type` tag, for filters and terse output.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunCreated { .. } => "run_created",
            Event::RunStatusChanged { .. } => "run_status_changed",
            Event::TaskCreated { .. } => "task_created",
            Event::TaskRetried { .. } => "task_retried",
            Event::TaskReplaced { .. } => "task_replaced",
            Event::TaskChecked { .. } => "task_checked",
            Event::TaskStatusChanged { .. } => "task_status_changed",
            Event::TaskAssigned { .. } => "task_assigned",
            Event::TaskCompleted { .. } => "task_completed",
            Event::AgentSpawned { .. } => "agent_spawned",
            Event::AgentStatusChanged { .. } => "agent_status_changed",
            Event::LlmRequestStarted { .. } => "llm_request_started",
            Event::AgentDelta { .. } => "agent_delta",
            Event::LlmRequestFinished { .. } => "llm_request_finished",
            Event::ToolCallRequested { .. } => "tool_call_requested",
            Event::ApprovalRequested { .. } => "approval_requested",
            Event::ApprovalResolved { .. } => "approval_resolved",
            Event::ApprovalExpired { .. } => "approval_expired",
            Event::ToolCallFinished { .. } => "tool_call_finished",
            Event::FileChanged { .. } => "file_changed",
            Event::HumanMessage { .. } => "human_message",
            Event::BudgetExceeded { .. } => "budget_exceeded",
            Event::BudgetChanged { .. } => "budget_changed",
            Event::RunRuleAdded { .. } => "run_rule_added",
            Event::RunRuleRevoked { .. } => "run_rule_revoked",
            Event::AutonomyChanged { .. } => "autonomy_changed",
            Event::SandboxReported { .. } => "sandbox_reported",
            Event::PolicyRules { .. } => "policy_rules",
            Event::RoleSettings { .. } => "role_settings",
            Event::AgentInput { .. } => "agent_input",
            Event::Recovered { .. } => "recovered",
            Event::Log { .. } => "log",
            Event::TaskCommitted { .. } => "task_committed",
            Event::RunBranch { .. } => "run_branch",
            Event::WorktreeCreated { .. } => "worktree_created",
            Event::WorktreeRemoved { .. } => "worktree_removed",
            Event::MergeStarted { .. } => "merge_started",
            Event::TaskMerged { .. } => "task_merged",
        }
    }

    pub fn log(level: LogLevel, source: impl Into<String>, text: impl Into<String>) -> Self {
        Event::Log {
            level,
            source: source.into(),
            text: text.into(),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A role's own provider and model, where it has them (otherwise the run's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How hard the role's model thinks before it answers, where the model can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<super::Effort>,
}

/// The length of `value` as JSON, counted without building it (the store bounds events by it,
/// the wire packs frames by it).
pub fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing into a counter cannot fail; what serde could not encode is not counted.
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_json_with_a_type_tag() {
        let rec = EventRecord {
            v: SCHEMA_VERSION,
            run: RunId::from("r1"),
            seq: 7,
            ts_ms: 1,
            event: Event::TaskStatusChanged {
                task: TaskId::numbered(3),
                status: TaskStatus::Ready,
                reason: "all dependencies done".into(),
            },
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.contains(r#""type":"task_status_changed""#), "{json}");
        let back: EventRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn actors_say_who_they_are() {
        let a = Actor::Human {
            user: "ada".into(),
            host: Some("box".into()),
            auto: true,
        };
        assert_eq!(a.to_string(), "ada@box (--yes)");
        assert_eq!(Actor::Engine.to_string(), "engine");
    }
}
