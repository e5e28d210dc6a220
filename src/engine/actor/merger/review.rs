//! A person in the merge queue: the review a merge waits for (the autonomy level or a
//! `[[policy]]` rule for `merge`), and a conflict a person resolved by hand.

use super::{Job, Merging};
use crate::domain::{ApprovalDecision, ApprovalId, Decision, Event, Risk, TaskId};
use crate::engine::actor::RunActor;

impl RunActor {
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
                by_agent: None,
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
    pub(super) fn review(&self, files: &[String]) -> (Decision, String) {
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

    /// A person reviews the task's diff before it merges (the `merge` approval).
    pub(super) fn ask_review(&mut self, task: &TaskId, files: &[String], why: &str) {
        let Some(m) = self.merges.get_mut(task) else {
            return;
        };
        let Some(reply) = m.reply.take() else {
            return;
        };
        let Some((agent, call)) = m.by_agent.clone() else {
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
            crate::engine::actor::ParkedCall {
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
        parked: crate::engine::actor::ParkedCall,
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
}
