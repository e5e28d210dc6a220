//! Approvals in the fold: a request, then its answer or its expiry.
//!
//! The run's state keeps every approval still waiting and the newest answered ones; the log
//! has them all, and the report lists them all from its pass over the records (which folds
//! them with [`fold`] into a list of its own). A run approving every command for days would
//! otherwise carry tens of thousands of answered approvals in every snapshot. Who approved a
//! task's calls stays on the task (`TaskState::approved_by`) for its commit.

use super::{ApprovalState, RunState};
use crate::domain::{ApprovalDecision, Event, EventRecord};

/// Answered (or expired) approvals the state keeps, the newest, besides every pending one.
pub const ANSWERED_KEPT: usize = 100;

/// Folds an approval's record into `list`: a request adds it, an answer or an expiry settles
/// it if it still waits, a recovery expires those whose calls were interrupted. The position
/// of the approval an answer or an expiry settled.
pub fn fold(list: &mut Vec<ApprovalState>, rec: &EventRecord) -> Option<usize> {
    match &rec.event {
        Event::ApprovalRequested {
            approval,
            call,
            agent,
            task,
            tool,
            risk,
            summary,
            label,
        } => {
            list.push(ApprovalState {
                id: approval.clone(),
                call: call.clone(),
                agent: agent.clone(),
                task: task.clone(),
                tool: tool.clone(),
                risk: risk.clone(),
                summary: summary.clone(),
                label: label.clone(),
                requested_seq: rec.seq,
                resolution: None,
                expired: false,
                expiry: None,
            });
            None
        }
        Event::ApprovalResolved {
            approval,
            decision,
            by,
        } => {
            let at = waiting(list, approval)?;
            list[at].resolution = Some((decision.clone(), by.clone()));
            Some(at)
        }
        Event::ApprovalExpired {
            approval, reason, ..
        } => {
            let at = waiting(list, approval)?;
            list[at].expired = true;
            list[at].expiry = Some(reason.clone());
            Some(at)
        }
        Event::Recovered { calls, .. } => {
            for a in list
                .iter_mut()
                .filter(|a| a.is_pending() && calls.contains(&a.call))
            {
                a.expired = true;
            }
            None
        }
        _ => None,
    }
}

fn waiting(list: &[ApprovalState], id: &crate::domain::ApprovalId) -> Option<usize> {
    // The newest first: an approval is answered soon after it is asked.
    list.iter().rposition(|a| &a.id == id && a.is_pending())
}

impl RunState {
    /// Folds an approval's record (see [`fold`]). A settled approval moves behind the others
    /// (the state's list is pending ones in the order asked, then answered ones in the order
    /// answered), and one approved is remembered on its task. The settled approval, if any.
    pub(super) fn fold_approval(&mut self, rec: &EventRecord) -> Option<&ApprovalState> {
        let at = fold(&mut self.approvals, rec)?;
        let settled = self.approvals.remove(at);
        self.approvals.push(settled);
        if let Some(a) = self.approvals.last() {
            if let (
                Some((ApprovalDecision::Approve | ApprovalDecision::ApproveAlways, by)),
                Some(task),
            ) = (&a.resolution, &a.task)
            {
                let (by, task) = (by.to_string(), task.clone());
                if let Some(t) = self.task_mut(&task) {
                    if !t.approved_by.contains(&by) {
                        t.approved_by.push(by);
                    }
                }
            }
        }
        self.approvals.last()
    }

    /// Lets go of the earliest answered approvals once more than twice [`ANSWERED_KEPT`] are
    /// held, keeping every pending one and the latest answered ones: what was just answered
    /// is still here for whoever looks it up.
    pub(super) fn forget_answered(&mut self) {
        if self.approvals.len() <= 2 * ANSWERED_KEPT {
            return;
        }
        let answered = self.approvals.iter().filter(|a| !a.is_pending()).count();
        let mut drop = answered.saturating_sub(ANSWERED_KEPT);
        if drop == 0 {
            return;
        }
        self.approvals.retain(|a| {
            if drop > 0 && !a.is_pending() {
                drop -= 1;
                false
            } else {
                true
            }
        });
    }
}
