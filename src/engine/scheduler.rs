//! Scheduling: start the supervisor, release agents waiting at step boundaries, dispatch Ready
//! tasks to agents of the right role up to the concurrency limit, retry failed tasks, and
//! notice when the run is finished or stalled.

use super::actor::{Reply, RunActor, SUPERVISOR};
use super::msg::{Go, Outcome};
use super::prompt;
use crate::domain::{AgentId, AgentStatus, Event, RunStatus, TaskId, TaskStatus};
use crate::llm::Message;

/// Nudges the supervisor gets to plan or to finish before the engine decides for it.
const MAX_NUDGES: u32 = 2;

impl RunActor {
    pub(super) fn schedule(&mut self) {
        if self.shutting_down() {
            return;
        }
        if self.state.status.is_terminal() {
            self.stop_all();
            let ended = format!("the run is {}", self.state.status);
            self.expire_approvals(&crate::domain::Actor::Engine, &ended);
            for a in self
                .state
                .agents
                .iter()
                .filter(|a| a.status != AgentStatus::Idle)
            {
                if !self
                    .pending
                    .iter()
                    .any(|e| matches!(e, Event::AgentStatusChanged { agent, .. } if agent == &a.id))
                {
                    self.pending.push(Event::AgentStatusChanged {
                        agent: a.id.clone(),
                        status: AgentStatus::Idle,
                        reason: ended.clone(),
                    });
                }
            }
            return;
        }
        self.ensure_supervisor();
        self.check_plan();
        if self.state.status == RunStatus::Running {
            self.dispatch();
            self.check_settled();
        }
        self.release_agents();
    }

    fn ensure_supervisor(&mut self) {
        let sup = AgentId::from(SUPERVISOR);
        if self.live.contains_key(&sup)
            || self.state.status == RunStatus::Paused
            || self.state.agent(&sup).is_none()
        {
            return;
        }
        // A resumed supervisor gets its conversation back and is told where the run is.
        let mut messages = self
            .resumed_supervisor
            .take()
            .filter(|past| {
                past.iter()
                    .any(|m| m.role == crate::llm::MessageRole::Assistant)
            })
            .unwrap_or_default();
        let said = if messages.is_empty() {
            prompt::supervisor_opening(&self.state)
        } else {
            prompt::supervisor_resumed(&self.state)
        };
        messages.push(Message::user(said.clone()));
        self.pending.push(Event::AgentInput {
            agent: sup.clone(),
            text: said,
        });
        self.spawn_agent(sup, SUPERVISOR, None, messages);
    }

    fn supervisor_idle(&self) -> bool {
        self.live
            .get(&AgentId::from(SUPERVISOR))
            .is_some_and(|l| l.idle && l.parked.is_some())
    }

    /// Planning ends when the supervisor has made a plan and gone quiet.
    fn check_plan(&mut self) {
        if self.state.status != RunStatus::Planning
            || !self.supervisor_idle()
            || !self.news.is_empty()
        {
            return;
        }
        if !self.state.tasks.is_empty() || self.next_task > 0 {
            let n = self.state.tasks.len();
            self.pending.push(Event::RunStatusChanged {
                status: RunStatus::Running,
                reason: format!("plan ready: {n} tasks"),
            });
        } else if self.nudges < MAX_NUDGES {
            self.nudges += 1;
            self.news
                .push("There is no plan yet. Create the tasks with create_task.".into());
        } else {
            self.pending.push(Event::RunStatusChanged {
                status: RunStatus::Failed,
                reason: "the supervisor made no plan".into(),
            });
        }
    }

