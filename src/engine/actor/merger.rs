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
use crate::domain::{
    AgentId, ApprovalDecision, ApprovalId, CallId, Decision, Event, LogLevel, Risk, TaskId,
    TaskStatus,
};
use crate::engine::msg::{AgentMsg, Msg, Verdict};
use crate::tools::git::worktree as wt;
use crate::tools::{ToolCall, Tools};
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Where the run's branch is, for the actor.
#[derive(Debug, Clone)]
pub(in crate::engine) struct Branching {
    pub repo: PathBuf,
    pub branch: String,
    pub worktrees: PathBuf,
}

/// A completion going through the queue: the agent's complete_task waits for its answer.
pub(in crate::engine) struct Merging {
    /// The agent whose complete_task waits (none when a person resolved a conflict).
    agent: Option<AgentId>,
    call: Option<CallId>,
    summary: String,
    evidence: String,
    reply: Option<oneshot::Sender<Verdict>>,
    tip: String,
}

/// Work for the git worker.
pub(in crate::engine) enum Job {
    /// Commit everything in the task's worktree, as its role (or the person who resolved its
    /// conflict: then no conflict marker may be left).
    Commit {
        task: TaskId,
        worktree: PathBuf,
        base: String,
        commit: Box<crate::tools::git::TaskCommit>,
        no_markers: bool,
    },
    /// Merge `tip` into the run branch, check, commit or undo.
    Merge {
        task: TaskId,
        tip: String,
        message: String,
        check: Option<String>,
        worktree: Option<PathBuf>,
        branch: Option<String>,
    },
    /// Remove worktrees (the run is over).
    Remove { worktrees: Vec<(TaskId, PathBuf)> },
}

