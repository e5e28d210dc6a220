//! `eval [SUITE]`: an evaluation anyone can run. Each goal of a suite runs once per seed, in a
//! fresh workspace, exactly as `run --headless --yes` would run it (same engine, store,
//! sandbox and policy; approvals granted by an `eval` actor, and counted); a run that pauses
//! for a person is stopped there and counted as waiting. After the run, the goal's hidden
//! tests are copied in and run in the sandbox. The report (a table, and JSON) gives pass rate,
//! cost, time, turns, pauses for a person and stuck events per goal and in total, with each
//! run's id for `show` and `export`.
//!
//! Exit codes: 0 when the eval ran (whatever the pass rate), 2 for a bad suite, flag or
//! config, 3 when it was interrupted, 1 when the report could not be written.

mod attempt;
mod builtin;
mod goals;
mod hidden;
mod report;

use super::Failure;
use super::args::{EvalArgs, EvalFormat};
use super::config::{Config, Paths};
use super::setup::Origin;
use crate::domain::sanitize::line as safe;
use crate::domain::{Actor, Budget};
use attempt::{Ending, Plan};
use report::{Attempt, Report};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// A run's caps unless a flag or the config's `[budget]` says otherwise.
const DEFAULT_USD: f64 = 2.0;
const DEFAULT_SECS: u64 = 1200;
/// How long a run may go past its time budget (active time) before eval stops it anyway.
const GRACE: Duration = Duration::from_secs(300);

/// Who eval's runs are started and approved by.
pub(crate) fn actor() -> Actor {
    let host = match super::identity::me(false) {
        Actor::Human { host, .. } => host,
        Actor::Engine => None,
    };
    Actor::Human {
        user: "eval".into(),
        host,
        auto: true,
    }
}

/// Each run's caps: the flags, else the config's, else eval's defaults for cost and time.
fn budget(args: &EvalArgs, config: &Config) -> Budget {
    let c = config.budget.budget();
    Budget {
        tokens: args.budget_tokens.or(c.tokens),
        usd: args.budget_usd.or(c.usd).or(Some(DEFAULT_USD)),
        turns: args.budget_turns.or(c.turns),
        wall_secs: args.budget_secs.or(c.wall_secs).or(Some(DEFAULT_SECS)),
    }
}

/// A new folder for this eval's workspaces: `DATA_DIR/eval/<time>`.
fn eval_dir(paths: &Paths, started: SystemTime) -> Result<PathBuf, Failure> {
    let base = paths.data_dir.join("eval");
    std::fs::create_dir_all(&base)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", base.display())))?;
    let stamp = humantime::format_rfc3339_seconds(started)
        .to_string()
        .replace(':', "-");
    for n in 1..100 {
        let dir = if n == 1 {
            base.join(&stamp)
        } else {
            base.join(format!("{stamp}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Failure::usage(format!(
                    "cannot create {}: {e}",
                    dir.display()
                )));
            }
        }
    }
    Err(Failure::usage(format!(
        "no free folder name under {}",
        base.display()
    )))
}

/// `--json FILE` must be writable where it is going before hours of runs.
fn check_json_target(path: &Path) -> Result<(), Failure> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Failure::usage(format!(
            "--json {}: the folder {} does not exist",
            path.display(),
            parent.display()
        )));
    }
    if path.is_dir() {
        return Err(Failure::usage(format!(
            "--json {}: a folder; give a file name",
            path.display()
        )));
    }
    Ok(())
}

fn write_suite(dir: &Path) -> Result<u8, Failure> {
    let written = builtin::write_to(dir).map_err(Failure::usage)?;
    for p in &written {
        eprintln!("wrote    {}", p.display());
    }
    eprintln!(
        "{} goals; run them with `macrohard-tui eval {}`",
        builtin::suite().map(|s| s.goals.len()).unwrap_or(0),
        dir.display()
    );
    Ok(0)
}

/// A token cancelled by the first Ctrl-C or SIGTERM (watched for the whole eval, so that one
/// that comes between runs is not lost).
fn interrupt_token() -> CancellationToken {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    if let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        let t = token.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            t.cancel();
        });
    }
    token
}

/// `1 goal`, `2 goals`.
pub(crate) fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// One line on standard error as an attempt ends.
fn progress(n: usize, of: usize, a: &Attempt) {
    let tests = match (a.tests.ran, a.tests.tests, a.tests.failed) {
        (true, Some(t), Some(f)) => format!("{}/{t} tests", t.saturating_sub(f)),
        (true, ..) => safe(&a.tests.status).into_owned(),
        (false, ..) => "tests did not run".into(),
    };
    eprintln!(
        "[{n}/{of}] {} seed {}: {} ({tests}) · {} · ${:.4} · {:.1}s · {} turns · run {}",
        safe(&a.goal),
        a.seed,
        if a.passed { "PASS" } else { "FAIL" },
        safe(&a.outcome),
        a.cost_usd,
        a.secs,
        a.turns,
        safe(a.run.as_deref().unwrap_or("-"))
    );
}

