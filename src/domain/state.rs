//! `RunState` and its pure fold. The state of a run is `events.fold(RunState::default(), apply)`;
//! the engine, recovery, replay and export all use this one function.

use super::budget::{Budget, BudgetTarget, Budgets, Usage};
use super::event::{Event, EventRecord};
use super::graph::TaskGraph;
use super::ids::{AgentId, ApprovalId, RunId, TaskId};
use super::status::{AgentStatus, RunStatus, TaskStatus};
pub use parts::{
    AgentState, ApprovalState, BudgetHold, HumanNote, LineCounts, PendingCall, PendingMerge,
    RunBranchInfo, RunInfo, RunRule, SandboxNote, TaskState,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    pub info: Option<RunInfo>,
    pub status: RunStatus,
    pub status_reason: String,
    pub last_seq: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Time spent working (Planning or Running), in milliseconds, up to the latest event;
    /// downtime between a crash and recovery excluded. [`RunState::active_ms_at`] adds the
    /// time since, for a run that is working now.
    pub active_ms: u64,
    pub tasks: Vec<TaskState>,
    pub graph: TaskGraph,
    pub agents: Vec<AgentState>,
    pub approvals: Vec<ApprovalState>,
    /// Tool calls requested and not yet finished.
    pub calls: Vec<PendingCall>,
    pub messages: Vec<HumanNote>,
    pub usage: Usage,
    pub cost_usd: f64,
    pub unpriced_requests: u64,
    /// LLM requests made in the run.
    pub turns: u64,
    pub budget: Budget,
    /// Budgets per role and the one every task gets.
    #[serde(default)]
    pub budgets: Budgets,
    /// Budgets a person gave single tasks.
    #[serde(default)]
    pub task_budgets: BTreeMap<TaskId, Budget>,
    /// The budgets the run started with (what one key extends by).
    #[serde(default)]
    pub initial_budget: Budget,
    #[serde(default)]
    pub initial_budgets: Budgets,
    /// Role and task scopes paused because they reached a budget.
    #[serde(default)]
    pub budget_holds: Vec<BudgetHold>,
    /// Rules people added during the run ("approve always for this kind").
    #[serde(default)]
    pub run_rules: Vec<RunRule>,
    /// The config's `[[policy]]` rules in force.
    #[serde(default)]
    pub policy_rules: Vec<super::policy::Rule>,
    /// Each role's own provider and model, as last recorded.
    #[serde(default)]
    pub role_settings: std::collections::BTreeMap<String, super::event::RoleChoice>,
    #[serde(default)]
    pub sandbox: Option<SandboxNote>,
    /// The branch the run works on, where it has one (older runs worked in one folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<RunBranchInfo>,
    pub calls_made: u64,
    pub approvals_made: u64,
    pub warnings: u64,
    pub errors: u64,
}

/// Active time at `now_ms` of a run whose folded active time is `active_ms` as of its latest
/// event at `updated_ms`.
pub fn active_ms_at(status: RunStatus, active_ms: u64, updated_ms: u64, now_ms: u64) -> u64 {
    if status.is_working() {
        active_ms + now_ms.saturating_sub(updated_ms)
    } else {
        active_ms
    }
}

