//! Stuck agents: marking one (it is paused, the person and the supervisor are told) and
//! freeing one. Whatever a person does to a stuck agent frees it: `p`, a message, a retry of
//! its task, resuming the run (here or with `resume`). Freeing is recorded, attributed to the
//! person, and gives the agent a fresh window before the same loop can be flagged again.

use super::actor::{RunActor, SUPERVISOR};
use super::stuck::Watch;
use crate::domain::{Actor, AgentId, AgentStatus, Event, LogLevel, RunState, RunStatus, TaskId};

/// Why an agent is held as stuck.
#[derive(Debug, Clone)]
pub(super) struct StuckMark {
    /// What the person is shown (`stuck on T6: …; paused until …`).
    pub reason: String,
    /// The task it was on.
    pub task: Option<TaskId>,
}

/// What freed a stuck agent, for the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Freed {
    /// `p` on the agent.
    Resumed,
    /// A person's message to it.
    Message,
    /// A retry of its task.
    Retry,
    /// Its task was cancelled.
    Cancelled,
    /// The whole run resumed (space, `:resume`, or the `resume` subcommand).
    RunResumed,
}

impl Freed {
    fn words(self) -> &'static str {
        match self {
            Freed::Resumed => "resumed it",
            Freed::Message => "wrote to it",
            Freed::Retry => "retried its task",
            Freed::Cancelled => "cancelled its task",
            Freed::RunResumed => "resumed the run",
        }
    }
}

impl RunActor {
    /// Pauses an agent that loops, and tells the person and the supervisor what was seen. A
    /// stuck supervisor pauses the run: nothing can be planned or finished without it.
    pub(super) fn mark_stuck(&mut self, agent: &AgentId, pattern: String) {
        if self.stuck.contains_key(agent) {
            return;
        }
        self.paused_agents.insert(agent.clone());
        self.watches.remove(agent);
        let task = self.live.get(agent).and_then(|l| l.task.clone());
        let on = task
            .as_ref()
            .map(|t| format!(" on {t}"))
            .unwrap_or_default();
        let reason = format!(
            "stuck{on}: {pattern}; paused until a person resumes it (p) or sends guidance (i)"
        );
        self.stuck.insert(
            agent.clone(),
            StuckMark {
                reason: reason.clone(),
                task,
            },
        );
        self.pending.push(Event::AgentStatusChanged {
            agent: agent.clone(),
            status: AgentStatus::Stuck,
            reason,
        });
        self.pending.push(Event::log(
            LogLevel::Warn,
            agent.as_str(),
            format!("stuck{on}: {pattern}"),
        ));
        if agent.as_str() == SUPERVISOR {
            if matches!(self.state.status, RunStatus::Running | RunStatus::Planning) {
                self.held_pause = true;
                self.pending.push(Event::RunStatusChanged {
                    status: RunStatus::Paused,
                    reason: format!(
                        "waiting for a person: the supervisor is stuck: {pattern}; p or a message (i) frees it"
                    ),
                });
            }
        } else {
            self.news.push(format!(
                "{agent} is stuck{on}: {pattern}. It is paused until a person resumes it; re-plan or cancel the task if it cannot be done this way."
            ));
        }
    }

    /// Frees a stuck agent on a person's word: recorded, attributed, with a fresh window.
    /// `false` when the agent was not stuck.
    pub(super) fn free_stuck(&mut self, agent: &AgentId, by: &Actor, how: Freed) -> bool {
        if self.stuck.remove(agent).is_none() {
            return false;
        }
        self.paused_agents.remove(agent);
        self.watches
            .insert(agent.clone(), Watch::fresh(&self.config.stuck));
        let status = match self.live.get_mut(agent) {
            Some(live) => {
                live.shown = None;
                AgentStatus::Thinking
            }
            None => AgentStatus::Idle,
        };
        self.pending.push(Event::AgentStatusChanged {
            agent: agent.clone(),
            status,
            reason: format!("freed by {by}, who {}", how.words()),
        });
        self.frees += 1;
        true
    }

    /// Frees every stuck agent (the run is resumed).
    pub(super) fn free_all_stuck(&mut self, by: &Actor) {
        let mut stuck: Vec<AgentId> = self.stuck.keys().cloned().collect();
        stuck.sort();
        for agent in stuck {
            self.free_stuck(&agent, by, Freed::RunResumed);
        }
    }

    /// Frees the agents stuck on `task` (it is being retried or cancelled).
    pub(super) fn free_stuck_on(&mut self, task: &TaskId, by: &Actor, how: Freed) {
        let mut stuck: Vec<AgentId> = self
            .stuck
            .iter()
            .filter(|(_, m)| m.task.as_ref() == Some(task))
            .map(|(a, _)| a.clone())
            .collect();
        stuck.sort();
        for agent in stuck {
            self.free_stuck(&agent, by, how);
        }
    }
}

/// What `resume` does for agents the log left stuck (the process that saw them stopped): each
/// is freed, attributed to the person, and its task's stuck attempt counts as a failed one,
/// so the next attempt starts afresh and is told why the last one failed.
pub(super) fn freed_on_resume(state: &RunState, by: &Actor) -> Vec<Event> {
    let mut events = Vec::new();
    for a in state
        .agents
        .iter()
        .filter(|a| a.status == AgentStatus::Stuck)
    {
        if let Some(t) = a.task.as_ref().and_then(|t| state.task(t)) {
            if t.status.is_active() {
                events.push(Event::TaskStatusChanged {
                    task: t.id.clone(),
                    status: crate::domain::TaskStatus::Failed,
                    reason: a.status_reason.clone(),
                });
                events.push(Event::TaskStatusChanged {
                    task: t.id.clone(),
                    status: crate::domain::TaskStatus::Ready,
                    reason: format!("retried: {by} resumed the run after {} was stuck", a.id),
                });
            }
        }
        events.push(Event::AgentStatusChanged {
            agent: a.id.clone(),
            status: AgentStatus::Idle,
            reason: format!("freed by {by}, who {}", Freed::RunResumed.words()),
        });
    }
    events
}
