//! The run's commits: a worker commits each finished task in the workspace's git repository,
//! one after another and off the actor, and reports back; a task waits for its dependencies'
//! commits, so its brief names them; the end of the run waits for the last ones.

use super::RunActor;
use crate::domain::{Event, LogLevel, RunState, TaskId, TaskStatus};
use crate::engine::msg::{AgentMsg, Msg};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a task waits for its dependencies' commits before it starts without them (a git
/// that hangs must not stall the run).
pub(in crate::engine) const COMMIT_WAIT: Duration = Duration::from_secs(30);
/// How long the end of a run waits for the git worker's last commits.
const GIT_DRAIN: Duration = Duration::from_secs(30);

/// Finished tasks of a resumed run whose commit was never recorded (the run stopped between
/// the completion and the commit), with their summaries. A task whose files another task also
/// changed is left alone: committing them now would give it that task's work.
pub(super) fn left_uncommitted(state: &RunState) -> Vec<(TaskId, String)> {
    state
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Done && t.commit.is_none() && !t.artifacts.is_empty())
        .filter(|t| {
            !state
                .tasks
                .iter()
                .any(|o| o.id != t.id && o.artifacts.iter().any(|p| t.artifacts.contains(p)))
        })
        .map(|t| (t.id.clone(), t.summary.clone().unwrap_or_default()))
        .collect()
}

impl RunActor {
    /// Waits for the git worker to commit every finished task it was given (the last task's
    /// commit included), keeping what it reports for the log.
    pub(super) async fn drain_git(&mut self) {
        self.git = None;
        self.merger = None;
        let (git, merger) = (self.git_done.take(), self.merger_done.take());
        if git.is_none() && merger.is_none() {
            return;
        }
        let mut done = Box::pin(async move {
            if let Some(g) = git {
                let _ = g.await;
            }
            if let Some(m) = merger {
                let _ = m.await;
            }
        });
        let deadline = tokio::time::sleep(GIT_DRAIN);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut done => break,
                msg = self.rx.recv() => match msg {
                    Some(Msg::Agent(AgentMsg::Emit(events))) => self.pending.extend(events),
                    Some(Msg::Agent(AgentMsg::Committed { event, .. })) => self.pending.extend(event.map(|e| *e)),
                    Some(Msg::Agent(AgentMsg::Merge(report))) => self.on_merge(*report),
                    // Anything else comes too late: dropping it answers "the engine has stopped".
                    Some(_) => {}
                    None => break,
                },
                _ = &mut deadline => {
                    self.pending.push(Event::log(
                        LogLevel::Warn,
                        "git",
                        "the last commits were still being made when the run stopped",
                    ));
                    break;
                }
            }
        }
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Agent(AgentMsg::Emit(events)) => self.pending.extend(events),
                Msg::Agent(AgentMsg::Committed { event, .. }) => {
                    self.pending.extend(event.map(|e| *e))
                }
                Msg::Agent(AgentMsg::Merge(report)) => self.on_merge(*report),
                _ => {}
            }
        }
    }

    /// Hands a finished task to the git worker: one commit, authored by its role.
    pub(super) fn commit_task(&mut self, task: &TaskId, summary: &str) {
        let Some(commit) = self.task_commit(task, summary) else {
            return;
        };
        let Some(git) = &self.git else {
            return;
        };
        if git.send(commit).is_ok() {
            self.committing
                .insert(task.clone(), std::time::Instant::now());
        }
    }

    /// What a task's commit records: its role as the author, the model, the prompt, who
    /// approved what, the cost.
    pub(in crate::engine) fn task_commit(
        &self,
        task: &TaskId,
        summary: &str,
    ) -> Option<crate::tools::git::TaskCommit> {
        self.task_commit_by(task, summary, None)
    }

    /// [`Self::task_commit`], naming `worker` when the task has no agent now (the work of an
    /// attempt that ended, committed as the next one starts: the same role's agent).
    pub(in crate::engine) fn task_commit_by(
        &self,
        task: &TaskId,
        summary: &str,
        worker: Option<&crate::domain::AgentId>,
    ) -> Option<crate::tools::git::TaskCommit> {
        let t = self.state.task(task)?;
        let agent = t.agent.as_ref().or(worker);
        let model = agent
            .and_then(|a| self.state.agent(a))
            .map(|a| a.model.clone())
            .unwrap_or_default();
        let prompt_hash = agent
            .and_then(|a| self.prompt_hashes.get(a))
            .cloned()
            .unwrap_or_default();
        // The task names who approved its calls; a state folded before it did (an older
        // snapshot) still holds them among its approvals.
        let mut approved_by = t.approved_by.clone();
        for a in self
            .state
            .approvals
            .iter()
            .filter(|a| a.task.as_ref() == Some(task))
        {
            if let Some((
                crate::domain::ApprovalDecision::Approve
                | crate::domain::ApprovalDecision::ApproveAlways,
                by,
            )) = &a.resolution
            {
                let by = by.to_string();
                if !approved_by.contains(&by) {
                    approved_by.push(by);
                }
            }
        }
        Some(crate::tools::git::TaskCommit {
            task: task.to_string(),
            run: self.run.to_string(),
            title: t.title.clone(),
            summary: summary.to_owned(),
            role: t.role.clone(),
            model,
            prompt_hash,
            approved_by,
            cost_usd: t.cost_usd,
            paths: t.artifacts.clone(),
        })
    }
}

