//! The run actor: one task that owns the journal and the state, takes messages from people
//! and agents, appends their events in batches (one durable flush per batch), applies them,
//! broadcasts them, and only then answers.

use super::msg::{AgentMsg, Backlog, Go, Msg, Subscription, Verdict};
use super::spawn::first_events;
use super::{EngineConfig, EngineError, RunTarget};
use crate::domain::{
    AgentId, ApprovalId, BudgetTarget, CallId, Event, EventRecord, LogLevel, RunId, RunState,
    RunStatus, TaskId, TaskStatus,
};
use crate::llm::Providers;
use crate::store::{Journal, Store, recovery};
use crate::tools::{Tools, Workspace};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

mod boot;
mod committer;
pub(in crate::engine) mod merger;
pub(super) use committer::COMMIT_WAIT;

pub(super) const SUPERVISOR: &str = "supervisor";
/// How many events a slow subscriber may fall behind before it must resubscribe.
const BROADCAST_CAPACITY: usize = 8192;
/// The same for the viewers' feed, which also carries live text (many small pieces).
const FEED_CAPACITY: usize = 16384;
/// How long agents get to stop when the run ends or the engine shuts down.
const GRACE: Duration = Duration::from_secs(2);

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A running agent loop, as the engine sees it.
pub(super) struct Live {
    pub task: Option<TaskId>,
    pub role: String,
    pub cancel: CancellationToken,
    pub step_cancel: super::msg::StepStop,
    /// The agent waits at a step boundary for this answer.
    pub parked: Option<oneshot::Sender<Go>>,
    pub idle: bool,
    /// The agent has finished its task and its loop is ending.
    pub finishing: bool,
    /// The status last announced for this agent while it waits at the boundary.
    pub shown: Option<crate::domain::AgentStatus>,
    pub inbox: Vec<String>,
}

/// An answer to send once the events before it are durable.
pub(super) enum Reply {
    Cmd(oneshot::Sender<Result<(), String>>, Result<(), String>),
    Go(oneshot::Sender<Go>, Go),
    Verdict(oneshot::Sender<Verdict>, Verdict),
}

impl Reply {
    fn send(self) {
        // A receiver that has gone away (a stopped agent, a closed client) needs no answer.
        let _ = match self {
            Reply::Cmd(tx, v) => tx.send(v).map_err(|_| ()),
            Reply::Go(tx, v) => tx.send(v).map_err(|_| ()),
            Reply::Verdict(tx, v) => tx.send(v).map_err(|_| ()),
        };
    }
}

/// A tool call waiting for a person.
pub(super) struct ParkedCall {
    pub reply: oneshot::Sender<Verdict>,
    pub call: CallId,
    pub agent: AgentId,
    pub tool: String,
    /// Whether the command may reach the network once approved.
    pub network: bool,
    /// The rule "approve always for this kind" would add.
    pub kind: Option<crate::domain::Rule>,
}

