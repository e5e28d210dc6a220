//! The server of a data directory: the one process that opens its store and runs its engines.
//! Control rooms and CLI commands reach it over a Unix socket ([`socket`]); each connection is
//! served by [`conn`]. The engine never waits for a client: a client that falls behind the
//! live events is dropped and reconnects with a fresh snapshot.

mod conn;
pub mod memory;
pub mod socket;

use crate::domain::{Actor, RunId};
use crate::engine::{Engine, EngineHandle};
use crate::store::Store;
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a client asks the server to start.
#[derive(Debug, Clone)]
pub enum Start {
    /// Resume the last unfinished run, or start the demo.
    Default,
    /// Resume the last unfinished run, if there is one.
    Unfinished,
    /// A request the CLI defined (a new run), as it sent it.
    Request(serde_json::Value),
    /// A resume of `run` as the CLI defined it; a run already live is not started again.
    Resume {
        run: RunId,
        request: serde_json::Value,
    },
}

/// Starts engines for the server; the CLI provides it (it knows config, providers and flags).
pub type Starter =
    Arc<dyn Fn(Store, Start, Actor) -> BoxFuture<'static, Result<Engine, String>> + Send + Sync>;

/// How long a server started in the background lingers with no run and no client.
#[derive(Debug, Clone, Copy)]
pub enum Lifetime {
    /// Until it is told to stop (`serve`).
    Forever,
    /// Until nothing has run and nobody has been attached for this long.
    UntilIdleFor(Duration),
}

pub struct Hub {
    pub(crate) store: Store,
    engines: Mutex<BTreeMap<RunId, EngineHandle>>,
    /// The newest run started, for attaching to "the live run".
    newest: Mutex<Option<RunId>>,
    starter: Starter,
    clients: AtomicUsize,
    start_lock: tokio::sync::Mutex<()>,
    /// Frames waiting for one client before it counts as too slow and is dropped.
    pub(crate) client_queue: usize,
}

impl Hub {
    pub fn live(&self, run: &RunId) -> Option<EngineHandle> {
        self.engines.lock().ok()?.get(run).cloned()
    }

    /// The live run `spec` names (its id or a unique prefix); a run that has just started may
    /// not be listed in the store yet.
    pub fn find_live(&self, spec: &str) -> Option<EngineHandle> {
        let engines = self.engines.lock().ok()?;
        let mut hits = engines
            .iter()
            .filter(|(id, _)| id.as_str().starts_with(spec));
        match (hits.next(), hits.next()) {
            (Some((_, h)), None) => Some(h.clone()),
            _ => None,
        }
    }

    /// The newest live run.
    pub fn newest_live(&self) -> Option<EngineHandle> {
        let engines = self.engines.lock().ok()?;
        let newest = self.newest.lock().ok()?.clone();
        newest
            .and_then(|r| engines.get(&r).cloned())
            .or_else(|| engines.values().next_back().cloned())
    }

    fn live_count(&self) -> usize {
        self.engines.lock().map_or(0, |e| e.len())
    }

    /// Starts an engine through the starter, or returns the live one for the same run.
    pub async fn start(self: &Arc<Self>, what: Start, by: Actor) -> Result<EngineHandle, String> {
        let _one_at_a_time = self.start_lock.lock().await;
        match &what {
            Start::Default => {
                if let Some(h) = self.newest_live() {
                    return Ok(h);
                }
            }
            Start::Resume { run, .. } => {
                if let Some(h) = self.live(run) {
                    return Ok(h);
                }
            }
            Start::Unfinished | Start::Request(_) => {}
        }
        let engine = (self.starter)(self.store.clone(), what, by).await?;
        let handle = engine.handle.clone();
        let run = handle.run().clone();
        if let Ok(mut engines) = self.engines.lock() {
            engines.insert(run.clone(), handle.clone());
        }
        if let Ok(mut newest) = self.newest.lock() {
            *newest = Some(run.clone());
        }
        let hub = self.clone();
        tokio::spawn(async move {
            let ended = engine.join.await;
            if let Ok(Err(e)) = &ended {
                tracing::error!(%run, "engine stopped: {e}");
            }
            if let Ok(mut engines) = hub.engines.lock() {
                engines.remove(&run);
            }
            tracing::info!(%run, "engine ended");
        });
        Ok(handle)
    }

    /// Stops every engine (the runs stay resumable).
    async fn shutdown_engines(&self) {
        let handles: Vec<EngineHandle> = self
            .engines
            .lock()
            .map(|e| e.values().cloned().collect())
            .unwrap_or_default();
        for h in handles {
            h.shutdown().await;
        }
    }
}

/// A running server's settings.
pub struct ServerConfig {
    pub socket: PathBuf,
    pub lifetime: Lifetime,
    /// Started with this, before the first client (resume the last run, or nothing).
    pub initial: Option<Start>,
    /// Frames waiting for one client before it counts as too slow and is dropped.
    pub client_queue: usize,
}

/// The default of [`ServerConfig::client_queue`].
pub const CLIENT_QUEUE: usize = 4_096;

/// Serves the store on the socket until SIGTERM/SIGINT, or until idle for a background server.
/// SIGHUP is ignored: the server outlives terminals.
pub async fn serve(store: Store, starter: Starter, config: ServerConfig) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let listener = socket::bind(&config.socket).map_err(|e| e.to_string())?;
    tracing::info!(socket = %config.socket.display(), pid = std::process::id(), "server listening");
    let hub = Arc::new(Hub {
        store,
        engines: Mutex::new(BTreeMap::new()),
        newest: Mutex::new(None),
        starter,
        clients: AtomicUsize::new(0),
        start_lock: tokio::sync::Mutex::new(()),
        client_queue: config.client_queue.max(8),
    });
    if let Some(what) = config.initial {
        let by = Actor::Engine;
        if let Err(e) = hub.start(what, by).await {
            tracing::warn!("nothing started at launch: {e}");
        }
    }
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut idle_since = tokio::time::Instant::now();
    let mut check = tokio::time::interval(Duration::from_millis(250));
    let result = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let hub = hub.clone();
                    hub.clients.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        conn::serve(hub.clone(), stream).await;
                        hub.clients.fetch_sub(1, Ordering::SeqCst);
                                });
                }
                Err(e) => tracing::warn!("accept failed: {e}"),
            },
            _ = term.recv() => break Ok(()),
            _ = int.recv() => break Ok(()),
            _ = hup.recv() => tracing::info!("SIGHUP ignored: the server outlives terminals"),
            _ = check.tick() => {
                let busy = hub.live_count() > 0 || hub.clients.load(Ordering::SeqCst) > 0;
                if busy {
                    idle_since = tokio::time::Instant::now();
                } else if let Lifetime::UntilIdleFor(d) = config.lifetime {
                    if idle_since.elapsed() >= d {
                        tracing::info!("no run and no client: the server stops");
                        break Ok(());
                    }
                }
            }
        }
    };
    hub.shutdown_engines().await;
    socket::unbind(&config.socket);
    // Engines write their last events as they stop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    result
}
