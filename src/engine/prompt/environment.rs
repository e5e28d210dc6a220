//! The environment block of a worker's brief: the facts of where its commands run, read from
//! the engine's config, the policy and the sandbox probe the run recorded, so the model is
//! told the limits it will meet (the rules of working within them are in the role prompts).

use super::project::kib;
use crate::domain::{BudgetTarget, Rule, RunState, TaskState};
use crate::engine::EngineConfig;
use crate::tools::sandbox::{self, Unsupported};
use std::fmt::Write;

/// Whether commands reach the network, and by what.
fn network(state: &RunState, config: &EngineConfig) -> String {
    let cfg = &config.limits.sandbox;
    if !cfg.enabled {
        return "on: the sandbox is off ([sandbox] enabled = false)".into();
    }
    if !sandbox::support().network_isolation() {
        return "on: the sandbox cannot take it away on this machine".into();
    }
    if cfg.network {
        return "on for every command ([sandbox] network = true)".into();
    }
    let granted: Vec<String> = config
        .rules
        .iter()
        .chain(state.run_rules.iter().map(|r| &r.rule))
        .filter(|r| r.network == Some(true))
        .map(grant)
        .collect();
    if granted.is_empty() {
        "off: no policy grants it, so downloads and package installs fail; use what is installed"
            .into()
    } else {
        format!(
            "off, except for commands a policy grants it: {}",
            granted.join(", ")
        )
    }
}

fn grant(rule: &Rule) -> String {
    match &rule.command {
        Some(c) => format!("`{c}`"),
        None => "every command".into(),
    }
}

/// What the sandbox holds here, as the run recorded it at start.
fn confinement(state: &RunState, config: &EngineConfig) -> String {
    let cfg = &config.limits.sandbox;
    if !cfg.enabled {
        return "off: commands run unconfined; keep to the workspace all the same".into();
    }
    let limits = format!(
        "memory {} MiB, CPU {} s, files up to {} MiB",
        cfg.memory_mb, cfg.cpu_s, cfg.file_size_mb
    );
    match &state.sandbox {
        Some(note) if !note.complete => {
            let then = match cfg.unsupported {
                Unsupported::Continue => "commands run with what there is",
                Unsupported::Ask => "every command waits for a person's approval",
                Unsupported::Deny => "commands are refused",
            };
            format!(
                "incomplete on this machine (missing: {}), so {then}; {limits}",
                note.missing.join(", ")
            )
        }
        _ => format!(
            "commands write only in the workspace and a private temp dir; .git is read-only; a private /dev without a terminal; {limits}"
        ),
    }
}

/// The turns this attempt may take: the role's limit, or less when the task's own budget
/// has fewer left.
fn turns_left(state: &RunState, task: &TaskState, config: &EngineConfig) -> u64 {
    let per_attempt = config
        .roster
        .get(&task.role)
        .map_or(u64::MAX, |r| u64::from(r.max_turns));
    let budget = state
        .budget_of(&BudgetTarget::Task {
            task: task.id.clone(),
        })
        .turns
        .map_or(u64::MAX, |b| b.saturating_sub(task.turns));
    per_attempt.min(budget)
}

/// The block, one fact a line.
pub fn block(state: &RunState, task: &TaskState, config: &EngineConfig) -> String {
    let l = &config.limits;
    let mut out = String::from("Environment:\n");
    let _ = writeln!(
        out,
        "- Workspace: every command's working directory; tool paths are relative to it."
    );
    let _ = writeln!(
        out,
        "- Commands: run by `sh -c` with stdin closed and no terminal; timeout {} s unless timeout_s says otherwise (at most {} s). A long output shows its first {} and last {} lines (at most {}); all of it is saved under {}/ for read_file.",
        l.default_timeout.as_secs(),
        l.max_timeout.as_secs(),
        crate::tools::HEAD_LINES,
        crate::tools::TAIL_LINES,
        kib(l.output_cap),
        crate::tools::OUTPUT_DIR
    );
    let _ = writeln!(out, "- Network: {}.", network(state, config));
    let _ = writeln!(out, "- Sandbox: {}.", confinement(state, config));
    let _ = writeln!(
        out,
        "- Turns left for this task: {} (each model reply is one).",
        turns_left(state, task, config)
    );
    let _ = writeln!(
        out,
        "- Attempt {} of {}.",
        task.attempts.max(1),
        config.max_attempts.max(task.attempts)
    );
    out
}
