//! The merge queue. A task that completes (its own check passed) has its worktree committed
//! as its role, is reviewed by a person when the autonomy level or a `[[policy]]` rule for
//! the `merge` tool says so, and is merged into the run branch by one worker, one task at a
//! time, in completion order. The run's check runs on the merged result before the merge
//! is committed: a failing check turns the task back to its agent with the output; a conflict
//! marks the task `conflict` and brings the run branch into its worktree, markers and all,
//! for its agent to resolve. The task is done only once its branch is merged.
//!
//! `merge_started` is recorded (durably) before the worker touches the run branch, so that
//! recovery finds a merge the process did not live to record (see `recover_merges`).

use super::RunActor;
use crate::domain::{AgentId, CallId, Decision, Event, LogLevel, TaskId, TaskStatus};
use crate::engine::msg::Verdict;
use std::path::PathBuf;
use tokio::sync::oneshot;

mod review;
mod worker;
pub(in crate::engine) use worker::{Job, MergeJob, Report, merge_worker, recover_merges};

/// Where the run's branch is, for the actor.
#[derive(Debug, Clone)]
pub(in crate::engine) struct Branching {
    pub repo: PathBuf,
    pub branch: String,
    pub worktrees: PathBuf,
}

/// A completion going through the queue: the agent's complete_task waits for its answer.
pub(in crate::engine) struct Merging {
    /// The agent and its complete_task call (none when a person resolved a conflict).
    by_agent: Option<(AgentId, CallId)>,
    summary: String,
    evidence: String,
    reply: Option<oneshot::Sender<Verdict>>,
    tip: String,
}

impl RunActor {
    /// Whether this task's completion goes through the merge queue.
    pub(in crate::engine) fn merges(&self, task: &TaskId) -> bool {
        self.branching.is_some()
            && self
                .state
                .task(task)
                .is_some_and(|t| t.worktree.is_some() && t.base.is_some())
    }

    /// complete_task of a task on its own branch: commit, (review,) merge. The agent's call
    /// is answered when the queue is through with it.
    pub(in crate::engine) fn start_merge(
        &mut self,
        agent: &AgentId,
        task: &TaskId,
        call: &CallId,
        summary: String,
        evidence: String,
        reply: oneshot::Sender<Verdict>,
    ) {
        let job = self.state.task(task).and_then(|t| {
            Some(Job::Commit {
                task: task.clone(),
                worktree: t.worktree.clone()?.into(),
                base: t.base.clone()?,
                commit: Box::new(self.task_commit(task, &summary)?),
                no_markers: false,
            })
        });
        let sent = match (job, &self.merger) {
            (Some(job), Some(tx)) => tx.send(job).is_ok(),
            _ => false,
        };
        if !sent {
            let text = format!("error: {task} cannot be merged: the merge queue has stopped");
            self.finish_call(agent, call, false, &text);
            return self.answer(reply, text, false);
        }
        self.merges.insert(
            task.clone(),
            Merging {
                by_agent: Some((agent.clone(), call.clone())),
                summary,
                evidence,
                reply: Some(reply),
                tip: String::new(),
            },
        );
    }

    /// Answers a completion's complete_task and forgets it.
    fn answer_merge(&mut self, task: &TaskId, ok: bool, text: String) {
        let Some(mut m) = self.merges.remove(task) else {
            return;
        };
        let Some((agent, call)) = m.by_agent.clone() else {
            // A person's resolution: what happened is in the log.
            if !ok {
                self.pending
                    .push(Event::log(LogLevel::Warn, task.as_str(), text));
            }
            return;
        };
        if ok {
            if let Some(live) = self.live.get_mut(&agent) {
                live.finishing = true;
            }
        }
        self.finish_call(&agent, &call, ok, &text);
        if let Some(reply) = m.reply.take() {
            self.answer(reply, text, ok);
        }
    }

