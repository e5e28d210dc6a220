//! A run's listing: what `runs` shows without folding the run.

use crate::domain::{RunId, RunState, RunStatus};
use serde::{Deserialize, Serialize};

/// What `runs` lists without folding a run: kept up to date by the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub id: RunId,
    pub goal: String,
    pub provider: String,
    pub model: String,
    /// Where a remote provider was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub simulated: bool,
    pub workspace: String,
    pub status: RunStatus,
    pub status_reason: String,
    pub tasks_done: usize,
    pub tasks_total: usize,
    pub tokens: u64,
    pub cost_usd: f64,
    /// Requests whose price is unknown; when non-zero the cost is a lower bound.
    pub unpriced_requests: u64,
    pub pending_approvals: usize,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub last_seq: u64,
    /// Active time as of `updated_ms` (see `RunState::active_ms_at`).
    #[serde(default)]
    pub active_ms: u64,
    /// What the run waits for from a person, when it waits for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
}

impl RunMeta {
    pub fn from_state(s: &RunState) -> Option<Self> {
        let info = s.info.as_ref()?;
        Some(Self {
            id: info.id.clone(),
            goal: info.goal.clone(),
            provider: info.provider.clone(),
            model: info.model.clone(),
            base_url: info.base_url.clone(),
            simulated: info.simulated,
            workspace: info.workspace.clone(),
            status: s.status,
            status_reason: s.status_reason.clone(),
            tasks_done: s.tasks_done(),
            tasks_total: s.tasks.len(),
            tokens: s.usage.total(),
            cost_usd: s.cost_usd,
            unpriced_requests: s.unpriced_requests,
            pending_approvals: s.pending_approvals().count(),
            created_ms: s.created_ms,
            updated_ms: s.updated_ms,
            last_seq: s.last_seq,
            active_ms: s.active_ms,
            waiting_for: s.waiting_for(),
        })
    }

    /// True when the listing of `state` would read the same as this one, checked without
    /// building a new `RunMeta` (this runs after every appended batch).
    pub fn lists(&self, state: &RunState) -> bool {
        self.status == state.status
            && self.status_reason == state.status_reason
            && self.tasks_total == state.tasks.len()
            && self.tasks_done == state.tasks_done()
            && self.pending_approvals == state.pending_approvals().count()
            && (self.cost_usd - state.cost_usd).abs() < 0.005
            && self.tokens / 1000 == state.usage.total() / 1000
            && self.active_ms / 60_000 == state.active_ms / 60_000
    }
}
