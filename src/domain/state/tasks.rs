//! Tasks in the fold: status changes by the rules of `TaskStatus::can_become`, readiness
//! derived from the dependencies (never asserted), and plan repair, where a task that stands in
//! for another takes over its dependents.

use super::RunState;
use crate::domain::{TaskId, TaskStatus};

impl RunState {
    pub(super) fn change_task(&mut self, id: &TaskId, status: TaskStatus, reason: &str) {
        let now = self.updated_ms;
        let Some(t) = self.task_mut(id) else { return };
        if !t.status.can_become(status) {
            return;
        }
        if status != TaskStatus::Done {
            // Whatever the queue had taken is turned back (a conflict, a stop, a failure).
            t.merging = None;
        }
        match status {
            // Readiness is derived from the dependencies, never asserted.
            TaskStatus::Pending | TaskStatus::Ready => {
                t.status = TaskStatus::Pending;
                t.agent = None;
                self.refresh(id);
                if let Some(t) = self.task_mut(id) {
                    t.status_reason = reason.to_owned();
                }
            }
            _ => {
                t.status = status;
                t.status_reason = reason.to_owned();
                if status.is_terminal() || status == TaskStatus::Failed {
                    t.ended_ms.get_or_insert(now);
                }
                if status == TaskStatus::Failed {
                    t.failures.push(reason.to_owned());
                }
                if status.is_terminal() || status == TaskStatus::Blocked {
                    t.agent = None;
                }
            }
        }
        self.refresh_dependents(id);
    }

    /// Sets a waiting task to Ready when every dependency is Done, Blocked when one can no
    /// longer finish, Pending otherwise. Active and finished tasks are left alone.
    pub(super) fn refresh(&mut self, id: &TaskId) {
        let Some(t) = self.task(id) else { return };
        if !matches!(
            t.status,
            TaskStatus::Pending | TaskStatus::Ready | TaskStatus::Blocked
        ) {
            return;
        }
        let mut blocker = None;
        let mut all_done = true;
        for d in &t.depends_on {
            match self.task(d).map(|d| d.status) {
                Some(TaskStatus::Done) => {}
                Some(s @ (TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Blocked)) => {
                    blocker.get_or_insert((d.clone(), s));
                    all_done = false;
                }
                _ => all_done = false,
            }
        }
        let (status, reason) = match blocker {
            Some((d, s)) => (TaskStatus::Blocked, format!("dependency {d} is {s}")),
            None if all_done && t.depends_on.is_empty() => {
                (TaskStatus::Ready, "no dependencies".to_owned())
            }
            None if all_done => (TaskStatus::Ready, "all dependencies done".to_owned()),
            None => (TaskStatus::Pending, "waiting for dependencies".to_owned()),
        };
        if t.status != status {
            if let Some(t) = self.task_mut(id) {
                t.status = status;
                t.status_reason = reason;
            }
        }
    }

    pub(super) fn refresh_dependents(&mut self, id: &TaskId) {
        let mut stack = self.graph.dependents(id);
        while let Some(d) = stack.pop() {
            let before = self.task(&d).map(|t| t.status);
            self.refresh(&d);
            if self.task(&d).map(|t| t.status) != before {
                stack.extend(self.graph.dependents(&d));
            }
        }
    }

    /// `replacement` stands in for `old`: each listed dependent waits for it instead. An edge
    /// that would close a cycle is not added (the engine refuses such a replacement before it
    /// is recorded, so a log never holds one).
    pub(super) fn replace_task(
        &mut self,
        old: &TaskId,
        replacement: &TaskId,
        dependents: &[TaskId],
    ) {
        if self.task(replacement).is_none() {
            return;
        }
        if let Some(t) = self.task_mut(old) {
            t.replaced_by = Some(replacement.clone());
        }
        for d in dependents {
            if self.graph.add_dependency(d, replacement).is_err() {
                continue;
            }
            self.graph.remove_dependency(d, old);
            if let Some(t) = self.task_mut(d) {
                t.depends_on.retain(|x| x != old);
                if !t.depends_on.contains(replacement) {
                    t.depends_on.push(replacement.clone());
                }
            }
            self.refresh(d);
            self.refresh_dependents(d);
        }
    }
}
