//! A session is how a client reaches a run: it receives a snapshot plus live events and sends
//! commands. In-process it wraps the engine's handle; a finished run is replayed read-only
//! from the store; [`socket::SocketSession`] reaches a run a server runs.

pub mod socket;

use crate::domain::{Actor, EventRecord, RunState};
use crate::engine::{Backlog, EngineHandle};
use crate::protocol::{Command, Feed};
use std::future::Future;
use tokio::sync::broadcast;

/// What a client gets when it attaches.
pub struct Attached {
    /// Recent recorded events, for transcripts and logs (the state already includes them).
    pub backlog: Vec<EventRecord>,
    pub state: RunState,
    /// Live events after `state`, with live text among them; `None` for a run that has
    /// ended.
    pub events: Option<broadcast::Receiver<Feed>>,
}

pub trait Session: Send + Sync + 'static {
    /// Attaches, with up to `backlog` recent events.
    fn attach(&self, backlog: u64) -> impl Future<Output = Option<Attached>> + Send;
    /// Sends a command as this session's person; the answer says whether it was accepted.
    fn send(&self, command: Command) -> impl Future<Output = Result<(), String>> + Send;
    /// Leaves the run as it is (it stays resumable).
    fn detach(&self) -> impl Future<Output = ()> + Send;
    /// False when commands are refused (a finished run).
    fn can_steer(&self) -> bool;
    /// Why the last attach failed, when the session knows.
    fn why_not(&self) -> Option<String> {
        None
    }
    /// The attached run's recorded events `from..=to`, read back from the store when a person
    /// scrolls past what the view keeps.
    fn history(
        &self,
        _from: u64,
        _to: u64,
    ) -> impl Future<Output = Result<Vec<EventRecord>, String>> + Send {
        async { Err("this session cannot read back older events".to_owned()) }
    }
}

/// `from..=to` of `run` from `store`.
fn stored(
    store: &crate::store::Store,
    run: &crate::domain::RunId,
    from: u64,
    to: u64,
) -> Result<Vec<EventRecord>, String> {
    store
        .events_between(run, from, to)
        .and_then(|records| records.collect())
        .map_err(|e| e.to_string())
}

/// The engine runs in this process.
pub struct InProcess {
    handle: EngineHandle,
    by: Actor,
}

impl InProcess {
    pub fn new(handle: EngineHandle, by: Actor) -> Self {
        Self { handle, by }
    }
}

impl Session for InProcess {
    async fn attach(&self, backlog: u64) -> Option<Attached> {
        let sub = self.handle.subscribe_with(Backlog::Last(backlog)).await?;
        Some(Attached {
            backlog: sub.backlog,
            state: sub.state,
            events: Some(sub.feed),
        })
    }

    async fn send(&self, command: Command) -> Result<(), String> {
        self.handle.command(self.by.clone(), command).await
    }

    async fn detach(&self) {
        self.handle.shutdown().await;
    }

    fn can_steer(&self) -> bool {
        true
    }

    async fn history(&self, from: u64, to: u64) -> Result<Vec<EventRecord>, String> {
        stored(self.handle.store(), self.handle.run(), from, to)
    }
}

/// A run that has ended, shown from the store: its newest snapshot and its last events, never
/// the whole log in memory.
pub struct Replay {
    store: crate::store::Store,
    run: crate::domain::RunId,
}

impl Replay {
    pub fn new(store: crate::store::Store, run: crate::domain::RunId) -> Self {
        Self { store, run }
    }
}

impl Session for Replay {
    async fn attach(&self, backlog: u64) -> Option<Attached> {
        let state = self.store.load_state(&self.run).ok()?;
        let last = state.last_seq;
        let from = last.saturating_sub(backlog).saturating_add(1).max(1);
        let backlog = match self.store.events_between(&self.run, from, last) {
            Ok(records) => records.filter_map(Result::ok).collect(),
            Err(_) => Vec::new(),
        };
        Some(Attached {
            backlog,
            state,
            events: None,
        })
    }

    async fn send(&self, _command: Command) -> Result<(), String> {
        Err("this run has ended; it can only be viewed".into())
    }

    async fn detach(&self) {}

    fn can_steer(&self) -> bool {
        false
    }

    async fn history(&self, from: u64, to: u64) -> Result<Vec<EventRecord>, String> {
        stored(&self.store, &self.run, from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_finished_run_is_shown_from_its_snapshot_and_last_events_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let run = crate::domain::RunId::from("01REPLAY");
        let written = crate::store::synthetic::write_run(&store, &run, 30_000)
            .await
            .unwrap();
        let replay = Replay::new(store, run);
        let a = replay.attach(1_000).await.unwrap();
        assert_eq!(a.state, written);
        assert_eq!(a.backlog.len(), 1_000);
        assert_eq!(a.backlog.first().map(|r| r.seq), Some(29_001));
        assert_eq!(a.backlog.last().map(|r| r.seq), Some(30_000));
        assert!(a.events.is_none());
        assert!(!replay.can_steer());
        assert!(replay.attach(0).await.unwrap().backlog.is_empty());
    }
}
