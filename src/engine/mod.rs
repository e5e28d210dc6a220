//! The engine: the run actor that owns the store and the workspace. It is the only writer of
//! a run's log. Agents are tokio tasks that talk to it over a bounded channel; people talk to
//! it through [`EngineHandle`] (sessions). Every event is durable before anyone acts on it.

mod actor;
mod agent;
mod commands;
mod deltas;
mod gate;
mod msg;
mod prompt;
mod repair;
pub mod roles;
mod scheduler;
mod spawn;
pub mod stuck;
mod transcript;
mod unstick;

pub use roles::{RoleDef, Roster};

use crate::domain::{Actor, Autonomy, Budget, EventRecord, RunId, RunState};
use crate::llm::Providers;
use crate::llm::pricing::Prices;
use crate::protocol::Command;
use crate::store::{Store, StoreError};
use crate::tools::CommandLimits;
use msg::Msg;
pub use msg::{Backlog, Subscription};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker agents running at once.
    pub concurrency: u32,
    /// Attempts per task before it fails for good.
    pub max_attempts: u32,
    pub autonomy: Autonomy,
    pub budget: Budget,
    /// Budgets per role and per task.
    pub budgets: crate::domain::Budgets,
    /// `--yes`: approve every request, attributed to this person.
    pub auto_approve: Option<Actor>,
    pub snapshot_every: u64,
    /// For measurements: every durable append takes this much longer, as on a slow disk
    /// (`MACROHARD_SLOW_FLUSH_MS`). Live text must reach viewers regardless.
    pub slow_flush: Option<Duration>,
    pub limits: CommandLimits,
    pub roster: Roster,
    /// Retries of one LLM step on retryable errors, and the first backoff.
    pub step_retries: u32,
    pub retry_backoff: Duration,
    /// Where new runs get their workspace (`<dir>/<run id>`) unless one is given.
    pub workspaces_dir: PathBuf,
    /// What requests cost: the built-in table and the config's overrides.
    pub prices: Prices,
    /// When an agent counts as stuck (and is paused).
    pub stuck: stuck::StuckLimits,
    /// The config's `[[policy]]` rules, first match first.
    pub rules: Vec<crate::domain::policy::Rule>,
    /// Each role's own provider and model (config and flags), recorded with the run.
    pub role_settings: std::collections::BTreeMap<String, crate::domain::RoleChoice>,
    /// Where task worktrees and the run worktrees of people's repositories go
    /// (`<dir>/<run id>/…`).
    pub worktrees_dir: PathBuf,
    /// `--base`: the commit of a person's repository a new run starts from (their HEAD
    /// otherwise).
    pub base: Option<String>,
    /// `[run] check`: the check of every merge ("" for none; unset: found from the layout).
    pub check: Option<String>,
}

impl EngineConfig {
    pub fn new(roster: Roster, workspaces_dir: PathBuf) -> Self {
        Self {
            concurrency: 3,
            max_attempts: 2,
            autonomy: Autonomy::AskRisky,
            budget: Budget::default(),
            budgets: crate::domain::Budgets::default(),
            auto_approve: None,
            snapshot_every: 2_000,
            slow_flush: None,
            limits: CommandLimits::default(),
            roster,
            step_retries: 3,
            retry_backoff: Duration::from_millis(500),
            worktrees_dir: workspaces_dir.parent().map_or_else(
                || workspaces_dir.join(".worktrees"),
                |p| p.join("worktrees"),
            ),
            base: None,
            check: None,
            workspaces_dir,
            role_settings: std::collections::BTreeMap::new(),
            prices: Prices::default(),
            stuck: stuck::StuckLimits::default(),
            rules: Vec::new(),
        }
    }
}

/// A run to start.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub goal: String,
    pub workspace: Option<PathBuf>,
    pub seed: u64,
    pub by: Actor,
}

#[derive(Debug, Clone)]
pub enum RunTarget {
    New(NewRun),
    /// `budget`, when given, replaces the run's budget (attributed to `by`) before it goes on.
    Resume {
        run: RunId,
        by: Actor,
        budget: Option<Budget>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot prepare the workspace {}: {source}", path.display())]
    Workspace {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot work on the repository: {0}")]
    Repository(String),
    #[error("run {run} has already ended ({status}): {reason}")]
    Finished {
        run: RunId,
        status: crate::domain::RunStatus,
        reason: String,
    },
    #[error("run {0} has no events")]
    Empty(RunId),
    #[error("role {0:?} is not defined")]
    MissingRole(String),
    #[error(
        "the supervisor's prompt (prompts/supervisor.md) does not list finish_run in its `tools`, so a run could never end; add \"finish_run\" to `tools`"
    )]
    SupervisorCannotFinish,
}

/// Whether a roster can run at all: it has a supervisor, and the supervisor can end the run.
pub fn check_roster(roster: &Roster) -> Result<(), EngineError> {
    let sup = roster
        .get(actor::SUPERVISOR)
        .ok_or_else(|| EngineError::MissingRole(actor::SUPERVISOR.into()))?;
    if !sup.tools.iter().any(|t| t == "finish_run") {
        return Err(EngineError::SupervisorCannotFinish);
    }
    Ok(())
}

/// A client's handle on a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Msg>,
    run: RunId,
    store: Store,
}

impl EngineHandle {
    pub fn run(&self) -> &RunId {
        &self.run
    }

    /// The store the run is recorded in (for reading back its older events).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Sends a command as `by`; the answer says whether it was accepted.
    pub async fn command(&self, by: Actor, command: Command) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Command { by, command, reply })
            .await
            .map_err(|_| "the engine has stopped".to_owned())?;
        rx.await.map_err(|_| "the engine has stopped".to_owned())?
    }

    /// The current state and the live events after it. `None` when the engine has stopped.
    pub async fn subscribe(&self) -> Option<(RunState, broadcast::Receiver<EventRecord>)> {
        self.subscribe_with(Backlog::None)
            .await
            .map(|s| (s.state, s.events))
    }

    /// Like [`subscribe`](Self::subscribe), with recorded events as well.
    pub async fn subscribe_with(&self, backlog: Backlog) -> Option<Subscription> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Subscribe { backlog, reply }).await.ok()?;
        rx.await.ok()
    }

    /// Stops the engine without ending the run: agents are stopped, the state is saved, and
    /// the run can be resumed.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// A started engine.
pub struct Engine {
    pub handle: EngineHandle,
    /// The sequence number of the first event this engine wrote.
    pub first_seq: u64,
    /// Ends with the run's final state (when the run ends or the engine is shut down).
    pub join: JoinHandle<Result<RunState, EngineError>>,
}

/// Opens (or creates) the run and starts its actor. `providers` is one provider for every
/// role, or a [`Providers`] routing some roles elsewhere.
pub async fn start(
    store: Store,
    providers: impl Into<Providers>,
    config: EngineConfig,
    target: RunTarget,
) -> Result<Engine, EngineError> {
    let (tx, rx) = mpsc::channel(1024);
    let actor = actor::RunActor::boot(
        store.clone(),
        providers.into(),
        config,
        target,
        tx.clone(),
        rx,
    )
    .await?;
    let run = actor.run_id().clone();
    let first_seq = actor.first_seq();
    let join = tokio::spawn(actor.run());
    Ok(Engine {
        handle: EngineHandle { tx, run, store },
        first_seq,
        join,
    })
}