/// What the git worker did.
pub(crate) enum Report {
    Committed {
        task: TaskId,
        sha: Option<String>,
        tip: Result<String, String>,
        files: Vec<String>,
    },
    Merged {
        task: TaskId,
        sha: Option<String>,
        check: Option<(String, String)>,
        removed: Option<PathBuf>,
    },
    CheckFailed {
        task: TaskId,
        command: String,
        output: String,
    },
    Conflict {
        task: TaskId,
        files: Vec<String>,
        in_task: Vec<String>,
    },
    Failed {
        task: TaskId,
        error: String,
    },
    Removed {
        task: TaskId,
        path: PathBuf,
    },
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
                agent: Some(agent.clone()),
                call: Some(call.clone()),
                summary,
                evidence,
                reply: Some(reply),
                tip: String::new(),
            },
        );
    }

    /// A person resolved a task's conflict in its worktree (`r` on a task in conflict): its
    /// agent stops, and the worktree is committed as that person and merged.
    pub(in crate::engine) fn person_resolved(
        &mut self,
        task: &TaskId,
        by: &crate::domain::Actor,
    ) -> Result<(), String> {
        if self.merges.contains_key(task) {
            return Err(format!("{task} is being merged already"));
        }
        let t = self
            .state
            .task(task)
            .ok_or(format!("there is no task {task}"))?;
        let (Some(worktree), Some(base)) = (t.worktree.clone(), t.base.clone()) else {
            return Err(format!("{task} has no worktree to merge"));
        };
        let mut commit = self
            .task_commit(task, &format!("the merge conflict, resolved by {by}"))
            .ok_or(format!("there is no task {task}"))?;
        commit.role = by.to_string();
        let tx = self.merger.as_ref().ok_or("the merge queue has stopped")?;
        tx.send(Job::Commit {
            task: task.clone(),
            worktree: worktree.clone().into(),
            base,
            commit: Box::new(commit),
            no_markers: true,
        })
        .map_err(|_| "the merge queue has stopped".to_owned())?;
        for live in self.live.values().filter(|l| l.task.as_ref() == Some(task)) {
            live.cancel.cancel();
        }
        self.merges.insert(
            task.clone(),
            Merging {
                agent: None,
                call: None,
                summary: format!("{task}'s merge conflict resolved by {by}"),
                evidence: format!("resolved by hand in {worktree}"),
                reply: None,
                tip: String::new(),
            },
        );
        Ok(())
    }

    /// What the review rules say of merging these files: deny (with why), ask, or allow.
    /// A `[[policy]]` rule for the tool `merge` decides the files it matches; otherwise the
    /// `suggest` level asks for every merge. `full` never waits (a deny rule still holds).
    fn review(&self, files: &[String]) -> (Decision, String) {
        use crate::domain::Autonomy;
        let level = self
            .state
            .info
            .as_ref()
            .map_or(self.config.autonomy, |i| i.autonomy);
        let case = self.tools.workspace().case();
        let mut asked = None;
        for f in files {
            let rule = self.config.rules.iter().find(|r| {
                r.tool.as_deref() == Some("merge") && r.matches_in("merge", None, Some(f), case)
            });
            match rule.map(|r| r.decision) {
                Some(Decision::Deny) => {
                    return (
                        Decision::Deny,
                        format!("a [[policy]] rule denies merging {f}"),
                    );
                }
                Some(Decision::Ask) if asked.is_none() => {
                    asked = Some(format!("a [[policy]] rule asks for a review of {f}"));
                }
                _ => {}
            }
        }
        match (level, asked) {
            (Autonomy::Full, _) => (Decision::Allow, "autonomy full".into()),
            (_, Some(why)) => (Decision::Ask, why),
            (Autonomy::Suggest, None) => (Decision::Ask, "autonomy suggest".into()),
            _ => (Decision::Allow, format!("autonomy {level}")),
        }
    }

    /// Answers a completion's complete_task and forgets it.
    fn answer_merge(&mut self, task: &TaskId, ok: bool, text: String) {
        let Some(mut m) = self.merges.remove(task) else {
            return;
        };
        let (Some(agent), Some(call)) = (m.agent.clone(), m.call.clone()) else {
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
                let agent = match &m.agent {
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
                let agent = self.merges.get(&task).and_then(|m| m.agent.clone());
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

    /// A person reviews the task's diff before it merges (the `merge` approval).
    fn ask_review(&mut self, task: &TaskId, files: &[String], why: &str) {
        let Some(m) = self.merges.get_mut(task) else {
            return;
        };
        let Some(reply) = m.reply.take() else {
            return;
        };
        let (Some(agent), Some(call)) = (m.agent.clone(), m.call.clone()) else {
            // A person resolved it by hand: that is their review.
            return self.queue_merge(task);
        };
        self.next_approval += 1;
        let approval = ApprovalId::from(format!("A{}", self.next_approval));
        let shown: Vec<&str> = files.iter().take(8).map(String::as_str).collect();
        let more = files.len().saturating_sub(shown.len());
        let summary = format!(
            "review and merge {task} into the run branch: {} file(s): {}{} (d shows the diff)",
            files.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        self.pending.push(Event::ApprovalRequested {
            approval: approval.clone(),
            call: call.clone(),
            agent: agent.clone(),
            task: Some(task.clone()),
            tool: "merge".into(),
            risk: format!("{why}; touches the run branch; reversible · offline"),
            summary,
            label: Some(Risk {
                touches: "the run branch".into(),
                reversible: true,
                network: false,
                remote_code: false,
            }),
        });
        self.parked.insert(
            approval.clone(),
            super::ParkedCall {
                reply,
                call,
                agent,
                tool: "merge".into(),
                network: false,
                kind: None,
            },
        );
        if let Some(by) = self.config.auto_approve.clone() {
            let _ = self.resolve(&by, &approval, ApprovalDecision::Approve);
        }
    }

    /// A person's answer to a merge review: approved, the merge goes ahead; denied, the
    /// reason (their comments) goes to the agent as one message and the task goes on.
    pub(in crate::engine) fn resolve_review(
        &mut self,
        by: &crate::domain::Actor,
        task: Option<TaskId>,
        parked: super::ParkedCall,
        decision: &ApprovalDecision,
    ) {
        let Some(task) = task.filter(|t| self.merges.contains_key(t)) else {
            return;
        };
        if let Some(m) = self.merges.get_mut(&task) {
            m.reply = Some(parked.reply);
        }
        match decision {
            ApprovalDecision::Deny { reason } => self.answer_merge(
                &task,
                false,
                format!(
                    "error: {by} reviewed your changes and asked for changes before {task} is merged:\n{reason}\nMake them, then call complete_task again."
                ),
            ),
            _ => self.queue_merge(&task),
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
        let _ = tx.send(Job::Merge {
            task: task.clone(),
            tip: tip.to_owned(),
            message,
            check: self.config.check.clone(),
            worktree: t.worktree.clone().map(PathBuf::from),
            branch: t.branch.clone(),
        });
    }

    /// Whether the queue has this task's completion.
    pub(in crate::engine) fn in_merge_queue(&self, task: &TaskId) -> bool {
        self.merges.contains_key(task)
    }

    /// A merge in flight is dropped with its task (cancelled, stopped).
    pub(in crate::engine) fn drop_merge(&mut self, task: &TaskId) {
        self.merges.remove(task);
    }

    /// The worktrees still on disk, removed at the end of the run (failed attempts were kept
    /// for inspection until now). Their branches stay.
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

/// The check of a merge: the configured one ("" for none), or one found from the layout of
/// the merged result.
pub(in crate::engine) fn check_for(
    configured: Option<&str>,
    root: &std::path::Path,
) -> Option<String> {
    if let Some(c) = configured {
        let c = c.trim();
        return (!c.is_empty()).then(|| c.to_owned());
    }
    let has = |p: &str| root.join(p).exists();
    if has("Cargo.toml") {
        return Some("cargo test --quiet".into());
    }
    if has("go.mod") {
        return Some("go test ./...".into());
    }
    if has("package.json")
        && crate::fsread::read_text(&root.join("package.json"), 1 << 20)
            .is_ok_and(|t| t.contains("\"test\""))
    {
        return Some("npm test --silent".into());
    }
    let python_tests = |dir: &std::path::Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))
            })
        })
    };
    if python_tests(&root.join("tests")) {
        return Some("python3 -m unittest discover -s tests -t .".into());
    }
    if python_tests(root) {
        return Some("python3 -m unittest discover".into());
    }
    None
}

