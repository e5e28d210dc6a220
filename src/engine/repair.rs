//! The task tools the engine carries out: the supervisor creates tasks and repairs its plan
//! (retry with guidance, cancel, a replacement that takes over a task's dependents); a worker
//! completes its task, after the task's check command passed when it has one; the supervisor
//! finishes the run. A person's retry and cancel (`r`, `x`) go through the same functions.

use super::actor::{RunActor, SUPERVISOR};
use super::msg::Verdict;
use super::unstick::Freed;
use crate::domain::{Actor, AgentId, CallId, Event, RunStatus, TaskId, TaskStatus};
use crate::tools::{ToolError, ToolOutput};
use tokio::sync::oneshot;

/// How often the supervisor may retry one task; then it cancels or replaces it, or asks.
const SUPERVISOR_RETRIES: usize = 3;
/// The tail of a check's output kept in the log and returned to the agent.
const CHECK_TAIL_LINES: usize = 40;
const CHECK_TAIL_BYTES: usize = 4 * 1024;
/// Begins the result of a check the policy or a person did not let run.
pub(super) const CHECK_NOT_RUN: &str = "the check did not run: ";

/// A complete_task call waiting for its check.
pub(super) struct Completion {
    task: TaskId,
    call: CallId,
    command: String,
    summary: String,
    evidence: String,
}

/// What complete_task does next.
pub(super) enum Begun {
    /// The task is done (it has no check).
    Done(String),
    /// Run this check first.
    Check(String),
    /// Into the merge queue (the task has no check of its own).
    Merge {
        task: TaskId,
        summary: String,
        evidence: String,
    },
}