pub(crate) struct RunActor {
    pub(super) run: RunId,
    pub(super) journal: Journal,
    pub(super) state: RunState,
    pub(super) config: EngineConfig,
    pub(super) providers: Providers,
    pub(super) tools: Tools,
    pub(super) tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    events: broadcast::Sender<EventRecord>,
    /// Recorded events and live text, in one order, for viewers.
    pub(super) feed: broadcast::Sender<crate::protocol::Feed>,
    pub(super) pending: Vec<Event>,
    pub(super) replies: Vec<Reply>,
    pub(super) live: BTreeMap<AgentId, Live>,
    pub(super) paused_agents: HashSet<AgentId>,
    /// What each agent has done lately, for stuck detection.
    pub(super) watches: HashMap<AgentId, super::stuck::Watch>,
    /// Agents paused as stuck, with the pattern seen and the task they were on.
    pub(super) stuck: HashMap<AgentId, super::unstick::StuckMark>,
    /// The hash of each agent's latest rendered prompt, for the commit of its task.
    prompt_hashes: HashMap<AgentId, String>,
    /// Finished tasks to commit in the workspace's git repository, one at a time; dropped at
    /// the end so that the worker finishes what it was given.
    git: Option<mpsc::UnboundedSender<crate::tools::git::TaskCommit>>,
    /// The git worker, waited for before the run's state is final.
    git_done: Option<tokio::task::JoinHandle<()>>,
    /// The run's branch, when it works on one (tasks in worktrees, merged by the queue).
    pub(super) branching: Option<merger::Branching>,
    /// The merge queue's worker, and what it is through with at the end.
    merger: Option<mpsc::UnboundedSender<merger::Job>>,
    merger_done: Option<tokio::task::JoinHandle<()>>,
    /// Completions in the merge queue, by task.
    merges: HashMap<TaskId, merger::Merging>,
    /// Worktrees of cancelled tasks being committed and removed by the merge queue's worker.
    retiring: HashSet<std::path::PathBuf>,
    pub(super) parked: HashMap<ApprovalId, ParkedCall>,
    /// News for the supervisor, delivered at its next boundary.
    pub(super) news: Vec<String>,
    /// A resumed run's supervisor conversation, rebuilt from the log, for its first spawn.
    pub(super) resumed_supervisor: Option<Vec<crate::llm::Message>>,
    pub(super) next_call: u64,
    pub(super) next_approval: u64,
    pub(super) next_task: usize,
    pub(super) agents_per_role: HashMap<String, u32>,
    pub(super) manual_retries: HashMap<TaskId, u32>,
    /// Finished tasks the git worker has not reported on yet: their dependents wait, so that
    /// a brief names the commit it builds on.
    pub(super) committing: HashMap<TaskId, Instant>,
    /// Who wrote which file, for crediting a command with its own changes only.
    pub(super) files: super::gate::FileClock,
    /// complete_task calls waiting for their task's check command, by agent.
    pub(super) checking: HashMap<AgentId, super::repair::Completion>,
    pub(super) nudges: u32,
    pub(super) told_settled: bool,
    /// The run paused itself because every worker waits for a person; that person's fix
    /// resumes it.
    pub(super) held_pause: bool,
    /// How many stuck agents people have freed (a command that frees one lifts a held pause).
    pub(super) frees: u64,
    shutdown: Option<(oneshot::Sender<()>, Instant)>,
    ended_at: Option<Instant>,
}

impl RunActor {
    pub(super) fn run_id(&self) -> &RunId {
        &self.run
    }

    pub(super) fn first_seq(&self) -> u64 {
        self.journal.next_seq()
    }