impl PartialEq for RunState {
    fn eq(&self, other: &Self) -> bool {
        // The graph is derived from the tasks; comparing the tasks compares it.
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

impl RunState {
    /// Folds a sequence of records into a state.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a EventRecord>) -> Self {
        records.into_iter().fold(RunState::default(), |mut s, r| {
            s.apply(r);
            s
        })
    }

    pub fn id(&self) -> Option<&RunId> {
        self.info.as_ref().map(|i| &i.id)
    }

    pub fn task(&self, id: &TaskId) -> Option<&TaskState> {
        self.task_pos(id).map(|i| &self.tasks[i])
    }

    /// Task ids are `T{n}` in creation order, so lookup is by position; anything else falls
    /// back to a scan.
    fn task_pos(&self, id: &TaskId) -> Option<usize> {
        let by_number = id
            .as_str()
            .strip_prefix('T')
            .and_then(|n| n.parse::<usize>().ok());
        match by_number {
            Some(n) if n >= 1 && self.tasks.get(n - 1).is_some_and(|t| &t.id == id) => Some(n - 1),
            _ => self.tasks.iter().position(|t| &t.id == id),
        }
    }

    fn task_mut(&mut self, id: &TaskId) -> Option<&mut TaskState> {
        self.task_pos(id).map(|i| &mut self.tasks[i])
    }

    pub fn agent(&self, id: &AgentId) -> Option<&AgentState> {
        self.agents.iter().find(|a| &a.id == id)
    }

    fn agent_mut(&mut self, id: &AgentId) -> Option<&mut AgentState> {
        self.agents.iter_mut().find(|a| &a.id == id)
    }

    pub fn approval(&self, id: &ApprovalId) -> Option<&ApprovalState> {
        self.approvals.iter().find(|a| &a.id == id)
    }

    /// Unanswered approval requests, oldest first.
    pub fn pending_approvals(&self) -> impl Iterator<Item = &ApprovalState> {
        self.approvals.iter().filter(|a| a.is_pending())
    }

    pub fn tasks_done(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Done)
            .count()
    }

    pub fn all_tasks_done(&self) -> bool {
        !self.tasks.is_empty()
            && self
                .tasks
                .iter()
                .all(|t| t.status == TaskStatus::Done || t.status == TaskStatus::Cancelled)
    }

    /// The run's active time at `now_ms`: the one measure the header, `show`, `runs`, the
    /// report and the wall-time budget share. Planning counts; pauses and downtime do not.
    pub fn active_ms_at(&self, now_ms: u64) -> u64 {
        active_ms_at(self.status, self.active_ms, self.updated_ms, now_ms)
    }

    /// What the run waits for from a person, when it waits for one: an approval, or whatever
    /// paused it (a pause only a person lifts).
    pub fn waiting_for(&self) -> Option<String> {
        if self.status.is_terminal() {
            return None;
        }
        let approvals: Vec<&ApprovalState> = self.pending_approvals().collect();
        if let Some(first) = approvals.first() {
            let more = match approvals.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return Some(format!(
                "approval {} for {}: {}{more}",
                first.id, first.agent, first.summary
            ));
        }
        (self.status == RunStatus::Paused).then(|| self.status_reason.clone())
    }

    /// The rules people added in this run, as rules.
    pub fn run_rule_list(&self) -> Vec<super::policy::Rule> {
        self.run_rules.iter().map(|r| r.rule.clone()).collect()
    }

