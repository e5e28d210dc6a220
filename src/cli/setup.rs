//! Wiring for the commands that run an engine: `run`, `resume`, no command at all, and `init`.

use super::args::{Cli, Cmd, FollowArgs, ResumeArgs, RoleArgs, RunArgs};
use super::config::{Config, Paths};
use super::headless::{self, FollowOptions};
use super::{Failure, control_room, identity, logging, provider, remote};
use crate::domain::RunStatus;
use crate::domain::{Actor, RoleChoice};
use crate::engine::{self, EngineConfig, EngineError, NewRun, Roster, RunTarget};
use crate::session::{InProcess, Replay};
use crate::store::Store;
use crate::tools::CommandLimits;
use clap::Parser;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

pub struct Loaded {
    pub config: Config,
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

/// The config, with a resumed run's recorded role settings (`recorded`) over it and the
/// `--role-*` flags over both, and the roster it configures.
fn load(
    paths: &Paths,
    roles: &RoleArgs,
    recorded: &BTreeMap<String, RoleChoice>,
) -> Result<Loaded, Failure> {
    let mut config = Config::load(&paths.config_file, paths.config_given)?;
    let from_config: Vec<String> = config.roles.keys().cloned().collect();
    for (role, choice) in recorded {
        let section = config.roles.entry(role.clone()).or_default();
        if choice.model.is_some() {
            section.model = choice.model.clone();
        }
        if choice.provider.is_some() {
            section.provider = choice.provider.clone();
        }
        if choice.reasoning.is_some() {
            section.reasoning = choice.reasoning;
        }
    }
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
    if let Some(role) = config
        .budget
        .roles
        .keys()
        .find(|r| roster.get(r.as_str()).is_none())
    {
        return Err(Failure::usage(format!(
            "{}: [budget.roles.{role}]: there is no role {role:?}",
            paths.config_file.display()
        )));
    }
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

fn engine_config(paths: &Paths, loaded: &Loaded, follow: &FollowArgs, by: &Actor) -> EngineConfig {
    let c = &loaded.config;
    let mut ec = EngineConfig::new(loaded.roster.clone(), paths.workspaces_dir());
    ec.prices = c.prices().unwrap_or_default(); // checked when the config was loaded
    ec.stuck = c.stuck.limits();
    ec.rules = c.policy.clone();
    ec.role_settings = c
        .roles
        .iter()
        .filter(|(_, s)| s.model.is_some() || s.provider.is_some() || s.reasoning.is_some())
        .map(|(role, s)| {
            let choice = RoleChoice {
                provider: s.provider.clone(),
                model: s.model.clone(),
                reasoning: s.reasoning,
            };
            (role.clone(), choice)
        })
        .collect();
    ec.concurrency = c.run.concurrency;
    ec.max_attempts = c.run.max_attempts;
    ec.autonomy = c.run.autonomy;
    ec.snapshot_every = c.run.snapshot_every;
    ec.slow_flush = std::env::var("MACROHARD_SLOW_FLUSH_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    ec.check = c.run.check.clone();
    ec.limits = CommandLimits {
        default_timeout: Duration::from_secs(c.tools.command_timeout_s.max(1)),
        output_cap: c.tools.output_cap_bytes.max(1024),
        sandbox: c.sandbox,
        ..CommandLimits::default()
    };
    ec.budgets = c.budget.budgets();
    let mut budget = c.budget.budget();
    budget.tokens = follow.budget_tokens.or(budget.tokens);
    budget.usd = follow.budget_usd.or(budget.usd);
    budget.turns = follow.budget_turns.or(budget.turns);
    budget.wall_secs = follow.budget_secs.or(budget.wall_secs);
    ec.budget = budget;
    ec.auto_approve = follow.yes.then(|| match by {
        Actor::Human { user, host, .. } => Actor::Human {
            user: user.clone(),
            host: host.clone(),
            auto: true,
        },
        Actor::Engine => identity::me(true),
    });
    ec
}

fn open_store(paths: &Paths) -> Result<Store, Failure> {
    Ok(Store::open_with(&paths.store_dir(), &paths.store)?)
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
        EngineError::MissingRole(_) | EngineError::SupervisorCannotFinish => {
            Failure::usage(e.to_string())
        }
        other => Failure::runtime(other.to_string()),
    }
}

/// Who a run's engine is made for: this process's person, or a server's client (whose
/// environment overlay carries its keys for the providers).
#[derive(Debug, Clone)]
pub struct Origin {
    pub by: Actor,
    pub env: BTreeMap<String, String>,
}

impl Origin {
    pub fn here() -> Self {
        Self {
            by: identity::me(false),
            env: BTreeMap::new(),
        }
    }
}

/// A new run's engine, from flags and config.
pub async fn new_engine(
    paths: &Paths,
    store: Store,
    args: &RunArgs,
    origin: &Origin,
) -> Result<(engine::Engine, Loaded), Failure> {
    let loaded = load(paths, &args.roles, &BTreeMap::new())?;
    let c = &loaded.config;
    let choice = provider::Choice {
        name: args
            .provider
            .clone()
            .unwrap_or_else(|| c.run.provider.clone()),
        model: args.model.clone().or_else(|| c.run.model.clone()),
        base_url: args.base_url.clone().or_else(|| c.run.base_url.clone()),
        env: origin.env.clone(),
    };
    let providers = provider::providers(c, &choice)?;
    let goal = args.goal.clone().unwrap_or_else(|| c.run.goal.clone());
    if goal.trim().is_empty() {
        return Err(Failure::usage(
            "the goal is empty: say what the company should build",
        ));
    }
    let mut ec = engine_config(paths, &loaded, &args.follow, &origin.by);
    if let Some(n) = args.concurrency {
        ec.concurrency = n.max(1);
    }
    if let Some(repo) = &args.repo {
        if !crate::tools::git::worktree::is_repository(repo) {
            return Err(Failure::usage(format!(
                "--repo {}: not the top of a git repository (no .git in it)",
                repo.display()
            )));
        }
    }
    if args.base.is_some() && args.repo.is_none() && args.workspace.is_none() {
        return Err(Failure::usage(
            "--base names a commit of a repository: give the repository with --repo",
        ));
    }
    ec.base = args.base.clone();
    let new = NewRun {
        goal,
        workspace: args.repo.clone().or_else(|| args.workspace.clone()),
        seed: args.seed.unwrap_or(c.sim.seed),
        by: origin.by.clone(),
    };
    let engine = engine::start(store, providers, ec, RunTarget::New(new))
        .await
        .map_err(engine_failure)?;
    Ok((engine, loaded))
}

/// An unfinished run's engine, going on where it was.
pub async fn resume_engine(
    paths: &Paths,
    store: Store,
    args: &ResumeArgs,
    origin: &Origin,
) -> Result<(engine::Engine, Loaded), (Failure, bool)> {
    let usage = |f: Failure| (f, false);
    let run = store.resolve_run(&args.run).map_err(|e| usage(e.into()))?;
    // Every role goes on with the provider and model it had, unless a flag says otherwise.
    let recorded = store
        .load_state(&run)
        .map_err(|e| usage(e.into()))?
        .role_settings;
    let loaded = load(paths, &args.roles, &recorded).map_err(usage)?;
    let meta = store
        .run_meta(&run)
        .map_err(|e| usage(e.into()))?
        .ok_or_else(|| usage(Failure::usage(format!("run {run} has no metadata"))))?;
    // The run goes on where it was: its provider, model and address as recorded, unless
    // --base-url (or MACROHARD_BASE_URL) says the server has moved.
    let choice = provider::Choice {
        name: meta.provider.clone(),
        model: Some(meta.model.clone()),
        base_url: args.base_url.clone().or_else(|| meta.base_url.clone()),
        env: origin.env.clone(),
    };
    let providers = provider::providers(&loaded.config, &choice).map_err(|e| usage(e.into()))?;
    let ec = engine_config(paths, &loaded, &args.follow, &origin.by);
    let f = &args.follow;
    let raised = f.budget_tokens.is_some()
        || f.budget_usd.is_some()
        || f.budget_turns.is_some()
        || f.budget_secs.is_some();
    let budget = if raised {
        let mut b = store.load_state(&run).map_err(|e| usage(e.into()))?.budget;
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
        by: origin.by.clone(),
        budget,
    };
    match engine::start(store, providers, ec, target).await {
        Ok(engine) => Ok((engine, loaded)),
        Err(e @ EngineError::Finished { .. }) => Err((engine_failure(e), true)),
        Err(e) => Err((engine_failure(e), false)),
    }
}

/// The run to open when nothing is asked for: the last unfinished one, resumed, or the demo.
pub async fn default_engine(
    paths: &Paths,
    store: Store,
    origin: &Origin,
) -> Result<engine::Engine, Failure> {
    let unfinished = store
        .runs()?
        .iter()
        .rev()
        .find(|m| !m.status.is_terminal())
        .map(|m| m.id.to_string());
    // Parsed as if typed, so the environment (MACROHARD_PROVIDER, …) applies as it would.
    let parsed = |argv: &[&str]| {
        Cli::try_parse_from(argv)
            .map(|c| c.command)
            .map_err(|e| Failure::usage(e.to_string()))
    };
    if let Some(run) = unfinished {
        tracing::info!(%run, "resuming the unfinished run");
        if let Some(Cmd::Resume(args)) = parsed(&["macrohard-tui", "resume", &run])? {
            match resume_engine(paths, store.clone(), &args, origin).await {
                Ok((engine, _)) => return Ok(engine),
                Err((e, _)) => tracing::warn!(%run, "cannot resume it: {}", e.message),
            }
        }
    }
    match parsed(&["macrohard-tui", "run"])? {
        Some(Cmd::Run(args)) => Ok(new_engine(paths, store, &args, origin).await?.0),
        _ => Err(Failure::usage("cannot start the demo")),
    }
}

pub async fn run(paths: &Paths, args: RunArgs) -> Result<u8, Failure> {
    if !paths.foreground {
        if wants_tui(&args.follow) {
            return remote::run_tui(paths, &args).await;
        }
        if let Some(conn) = remote::server(paths).await? {
            return remote::run_headless(paths, conn, &args).await;
        }
    }
    let store = open_store(paths)?;
    logging::init(&paths.log_file());
    let (engine, loaded) = new_engine(paths, store, &args, &Origin::here()).await?;
    follow(paths, &loaded, &args.follow, engine).await
}

/// The control room when there is a terminal and `--headless` was not asked for; otherwise
/// one line per event.
pub fn wants_tui(follow: &FollowArgs) -> bool {
    !follow.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

async fn follow(
    paths: &Paths,
    loaded: &Loaded,
    args: &FollowArgs,
    engine: engine::Engine,
) -> Result<u8, Failure> {
    if !wants_tui(args) {
        return Ok(headless::follow(engine, FollowOptions::new(args.yes, args.json, false)).await);
    }
    let opts = match control_room::options(paths, &loaded.config, args.fps) {
        Ok(o) => o,
        Err(e) => {
            engine.handle.shutdown().await;
            return Err(e);
        }
    };
    let session = InProcess::new(engine.handle.clone(), identity::me(false));
    let code = control_room::open(session, opts, None).await;
    let _ = engine.join.await;
    code
}

pub async fn resume(paths: &Paths, args: ResumeArgs) -> Result<u8, Failure> {
    if !paths.foreground {
        if wants_tui(&args.follow) {
            return remote::resume_tui(paths, &args).await;
        }
        if let Some(conn) = remote::server(paths).await? {
            return remote::resume_headless(paths, conn, &args).await;
        }
    }
    let store = open_store(paths)?;
    logging::init(&paths.log_file());
    match resume_engine(paths, store.clone(), &args, &Origin::here()).await {
        Ok((engine, loaded)) => follow(paths, &loaded, &args.follow, engine).await,
        // A finished run opens read-only in the control room, from the store.
        Err((_, true)) if wants_tui(&args.follow) => {
            let loaded = load(paths, &args.roles, &BTreeMap::new())?;
            let run = store.resolve_run(&args.run)?;
            let opts = control_room::options(paths, &loaded.config, args.follow.fps)?;
            control_room::open(Replay::new(store, run), opts, None).await
        }
        Err((e, _)) => Err(e),
    }
}

/// No command: attach to the server's live run (starting the server if need be), or with
/// `--foreground`, continue the last unfinished run here, or start the demo.
pub async fn default_entry(paths: &Paths) -> Result<u8, Failure> {
    if !paths.foreground && std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        return remote::default_tui(paths).await;
    }
    let store = open_store(paths)?;
    logging::init(&paths.log_file());
    let engine = default_engine(paths, store, &Origin::here()).await?;
    let loaded = load(paths, &RoleArgs::default(), &BTreeMap::new())?;
    let follow_args = match Cli::try_parse_from(["macrohard-tui", "run"]).map(|c| c.command) {
        Ok(Some(Cmd::Run(a))) => a.follow,
        _ => return Err(Failure::usage("cannot read the defaults")),
    };
    follow(paths, &loaded, &follow_args, engine).await
}

/// A line on standard output; a closed pipe is ignored.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Writes `text` to `path`; `private` files get mode 0600 (before any byte is written).
fn write_file(path: &std::path::Path, text: &str, private: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = if private { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    if private {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    file.write_all(text.as_bytes())
}

pub fn init(paths: &Paths, force: bool) -> Result<u8, Failure> {
    let mut files: Vec<(std::path::PathBuf, &str)> =
        vec![(paths.config_file.clone(), super::config::DEFAULT_CONFIG)];
    for (name, text) in crate::engine::roles::embedded_files() {
        files.push((paths.prompts_dir().join(format!("{name}.md")), text));
    }
    for (path, text) in files {
        if path.exists() && !force {
            say(&format!(
                "kept     {} (exists; --force overwrites)",
                path.display()
            ));
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
        }
        // The config may come to hold API keys: only its owner reads it (0600), also when
        // --force rewrites one that was readable by others.
        let private = path == paths.config_file;
        write_file(&path, text, private)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
        say(&format!("wrote    {}", path.display()));
    }
    Ok(0)
}
