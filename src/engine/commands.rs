//! People's commands. Each is checked against the state, recorded as events attributed to the
//! person, and takes effect at the next step boundary (or at once for "pause now").

use super::actor::{RunActor, SUPERVISOR};
use super::unstick::Freed;
use crate::domain::{
    Actor, AgentId, AgentStatus, ApprovalDecision, BudgetTarget, Event, RunStatus,
};
use crate::protocol::Command;

impl RunActor {
    /// The scope whose budget was reached last and is still held; else the run's, when the run
    /// is paused on its budget.
    fn last_reached(&self) -> Option<BudgetTarget> {
        if let Some(h) = self.state.budget_holds.iter().max_by_key(|h| h.seq) {
            return Some(h.target.clone());
        }
        self.state
            .budget
            .exceeded(&self.state.spend())
            .map(|_| BudgetTarget::Run)
    }

    fn budget_target_exists(&self, target: &BudgetTarget) -> Result<(), String> {
        match target {
            BudgetTarget::Run => Ok(()),
            BudgetTarget::Role { role } if self.config.roster.get(role).is_some() => Ok(()),
            BudgetTarget::Role { role } => Err(format!("there is no role {role}")),
            BudgetTarget::Task { task } if self.state.task(task).is_some() => Ok(()),
            BudgetTarget::Task { task } => Err(format!("there is no task {task}")),
        }
    }

    pub(super) fn on_command(&mut self, by: &Actor, command: Command) -> Result<(), String> {
        if self.state.status.is_terminal() {
            return Err(format!(
                "the run has ended ({}); it can only be viewed",
                self.state.status
            ));
        }
        let command = self.resolve_toggle(command);
        let fixes_a_hold = matches!(
            command,
            Command::ResumeAgent { .. }
                | Command::ExtendBudget { .. }
                | Command::SetBudget { .. }
                | Command::CancelTask { .. }
        );
        let raises_run_budget = matches!(
            &command,
            Command::ExtendBudget { .. }
                | Command::SetBudget {
                    target: BudgetTarget::Run,
                    ..
                }
        );
        let frees = self.frees;
        let result = self.apply_command(by, command);
        let freed = self.frees != frees;
        // The run paused on its own budget goes on once a person has raised it enough.
        if result.is_ok()
            && raises_run_budget
            && self.state.status == RunStatus::Paused
            && self.state.status_reason.starts_with("budget reached")
        {
            let budget = self.pending.iter().rev().find_map(|e| match e {
                Event::BudgetChanged {
                    target: BudgetTarget::Run,
                    budget,
                    ..
                } => Some(*budget),
                _ => None,
            });
            if budget.is_some_and(|b| b.exceeded(&self.state.spend()).is_none()) {
                self.pending.push(Event::RunStatusChanged {
                    status: RunStatus::Running,
                    reason: format!("resumed by {by}: the budget was raised"),
                });
            }
        }
        let resuming = self.pending.iter().any(|e| {
            matches!(
                e,
                Event::RunStatusChanged {
                    status: RunStatus::Running,
                    ..
                }
            )
        });
        if result.is_ok() && (fixes_a_hold || freed) && self.held_pause {
            self.held_pause = false;
            if self.state.status == RunStatus::Paused && !resuming {
                self.pending.push(Event::RunStatusChanged {
                    status: RunStatus::Running,
                    reason: format!("resumed by {by}"),
                });
            }
        }
        result
    }

    /// A toggle becomes the pause or the resume that the true state calls for.
    fn resolve_toggle(&self, command: Command) -> Command {
        match command {
            Command::TogglePause { .. } if self.state.status == RunStatus::Paused => {
                Command::ResumeRun
            }
            Command::TogglePause { now } => Command::PauseRun { now },
            Command::ToggleAgentPause { agent } if self.paused_agents.contains(&agent) => {
                Command::ResumeAgent { agent }
            }
            Command::ToggleAgentPause { agent } => Command::PauseAgent { agent },
            other => other,
        }
    }

