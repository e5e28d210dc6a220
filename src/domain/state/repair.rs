//! Plan repair in the fold: a task that stands in for another takes over its dependents.

use super::RunState;
use crate::domain::TaskId;

impl RunState {
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
        }
    }
}