    pub(in crate::engine) fn on_merge(&mut self, report: Report) {
        match report {
            Report::Committed {
                task,
                sha,
                tip,
                files,
            } => self.on_committed(task, sha, tip, files),
            Report::Merged {
                task,
                sha,
                check,
                removed,
            } => {
                if let Some((command, output)) = check {
                    self.pending.push(Event::TaskChecked {
                        task: task.clone(),
                        command,
                        ok: true,
                        output,
                    });
                }
                let branch = self
                    .branching
                    .as_ref()
                    .map(|b| b.branch.clone())
                    .unwrap_or_default();
                let merged = match &sha {
                    Some(sha) => {
                        self.pending.push(Event::TaskMerged {
                            task: task.clone(),
                            sha: sha.clone(),
                        });
                        format!("merged into {branch} as {}", sha.get(..12).unwrap_or(sha))
                    }
                    None => format!("nothing to merge: {branch} has all of it"),
                };
                if let Some(path) = removed {
                    self.pending.push(Event::WorktreeRemoved {
                        task: task.clone(),
                        path: path.display().to_string(),
                    });
                }
                let Some(m) = self.merges.get(&task) else {
                    self.pending.push(Event::log(
                        LogLevel::Warn,
                        task.as_str(),
                        format!("{merged}, after the task was stopped"),
                    ));
                    return;
                };
                let agent = match m.by_agent.as_ref().map(|(a, _)| a) {
                    Some(a) if self.owns(a, &task) => a.clone(),
                    Some(_) => {
                        self.merges.remove(&task);
                        return;
                    }
                    None => match self.state.task(&task) {
                        Some(t) if t.status.is_active() => {
                            t.agent.clone().unwrap_or_else(|| AgentId::from("person"))
                        }
                        _ => {
                            self.merges.remove(&task);
                            return;
                        }
                    },
                };
                let (summary, evidence) = (m.summary.clone(), m.evidence.clone());
                let done = self.complete(&agent, &task, summary, evidence);
                self.answer_merge(&task, true, format!("{done}: {merged}"));
            }
            Report::CheckFailed {
                task,
                command,
                output,
            } => {
                self.pending.push(Event::TaskChecked {
                    task: task.clone(),
                    command: command.clone(),
                    ok: false,
                    output: output.clone(),
                });
                self.answer_merge(
                    &task,
                    false,
                    format!(
                        "error: the run's check `{command}` failed on your work merged with the run branch, so {task} is not merged. Fix what it shows in your worktree, then call complete_task again.\n{output}"
                    ),
                );
            }
            Report::Conflict {
                task,
                files,
                in_task,
            } => {
                let list = files.join(", ");
                self.pending.push(Event::TaskStatusChanged {
                    task: task.clone(),
                    status: TaskStatus::Conflict,
                    reason: format!("its branch conflicts with the run branch in {list}"),
                });
                let agent = self
                    .merges
                    .get(&task)
                    .and_then(|m| m.by_agent.clone())
                    .map(|(a, _)| a);
                self.news.push(format!(
                    "{task} conflicts with the run branch in {list}: {} resolves it in its worktree (a person may resolve it, or cancel the task)",
                    agent.map_or_else(|| "its agent".to_owned(), |a| a.to_string())
                ));
                let markers = if in_task.is_empty() {
                    "The run branch is now merged into your worktree.".to_owned()
                } else {
                    format!(
                        "Your worktree now holds the merge of the run branch, with conflict markers (<<<<<<< ours, ======= , >>>>>>> theirs) in: {}.",
                        in_task.join(", ")
                    )
                };
                self.answer_merge(
                    &task,
                    false,
                    format!(
                        "error: {task} could not be merged: other tasks changed {list} on the run branch since you started. {markers} Read each file, resolve every conflict keeping what both sides meant, remove the markers, run the tests, then call complete_task again."
                    ),
                );
            }
            Report::Failed { task, error } => {
                self.pending.push(Event::log(
                    LogLevel::Warn,
                    task.as_str(),
                    format!("merge failed: {error}"),
                ));
                self.answer_merge(
                    &task,
                    false,
                    format!("error: {task} could not be merged: {error}"),
                );
            }
            Report::Removed { task, path } => self.pending.push(Event::WorktreeRemoved {
                task,
                path: path.display().to_string(),
            }),
            Report::Retired { task, path, commit } => {
                self.retiring.remove(&path);
                match commit {
                    Ok(sha) => {
                        if let Some(sha) = sha {
                            let branch = self
                                .state
                                .task(&task)
                                .and_then(|t| t.branch.clone())
                                .unwrap_or_default();
                            self.pending.push(Event::log(
                                LogLevel::Info,
                                task.as_str(),
                                format!(
                                    "what it left is kept on {branch} as {}",
                                    sha.get(..12).unwrap_or(&sha)
                                ),
                            ));
                        }
                        self.pending.push(Event::WorktreeRemoved {
                            task,
                            path: path.display().to_string(),
                        });
                    }
                    Err(e) => self.pending.push(Event::log(
                        LogLevel::Warn,
                        task.as_str(),
                        format!("its worktree is kept: what it left cannot be committed: {e}"),
                    )),
                }
            }
        }
    }

