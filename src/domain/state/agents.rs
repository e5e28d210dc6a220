//! Agents in the fold: their status, an approval answered (the agent and its task go on), and
//! recovery after a crash (work in flight is put back).

use super::RunState;
use crate::domain::{AgentId, AgentStatus, CallId, TaskId, TaskStatus};

impl RunState {
    pub(super) fn set_agent(&mut self, agent: &AgentId, status: AgentStatus, reason: &str) {
        if let Some(a) = self.agent_mut(agent) {
            a.status = status;
            a.status_reason = reason.to_owned();
            if status == AgentStatus::Idle {
                a.task = None;
            }
        }
    }

    /// An approval answered: its agent calls the tool, its task runs again.
    pub(super) fn resolved(&mut self, rec: &crate::domain::EventRecord) {
        let Some(a) = self.fold_approval(rec) else {
            return;
        };
        let Some((_, by)) = &a.resolution else {
            return;
        };
        let (approval, by) = (a.id.clone(), by.clone());
        let (agent, task, tool) = (a.agent.clone(), a.task.clone(), a.tool.clone());
        self.set_agent(
            &agent,
            AgentStatus::CallingTool,
            &format!("{tool}: approval {approval} answered by {by}"),
        );
        if let Some(t) = task.filter(|t| {
            self.task(t)
                .is_some_and(|t| t.status != TaskStatus::Conflict)
        }) {
            self.change_task(
                &t,
                TaskStatus::Running,
                &format!("approval {approval} answered by {by}"),
            );
        }
    }

    pub(super) fn recover(&mut self, reason: &str, tasks: &[TaskId], calls: &[CallId]) {
        self.calls.retain(|c| !calls.contains(&c.call));
        for t in tasks {
            if let Some(task) = self.task_mut(t) {
                if task.status.is_active() {
                    task.status = TaskStatus::Pending;
                    task.agent = None;
                    // An interrupted attempt does not count against the limit: the next one
                    // takes its number again.
                    task.attempts = task.attempts.saturating_sub(1);
                }
            }
            self.refresh(t);
            if let Some(task) = self.task_mut(t) {
                task.status_reason = format!("interrupted: {reason}");
            }
        }
        let agents: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|a| a.status != AgentStatus::Idle)
            .map(|a| a.id.clone())
            .collect();
        for a in agents {
            self.set_agent(&a, AgentStatus::Idle, &format!("interrupted: {reason}"));
        }
    }
}
