//! Wiring for the commands that run an engine: `run`, `resume`, no command at all, and `init`.

use super::args::{Cli, Cmd, FollowArgs, ResumeArgs, RoleArgs, RunArgs};
use super::config::{Config, Paths};
use super::headless::{self, FollowOptions};
use super::{Failure, control_room, identity, logging, provider};
use crate::domain::RunStatus;
use crate::engine::{self, EngineConfig, EngineError, NewRun, Roster, RunTarget};
use crate::session::{InProcess, Replay};
use crate::store::Store;
use crate::tools::CommandLimits;
use clap::Parser;
use std::io::IsTerminal;
use std::time::Duration;

struct Loaded {
    config: Config,
    roster: Roster,
}

/// `ROLE=VALUE` pairs from `--role-model` / `--role-provider`.
fn pairs<'a>(flag: &str, values: &'a [String]) -> Result<Vec<(&'a str, &'a str)>, Failure> {
    values
        .iter()
        .filter(|v| !v.trim().is_empty())
        .map(|v| match v.split_once('=') {
            Some((role, value)) if !role.trim().is_empty() && !value.trim().is_empty() => {
                Ok((role.trim(), value.trim()))
            }
            _ => Err(Failure::usage(format!(
                "{flag} {v:?}: write it as ROLE=VALUE, for example {flag} engineer=gpt-4.1"
            ))),
        })
        .collect()
}

fn load(paths: &Paths, roles: &RoleArgs) -> Result<Loaded, Failure> {
    let mut config = Config::load(&paths.config_file, paths.config_given)?;
    let from_config: Vec<String> = config.roles.keys().cloned().collect();
    for (role, model) in pairs("--role-model", &roles.models)? {
        config.roles.entry(role.to_owned()).or_default().model = Some(model.to_owned());
    }
    for (role, provider) in pairs("--role-provider", &roles.providers)? {
        config.roles.entry(role.to_owned()).or_default().provider = Some(provider.to_owned());
    }
    if let Some(warning) = super::doctor::loose_key_file(&paths.config_file, &config) {
        eprintln!("macrohard-tui: warning: {warning}");
    }
    let mut roster =
        Roster::load(Some(&paths.prompts_dir())).map_err(|e| Failure::usage(e.to_string()))?;
    for (name, r) in &config.roles {
        roster
            .configure(name, r.model.clone(), r.max_turns)
            .map_err(|e| {
                let whence = if from_config.contains(name) {
                    format!("{}: [roles.{name}]", paths.config_file.display())
                } else {
                    format!("--role-model/--role-provider {name}=…")
                };
                Failure::usage(format!("{whence}: {e}"))
            })?;
    }
    Ok(Loaded { config, roster })
}

fn engine_config(paths: &Paths, loaded: &Loaded, follow: &FollowArgs) -> EngineConfig {
    let c = &loaded.config;
    let mut ec = EngineConfig::new(loaded.roster.clone(), paths.workspaces_dir());
    ec.prices = c.prices().unwrap_or_default(); // checked when the config was loaded
    ec.concurrency = c.run.concurrency;
    ec.max_attempts = c.run.max_attempts;
    ec.autonomy = c.run.autonomy;
    ec.snapshot_every = c.run.snapshot_every;
    ec.limits = CommandLimits {
        default_timeout: Duration::from_secs(c.tools.command_timeout_s.max(1)),
        output_cap: c.tools.output_cap_bytes.max(1024),
        ..CommandLimits::default()
    };
    let mut budget = c.budget.budget();
    budget.tokens = follow.budget_tokens.or(budget.tokens);
    budget.usd = follow.budget_usd.or(budget.usd);
    budget.turns = follow.budget_turns.or(budget.turns);
    budget.wall_secs = follow.budget_secs.or(budget.wall_secs);
    ec.budget = budget;
    ec.auto_approve = follow.yes.then(|| identity::me(true));
    ec
}

fn open_store(paths: &Paths) -> Result<Store, Failure> {
    Ok(Store::open(&paths.store_dir())?)
}

fn follow_options(follow: &FollowArgs) -> FollowOptions {
    FollowOptions {
        json: follow.json,
        auto_approve: follow.yes,
        interactive: !follow.yes
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal(),
        by: identity::me(false),
    }
}

fn engine_failure(e: EngineError) -> Failure {
    match e {
        EngineError::Store(s) => s.into(),
        EngineError::Finished {
            run,
            status,
            reason,
        } => Failure {
            code: if status == RunStatus::Completed { 0 } else { 1 },
            message: format!(
                "run {run} has already ended ({status}): {reason}. `macrohard-tui show {run}` summarises it."
            ),
        },
        EngineError::MissingRole(_) => Failure::usage(e.to_string()),
        other => Failure::runtime(other.to_string()),
    }
}

