//! The command line: argument parsing, wiring of store, provider and engine, and exit codes.
//! Exit codes: 0 completed (or the command succeeded), 1 run failed, 2 usage or configuration
//! error, 3 run stopped and waiting for a person.

mod args;
pub mod config;
mod control_room;
mod doctor;
mod eval;
mod headless;
mod identity;
mod land;
mod lines;
mod listing;
mod logging;
mod provider;
mod remote;
mod serve;
mod setup;

pub use args::Cli;

use args::Cmd;
use clap::Parser;
use std::process::ExitCode;

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<config::ConfigError> for Failure {
    fn from(e: config::ConfigError) -> Self {
        Failure::usage(e.0)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        match e {
            // The data directory is the user's to fix (permissions, space, a deleted or
            // mistyped --data-dir): a usage/configuration error, exit 2, one line.
            E::Locked { .. }
            | E::NotWritable { .. }
            | E::Full { .. }
            | E::Gone { .. }
            | E::Io { .. }
            | E::UnknownRun(_)
            | E::AmbiguousRun { .. }
            | E::NoRuns => Failure::usage(e.to_string()),
            other => Failure::runtime(other.to_string()),
        }
    }
}

/// What a person needs when a run ends, uncut: where its workspace is and how to read its
/// report (the headless end message and the control room's exit message both print it).
pub(crate) fn where_to_look(state: &crate::domain::RunState) -> Vec<String> {
    use crate::domain::sanitize::line as safe;
    let Some(info) = &state.info else {
        return Vec::new();
    };
    let ws = std::path::Path::new(&info.workspace);
    let ws = std::fs::canonicalize(ws).unwrap_or_else(|_| ws.to_owned());
    let id = safe(info.id.as_str()).into_owned();
    let mut lines = vec![format!("workspace: {}", safe(&ws.display().to_string()))];
    if let Some(b) = &state.branch {
        lines.push(format!(
            "result:    branch {} of {}{}",
            safe(&b.branch),
            safe(&b.repo),
            if b.existing {
                format!("; `macrohard-tui land {id}` merges it into your branch")
            } else {
                String::new()
            }
        ));
    }
    lines.push(format!(
            "report:    `macrohard-tui show {id}` for a summary; `macrohard-tui export {id} --format markdown` (or `--format html -o report.html`) for the full report"
    ));
    lines
}

pub fn main() -> ExitCode {
    // Before any thread starts: a heap that does not keep what a long export freed.
    crate::server::memory::bound_arenas();
    let cli = Cli::parse();
    // Agents' commands run as this account: they may not read this process's memory or
    // environment (API keys), nor find the control room's socket.
    crate::tools::sandbox::protect_this_process();
    if let Ok(dir) = crate::server::socket::runtime_dir() {
        crate::tools::sandbox::hide_from_commands(dir);
    }
    // Nor read the config, which may hold API keys.
    if let Some(dirs) = directories::ProjectDirs::from("", "", "macrohard") {
        crate::tools::sandbox::hide_from_commands(dirs.config_dir().to_owned());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("macrohard-tui: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // A pending read of stdin (an approval prompt) must not keep the process alive.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("macrohard-tui: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let mut paths = config::Paths::resolve(cli.config.clone(), cli.data_dir.clone())?;
    // A config that is named must exist and be valid, whatever the command (init writes it).
    let config = if matches!(cli.command, Some(Cmd::Init { .. })) {
        None
    } else {
        Some(config::Config::load(
            &paths.config_file,
            paths.config_given,
        )?)
    };
    // `--foreground` where it means something: before any command (the default entry), or
    // on `run` and `resume`.
    let asked = match &cli.command {
        Some(Cmd::Run(a)) => a.follow.foreground,
        Some(Cmd::Resume(a)) => a.follow.foreground,
        _ => false,
    };
    if let Some(c) = &config {
        paths.store = c.store.options();
    }
    paths.foreground = cli.foreground || asked || config.is_some_and(|c| c.run.foreground);
    match cli.command {
        None => setup::default_entry(&paths).await,
        Some(Cmd::Run(args)) => setup::run(&paths, args).await,
        Some(Cmd::Resume(args)) => setup::resume(&paths, args).await,
        Some(Cmd::Runs { json }) => listing::runs(&paths, json).await,
        Some(Cmd::Show { run }) => listing::show(&paths, &run).await,
        Some(Cmd::Export {
            run,
            format,
            output,
        }) => listing::export(&paths, &run, format, output.as_deref()).await,
        Some(Cmd::Init { force }) => setup::init(&paths, force),
        Some(Cmd::Eval(args)) => eval::run(&paths, args).await,
        Some(Cmd::Blame { target, run }) => listing::blame(&paths, &run, &target).await,
        Some(Cmd::Land { run, into, force }) => {
            land::run(&paths, &run, into.as_deref(), force).await
        }
        Some(Cmd::Attach {
            run,
            read_only,
            fps,
        }) => remote::attach(&paths, run, read_only, fps).await,
        Some(Cmd::Serve { background }) => serve::run(&paths, background).await,
        Some(Cmd::Doctor {
            provider,
            model,
            base_url,
        }) => doctor::run(&paths, provider, model, base_url).await,
    }
}