    /// Applies one record. Total: an event that does not fit the state (an unknown task, an
    /// illegal transition) changes nothing, so a damaged log still folds.
    pub fn apply(&mut self, rec: &EventRecord) {
        if self.info.is_some()
            && self.status.is_working()
            && !matches!(rec.event, Event::Recovered { .. })
        {
            self.active_ms += rec.ts_ms.saturating_sub(self.updated_ms);
        }
        self.last_seq = rec.seq;
        self.updated_ms = rec.ts_ms;
        match &rec.event {
            Event::RunCreated {
                goal,
                workspace,
                provider,
                model,
                base_url,
                simulated,
                budget,
                budgets,
                concurrency,
                max_attempts,
                autonomy,
                seed,
                by,
            } => {
                self.budgets = budgets.clone();
                self.initial_budgets = budgets.clone();
                self.initial_budget = *budget;
                self.info = Some(RunInfo {
                    id: rec.run.clone(),
                    goal: goal.clone(),
                    workspace: workspace.clone(),
                    provider: provider.clone(),
                    model: model.clone(),
                    base_url: base_url.clone(),
                    simulated: *simulated,
                    concurrency: *concurrency,
                    max_attempts: *max_attempts,
                    autonomy: *autonomy,
                    seed: *seed,
                    created_by: by.clone(),
                });
                self.budget = *budget;
                self.created_ms = rec.ts_ms;
                self.status = RunStatus::Planning;
                self.status_reason = "run created".into();
            }
            Event::RunStatusChanged { status, reason } => {
                if self.status.can_become(*status) {
                    self.status = *status;
                    self.status_reason = reason.clone();
                }
            }
            Event::TaskCreated {
                task,
                title,
                description,
                role,
                depends_on,
                by,
                acceptance,
                check,
            } => {
                if self.graph.add_task(task.clone(), depends_on).is_ok() {
                    self.tasks.push(TaskState {
                        id: task.clone(),
                        title: title.clone(),
                        description: description.clone(),
                        role: role.clone(),
                        depends_on: depends_on.clone(),
                        status: TaskStatus::Pending,
                        status_reason: "created".into(),
                        attempts: 0,
                        agent: None,
                        summary: None,
                        evidence: None,
                        artifacts: Vec::new(),
                        failures: Vec::new(),
                        usage: Usage::default(),
                        cost_usd: 0.0,
                        turns: 0,
                        created_by: by.clone(),
                        started_ms: None,
                        ended_ms: None,
                        acceptance: acceptance.clone(),
                        check: check.clone(),
                        last_check: None,
                        guidance: Vec::new(),
                        replaced_by: None,
                        diffstat: BTreeMap::new(),
                        commit: None,
                        worktree: None,
                        branch: None,
                        base: None,
                        merge: None,
                        merging: None,
                        approved_by: Vec::new(),
                    });
                    self.refresh(task);
                }
            }
            Event::TaskStatusChanged {
                task,
                status,
                reason,
            } => self.change_task(task, *status, reason),
            Event::TaskRetried { task, guidance, .. } => {
                if let Some(t) = self.task_mut(task) {
                    t.guidance.push(guidance.clone());
                }
            }
            Event::TaskReplaced {
                task,
                replacement,
                dependents,
                ..
            } => self.replace_task(task, replacement, dependents),
            Event::TaskChecked {
                task, ok, output, ..
            } => {
                if let Some(t) = self.task_mut(task) {
                    t.last_check = Some((*ok, output.clone()));
                    if !ok {
                        // A failing check turns a queued merge back.
                        t.merging = None;
                    }
                }
            }
            Event::TaskAssigned {
                task,
                agent,
                attempt,
            } => {
                let ok = self
                    .task(task)
                    .is_some_and(|t| t.status.can_become(TaskStatus::Running));
                if ok {
                    if let Some(t) = self.task_mut(task) {
                        t.status = TaskStatus::Running;
                        t.status_reason = format!("attempt {attempt} on {agent}");
                        t.attempts = *attempt;
                        t.agent = Some(agent.clone());
                        t.started_ms.get_or_insert(rec.ts_ms);
                        t.ended_ms = None;
                    }
                    if let Some(a) = self.agent_mut(agent) {
                        a.task = Some(task.clone());
                    }
                }
            }
            Event::TaskCompleted {
                task,
                summary,
                evidence,
            } => {
                let ok = self
                    .task(task)
                    .is_some_and(|t| t.status.can_become(TaskStatus::Done));
                if ok {
                    if let Some(t) = self.task_mut(task) {
                        t.status = TaskStatus::Done;
                        t.status_reason = "completed with evidence".into();
                        t.summary = Some(summary.clone());
                        t.evidence = Some(evidence.clone());
                        t.ended_ms = Some(rec.ts_ms);
                    }
                    self.refresh_dependents(task);
                }
            }
            Event::AgentSpawned {
                agent,
                role,
                model,
                provider,
            } => {
                if self.agent(agent).is_none() {
                    self.agents.push(AgentState {
                        id: agent.clone(),
                        role: role.clone(),
                        model: model.clone(),
                        provider: provider.clone(),
                        context_window: 0,
                        status: AgentStatus::Idle,
                        status_reason: "spawned".into(),
                        task: None,
                        usage: Usage::default(),
                        cost_usd: 0.0,
                        unpriced_requests: 0,
                        requests: 0,
                        context_tokens: 0,
                    });
                }
            }
            Event::AgentStatusChanged {
                agent,
                status,
                reason,
            } => self.set_agent(agent, *status, reason),
            Event::LlmRequestStarted {
                agent,
                task,
                model,
                context_window,
                ..
            } => {
                self.turns += 1;
                if let Some(a) = self.agent_mut(agent) {
                    a.status = AgentStatus::Thinking;
                    a.status_reason = format!("asking {model}");
                    a.requests += 1;
                    a.model = model.clone();
                    a.context_window = *context_window;
                }
                if let Some(t) = task.as_ref().and_then(|t| self.task_mut(t)) {
                    t.turns += 1;
                }
            }
            Event::AgentDelta { .. } | Event::AgentInput { .. } => {}
            Event::LlmRequestFinished {
                agent,
                task,
                usage,
                cost_usd,
                ..
            } => {
                self.usage.add(usage);
                let cost = cost_usd.unwrap_or(0.0);
                self.cost_usd += cost;
                self.unpriced_requests += u64::from(cost_usd.is_none());
                if let Some(a) = self.agent_mut(agent) {
                    a.usage.add(usage);
                    a.cost_usd += cost;
                    a.unpriced_requests += u64::from(cost_usd.is_none());
                    a.context_tokens = usage.input_tokens;
                }
                if let Some(t) = task.as_ref().and_then(|t| self.task_mut(t)) {
                    t.usage.add(usage);
                    t.cost_usd += cost;
                }
            }
            Event::ToolCallRequested {
                agent,
                task,
                call,
                tool,
                args,
                policy,
            } => {
                self.calls_made += 1;
                self.calls.push(PendingCall {
                    call: call.clone(),
                    agent: agent.clone(),
                    task: task.clone(),
                    tool: tool.clone(),
                    args: args.clone(),
                    policy: policy.clone(),
                });
                self.set_agent(agent, AgentStatus::CallingTool, &format!("calling {tool}"));
            }
            Event::ApprovalRequested {
                approval,
                agent,
                task,
                tool,
                ..
            } => {
                self.approvals_made += 1;
                self.fold_approval(rec);
                self.set_agent(
                    agent,
                    AgentStatus::WaitingForApproval,
                    &format!("waiting for approval {approval}"),
                );
                // A task in conflict stays so while its agent waits for an approval.
                if let Some(t) = task.as_ref().filter(|t| {
                    self.task(t)
                        .is_some_and(|t| t.status != TaskStatus::Conflict)
                }) {
                    self.change_task(
                        t,
                        TaskStatus::AwaitingApproval,
                        &format!("{tool} needs approval {approval}"),
                    );
                }
            }
            Event::ApprovalResolved { .. } => self.resolved(rec),
            Event::ApprovalExpired { .. } => {
                self.fold_approval(rec);
            }
            Event::ToolCallFinished { agent, call, .. } => {
                self.calls.retain(|c| &c.call != call);
                self.set_agent(agent, AgentStatus::Thinking, "reading tool result");
            }
            Event::FileChanged {
                task,
                path,
                added,
                removed,
                ..
            } => {
                if let Some(t) = task.as_ref().and_then(|t| self.task_mut(t)) {
                    if !t.artifacts.contains(path) {
                        t.artifacts.push(path.clone());
                    }
                    let counts = t.diffstat.entry(path.clone()).or_default();
                    counts.added = counts.added.saturating_add(*added);
                    counts.removed = counts.removed.saturating_add(*removed);
                }
            }
            Event::TaskCommitted { task, sha } => {
                if let Some(t) = self.task_mut(task) {
                    t.commit = Some(sha.clone());
                }
            }
            Event::RunBranch {
                repo,
                branch,
                base,
                worktree,
                existing,
            } => {
                self.branch = Some(RunBranchInfo {
                    repo: repo.clone(),
                    branch: branch.clone(),
                    base: base.clone(),
                    worktree: worktree.clone(),
                    existing: *existing,
                });
                if let Some(info) = &mut self.info {
                    info.workspace = worktree.clone();
                }
            }
            Event::WorktreeCreated {
                task,
                path,
                branch,
                base,
                ..
            } => {
                if let Some(t) = self.task_mut(task) {
                    t.worktree = Some(path.clone());
                    t.branch = Some(branch.clone());
                    t.base = Some(base.clone());
                    t.merge = None;
                    t.merging = None;
                }
            }
            Event::WorktreeRemoved { task, path } => {
                if let Some(t) = self.task_mut(task) {
                    if t.worktree.as_ref() == Some(path) {
                        t.worktree = None;
                    }
                }
            }
            Event::MergeStarted {
                task,
                tip,
                summary,
                evidence,
            } => {
                if let Some(t) = self.task_mut(task) {
                    t.merging = Some(PendingMerge {
                        tip: tip.clone(),
                        summary: summary.clone(),
                        evidence: evidence.clone(),
                    });
                }
            }
            Event::TaskMerged { task, sha } => {
                if let Some(t) = self.task_mut(task) {
                    t.merge = Some(sha.clone());
                    t.merging = None;
                }
            }
            Event::HumanMessage { target, text, by } => {
                self.messages.push(HumanNote {
                    target: target.clone(),
                    text: text.clone(),
                    by: by.clone(),
                    seq: rec.seq,
                });
            }
            Event::BudgetExceeded {
                target,
                scope,
                limit,
                used,
            } => {
                let held = self.budget_holds.iter().any(|h| &h.target == target);
                if !target.is_run() && !held {
                    self.budget_holds.push(BudgetHold {
                        target: target.clone(),
                        reason: format!(
                            "{target} reached its {scope} budget: {} of {}",
                            scope.amount(*used),
                            scope.amount(*limit)
                        ),
                        seq: rec.seq,
                    });
                }
            }
            Event::BudgetChanged { target, budget, .. } => {
                match target {
                    BudgetTarget::Run => self.budget = *budget,
                    BudgetTarget::Role { role } => {
                        self.budgets.roles.insert(role.clone(), *budget);
                    }
                    BudgetTarget::Task { task } => {
                        self.task_budgets.insert(task.clone(), *budget);
                    }
                }
                self.budget_holds.retain(|h| &h.target != target);
            }
            Event::RunRuleAdded { rule, by } => {
                if !self.run_rules.iter().any(|r| &r.rule == rule) {
                    self.run_rules.push(RunRule {
                        rule: rule.clone(),
                        by: by.clone(),
                        seq: rec.seq,
                    });
                }
            }
            Event::RunRuleRevoked { index, rule, .. } => {
                if let Some(i) = index
                    .checked_sub(1)
                    .filter(|i| self.run_rules.get(*i).is_some_and(|r| &r.rule == rule))
                {
                    self.run_rules.remove(i);
                }
            }
            Event::AutonomyChanged { level, .. } => {
                if let Some(info) = self.info.as_mut() {
                    info.autonomy = *level;
                }
            }
            Event::PolicyRules { rules } => self.policy_rules = rules.clone(),
            Event::RoleSettings { roles } => self.role_settings = roles.clone(),
            Event::SandboxReported {
                complete,
                detail,
                missing,
            } => {
                self.sandbox = Some(SandboxNote {
                    complete: *complete,
                    detail: detail.clone(),
                    missing: missing.clone(),
                });
            }
            Event::Recovered {
                reason,
                tasks,
                calls,
            } => {
                self.fold_approval(rec);
                self.recover(reason, tasks, calls);
            }
            Event::Log { level, .. } => match level {
                super::event::LogLevel::Warn => self.warnings += 1,
                super::event::LogLevel::Error => self.errors += 1,
                _ => {}
            },
        }
        self.forget_answered();
    }
}

mod agents;
pub mod approvals;
mod budgets;
mod parts;
mod tasks;
#[cfg(test)]
mod tests;