    fn on_committed(
        &mut self,
        task: TaskId,
        sha: Option<String>,
        tip: Result<String, String>,
        files: Vec<String>,
    ) {
        if let Some(sha) = &sha {
            self.pending.push(Event::TaskCommitted {
                task: task.clone(),
                sha: sha.clone(),
            });
        }
        let tip = match tip {
            Ok(tip) => tip,
            Err(e) => {
                return self.answer_merge(
                    &task,
                    false,
                    format!("error: your work could not be committed: {e}"),
                );
            }
        };
        let Some(m) = self.merges.get_mut(&task) else {
            return;
        };
        m.tip = tip;
        let (decision, why) = self.review(&files);
        match decision {
            Decision::Allow => self.queue_merge(&task),
            Decision::Deny => self.answer_merge(
                &task,
                false,
                format!("error: {task} cannot be merged: {why}. Undo those changes, or fail_task saying why they are needed."),
            ),
            Decision::Ask => self.ask_review(&task, &files, &why),
        }
    }

    /// Records that the task's branch goes to the queue; the job is sent once that record is
    /// durable ([`Self::send_merge`]).
    fn queue_merge(&mut self, task: &TaskId) {
        let Some(m) = self.merges.get(task) else {
            return;
        };
        self.pending.push(Event::MergeStarted {
            task: task.clone(),
            tip: m.tip.clone(),
            summary: m.summary.clone(),
            evidence: m.evidence.clone(),
        });
    }

    /// `merge_started` is durable: the worker may merge.
    pub(super) fn send_merge(&mut self, task: &TaskId, tip: &str) {
        let (Some(tx), Some(t)) = (&self.merger, self.state.task(task)) else {
            return;
        };
        let mut message = format!(
            "Merge {task}: {}\n\n{}\n\nTask: {task}\nRun: {}\n",
            t.title,
            t.summary.as_deref().unwrap_or("").trim(),
            self.run
        );
        if let Some(agent) = &t.agent {
            message.push_str(&format!("Agent: {agent}\n"));
        }
        let _ = tx.send(Job::Merge(MergeJob {
            task: task.clone(),
            tip: tip.to_owned(),
            message,
            check: self.config.check.clone(),
            worktree: t.worktree.clone().map(PathBuf::from),
            branch: t.branch.clone(),
        }));
    }

    /// Whether the queue has this task's completion.
    pub(in crate::engine) fn in_merge_queue(&self, task: &TaskId) -> bool {
        self.merges.contains_key(task)
    }

    /// A merge in flight is dropped with its task (cancelled, stopped).
    pub(in crate::engine) fn drop_merge(&mut self, task: &TaskId) {
        self.merges.remove(task);
    }

    /// Retires the worktree of a task that ended without a merge (cancelled, or replaced),
    /// once no agent works in it: what it left goes to its branch, so a retry goes on from
    /// there. A long run keeps only its live tasks' worktrees (and failed ones, for a person
    /// to look at), not one per attempt.
    pub(in crate::engine) fn retire_worktree(&mut self, task: &TaskId) {
        let Some(t) = self.state.task(task) else {
            return;
        };
        let Some(path) = t.worktree.as_ref().map(PathBuf::from) else {
            return;
        };
        if t.status != crate::domain::TaskStatus::Cancelled
            || self.live.values().any(|l| l.task.as_ref() == Some(task))
            || self.retiring.contains(&path)
        {
            return;
        }
        // The reason says it: "cancelled by …" or "replaced by T9".
        let summary = format!("attempt {} ({})", t.attempts, t.status_reason);
        let Some(commit) = self.task_commit(task, &summary) else {
            return;
        };
        let Some(tx) = &self.merger else {
            return;
        };
        if tx
            .send(Job::Retire {
                task: task.clone(),
                worktree: path.clone(),
                commit: Box::new(commit),
            })
            .is_ok()
        {
            self.retiring.insert(path);
        }
    }

    /// The worktrees still on disk, removed at the end of the run (tasks that failed for good
    /// kept theirs for a person to look at until now). Their branches stay.
    pub(super) fn remove_worktrees(&mut self) {
        if !self.state.status.is_terminal() {
            return; // stopped, not ended: a resume goes on with them
        }
        let worktrees: Vec<(TaskId, PathBuf)> = self
            .state
            .tasks
            .iter()
            .filter_map(|t| t.worktree.as_ref().map(|w| (t.id.clone(), w.into())))
            .collect();
        if let Some(tx) = &self.merger {
            let _ = tx.send(Job::Remove { worktrees });
        }
    }
}