/// The git worker: one job at a time, off the actor, each reported back.
pub(super) fn merge_worker(
    branching: Branching,
    run_tools: Tools,
    engine: mpsc::Sender<Msg>,
) -> (mpsc::UnboundedSender<Job>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let done = tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let reports = work(&branching, &run_tools, job).await;
            for r in reports {
                if engine
                    .send(Msg::Agent(AgentMsg::Merge(Box::new(r))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    (tx, done)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the git step stopped: {e}"))?
}

async fn work(b: &Branching, run_tools: &Tools, job: Job) -> Vec<Report> {
    match job {
        Job::Commit {
            task,
            worktree,
            base,
            commit,
            no_markers,
        } => {
            let done = blocking(move || {
                if no_markers {
                    let left = wt::with_markers(&worktree);
                    if !left.is_empty() {
                        return Err(format!("conflict markers are still in {}", left.join(", ")));
                    }
                }
                let sha = wt::commit_worktree(&worktree, &commit)?;
                let tip = wt::head(&worktree)?;
                let files = wt::changed_files(&worktree, &base, &tip)?;
                Ok((sha, tip, files))
            })
            .await;
            vec![match done {
                Ok((sha, tip, files)) => Report::Committed {
                    task,
                    sha,
                    tip: Ok(tip),
                    files,
                },
                Err(e) => Report::Committed {
                    task,
                    sha: None,
                    tip: Err(e),
                    files: Vec::new(),
                },
            }]
        }
        Job::Merge {
            task,
            tip,
            message,
            check,
            worktree,
            branch,
        } => merge(b, run_tools, task, tip, message, check, worktree, branch).await,
        Job::Remove { worktrees } => {
            let mut out = Vec::new();
            for (task, path) in worktrees {
                let (repo, p) = (b.repo.clone(), path.clone());
                let _ = blocking(move || {
                    wt::remove_worktree(&repo, &p);
                    Ok(())
                })
                .await;
                out.push(Report::Removed { task, path });
            }
            // Earlier attempts' worktrees, no longer named in the state.
            let (repo, dir) = (b.repo.clone(), b.worktrees.clone());
            let _ = blocking(move || {
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if e.file_name() != "run" {
                        wt::remove_worktree(&repo, &e.path());
                    }
                }
                Ok(())
            })
            .await;
            out
        }
    }
}

#[allow(clippy::too_many_arguments)] // one merge's facts
async fn merge(
    b: &Branching,
    run_tools: &Tools,
    task: TaskId,
    tip: String,
    message: String,
    check: Option<String>,
    worktree: Option<PathBuf>,
    branch: Option<String>,
) -> Vec<Report> {
    let root = run_tools.workspace().root().to_owned();
    let (r, t) = (root.clone(), tip.clone());
    let begun = blocking(move || wt::merge_begin(&r, &t)).await;
    let staged = match begun {
        Err(error) => return vec![Report::Failed { task, error }],
        Ok(wt::Merge::Conflict(files)) => {
            let (w, run_branch) = (worktree.clone(), b.branch.clone());
            let in_task = blocking(move || match w {
                Some(w) => wt::conflict_into(&w, &run_branch),
                None => Ok(Vec::new()),
            })
            .await
            .unwrap_or_default();
            return vec![Report::Conflict {
                task,
                files,
                in_task,
            }];
        }
        Ok(wt::Merge::UpToDate) => false,
        Ok(wt::Merge::Staged) => true,
    };
    let mut checked = None;
    let mut sha = None;
    if staged {
        if let Some(command) = check_for(check.as_deref(), &root) {
            let call = ToolCall::RunCommand {
                command: command.clone(),
                timeout_s: None,
            };
            let result = run_tools
                .execute(&call, false, &CancellationToken::new())
                .await;
            let (ok, output) = match result {
                Ok(out) => (out.ok, out.text),
                Err(e) => (false, format!("error: {e}")),
            };
            let output = crate::engine::repair::tail(&output);
            if !ok {
                let r = root.clone();
                let _ = blocking(move || {
                    wt::merge_undo(&r);
                    Ok(())
                })
                .await;
                return vec![Report::CheckFailed {
                    task,
                    command,
                    output,
                }];
            }
            checked = Some((command, output));
        }
        let r = root.clone();
        match blocking(move || {
            let done = wt::merge_finish(&r, &message);
            if done.is_err() {
                wt::merge_undo(&r);
            }
            done
        })
        .await
        {
            Ok(s) => sha = Some(s),
            Err(error) => return vec![Report::Failed { task, error }],
        }
    }
    let repo = b.repo.clone();
    let removed = blocking(move || {
        if let Some(w) = &worktree {
            wt::remove_worktree(&repo, w);
        }
        if let Some(branch) = &branch {
            wt::delete_branch(&repo, branch);
        }
        Ok(worktree)
    })
    .await
    .ok()
    .flatten();
    vec![Report::Merged {
        task,
        sha,
        check: checked,
        removed,
    }]
}

/// Merges a crash left unrecorded: each task the queue had taken (`merge_started`) whose
/// branch is now part of the run branch is merged and done; the others go back with the rest
/// of the interrupted work. Blocking (git).
pub(super) fn recover_merges(state: &crate::domain::RunState) -> Vec<Event> {
    let Some(b) = &state.branch else {
        return Vec::new();
    };
    let root = std::path::Path::new(&b.worktree);
    wt::recover(root);
    let mut events = Vec::new();
    for t in &state.tasks {
        let Some(tip) = t.merging.as_deref() else {
            continue;
        };
        if t.status == TaskStatus::Done {
            continue;
        }
        if let Some(sha) = wt::merged_by(root, tip) {
            events.push(Event::TaskMerged {
                task: t.id.clone(),
                sha,
            });
            events.push(Event::TaskCompleted {
                task: t.id.clone(),
                summary: t.summary.clone().unwrap_or_default(),
                evidence: t.evidence.clone().unwrap_or_default(),
            });
            events.push(Event::log(
                LogLevel::Info,
                t.id.as_str(),
                "its merge had landed when the process stopped: recorded now",
            ));
        }
    }
    events
}
