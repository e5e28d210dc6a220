//! `serve`: the server of a data directory, and how it starts engines for its clients with
//! the same flags, config and providers a run started here would have.

use super::args::{ResumeArgs, RunArgs};
use super::config::Paths;
use super::setup::{self, Origin};
use super::{Failure, logging};
use crate::domain::Actor;
use crate::engine::Engine;
use crate::server::{self, Lifetime, ServerConfig, Start, Starter};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a server started by `macrohard-tui` lingers with no run and no viewer.
const BACKGROUND_IDLE: Duration = Duration::from_secs(2);

/// What a client asks its server to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "args", rename_all = "snake_case")]
pub enum StartRequest {
    Run(Box<RunArgs>),
    Resume(Box<ResumeArgs>),
}

/// A request with the client's environment overlay (its provider keys and model settings).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub request: StartRequest,
    pub env: BTreeMap<String, String>,
    /// The client's config file, and whether it named it: the run is configured as the
    /// client would configure it (roles, providers, prices), not by the server's own file.
    #[serde(default)]
    pub config: Option<(std::path::PathBuf, bool)>,
}

/// The variables a client forwards to its server for a run it asks for: provider keys and the
/// settings a run reads from the environment. They are used to build the run's providers and
/// are kept nowhere.
pub fn forwarded_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| {
            k.ends_with("_API_KEY")
                || matches!(
                    k.as_str(),
                    "MACROHARD_SIM_SPEED" | "MACROHARD_ANTHROPIC_VERSION"
                )
        })
        .collect()
}

fn starter(paths: Paths) -> Starter {
    Arc::new(move |store: Store, start: Start, by: Actor| {
        let paths = paths.clone();
        Box::pin(async move { start_engine(&paths, store, start, by).await })
    })
}

async fn start_engine(
    paths: &Paths,
    store: Store,
    start: Start,
    by: Actor,
) -> Result<Engine, String> {
    let here = Origin {
        by: by.clone(),
        env: BTreeMap::new(),
    };
    let request = match start {
        Start::Default => {
            return setup::default_engine(paths, store, &here)
                .await
                .map_err(|f| f.message);
        }
        Start::Unfinished => {
            let run = store
                .runs()
                .map_err(|e| e.to_string())?
                .iter()
                .rev()
                .find(|m| !m.status.is_terminal())
                .map(|m| m.id.to_string())
                .ok_or("no unfinished run")?;
            let args = ResumeArgs {
                run,
                ..default_resume()?
            };
            return setup::resume_engine(paths, store, &args, &here)
                .await
                .map(|(e, _)| e)
                .map_err(|(f, _)| f.message);
        }
        Start::Request(v) | Start::Resume { request: v, .. } => v,
    };
    let envelope: Envelope = serde_json::from_value(request)
        .map_err(|e| format!("a start request this server does not understand: {e}"))?;
    let origin = Origin {
        by,
        env: envelope.env,
    };
    let client_paths;
    let paths = match envelope.config {
        Some((file, given)) => {
            client_paths = Paths {
                config_dir: file
                    .parent()
                    .map(std::path::Path::to_owned)
                    .unwrap_or_else(|| paths.config_dir.clone()),
                config_file: file,
                config_given: given,
                ..paths.clone()
            };
            &client_paths
        }
        None => paths,
    };
    match envelope.request {
        StartRequest::Run(args) => setup::new_engine(paths, store, &args, &origin)
            .await
            .map(|(e, _)| e)
            .map_err(|f| f.message),
        StartRequest::Resume(args) => setup::resume_engine(paths, store, &args, &origin)
            .await
            .map(|(e, _)| e)
            .map_err(|(f, _)| f.message),
    }
}

fn default_resume() -> Result<ResumeArgs, String> {
    use clap::Parser;
    match super::Cli::try_parse_from(["macrohard-tui", "resume"]).map(|c| c.command) {
        Ok(Some(super::args::Cmd::Resume(a))) => Ok(a),
        _ => Err("cannot read the defaults".into()),
    }
}

/// Runs the server until it is stopped (or, started in the background, until idle).
pub async fn run(paths: &Paths, background: bool) -> Result<u8, Failure> {
    logging::init(&paths.log_file());
    let socket = server::socket::socket_path(&paths.data_dir)
        .map_err(|e| Failure::runtime(e.to_string()))?;
    if let Some(pid) = alive(&socket).await {
        return Err(Failure::usage(format!(
            "a server already runs for {} (pid {pid}); `macrohard-tui attach` joins it",
            paths.data_dir.display()
        )));
    }
    let store = Store::open_with(&paths.store_dir(), &paths.store)?;
    let config = ServerConfig {
        socket,
        lifetime: if background {
            Lifetime::UntilIdleFor(BACKGROUND_IDLE)
        } else {
            Lifetime::Forever
        },
        initial: (!background).then_some(Start::Unfinished),
        client_queue: server::CLIENT_QUEUE,
    };
    if !background {
        eprintln!(
            "macrohard-tui: serving {} on {} (pid {}); Ctrl-C stops it",
            paths.data_dir.display(),
            config.socket.display(),
            std::process::id()
        );
    }
    server::serve(store, starter(paths.clone()), config)
        .await
        .map_err(Failure::runtime)?;
    Ok(0)
}

/// The pid of a server that answers on `socket`.
async fn alive(socket: &std::path::Path) -> Option<String> {
    tokio::net::UnixStream::connect(socket).await.ok()?;
    Some(server::socket::server_pid(socket).unwrap_or_else(|| "unknown".into()))
}
