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
}

/// A run that has ended, replayed from its records.
pub struct Replay {
    records: Vec<EventRecord>,
}

impl Replay {
    pub fn new(records: Vec<EventRecord>) -> Self {
        Self { records }
    }
}

impl Session for Replay {
    async fn attach(&self, _backlog: u64) -> Option<Attached> {
        let state = RunState::fold(&self.records);
        Some(Attached {
            backlog: self.records.clone(),
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
}