    fn apply_command(&mut self, by: &Actor, command: Command) -> Result<(), String> {
        match command {
            Command::PauseRun { now } => {
                if self.state.status == RunStatus::Paused {
                    return Err("the run is already paused".into());
                }
                let when = if now { "now" } else { "at the next step" };
                self.pending.push(Event::RunStatusChanged {
                    status: RunStatus::Paused,
                    reason: format!("paused {when} by {by}"),
                });
                if now {
                    self.pause_steps(&format!("paused now by {by}"));
                }
                Ok(())
            }
            Command::ResumeRun => {
                if self.state.status != RunStatus::Paused {
                    return Err("the run is not paused".into());
                }
                if let Some(e) = self.state.budget.exceeded(&self.state.spend()) {
                    return Err(format!(
                        "the run's {} budget is still reached ({} of {}); B extends it, :budget sets it",
                        e.scope,
                        e.scope.amount(e.used),
                        e.scope.amount(e.limit)
                    ));
                }
                self.held_pause = false;
                self.free_all_stuck(by);
                let status = if self.state.tasks.is_empty() {
                    RunStatus::Planning
                } else {
                    RunStatus::Running
                };
                self.pending.push(Event::RunStatusChanged {
                    status,
                    reason: format!("resumed by {by}"),
                });
                Ok(())
            }
            Command::PauseAgent { agent } => {
                self.known_agent(&agent)?;
                // `p` on a stuck agent frees it: that is what the person means by it.
                if self.free_stuck(&agent, by, Freed::Resumed) {
                    return Ok(());
                }
                if !self.paused_agents.insert(agent.clone()) {
                    return Err(format!("{agent} is already paused"));
                }
                self.pending.push(Event::AgentStatusChanged {
                    agent,
                    status: AgentStatus::Paused,
                    reason: format!("paused by {by} (at the next step)"),
                });
                Ok(())
            }
            Command::ResumeAgent { agent } => {
                self.known_agent(&agent)?;
                if self.free_stuck(&agent, by, Freed::Resumed) {
                    return Ok(());
                }
                if !self.paused_agents.remove(&agent) {
                    return Err(format!("{agent} is not paused"));
                }
                self.watches.remove(&agent);
                let status = if self.live.contains_key(&agent) {
                    AgentStatus::Thinking
                } else {
                    AgentStatus::Idle
                };
                self.pending.push(Event::AgentStatusChanged {
                    agent,
                    status,
                    reason: format!("resumed by {by}"),
                });
                Ok(())
            }
            Command::Inject { target, text } => {
                let target = target.unwrap_or_else(|| AgentId::from(SUPERVISOR));
                self.known_agent(&target)?;
                if text.trim().is_empty() {
                    return Err("the message is empty".into());
                }
                self.pending.push(Event::HumanMessage {
                    target: target.clone(),
                    text: text.clone(),
                    by: by.clone(),
                });
                let line = format!("Message from {by}: {text}");
                match self.live.get_mut(&target) {
                    Some(live) => live.inbox.push(line),
                    None if target.as_str() == SUPERVISOR => self.news.push(line),
                    None => {} // delivered with the agent's next task
                }
                self.free_stuck(&target, by, Freed::Message);
                Ok(())
            }
            Command::Approve { approval, always } => {
                let decision = if always {
                    ApprovalDecision::ApproveAlways
                } else {
                    ApprovalDecision::Approve
                };
                self.resolve(by, &approval, decision)
            }
            Command::Deny { approval, reason } => {
                let reason = if reason.trim().is_empty() {
                    "no reason given".to_owned()
                } else {
                    reason
                };
                self.resolve(by, &approval, ApprovalDecision::Deny { reason })
            }
            Command::RetryTask { task }
                if self
                    .state
                    .task(&task)
                    .is_some_and(|t| t.status == crate::domain::TaskStatus::Conflict) =>
            {
                // A conflict a person resolved in the task's worktree: merge it again.
                self.person_resolved(&task, by)?;
                self.news.push(format!(
                    "{by} resolved {task}'s conflict by hand; it is being merged"
                ));
                Ok(())
            }
            Command::RetryTask { task } => {
                self.check_retry(&task)?;
                self.retry_now(&task, by, format!("retry requested by {by}"));
                self.news.push(format!("{by} asked to retry {task}"));
                Ok(())
            }
            Command::CancelTask { task, reason } => {
                self.check_cancel(&task)?;
                let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
                self.cancel_now(&task, by, format!("cancelled by {by}{why}"));
                self.news.push(format!("{by} cancelled {task}{why}"));
                Ok(())
            }
            Command::SetBudget { target, budget } => {
                // From the socket as from `:budget`: no negative, NaN or absurd limit.
                budget
                    .validate()
                    .map_err(|e| format!("{target} budget: {e}"))?;
                self.budget_target_exists(&target)?;
                self.pending.push(Event::BudgetChanged {
                    target,
                    budget,
                    by: by.clone(),
                });
                Ok(())
            }
            Command::ExtendBudget { target } => {
                let target = match target {
                    Some(t) => t,
                    None => self.last_reached().ok_or(
                        "no budget has been reached; :budget sets one (e.g. :budget role engineer usd 2)",
                    )?,
                };
                self.budget_target_exists(&target)?;
                let now = self.state.budget_of(&target);
                if now.is_unlimited() {
                    return Err(format!("{target} has no budget to extend"));
                }
                let budget = now.extended(&self.state.initial_of(&target));
                budget
                    .validate()
                    .map_err(|e| format!("{target} budget: {e}"))?;
                self.pending.push(Event::BudgetChanged {
                    target: target.clone(),
                    budget,
                    by: by.clone(),
                });
                self.news
                    .push(format!("{by} extended the {target} budget to {budget}"));
                Ok(())
            }
            Command::SetAutonomy { level } => {
                let current = self.state.info.as_ref().map(|i| i.autonomy);
                if current == Some(level) {
                    return Err(format!("the autonomy is already {level}"));
                }
                self.pending.push(Event::AutonomyChanged {
                    level,
                    by: by.clone(),
                });
                Ok(())
            }
            Command::RevokeRule { index } => {
                let rule = index
                    .checked_sub(1)
                    .and_then(|i| self.state.run_rules.get(i))
                    .map(|r| r.rule.clone())
                    .ok_or_else(|| {
                        format!(
                            "there is no run rule {index} (the run has {})",
                            self.state.run_rules.len()
                        )
                    })?;
                self.pending.push(Event::RunRuleRevoked {
                    index,
                    rule,
                    by: by.clone(),
                });
                Ok(())
            }
            Command::StopRun { reason } => {
                let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
                self.pending.push(Event::RunStatusChanged {
                    status: RunStatus::Cancelled,
                    reason: format!("stopped by {by}{why}"),
                });
                self.expire_approvals(by, &format!("the run was stopped by {by}"));
                self.stop_all();
                Ok(())
            }
            // Resolved by `resolve_toggle` before they get here.
            Command::TogglePause { .. } | Command::ToggleAgentPause { .. } => {
                Err("a toggle reached the engine unresolved".into())
            }
        }
    }

    fn known_agent(&self, agent: &AgentId) -> Result<(), String> {
        if self.state.agent(agent).is_some() || self.live.contains_key(agent) {
            Ok(())
        } else {
            let names: Vec<&str> = self.state.agents.iter().map(|a| a.id.as_str()).collect();
            Err(format!(
                "there is no agent {agent}; the agents are {}",
                names.join(", ")
            ))
        }
    }
}