    pub(super) async fn run(mut self) -> Result<RunState, EngineError> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            self.commit().await?;
            self.schedule();
            if !self.pending.is_empty() || !self.replies.is_empty() {
                continue;
            }
            if self.finished() {
                break;
            }
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(m) => self.handle(m),
                    None => break,
                },
                _ = tick.tick() => self.check_budget(),
            }
            // Group commit: everything already waiting goes into the same batch.
            for _ in 0..1024 {
                match self.rx.try_recv() {
                    Ok(m) => self.handle(m),
                    Err(_) => break,
                }
            }
        }
        self.stop_all();
        self.remove_worktrees();
        self.commit().await?;
        self.drain_git().await;
        self.commit().await?;
        self.journal.close(&self.state).await?;
        if let Some((reply, _)) = self.shutdown.take() {
            let _ = reply.send(());
        }
        Ok(self.state)
    }

    fn finished(&mut self) -> bool {
        if let Some((_, since)) = &self.shutdown {
            return self.live.is_empty() || since.elapsed() > GRACE;
        }
        if self.state.status.is_terminal() {
            let since = *self.ended_at.get_or_insert_with(Instant::now);
            return self.live.is_empty() || since.elapsed() > GRACE;
        }
        false
    }

    pub(super) fn shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    /// Appends what is pending as one durable batch, applies and broadcasts it, then answers.
    async fn commit(&mut self) -> Result<(), EngineError> {
        if !self.pending.is_empty() {
            let now = now_ms();
            let batch: Vec<(u64, Event)> = self.pending.drain(..).map(|e| (now, e)).collect();
            let records = self.journal.append(batch).await?;
            for r in records {
                self.state.apply(&r);
                match &r.event {
                    Event::LlmRequestStarted {
                        agent, prompt_hash, ..
                    } => {
                        self.prompt_hashes
                            .insert(agent.clone(), prompt_hash.clone());
                    }
                    Event::TaskCompleted { task, summary, .. } => self.commit_task(task, summary),
                    Event::MergeStarted { task, tip, .. } => self.send_merge(task, tip),
                    Event::TaskStatusChanged {
                        task,
                        status: TaskStatus::Cancelled,
                        ..
                    } => self.retire_worktree(task),
                    _ => {}
                }
                // No subscriber is fine; a lagging one is told so by the channel and resubscribes.
                if self.feed.receiver_count() > 0 {
                    let _ = self
                        .feed
                        .send(crate::protocol::Feed::Record(Box::new(r.clone())));
                }
                let _ = self.events.send(r);
            }
            self.journal.checkpoint(&self.state)?;
            self.check_budget();
        }
        for r in self.replies.drain(..) {
            r.send();
        }
        Ok(())
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Command { by, command, reply } => {
                let result = self.on_command(&by, command);
                self.replies.push(Reply::Cmd(reply, result));
            }
            Msg::Subscribe { backlog, reply } => {
                let last = self.state.last_seq;
                let backlog = match backlog {
                    Backlog::None => Vec::new(),
                    Backlog::From(from) => self.journal.read(from, last),
                    Backlog::Last(n) => self.journal.read(last.saturating_sub(n).max(1), last),
                };
                let _ = reply.send(Subscription {
                    backlog,
                    state: self.state.clone(),
                    events: self.events.subscribe(),
                    feed: self.feed.subscribe(),
                });
            }
            Msg::Shutdown { reply } => {
                self.shutdown = Some((reply, Instant::now()));
                self.stop_all();
            }
            Msg::Agent(AgentMsg::Emit(events)) => self.pending.extend(events),
            Msg::Agent(AgentMsg::Committed { task, event }) => {
                self.committing.remove(&task);
                self.pending.extend(event.map(|e| *e));
            }
            Msg::Agent(AgentMsg::Merge(report)) => self.on_merge(*report),
            Msg::Agent(AgentMsg::Blocked { agent, reason }) => self.on_blocked(&agent, &reason),
            Msg::Agent(AgentMsg::Boundary { agent, idle, reply }) => {
                self.on_boundary(agent, idle, reply)
            }
            Msg::Agent(AgentMsg::Tool { ask, reply }) => self.on_tool(ask, reply),
            Msg::Agent(AgentMsg::Checked {
                agent,
                call,
                result,
                reply,
            }) => self.on_checked(agent, call, result, reply),
            Msg::Agent(AgentMsg::ToolDone {
                agent,
                task,
                call,
                result,
                duration_ms,
            }) => self.on_tool_done(agent, task, call, result, duration_ms),
            Msg::Agent(AgentMsg::Exited { agent, outcome }) => self.on_exit(agent, outcome),
        }
    }

    fn on_boundary(&mut self, agent: AgentId, idle: bool, reply: oneshot::Sender<Go>) {
        let stop = self.shutdown.is_some() || self.state.status.is_terminal();
        match self.live.get_mut(&agent) {
            Some(live) if !stop && !live.cancel.is_cancelled() => {
                live.parked = Some(reply);
                live.idle = idle;
            }
            _ => {
                self.replies.push(Reply::Go(reply, Go::Stop));
                return;
            }
        }
        if !idle {
            let limits = self.config.stuck;
            if let Some(p) = self.watches.entry(agent.clone()).or_default().step(&limits) {
                self.mark_stuck(&agent, p);
            }
        }
    }

    /// Pauses the run when a run budget is reached (wall time counts up to now), and a role or
    /// a task when its own budget is: only that scope stops, the run goes on elsewhere.
    pub(super) fn check_budget(&mut self) {
        if !matches!(self.state.status, RunStatus::Running | RunStatus::Planning) {
            return;
        }
        let now = now_ms();
        let mut spend = self.state.spend();
        spend.wall_secs = self.state.active_ms_at(now) / 1000;
        let already = |pending: &[Event], t: &BudgetTarget| {
            pending
                .iter()
                .any(|e| matches!(e, Event::BudgetExceeded { target, .. } if target == t))
        };
        if let (Some(e), false) = (
            self.state.budget.exceeded(&spend),
            already(&self.pending, &BudgetTarget::Run),
        ) {
            let (used, limit) = (e.scope.amount(e.used), e.scope.amount(e.limit));
            self.pending.push(Event::BudgetExceeded {
                target: BudgetTarget::Run,
                scope: e.scope,
                limit: e.limit,
                used: e.used,
            });
            self.pending.push(Event::RunStatusChanged {
                status: RunStatus::Paused,
                reason: format!(
                    "budget reached: {used} of {limit} allowed; B extends it by its first amount, :budget sets it"
                ),
            });
            self.pause_steps("the run's budget was reached");
        }
        let targets = self.state.budget_scopes();
        for target in targets {
            let held = self.state.budget_holds.iter().any(|h| h.target == target);
            if held || already(&self.pending, &target) {
                continue;
            }
            let budget = self.state.budget_of(&target);
            let Some(e) = budget.exceeded(&self.state.spend_of(&target, now)) else {
                continue;
            };
            let (used, limit) = (e.scope.amount(e.used), e.scope.amount(e.limit));
            self.pending.push(Event::BudgetExceeded {
                target: target.clone(),
                scope: e.scope,
                limit: e.limit,
                used: e.used,
            });
            self.pending.push(Event::log(
                LogLevel::Warn,
                "budget",
                format!(
                    "{target} reached its {} budget ({used} of {limit}): it is paused, the rest of the run goes on. B extends it by its first amount; :budget {target} {} N sets it",
                    e.scope,
                    e.scope.word()
                ),
            ));
            self.news.push(format!(
                "{target} reached its budget ({used} of {limit}) and is paused until a person extends it."
            ));
            for live in self.live.values_mut() {
                let hit = match &target {
                    BudgetTarget::Role { role } => &live.role == role,
                    BudgetTarget::Task { task } => live.task.as_ref() == Some(task),
                    BudgetTarget::Run => true,
                };
                if hit {
                    live.step_cancel
                        .stop(format!("cancelled: {target} reached its budget"));
                }
            }
        }
    }

    /// A provider refusal only a person can fix pauses the run and says why; steps in flight
    /// elsewhere are cancelled (they would meet the same refusal).
    fn on_blocked(&mut self, agent: &AgentId, reason: &str) {
        self.pending.push(Event::log(
            LogLevel::Error,
            agent.as_str(),
            format!("the model provider refused: {reason}"),
        ));
        let pausing = self.pending.iter().any(|e| {
            matches!(
                e,
                Event::RunStatusChanged {
                    status: RunStatus::Paused,
                    ..
                }
            )
        });
        if matches!(self.state.status, RunStatus::Running | RunStatus::Planning) && !pausing {
            self.pending.push(Event::RunStatusChanged {
                status: RunStatus::Paused,
                reason: format!(
                    "{agent}'s model provider refused: {reason}. Fix it (credit, key, model or server), then resume"
                ),
            });
            self.pause_steps("the model provider refused");
        }
    }

    /// Cancels every in-flight step (for "pause now" and budgets); agents stop at the boundary.
    pub(super) fn pause_steps(&mut self, why: &str) {
        for live in self.live.values_mut() {
            live.step_cancel.stop(format!("cancelled: {why}"));
        }
    }

    /// Stops every agent loop.
    pub(super) fn stop_all(&mut self) {
        for live in self.live.values_mut() {
            live.cancel.cancel();
            if let Some(reply) = live.parked.take() {
                self.replies.push(Reply::Go(reply, Go::Stop));
            }
        }
        self.parked.clear();
    }
}
