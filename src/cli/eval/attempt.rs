//! One goal, one seed: a fresh workspace with the goal's seed files, a run started exactly as
//! `run --headless --yes` starts one (same engine, store, sandbox and policy; approvals granted
//! by the `eval` actor and counted), followed until it ends, stops for a person, or passes its
//! time cap; then the hidden tests, run in the sandbox.

use super::goals::Goal;
use super::hidden::{self, TestRun};
use super::report::Attempt;
use crate::cli::Failure;
use crate::cli::args::{FollowArgs, RunArgs};
use crate::cli::config::Paths;
use crate::cli::setup::{self, Origin};
use crate::domain::{AgentStatus, Event, EventRecord, RunState, RunStatus};
use crate::engine::Engine;
use crate::protocol::Command;
use crate::store::Store;
use crate::tools::CommandLimits;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// How long a stopped run's engine has to wind down.
const WIND_DOWN: Duration = Duration::from_secs(60);

/// What the run of one attempt needs besides the goal.
pub struct Plan<'a> {
    pub paths: &'a Paths,
    pub store: &'a Store,
    pub template: &'a RunArgs,
    pub origin: &'a Origin,
    pub limits: CommandLimits,
    /// The wall-clock cap of one run.
    pub hard_cap: Duration,
    /// Cancelled on Ctrl-C or SIGTERM: the run in progress (or its tests) stops, and so does
    /// eval.
    pub stop: CancellationToken,
}

/// How a run ended, as far as eval is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Completed, failed or cancelled on its own.
    Ended,
    /// It paused for a person (a budget, a stuck supervisor, a provider that needs a person):
    /// eval stopped it there.
    Waiting,
    /// It passed eval's wall-clock cap.
    Timeout,
    /// Ctrl-C or SIGTERM: eval stops here.
    Interrupted,
}

/// The attempt's workspace, with the goal's seed files committed as the starting point.
fn prepare(workspace: &Path, goal: &Goal) -> Result<(), String> {
    if let Some(parent) = workspace.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::create_dir(workspace)
        .map_err(|e| format!("cannot create {}: {e}", workspace.display()))?;
    if goal.seed.is_empty() {
        return Ok(());
    }
    hidden::write_files(workspace, &goal.seed)?;
    crate::tools::git::ensure_repo(workspace)?;
    let commit = crate::tools::git::TaskCommit {
        task: "seed".into(),
        run: "-".into(),
        title: format!("the starting files of goal {}", goal.name),
        summary: "Copied in by `macrohard-tui eval` before the run.".into(),
        role: "eval".into(),
        model: "-".into(),
        prompt_hash: "-".into(),
        approved_by: Vec::new(),
        cost_usd: 0.0,
        paths: goal.seed.iter().map(|f| f.path.clone()).collect(),
    };
    crate::tools::git::commit_task(workspace, &commit).map(|_| ())
}

/// Follows the engine until the run ends, pauses for a person, or passes `cap`.
async fn follow(engine: &Engine, cap: Duration, stop: &CancellationToken) -> (Ending, String) {
    let deadline = tokio::time::Instant::now() + cap;
    'subscribe: loop {
        let Some((state, mut rx)) = engine.handle.subscribe().await else {
            return (Ending::Ended, String::new());
        };
        match state.status {
            s if s.is_terminal() => return (Ending::Ended, state.status_reason),
            RunStatus::Paused => return (Ending::Waiting, state.status_reason),
            _ => {}
        }
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(rec) => match &rec.event {
                        Event::RunStatusChanged { status: RunStatus::Paused, reason } => {
                            return (Ending::Waiting, reason.clone());
                        }
                        Event::RunStatusChanged { status, reason } if status.is_terminal() => {
                            return (Ending::Ended, reason.clone());
                        }
                        _ => {}
                    },
                    Err(RecvError::Lagged(_)) => continue 'subscribe,
                    Err(RecvError::Closed) => return (Ending::Ended, String::new()),
                },
                () = tokio::time::sleep_until(deadline) => {
                    return (Ending::Timeout, format!("passed eval's cap of {}s", cap.as_secs()));
                }
                () = stop.cancelled() => return (Ending::Interrupted, "Ctrl-C or SIGTERM".into()),
            }
        }
    }
}

/// Stops a run that eval leaves (so that it is never resumed as unfinished), and waits for its
/// engine to end.
async fn stop(engine: Engine, ending: Ending, why: &str) -> Option<RunState> {
    if ending != Ending::Ended {
        let by = super::actor();
        let reason = match ending {
            Ending::Waiting => format!("eval does not wait for a person ({why})"),
            Ending::Timeout => format!("eval's time cap ({why})"),
            _ => format!("eval was interrupted ({why})"),
        };
        let _ = engine
            .handle
            .command(
                by,
                Command::StopRun {
                    reason: Some(reason),
                },
            )
            .await;
    }
    let mut join = engine.join;
    match tokio::time::timeout(WIND_DOWN, &mut join).await {
        Ok(Ok(Ok(state))) => Some(state),
        Ok(_) => None,
        Err(_) => {
            engine.handle.shutdown().await;
            join.await.ok().and_then(Result::ok)
        }
    }
}