    fn dispatch(&mut self) {
        let workers = self.live.values().filter(|l| l.task.is_some()).count() as u32;
        let mut free = self.config.concurrency.saturating_sub(workers);
        let ready: Vec<TaskId> = self
            .state
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Ready && !self.state.task_held(t))
            // A dependency's commit is on its way: the brief will name it.
            .filter(|t| {
                !t.depends_on.iter().any(|d| {
                    self.committing
                        .get(d)
                        .is_some_and(|since| since.elapsed() < super::actor::COMMIT_WAIT)
                })
            })
            .filter(|t| !self.live.values().any(|l| l.task.as_ref() == Some(&t.id)))
            .map(|t| t.id.clone())
            .collect();
        for task in ready {
            if free == 0 {
                break;
            }
            // An agent of this role is about to be free: let it take the task.
            let role = self
                .state
                .task(&task)
                .map(|t| t.role.clone())
                .unwrap_or_default();
            if self.live.values().any(|l| l.finishing && l.role == role) {
                continue;
            }
            if self.start_task(&task) {
                free -= 1;
            }
        }
    }

    fn start_task(&mut self, id: &TaskId) -> bool {
        let Some(task) = self.state.task(id).cloned() else {
            return false;
        };
        if self.config.roster.get(&task.role).is_none() {
            self.pending.push(Event::TaskStatusChanged {
                task: id.clone(),
                status: TaskStatus::Failed,
                reason: format!("there is no {} role", task.role),
            });
            return false;
        }
        let agent = self.pick_agent(&task.role);
        let attempt = task.attempts + 1;
        self.pending.push(Event::TaskAssigned {
            task: id.clone(),
            agent: agent.clone(),
            attempt,
        });
        let mut brief_task = task.clone();
        brief_task.attempts = attempt;
        let mut messages = vec![Message::user(prompt::task_brief(
            &self.state,
            &brief_task,
            &self.config,
        ))];
        for note in self.state.messages.iter().filter(|m| m.target == agent) {
            messages.push(Message::user(format!(
                "Message from {}: {}",
                note.by, note.text
            )));
        }
        self.spawn_agent(agent, &task.role, Some(id.clone()), messages);
        true
    }

    /// An idle agent of the role, or a new one.
    fn pick_agent(&mut self, role: &str) -> AgentId {
        let idle = self
            .state
            .agents
            .iter()
            .find(|a| a.role == role && !self.live.contains_key(&a.id))
            .map(|a| a.id.clone());
        if let Some(a) = idle {
            return a;
        }
        let n = self.agents_per_role.entry(role.to_owned()).or_insert(0);
        *n += 1;
        let agent = AgentId::from(format!("{role}-{n}"));
        let (provider, model) = super::spawn::route(&self.config, &self.providers, role);
        self.pending.push(Event::AgentSpawned {
            agent: agent.clone(),
            role: role.to_owned(),
            model,
            provider: provider.info().name,
        });
        agent
    }

    /// When every task is settled, the supervisor is asked to finish; when nothing can move,
    /// the run waits for a person and says why.
    fn check_settled(&mut self) {
        self.check_held();
        if self.state.tasks.is_empty()
            || self.live.values().any(|l| l.task.is_some())
            || !self.supervisor_idle()
            || !self.news.is_empty()
        {
            return;
        }
        if !self.pending.is_empty() || self.state.pending_approvals().next().is_some() {
            return;
        }
        if self.state.all_tasks_done() {
            if !self.told_settled {
                self.told_settled = true;
                self.news.push("Every task is settled. If the goal is met, call finish_run with a summary; otherwise create what is missing.".into());
            } else if self.nudges < MAX_NUDGES {
                self.nudges += 1;
                self.news.push("All tasks are done. Call finish_run now, or create the tasks that are missing.".into());
            } else {
                self.pending.push(Event::RunStatusChanged {
                    status: RunStatus::Completed,
                    reason: "every task is done (the supervisor did not call finish_run)".into(),
                });
            }
            return;
        }
        let ready = self.state.tasks.iter().any(|t| {
            matches!(
                t.status,
                TaskStatus::Ready | TaskStatus::Running | TaskStatus::AwaitingApproval
            ) || (t.status == TaskStatus::Conflict
                && (self.in_merge_queue(&t.id)
                    || self.live.values().any(|l| l.task.as_ref() == Some(&t.id))))
        });
        if !ready {
            let stuck: Vec<String> = self
                .state
                .tasks
                .iter()
                .filter(|t| {
                    matches!(
                        t.status,
                        TaskStatus::Failed | TaskStatus::Blocked | TaskStatus::Conflict
                    )
                })
                .map(|t| format!("{} is {}", t.id, t.status))
                .collect();
            self.pending.push(Event::RunStatusChanged {
                status: RunStatus::Paused,
                reason: format!(
                    "waiting for a person: {}; retry (r) or cancel (x) them, then resume",
                    stuck.join(", ")
                ),
            });
        }
    }

    /// When every worker waits for a person (stuck, over budget, paused) and nothing else can
    /// start, the run pauses and says who waits for what, so an unattended run stops (exit 3)
    /// instead of waiting forever. The person's fix (p, B, :budget, x) resumes it.
    fn check_held(&mut self) {
        let workers: Vec<(&AgentId, &super::actor::Live)> =
            self.live.iter().filter(|(_, l)| l.task.is_some()).collect();
        if workers.is_empty()
            || !self.pending.is_empty()
            || !self.news.is_empty()
            || !self.supervisor_idle()
            || self.state.pending_approvals().next().is_some()
        {
            return;
        }
        let mut why = Vec::new();
        for (id, l) in &workers {
            if l.parked.is_none() {
                return;
            }
            if let Some(mark) = self.stuck.get(*id) {
                why.push(format!("{id} is {}", mark.reason));
            } else if let Some(h) = self.state.hold_for(id) {
                why.push(format!("{}; B extends it", h.reason));
            } else if self.paused_agents.contains(*id) {
                why.push(format!("{id} is paused; p resumes it"));
            } else {
                return;
            }
        }
        // A task that could start needs a free place too: held workers keep theirs.
        let room = (self.config.concurrency as usize) > workers.len();
        let startable = room
            && self
                .state
                .tasks
                .iter()
                .any(|t| t.status == TaskStatus::Ready && !self.state.task_held(t));
        if startable {
            return;
        }
        self.held_pause = true;
        self.pending.push(Event::RunStatusChanged {
            status: RunStatus::Paused,
            reason: format!("waiting for a person: {}", why.join("; ")),
        });
    }

    /// Expires every approval still waiting for an answer, once (an ended run has none live).
    pub(super) fn expire_approvals(&mut self, by: &crate::domain::Actor, reason: &str) {
        self.expire_approvals_of(by, reason, |_| true);
    }

    /// Expires the approvals still waiting for an answer that `which` picks, once each: the
    /// calls they hold are dropped, so an answer no longer reaches anyone.
    pub(super) fn expire_approvals_of(
        &mut self,
        by: &crate::domain::Actor,
        reason: &str,
        which: impl Fn(&crate::domain::ApprovalState) -> bool,
    ) {
        let pending: Vec<crate::domain::ApprovalId> =
            self.state
                .pending_approvals()
                .filter(|a| which(a))
                .map(|a| a.id.clone())
                .filter(|id| {
                    !self.pending.iter().any(
                        |e| matches!(e, Event::ApprovalExpired { approval, .. } if approval == id),
                    )
                })
                .collect();
        for approval in pending {
            self.parked.remove(&approval);
            self.pending.push(Event::ApprovalExpired {
                approval,
                reason: reason.to_owned(),
                by: by.clone(),
            });
        }
    }

    /// Answers agents waiting at a step boundary when they may go on.
    fn release_agents(&mut self) {
        let status = self.state.status;
        let ids: Vec<AgentId> = self
            .live
            .iter()
            .filter(|(_, l)| l.parked.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let is_sup = id.as_str() == SUPERVISOR;
            let paused = self.paused_agents.contains(&id);
            let run_ok = status == RunStatus::Running || (is_sup && status == RunStatus::Planning);
            let Some(live) = self.live.get_mut(&id) else {
                continue;
            };
            let has_news = !live.inbox.is_empty() || (is_sup && !self.news.is_empty());
            let waiting = if let (true, Some(mark)) = (paused, self.stuck.get(&id)) {
                Some((AgentStatus::Stuck, mark.reason.clone()))
            } else if let Some(hold) = self.state.hold_for(&id) {
                Some((
                    AgentStatus::Paused,
                    format!("budget: {}; B extends it", hold.reason),
                ))
            } else if !run_ok || paused {
                Some((
                    AgentStatus::Paused,
                    if paused {
                        "paused by a person".to_owned()
                    } else {
                        "the run is paused".to_owned()
                    },
                ))
            } else if live.idle && !has_news {
                Some((AgentStatus::Idle, "waiting for news".to_owned()))
            } else {
                None
            };
            if let Some((status, reason)) = waiting {
                if live.shown != Some(status)
                    && self.state.agent(&id).is_some_and(|a| a.status != status)
                {
                    self.pending.push(Event::AgentStatusChanged {
                        agent: id.clone(),
                        status,
                        reason,
                    });
                }
                live.shown = Some(status);
                continue;
            }
            let mut messages = std::mem::take(&mut live.inbox);
            if is_sup && !self.news.is_empty() {
                let news = std::mem::take(&mut self.news);
                messages.insert(0, prompt::supervisor_update(&self.state, &news));
            }
            if is_sup {
                self.pending
                    .extend(messages.iter().map(|text| Event::AgentInput {
                        agent: id.clone(),
                        text: text.clone(),
                    }));
            }
            live.shown = None;
            live.step_cancel = super::msg::StepStop::default();
            let step_cancel = live.step_cancel.clone();
            let (role, task) = (live.role.clone(), live.task.clone());
            let Some(reply) = live.parked.take() else {
                continue;
            };
            let context = Box::new(prompt::context(&self.state, &role, task.as_ref()));
            self.replies.push(Reply::Go(
                reply,
                Go::Continue {
                    messages,
                    context,
                    step_cancel,
                },
            ));
        }
    }

    /// Records a failed attempt and retries the task while attempts remain.
    pub(super) fn fail_task(&mut self, id: &TaskId, reason: &str) {
        let Some(task) = self.state.task(id) else {
            return;
        };
        if !task.status.is_active() {
            return;
        }
        let attempts = task.attempts;
        let allowed = self.config.max_attempts + self.manual_retries.get(id).copied().unwrap_or(0);
        self.pending.push(Event::TaskStatusChanged {
            task: id.clone(),
            status: TaskStatus::Failed,
            reason: reason.to_owned(),
        });
        if attempts < allowed {
            self.pending.push(Event::TaskStatusChanged {
                task: id.clone(),
                status: TaskStatus::Ready,
                reason: format!(
                    "retrying after a failure: attempt {} of {allowed}",
                    attempts + 1
                ),
            });
            self.news.push(format!(
                "{id} failed (attempt {attempts}): {reason}; it will be retried"
            ));
        } else {
            let blocked: Vec<String> = self
                .state
                .graph
                .dependents(id)
                .iter()
                .map(ToString::to_string)
                .collect();
            let waiting = if blocked.is_empty() {
                String::new()
            } else {
                format!(" {} wait for it.", blocked.join(", "))
            };
            self.news.push(format!(
                "{id} failed for good after {attempts} attempts: {reason}.{waiting} Repair the plan: retry_task with guidance, cancel_task if it is not needed, or create_task with replaces: \"{id}\" for another way (its dependents then wait for the new task)."
            ));
        }
    }

    pub(super) fn on_exit(&mut self, agent: AgentId, outcome: Outcome) {
        let Some(live) = self.live.remove(&agent) else {
            return;
        };
        if self.shutting_down() {
            return;
        }
        match (&live.task, &outcome) {
            (Some(task), _) => {
                let active = self.state.task(task).is_some_and(|t| t.status.is_active());
                if active && !live.cancel.is_cancelled() {
                    let reason = match &outcome {
                        Outcome::Failed(r) => r.clone(),
                        _ => "the agent stopped without completing the task".into(),
                    };
                    self.fail_task(task, &reason);
                }
                self.pending.push(Event::AgentStatusChanged {
                    agent,
                    status: AgentStatus::Idle,
                    reason: format!("finished with {task}"),
                });
                // A cancelled task's worktree is free now that its agent has stopped.
                self.retire_worktree(task);
            }
            (None, Outcome::Failed(reason)) if !self.state.status.is_terminal() => {
                self.pending.push(Event::AgentStatusChanged {
                    agent,
                    status: AgentStatus::Idle,
                    reason: reason.clone(),
                });
                self.pending.push(Event::RunStatusChanged {
                    status: RunStatus::Paused,
                    reason: format!("the supervisor stopped: {reason}"),
                });
            }
            (None, _) => {}
        }
    }
}
