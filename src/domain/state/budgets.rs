//! Budgets in the state: what a run, a role or a task may spend, what it has spent, and who
//! waits because a budget is reached.

use super::{BudgetHold, RunState, TaskState};
use crate::domain::AgentId;
use crate::domain::budget::{Budget, BudgetTarget, Spend};

impl RunState {
    pub fn spend(&self) -> Spend {
        Spend {
            tokens: self.usage.total(),
            usd: self.cost_usd,
            turns: self.turns,
            wall_secs: self.active_ms / 1000,
        }
    }

    /// The budget a scope has now.
    pub fn budget_of(&self, target: &BudgetTarget) -> Budget {
        match target {
            BudgetTarget::Run => self.budget,
            BudgetTarget::Role { role } => {
                self.budgets.roles.get(role).copied().unwrap_or_default()
            }
            BudgetTarget::Task { task } => self
                .task_budgets
                .get(task)
                .copied()
                .unwrap_or(self.budgets.task),
        }
    }

    /// The budget a scope started with.
    pub fn initial_of(&self, target: &BudgetTarget) -> Budget {
        match target {
            BudgetTarget::Run => self.initial_budget,
            BudgetTarget::Role { role } => self
                .initial_budgets
                .roles
                .get(role)
                .copied()
                .unwrap_or_default(),
            BudgetTarget::Task { .. } => self.initial_budgets.task,
        }
    }

    /// What a scope has spent; wall time counts up to `now_ms` for tasks still running.
    pub fn spend_of(&self, target: &BudgetTarget, now_ms: u64) -> Spend {
        let task_wall = |t: &TaskState| {
            t.started_ms.map_or(0, |s| {
                t.ended_ms
                    .unwrap_or(now_ms.max(self.updated_ms))
                    .saturating_sub(s)
                    / 1000
            })
        };
        match target {
            BudgetTarget::Run => self.spend(),
            BudgetTarget::Role { role } => {
                let mut s = Spend::default();
                for a in self.agents.iter().filter(|a| &a.role == role) {
                    s.tokens += a.usage.total();
                    s.usd += a.cost_usd;
                    s.turns += a.requests;
                }
                s.wall_secs = self
                    .tasks
                    .iter()
                    .filter(|t| &t.role == role)
                    .map(task_wall)
                    .sum();
                s
            }
            BudgetTarget::Task { task } => self.task(task).map_or_else(Spend::default, |t| Spend {
                tokens: t.usage.total(),
                usd: t.cost_usd,
                turns: t.turns,
                wall_secs: task_wall(t),
            }),
        }
    }

    /// The scopes below the run with a budget to watch: every role that has one, and every task
    /// that is active or held and has one.
    pub fn budget_scopes(&self) -> Vec<BudgetTarget> {
        let roles = self
            .budgets
            .roles
            .keys()
            .map(|role| BudgetTarget::Role { role: role.clone() });
        let tasks =
            self.tasks
                .iter()
                .filter(|t| {
                    t.status.is_active()
                        || self.budget_holds.iter().any(
                            |h| matches!(&h.target, BudgetTarget::Task { task } if task == &t.id),
                        )
                })
                .map(|t| BudgetTarget::Task { task: t.id.clone() });
        roles
            .chain(tasks)
            .filter(|t| !self.budget_of(t).is_unlimited())
            .collect()
    }

    /// The budget hold that keeps an agent paused: its role's or its task's.
    pub fn hold_for(&self, agent: &AgentId) -> Option<&BudgetHold> {
        let a = self.agent(agent)?;
        self.budget_holds.iter().find(|h| match &h.target {
            BudgetTarget::Role { role } => role == &a.role,
            BudgetTarget::Task { task } => a.task.as_ref() == Some(task),
            BudgetTarget::Run => false,
        })
    }

    /// Whether a task may not start: its own or its role's budget is held.
    pub fn task_held(&self, task: &TaskState) -> bool {
        self.budget_holds.iter().any(|h| match &h.target {
            BudgetTarget::Role { role } => role == &task.role,
            BudgetTarget::Task { task: t } => t == &task.id,
            BudgetTarget::Run => false,
        })
    }
}