/// Counts what the report shows from a run's records.
fn tally(a: &mut Attempt, records: &[EventRecord]) {
    let state = RunState::fold(records);
    for rec in records {
        match &rec.event {
            Event::ApprovalRequested { tool, .. } if tool == "ask_human" => a.questions += 1,
            Event::ApprovalRequested { .. } => a.approvals += 1,
            Event::RunStatusChanged {
                status: RunStatus::Paused,
                ..
            } => a.run_pauses += 1,
            Event::AgentStatusChanged {
                status: AgentStatus::Stuck,
                ..
            } => a.stuck += 1,
            _ => {}
        }
    }
    a.pauses = a.questions + a.run_pauses;
    a.turns = state.turns;
    a.cost_usd = state.cost_usd;
    a.unpriced_requests = state.unpriced_requests;
    a.tokens_in = state.usage.input_tokens;
    a.tokens_out = state.usage.output_tokens;
    a.active_secs = state.active_ms as f64 / 1000.0;
    a.tasks_done = state.tasks_done() as u64;
    a.tasks = state.tasks.len() as u64;
    a.status = state.status.to_string();
    a.reason = state.status_reason.clone();
    if let Some(info) = &state.info {
        a.provider = info.provider.clone();
        a.model = info.model.clone();
        a.simulated = info.simulated;
    }
}

/// Runs `goal` once with `seed` in `workspace`. A configuration error (a provider that cannot
/// be set up) is the caller's to report (exit 2); everything else is recorded in the attempt.
pub async fn run(
    plan: &Plan<'_>,
    goal: &Goal,
    seed: u64,
    workspace: PathBuf,
) -> Result<(Attempt, Ending), Failure> {
    let started = Instant::now();
    let mut a = Attempt::new(&goal.name, seed, &workspace);
    if let Err(e) = prepare(&workspace, goal) {
        a.status = "error".into();
        a.reason = e;
        return Ok((a, Ending::Ended));
    }
    let mut args = plan.template.clone();
    args.goal = Some(goal.text.clone());
    args.workspace = Some(workspace.clone());
    args.seed = Some(seed);
    let engine = match setup::new_engine(plan.paths, plan.store.clone(), &args, plan.origin).await {
        Ok((engine, _)) => engine,
        Err(f) if f.code == 2 => return Err(f),
        Err(f) => {
            a.status = "error".into();
            a.reason = f.message;
            return Ok((a, Ending::Ended));
        }
    };
    let run = engine.handle.run().clone();
    a.run = Some(run.to_string());
    let (ending, why) = follow(&engine, plan.hard_cap, &plan.stop).await;
    let state = stop(engine, ending, &why).await;
    a.secs = started.elapsed().as_secs_f64();
    // The run's result: the worktree of its branch (the seeded folder is a repository, so the
    // run worked on a branch of it, never in it).
    let result = state
        .as_ref()
        .and_then(|s| s.info.as_ref())
        .map_or_else(|| workspace.clone(), |i| PathBuf::from(&i.workspace));
    a.workspace = result.display().to_string();
    match plan.store.events(&run, 1) {
        Ok(records) => {
            let records: Vec<EventRecord> = records.filter_map(Result::ok).collect();
            tally(&mut a, &records);
        }
        Err(e) => a.reason = format!("cannot read the run's events: {e}"),
    }
    if let (Some(state), true) = (state, a.status.is_empty()) {
        a.status = state.status.to_string();
        a.reason = state.status_reason;
    }
    a.outcome = match ending {
        Ending::Ended => a.status.clone(),
        Ending::Waiting => "waiting".into(),
        Ending::Timeout => "timeout".into(),
        Ending::Interrupted => "interrupted".into(),
    };
    if ending == Ending::Waiting {
        a.waited_for = Some(why);
    }
    if ending != Ending::Interrupted {
        a.tests = hidden::run(&result, goal, plan.limits, &plan.stop).await;
    } else {
        a.tests = TestRun {
            status: "not run: eval was interrupted".into(),
            ..TestRun::default()
        };
    }
    a.passed = a.tests.passed;
    Ok((a, ending))
}

/// The template every attempt's run is made from: `run --headless --yes` with eval's flags.
pub fn template(args: &crate::cli::args::EvalArgs, budget: crate::domain::Budget) -> RunArgs {
    RunArgs {
        goal: None,
        follow: FollowArgs {
            headless: true,
            json: false,
            yes: true,
            budget_tokens: budget.tokens,
            budget_usd: budget.usd,
            budget_turns: budget.turns,
            budget_secs: budget.wall_secs,
            fps: None,
            foreground: true,
        },
        provider: args.provider.clone(),
        model: args.model.clone(),
        base_url: args.base_url.clone(),
        workspace: None,
        repo: None,
        base: None,
        seed: None,
        concurrency: args.concurrency,
        roles: args.roles.clone(),
    }
}

/// The sandboxed command limits the config gives agents, for the hidden tests.
pub fn limits(config: &crate::cli::config::Config) -> CommandLimits {
    CommandLimits {
        default_timeout: Duration::from_secs(config.tools.command_timeout_s.max(1)),
        output_cap: config.tools.output_cap_bytes.max(64 * 1024),
        sandbox: config.sandbox,
        ..CommandLimits::default()
    }
}