/// Commits finished tasks in the workspace, one after another, off the actor; says what it
/// did (or why it could not) in the log.
pub(super) fn git_worker(
    root: std::path::PathBuf,
    engine: mpsc::Sender<Msg>,
) -> (
    mpsc::UnboundedSender<crate::tools::git::TaskCommit>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<crate::tools::git::TaskCommit>();
    let done = tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            let task = c.task.clone();
            let root = root.clone();
            let done =
                tokio::task::spawn_blocking(move || crate::tools::git::commit_task(&root, &c))
                    .await;
            let event = match done {
                Ok(Ok(Some(sha))) => Some(Event::TaskCommitted {
                    task: TaskId::from(task.as_str()),
                    sha,
                }),
                Ok(Ok(None)) | Err(_) => None,
                Ok(Err(e)) => Some(Event::log(
                    LogLevel::Warn,
                    &task,
                    format!("not committed: {e}"),
                )),
            };
            let (task, event) = (TaskId::from(task), event.map(Box::new));
            if engine
                .send(Msg::Agent(AgentMsg::Committed { task, event }))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    (tx, done)
}

#[cfg(test)]
mod tests {
    use super::left_uncommitted;
    use crate::domain::event::SCHEMA_VERSION;
    use crate::domain::{AgentId, Event, EventRecord, RunState, TaskId};

    fn done(task: &str, paths: &[&str], committed: bool) -> Vec<Event> {
        let t = TaskId::from(task);
        let agent = AgentId::from("engineer-1");
        let mut evs = vec![
            Event::TaskCreated {
                task: t.clone(),
                title: task.into(),
                description: String::new(),
                role: "engineer".into(),
                depends_on: Vec::new(),
                by: "supervisor".into(),
                acceptance: None,
                check: None,
            },
            Event::TaskAssigned {
                task: t.clone(),
                agent: agent.clone(),
                attempt: 1,
            },
        ];
        for p in paths {
            evs.push(Event::FileChanged {
                agent: agent.clone(),
                task: Some(t.clone()),
                path: (*p).into(),
                added: 1,
                removed: 0,
            });
        }
        evs.push(Event::TaskCompleted {
            task: t.clone(),
            summary: format!("{task} done"),
            evidence: "e".into(),
        });
        if committed {
            evs.push(Event::TaskCommitted {
                task: t,
                sha: "abc".into(),
            });
        }
        evs
    }

    #[test]
    fn only_finished_tasks_never_committed_and_alone_on_their_files_are_left() {
        let events: Vec<Event> = [
            done("T1", &["a.py"], false),
            done("T2", &["b.py"], true),
            done("T3", &["c.py"], false),
            done("T4", &["c.py"], false),
            done("T5", &[], false),
        ]
        .concat();
        let records: Vec<EventRecord> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| EventRecord {
                v: SCHEMA_VERSION,
                run: "r".into(),
                seq: i as u64 + 1,
                ts_ms: 0,
                event,
            })
            .collect();
        let state = RunState::fold(&records);
        assert_eq!(
            left_uncommitted(&state),
            vec![(TaskId::from("T1"), "T1 done".to_owned())]
        );
    }
}