fn filled(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The last lines of `text`, at most a few KiB (the hand-off's tail), saying what it left out.
pub(super) fn tail(text: &str) -> String {
    let (shown, before) = super::prompt::tail(text, CHECK_TAIL_LINES, CHECK_TAIL_BYTES);
    match before {
        0 if shown.len() == text.trim_end().len() => shown.to_owned(),
        0 => format!("[…]{shown}"),
        n => format!("[… {n} lines before]\n{shown}"),
    }
}

impl RunActor {
    fn supervisor_only(agent: &AgentId, what: &str) -> Result<(), String> {
        if agent.as_str() == SUPERVISOR {
            Ok(())
        } else {
            Err(format!(
                "only the supervisor {what}; use ask_human or fail_task to raise a need"
            ))
        }
    }

    pub(super) fn create_task(
        &mut self,
        agent: &AgentId,
        t: crate::tools::NewTask,
    ) -> Result<String, String> {
        Self::supervisor_only(agent, "creates tasks")?;
        if t.title.trim().is_empty() {
            return Err("a task needs a title".into());
        }
        if t.role == SUPERVISOR || self.config.roster.get(&t.role).is_none() {
            let roles: Vec<&str> = self
                .config
                .roster
                .names()
                .filter(|r| *r != SUPERVISOR)
                .collect();
            return Err(format!(
                "unknown role {:?}; the roles are {}",
                t.role,
                roles.join(", ")
            ));
        }
        let id = TaskId::numbered(self.next_task + 1);
        self.state
            .graph
            .check_new(&id, &t.depends_on)
            .map_err(|e| e.to_string())?;
        let replaced = match &t.replaces {
            Some(old) => Some(self.check_replacement(&id, old, &t.depends_on)?),
            None => None,
        };
        self.next_task += 1;
        self.told_settled = false;
        self.nudges = 0;
        self.pending.push(Event::TaskCreated {
            task: id.clone(),
            title: t.title,
            description: t.description,
            role: t.role,
            depends_on: t.depends_on,
            by: agent.clone(),
            acceptance: filled(t.acceptance),
            check: filled(t.check),
        });
        let Some((old, dependents)) = replaced else {
            return Ok(format!("created {id}"));
        };
        if self
            .state
            .task(&old)
            .is_some_and(|o| o.status != TaskStatus::Cancelled)
        {
            self.cancel_now(&old, &Actor::Engine, format!("replaced by {id}"));
        }
        let moved = if dependents.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = dependents.iter().map(|d| d.as_str()).collect();
            format!("; {} now wait for {id}", names.join(", "))
        };
        self.pending.push(Event::TaskReplaced {
            task: old.clone(),
            replacement: id.clone(),
            dependents,
            by: agent.clone(),
        });
        Ok(format!("created {id}, replacing {old}{moved}"))
    }

    /// A replacement may stand in for a task that has not succeeded and is not running, and
    /// must not itself wait (directly or not) for one of the dependents it takes over.
    fn check_replacement(
        &self,
        id: &TaskId,
        old: &TaskId,
        deps: &[TaskId],
    ) -> Result<(TaskId, Vec<TaskId>), String> {
        let o = self
            .state
            .task(old)
            .ok_or_else(|| format!("there is no task {old} to replace"))?;
        if deps.contains(old) {
            return Err(format!("{id} cannot both replace {old} and depend on it"));
        }
        // Finished dependents keep their history; only those still to run wait for the
        // replacement.
        let dependents: Vec<TaskId> = self
            .state
            .graph
            .dependents(old)
            .into_iter()
            .filter(|d| {
                self.state
                    .task(d)
                    .is_some_and(|t| t.status != TaskStatus::Done)
            })
            .collect();
        let mut trial = self.state.graph.clone();
        trial
            .add_task(id.clone(), deps)
            .map_err(|e| e.to_string())?;
        for d in &dependents {
            trial.add_dependency(d, id).map_err(|_| {
                format!("{id} cannot replace {old}: it would wait for {d}, which waits for {old}")
            })?;
        }
        if o.status == TaskStatus::Done {
            return Err(format!("{old} is done; nothing to replace"));
        }
        if o.status.is_active() {
            return Err(format!(
                "{old} is {}; cancel it first (cancel_task), then replace it",
                o.status
            ));
        }
        if let Some(r) = &o.replaced_by {
            return Err(format!("{old} was already replaced by {r}"));
        }
        Ok((old.clone(), dependents))
    }

    pub(super) fn supervisor_retry(
        &mut self,
        agent: &AgentId,
        task: &TaskId,
        guidance: String,
    ) -> Result<String, String> {
        Self::supervisor_only(agent, "retries tasks")?;
        let guidance = guidance.trim().to_owned();
        if guidance.is_empty() {
            return Err(
                "retry_task needs guidance: what the next attempt should do differently".into(),
            );
        }
        let t = self.task_named(task)?;
        if t.guidance.len() >= SUPERVISOR_RETRIES {
            return Err(format!(
                "{task} was retried {SUPERVISOR_RETRIES} times already; cancel it or create a task that replaces it, or ask_human"
            ));
        }
        self.check_retry(task)?;
        if let Some((d, s)) = t.depends_on.iter().find_map(|d| {
            self.state
                .task(d)
                .map(|x| x.status)
                .filter(|s| {
                    matches!(
                        s,
                        TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Blocked
                    )
                })
                .map(|s| (d, s))
        }) {
            return Err(format!(
                "{task} waits for {d}, which is {s}: retry or replace {d} first (create_task with replaces: \"{d}\")"
            ));
        }
        self.pending.push(Event::TaskRetried {
            task: task.clone(),
            guidance: guidance.clone(),
            by: agent.clone(),
        });
        let first = guidance.lines().next().unwrap_or_default();
        self.retry_now(task, &Actor::Engine, format!("retried by {agent}: {first}"));
        Ok(format!("{task} will be attempted again with your guidance"))
    }

    pub(super) fn supervisor_cancel(
        &mut self,
        agent: &AgentId,
        task: &TaskId,
        reason: String,
    ) -> Result<String, String> {
        Self::supervisor_only(agent, "cancels tasks")?;
        self.check_cancel(task)?;
        let reason = reason.trim();
        let why = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        self.cancel_now(task, &Actor::Engine, format!("cancelled by {agent}{why}"));
        let blocked: Vec<String> = self
            .state
            .graph
            .dependents(task)
            .into_iter()
            .filter(|d| self.state.task(d).is_some_and(|d| !d.status.is_terminal()))
            .map(|d| d.to_string())
            .collect();
        Ok(if blocked.is_empty() {
            format!("{task} cancelled")
        } else {
            format!(
                "{task} cancelled; {} depend on it and stay blocked until you cancel them or create a task with replaces: \"{task}\"",
                blocked.join(", ")
            )
        })
    }

    fn task_named(&self, task: &TaskId) -> Result<&crate::domain::TaskState, String> {
        self.state
            .task(task)
            .ok_or_else(|| format!("there is no task {task}"))
    }

    /// Whether a task may be cancelled: it has not ended, or it failed for good.
    pub(super) fn check_cancel(&self, task: &TaskId) -> Result<(), String> {
        let t = self.task_named(task)?;
        if t.status.is_terminal() && t.status != TaskStatus::Failed {
            return Err(format!("{task} is already {}", t.status));
        }
        Ok(())
    }

    /// Whether a task may be started again: it failed, was cancelled or is blocked.
    pub(super) fn check_retry(&self, task: &TaskId) -> Result<(), String> {
        let t = self.task_named(task)?;
        if let Some(r) = &t.replaced_by {
            return Err(format!("{task} was replaced by {r}; retry that one"));
        }
        if !matches!(
            t.status,
            TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Blocked
        ) {
            return Err(format!(
                "{task} is {}; only failed, cancelled or blocked tasks can be retried",
                t.status
            ));
        }
        Ok(())
    }

    /// Starts a task again (checked by `check_retry`), with one more attempt than the limit.
    pub(super) fn retry_now(&mut self, task: &TaskId, by: &Actor, reason: String) {
        *self.manual_retries.entry(task.clone()).or_insert(0) += 1;
        self.free_stuck_on(task, by, Freed::Retry);
        self.pending.push(Event::TaskStatusChanged {
            task: task.clone(),
            status: TaskStatus::Ready,
            reason,
        });
    }

    /// Cancels a task (its agent is stopped) and frees an agent stuck on it.
    pub(super) fn cancel_now(&mut self, task: &TaskId, by: &Actor, reason: String) {
        self.pending.push(Event::TaskStatusChanged {
            task: task.clone(),
            status: TaskStatus::Cancelled,
            reason,
        });
        for live in self.live.values().filter(|l| l.task.as_ref() == Some(task)) {
            live.cancel.cancel();
        }
        self.checking.retain(|_, c| &c.task != task);
        self.drop_merge(task);
        self.free_stuck_on(task, by, Freed::Cancelled);
        // Its questions and requests go with it: nobody is left to act on an answer.
        self.expire_approvals_of(by, &format!("{task} was cancelled"), |a| {
            a.task.as_ref() == Some(task)
        });
    }

    /// complete_task: a task with a check command completes only after it passed.
    pub(super) fn begin_completion(
        &mut self,
        agent: &AgentId,
        task: Option<&TaskId>,
        call: &CallId,
        summary: String,
        evidence: String,
    ) -> Result<Begun, String> {
        let task = task
            .filter(|t| self.owns(agent, t))
            .ok_or("you have no task in progress to complete")?
            .clone();
        if summary.trim().is_empty() || evidence.trim().is_empty() {
            return Err("complete_task needs a summary and evidence (command output, file names) that proves the work".into());
        }
        match self.state.task(&task).and_then(|t| t.check.clone()) {
            Some(command) => {
                self.checking.insert(
                    agent.clone(),
                    Completion {
                        task,
                        call: call.clone(),
                        command: command.clone(),
                        summary,
                        evidence,
                    },
                );
                Ok(Begun::Check(command))
            }
            None if self.merges(&task) => Ok(Begun::Merge {
                task,
                summary,
                evidence,
            }),
            None => Ok(Begun::Done(self.complete(agent, &task, summary, evidence))),
        }
    }

    pub(super) fn complete(
        &mut self,
        agent: &AgentId,
        task: &TaskId,
        summary: String,
        evidence: String,
    ) -> String {
        let news = super::prompt::task_done_news(&self.state, task, agent, &summary, &evidence);
        self.pending.push(Event::TaskCompleted {
            task: task.clone(),
            summary,
            evidence,
        });
        self.news.push(news);
        format!("{task} is done")
    }

    /// The check of a complete_task has run: the task is done, or the agent is told why not.
    pub(super) fn on_checked(
        &mut self,
        agent: AgentId,
        call: CallId,
        result: Result<ToolOutput, ToolError>,
        reply: oneshot::Sender<Verdict>,
    ) {
        let Some(c) = self.checking.remove(&agent).filter(|c| c.call == call) else {
            return; // cancelled meanwhile: dropping the reply stops the agent
        };
        if !self.owns(&agent, &c.task) {
            return;
        }
        let (ok, output) = match &result {
            Ok(out) => (out.ok, out.text.clone()),
            Err(e) => (false, format!("error: {e}")),
        };
        let output = tail(&output);
        self.pending.push(Event::TaskChecked {
            task: c.task.clone(),
            command: c.command.clone(),
            ok,
            output: output.clone(),
        });
        let ran = !matches!(&result, Ok(out) if !out.ok && out.text.starts_with(CHECK_NOT_RUN));
        if ok && self.merges(&c.task) {
            return self.start_merge(&agent, &c.task, &call, c.summary, c.evidence, reply);
        }
        let (text, ends) = if ok {
            let done = self.complete(&agent, &c.task, c.summary, c.evidence);
            (format!("the check `{}` passed; {done}", c.command), true)
        } else if !ran {
            (
                format!(
                    "error: {} is not done: its check `{}` could not run ({output}). Nothing you change will make it pass; ask_human, or fail_task with this reason.",
                    c.task, c.command
                ),
                false,
            )
        } else {
            (
                format!(
                    "error: the check `{}` failed, so {} is not done. Fix what it shows, then call complete_task again.\n{output}",
                    c.command, c.task
                ),
                false,
            )
        };
        if ends {
            if let Some(live) = self.live.get_mut(&agent) {
                live.finishing = true;
            }
        }
        self.finish_call(&agent, &call, ok, &text);
        self.answer(reply, text, ends);
    }

    pub(super) fn finish_run(
        &mut self,
        agent: &AgentId,
        summary: String,
    ) -> Result<String, String> {
        Self::supervisor_only(agent, "finishes the run")?;
        let open: Vec<String> = self
            .state
            .tasks
            .iter()
            .filter(|t| !matches!(t.status, TaskStatus::Done | TaskStatus::Cancelled))
            .map(|t| format!("{} ({})", t.id, t.status))
            .collect();
        if !open.is_empty() {
            return Err(format!(
                "tasks are still open: {}; wait for running ones; retry_task, cancel_task or replace (create_task with replaces) the failed or blocked ones",
                open.join(", ")
            ));
        }
        self.pending.push(Event::RunStatusChanged {
            status: RunStatus::Completed,
            reason: summary,
        });
        Ok("the run is finished".into())
    }
}

/// What a worker's brief says of its task's terms: the supervisor's guidance for this attempt,
/// the acceptance criteria, and the check the engine runs at complete_task (with how the last
/// run of it went).
pub(super) fn brief_terms(task: &crate::domain::TaskState) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if let Some(g) = task.guidance.last() {
        let _ = writeln!(out, "Guidance from the supervisor for this attempt:\n{g}\n");
    }
    if let Some(a) = &task.acceptance {
        let _ = writeln!(out, "Acceptance criteria:\n{a}\n");
    }
    if let Some(c) = &task.check {
        let _ = writeln!(
            out,
            "When you call complete_task, the engine runs `{c}` in the sandbox; the task is done only if it exits 0."
        );
        if let Some((false, tail)) = &task.last_check {
            let _ = writeln!(out, "It failed last time:\n{tail}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_the_last_lines_and_says_what_it_left_out() {
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("[… 60 lines before]\nline 61"), "{t}");
        assert!(t.ends_with("line 100"), "{t}");
        let long = "é".repeat(5000);
        let t = tail(&long);
        assert!(t.len() <= 4 * 1024 + 8, "{}", t.len());
        assert!(t.starts_with("[…]"));
    }
}