pub async fn run(paths: &Paths, args: RunArgs) -> Result<u8, Failure> {
    let loaded = load(paths, &args.roles)?;
    let c = &loaded.config;
    let choice = provider::Choice {
        name: args
            .provider
            .clone()
            .unwrap_or_else(|| c.run.provider.clone()),
        model: args.model.clone().or_else(|| c.run.model.clone()),
        base_url: args.base_url.clone().or_else(|| c.run.base_url.clone()),
    };
    let providers = provider::providers(c, &choice)?;
    let goal = args.goal.clone().unwrap_or_else(|| c.run.goal.clone());
    if goal.trim().is_empty() {
        return Err(Failure::usage(
            "the goal is empty: say what the company should build",
        ));
    }
    let mut ec = engine_config(paths, &loaded, &args.follow);
    if let Some(n) = args.concurrency {
        ec.concurrency = n.max(1);
    }
    let store = open_store(paths)?;
    logging::init(&paths.log_file());
    let new = NewRun {
        goal,
        workspace: args.workspace.clone(),
        seed: args.seed.unwrap_or(c.sim.seed),
        by: identity::me(false),
    };
    let engine = engine::start(store, providers, ec, RunTarget::New(new))
        .await
        .map_err(engine_failure)?;
    follow(paths, &loaded, &args.follow, engine).await
}

/// The control room when there is a terminal and `--headless` was not asked for; otherwise
/// one line per event.
fn wants_tui(follow: &FollowArgs) -> bool {
    !follow.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

async fn follow(
    paths: &Paths,
    loaded: &Loaded,
    args: &FollowArgs,
    engine: engine::Engine,
) -> Result<u8, Failure> {
    if !wants_tui(args) {
        return Ok(headless::follow(engine, follow_options(args)).await);
    }
    let opts = match control_room::options(paths, &loaded.config, args.fps) {
        Ok(o) => o,
        Err(e) => {
            engine.handle.shutdown().await;
            return Err(e);
        }
    };
    let session = InProcess::new(engine.handle.clone(), identity::me(false));
    let code = control_room::open(session, opts).await;
    let _ = engine.join.await;
    code
}

pub async fn resume(paths: &Paths, args: ResumeArgs) -> Result<u8, Failure> {
    let loaded = load(paths, &args.roles)?;
    let store = open_store(paths)?;
    let run = store.resolve_run(&args.run)?;
    let meta = store
        .run_meta(&run)?
        .ok_or_else(|| Failure::usage(format!("run {run} has no metadata")))?;
    // The run goes on where it was: its provider, model and address as recorded, unless
    // --base-url (or MACROHARD_BASE_URL) says the server has moved.
    let choice = provider::Choice {
        name: meta.provider.clone(),
        model: Some(meta.model.clone()),
        base_url: args.base_url.clone().or_else(|| meta.base_url.clone()),
    };
    let providers = provider::providers(&loaded.config, &choice)?;
    let ec = engine_config(paths, &loaded, &args.follow);
    logging::init(&paths.log_file());
    let by = identity::me(false);
    let f = &args.follow;
    let raised = f.budget_tokens.is_some()
        || f.budget_usd.is_some()
        || f.budget_turns.is_some()
        || f.budget_secs.is_some();
    let budget = if raised {
        let mut b = store.load_state(&run)?.budget;
        b.tokens = f.budget_tokens.or(b.tokens);
        b.usd = f.budget_usd.or(b.usd);
        b.turns = f.budget_turns.or(b.turns);
        b.wall_secs = f.budget_secs.or(b.wall_secs);
        Some(b)
    } else {
        None
    };
    let target = RunTarget::Resume {
        run: run.clone(),
        by,
        budget,
    };
    match engine::start(store.clone(), providers, ec, target).await {
        Ok(engine) => follow(paths, &loaded, &args.follow, engine).await,
        // A finished run opens read-only in the control room, with its whole history.
        Err(EngineError::Finished { .. }) if wants_tui(&args.follow) => {
            let records: Vec<_> = store.events(&run, 1)?.collect::<Result<_, _>>()?;
            let opts = control_room::options(paths, &loaded.config, args.follow.fps)?;
            control_room::open(Replay::new(records), opts).await
        }
        Err(e) => Err(engine_failure(e)),
    }
}

/// No command: continue the last unfinished run, or start the demo.
pub async fn default_entry(paths: &Paths) -> Result<u8, Failure> {
    let unfinished = {
        let store = open_store(paths)?;
        let runs = store.runs()?;
        runs.iter()
            .rev()
            .find(|m| !m.status.is_terminal())
            .map(|m| m.id.to_string())
    };
    // Parsed as if typed, so the environment (MACROHARD_PROVIDER, …) applies as it would.
    let parsed = |argv: &[&str]| {
        Cli::try_parse_from(argv)
            .map(|c| c.command)
            .map_err(|e| Failure::usage(e.to_string()))
    };
    match unfinished {
        Some(run) => {
            eprintln!("Resuming the unfinished run {run}.");
            match parsed(&["macrohard-tui", "resume", &run])? {
                Some(Cmd::Resume(args)) => resume(paths, args).await,
                _ => Err(Failure::usage("cannot resume")),
            }
        }
        None => match parsed(&["macrohard-tui", "run"])? {
            Some(Cmd::Run(args)) => run(paths, args).await,
            _ => Err(Failure::usage("cannot start the demo")),
        },
    }
}

pub fn init(paths: &Paths, force: bool) -> Result<u8, Failure> {
    let mut files: Vec<(std::path::PathBuf, &str)> =
        vec![(paths.config_file.clone(), super::config::DEFAULT_CONFIG)];
    for (name, text) in crate::engine::roles::embedded_files() {
        files.push((paths.prompts_dir().join(format!("{name}.md")), text));
    }
    for (path, text) in files {
        if path.exists() && !force {
            println!("kept     {} (exists; --force overwrites)", path.display());
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
        println!("wrote    {}", path.display());
    }
    Ok(0)
}
