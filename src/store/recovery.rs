//! Recovery: what was in flight when the process stopped, as one `Recovered` event.

use crate::domain::{Event, RunState, TaskId};

/// The event that puts interrupted work back, or `None` when nothing was in flight.
/// Finished tasks are never touched, so resume never re-does them; nor are the `done` ones
/// (finished by what recovery found, such as a merge that landed).
pub fn interrupted(state: &RunState, done: &[&TaskId]) -> Option<Event> {
    let tasks: Vec<_> = state
        .tasks
        .iter()
        .filter(|t| t.status.is_active() && !done.contains(&&t.id))
        .map(|t| t.id.clone())
        .collect();
    let calls: Vec<_> = state.calls.iter().map(|c| c.call.clone()).collect();
    let busy_agents = state
        .agents
        .iter()
        .any(|a| a.status != crate::domain::AgentStatus::Idle);
    if tasks.is_empty() && calls.is_empty() && !busy_agents {
        return None;
    }
    Some(Event::Recovered {
        reason: "the process stopped while this work was in flight".into(),
        tasks,
        calls,
    })
}