/// Runs every goal × seed of `suite` into `report`, until the end or an interrupt. A
/// configuration error on the first run leaves no trace of the eval.
async fn attempt_all(
    plan: &Plan<'_>,
    suite: &goals::Suite,
    seeds: u64,
    dir: &Path,
    report: &mut Report,
) -> Result<(), Failure> {
    let total = suite.goals.len() * seeds as usize;
    for goal in &suite.goals {
        for seed in 1..=seeds {
            if plan.stop.is_cancelled() {
                report.interrupted = true;
                return Ok(());
            }
            let n = report.attempts.len() + 1;
            let desc = safe(&goal.description);
            eprintln!("[{n}/{total}] {} seed {seed}: {desc} …", goal.name);
            let workspace = dir.join(format!("{}-{seed}", goal.name));
            let (a, ending) = match attempt::run(plan, goal, seed, workspace).await {
                Ok(done) => done,
                Err(f) => {
                    if report.attempts.is_empty() {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                    return Err(f);
                }
            };
            if report.attempts.is_empty() && a.simulated {
                eprintln!("eval: {}", report::SIM_NOTE);
            }
            progress(n, total, &a);
            report.attempts.push(a);
            if ending == Ending::Interrupted {
                report.interrupted = true;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The report on standard output (a table or JSON) and in `--json FILE`.
fn publish(report: &Report, args: &EvalArgs) -> Result<(), Failure> {
    use std::io::Write;
    let json = report.json();
    let shown = match args.format {
        EvalFormat::Table => report.table(),
        EvalFormat::Json => format!("{json}\n"),
    };
    // A closed standard output (a pipe into `head`) loses the table, not the JSON file.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(shown.as_bytes());
    let _ = out.flush();
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{json}\n")).map_err(|e| {
            Failure::runtime(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        })?;
        eprintln!("eval: the JSON report is in {}", path.display());
    }
    Ok(())
}

pub async fn run(paths: &Paths, args: EvalArgs) -> Result<u8, Failure> {
    if let Some(dir) = &args.write_suite {
        return write_suite(dir);
    }
    let mut suite = goals::load(&args.suite).map_err(Failure::usage)?;
    suite.select(&args.goals).map_err(Failure::usage)?;
    if let Some(json) = &args.json {
        check_json_target(json)?;
    }
    let config = Config::load(&paths.config_file, paths.config_given)?;
    let budget = budget(&args, &config);
    let store = crate::store::Store::open(&paths.store_dir())?;
    super::logging::init(&paths.log_file());
    // The hidden tests stay out of the commands' sight while the runs go on.
    if let Some(dir) = &suite.dir {
        crate::tools::sandbox::hide_from_commands(dir.clone());
    }
    let started = SystemTime::now();
    let dir = eval_dir(paths, started)?;
    let template = attempt::template(&args, budget);
    let origin = Origin {
        by: actor(),
        env: Default::default(),
    };
    let plan = Plan {
        paths,
        store: &store,
        template: &template,
        origin: &origin,
        limits: attempt::limits(&config),
        hard_cap: Duration::from_secs(budget.wall_secs.unwrap_or(DEFAULT_SECS)) + GRACE,
        stop: interrupt_token(),
    };
    eprintln!(
        "eval: suite {} ({} × {} = {} runs); workspaces in {}",
        safe(&suite.name),
        plural(suite.goals.len() as u64, "goal"),
        plural(args.seeds, "seed"),
        suite.goals.len() as u64 * args.seeds,
        dir.display()
    );
    let mut report = Report {
        version: env!("CARGO_PKG_VERSION"),
        suite: suite.name.clone(),
        suite_dir: suite.dir.as_ref().map(|d| d.display().to_string()),
        provider: args.provider.clone().unwrap_or_default(),
        model: args.model.clone().unwrap_or_default(),
        simulated: false,
        note: None,
        seeds: args.seeds,
        budget,
        started: humantime::format_rfc3339_seconds(started).to_string(),
        workspaces: dir.display().to_string(),
        interrupted: false,
        attempts: Vec::new(),
        goals: Vec::new(),
        total: Default::default(),
    };
    attempt_all(&plan, &suite, args.seeds, &dir, &mut report).await?;
    let order: Vec<String> = suite.goals.iter().map(|g| g.name.clone()).collect();
    report.finish(&order);
    publish(&report, &args)?;
    Ok(if report.interrupted { 3 } else { 0 })
}
