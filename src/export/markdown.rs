//! The run report a reviewer can sign off: goal, plan and how it changed, every decision a
//! person made (with who and when), approvals with their risk, the policy and sandbox, files by
//! agent, evidence, costs by agent, task and model, stuck episodes and budget holds, and why
//! the run stopped.
//!
//! Written section by section to any [`std::io::Write`] from the run's state and one pass over
//! its records ([`Scan`]): neither the records nor the whole report are held in memory.

use super::literal::{cell_code, code, fence, md};
use super::scan::Scan;
use super::{duration, rfc3339, usd};
use crate::domain::state::RunInfo;
use crate::domain::{ApprovalDecision, EventRecord, Rule, RunState};
use std::fmt::Write;

/// A model's, a command's or a person's text as inline Markdown that renders as itself (one
/// line, pipes escaped for tables).
pub(super) fn cell(text: &str) -> String {
    md(text).to_string()
}

/// A policy rule as `Rule::describe` reads, with its patterns (which can come from a model's
/// command, through "approve always") as code spans that hold any text.
pub(super) fn rule_md(rule: &Rule, in_table: bool) -> String {
    let span = |text: &str| {
        if in_table {
            cell_code(text).to_string()
        } else {
            code(text).to_string()
        }
    };
    let mut s = format!(
        "{} {}",
        rule.decision,
        md(rule.tool.as_deref().unwrap_or("*"))
    );
    if let Some(c) = &rule.command {
        let _ = write!(s, " {}", span(c));
    }
    if let Some(p) = &rule.path {
        let _ = write!(s, " path {}", span(p));
    }
    if rule.network == Some(true) {
        s.push_str(" with network");
    }
    s
}

/// The sections of the report, in order.
const SECTIONS: [Section; 12] = [
    summary,
    why_stopped,
    plan,
    history,
    decisions,
    approvals,
    governance,
    episodes,
    changes,
    evidence,
    costs,
    sign_off,
];

type Section = fn(&mut String, &RunState, &RunInfo, &Scan);

/// The report of `state`, whose records `scan` has seen, one section at a time: each is made
/// and handed to `section` (which writes it out) before the next is made.
pub(super) fn sections<E>(
    state: &RunState,
    scan: &Scan,
    mut section: impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    let Some(info) = state.info.as_ref() else {
        return section("# Empty run\n");
    };
    let mut out = String::new();
    for make in SECTIONS {
        out.clear();
        make(&mut out, state, info, scan);
        section(&out)?;
    }
    Ok(())
}

/// The whole report as one string (for tests and small runs; exports stream it instead).
pub fn report(state: &RunState, records: &[EventRecord]) -> String {
    let mut scan = Scan::default();
    for r in records {
        scan.feed(r);
    }
    let mut out = String::new();
    let _ = sections::<std::convert::Infallible>(state, &scan, |s| {
        out.push_str(s);
        Ok(())
    });
    out
}

fn summary(out: &mut String, state: &RunState, info: &RunInfo, _scan: &Scan) {
    let sim = if info.simulated {
        " — **SIMULATED** company (no model was configured)"
    } else {
        ""
    };
    let _ = writeln!(out, "# Run {}\n", md(&info.id));
    let _ = writeln!(out, "**Goal:** {}\n", md(&info.goal));
    let _ = writeln!(
        out,
        "- Status: **{}** — {}",
        state.status,
        md(&state.status_reason)
    );
    let _ = writeln!(
        out,
        "- Provider: {} / {}{sim}",
        md(&info.provider),
        md(&info.model)
    );
    let _ = writeln!(
        out,
        "- Started {} by {}; last event {}",
        rfc3339(state.created_ms),
        md(&info.created_by),
        rfc3339(state.updated_ms)
    );
    let _ = writeln!(out, "- Active time: {}", duration(state.active_ms));
    let _ = writeln!(
        out,
        "- Tokens: {} in, {} out; cost {}",
        state.usage.input_tokens,
        state.usage.output_tokens,
        usd(state.cost_usd, state.unpriced_requests)
    );
    let _ = writeln!(out, "- Workspace: {}", code(&info.workspace));
    if let Some(b) = &state.branch {
        let merged = state.tasks.iter().filter(|t| t.merge.is_some()).count();
        let _ = writeln!(
            out,
            "- Result: branch {} of {} ({}), from {}; {merged} task(s) merged",
            code(&b.branch),
            code(&b.repo),
            if b.existing {
                "the person's repository; `land` merges it"
            } else {
                "the run's own repository"
            },
            code(b.base.get(..12).unwrap_or(&b.base))
        );
    }
    let _ = writeln!(
        out,
        "- Policy: autonomy {}, {} attempts per task, {} agents at once\n",
        info.autonomy, info.max_attempts, info.concurrency
    );
}

fn plan(out: &mut String, state: &RunState, _info: &RunInfo, _scan: &Scan) {
    let _ = writeln!(
        out,
        "## Plan\n\n| task | role | status | attempts | after | result |\n|---|---|---|---|---|---|"
    );
    for t in &state.tasks {
        let deps: Vec<&str> = t.depends_on.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} | {} | {} |",
            t.id,
            cell(&t.title),
            md(&t.role),
            t.status,
            t.attempts,
            deps.join(", "),
            cell(t.summary.as_deref().unwrap_or(&t.status_reason))
        );
    }
}

fn history(out: &mut String, _state: &RunState, _info: &RunInfo, scan: &Scan) {
    out.push_str("\n## How the plan changed\n\n");
    for line in &scan.history {
        out.push_str(line);
        out.push('\n');
    }
}

fn approvals(out: &mut String, _state: &RunState, _info: &RunInfo, scan: &Scan) {
    out.push_str("\n## Approvals, with their risk\n\n");
    if scan.approvals.is_empty() {
        out.push_str("No approvals were requested.\n");
    } else {
        out.push_str("| id | agent | task | request | risk | decision | by |\n|---|---|---|---|---|---|---|\n");
        for a in &scan.approvals {
            let (decision, by) = match &a.resolution {
                Some((ApprovalDecision::Approve, by)) => ("approved".to_owned(), by.to_string()),
                Some((ApprovalDecision::ApproveAlways, by)) => {
                    ("approved always".to_owned(), by.to_string())
                }
                Some((ApprovalDecision::Deny { reason }, by)) => {
                    (format!("denied: {reason}"), by.to_string())
                }
                None if a.expired => (
                    format!("expired ({})", a.expiry.as_deref().unwrap_or("interrupted")),
                    "—".to_owned(),
                ),
                None => ("**pending**".to_owned(), "—".to_owned()),
            };
            let task = a.task.as_ref().map(ToString::to_string).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {task} | {} | {} | {} | {} |",
                a.id,
                md(&a.agent),
                cell(&a.summary),
                cell(&a.risk),
                cell(&decision),
                cell(&by)
            );
        }
    }
}

/// Every decision a person made, in order, with who and when.
fn decisions(out: &mut String, state: &RunState, info: &RunInfo, scan: &Scan) {
    out.push_str("\n## Decisions by people\n\n");
    let asked: std::collections::HashMap<_, _> =
        scan.approvals.iter().map(|a| (&a.id, a)).collect();
    let request = |id: &crate::domain::ApprovalId| {
        asked
            .get(id)
            .map(|a| format!("{id} ({}: {})", md(&a.agent), cell(&a.summary)))
            .unwrap_or_else(|| id.to_string())
    };
    out.push_str("| when | # | who | decision |\n|---|---|---|---|\n");
    let _ = writeln!(
        out,
        "| {} | — | {} | started the run: {} |",
        rfc3339(state.created_ms),
        cell(&info.created_by.to_string()),
        cell(&info.goal)
    );
    for d in &scan.decisions {
        let what = match &d.approval {
            Some(id) => format!("{} {}", d.what, request(id)),
            None => d.what.clone(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {what} |",
            rfc3339(d.ts_ms),
            d.seq,
            cell(&d.who)
        );
    }
}

/// The autonomy level, the rules in force and what the sandbox could do.
fn governance(out: &mut String, state: &RunState, info: &RunInfo, scan: &Scan) {
    out.push_str("\n## Policy and sandbox\n\n");
    let first_level = scan.first_autonomy;
    let _ = writeln!(
        out,
        "- Autonomy: {}{}",
        first_level.unwrap_or(info.autonomy),
        if first_level.is_some_and(|l| l != info.autonomy) {
            format!(", switched to {} during the run", info.autonomy)
        } else {
            String::new()
        }
    );
    if state.policy_rules.is_empty() {
        out.push_str("- `[[policy]]` rules: none\n");
    } else {
        out.push_str("- `[[policy]]` rules, first match first:\n");
        for (i, r) in state.policy_rules.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", i + 1, rule_md(r, false));
        }
    }
    if state.run_rules.is_empty() {
        out.push_str("- Rules people added in this run (still in force): none\n");
    } else {
        out.push_str("- Rules people added in this run (still in force):\n");
        for (i, r) in state.run_rules.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {} (by {}, #{})",
                i + 1,
                rule_md(&r.rule, false),
                md(&r.by),
                r.seq
            );
        }
    }
    match &state.sandbox {
        Some(sb) if sb.complete => {
            let _ = writeln!(out, "- Sandbox: {}", cell(&sb.detail));
        }
        Some(sb) => {
            let _ = writeln!(out, "- Sandbox: **INCOMPLETE**: {}", cell(&sb.detail));
        }
        None => out.push_str("- Sandbox: not recorded (a run from before the sandbox)\n"),
    }
    let _ = writeln!(out, "- Calls denied by policy: {}", scan.denied_by_policy);
}

/// Stuck agents and reached budgets, each with how it ended.
fn episodes(out: &mut String, _state: &RunState, _info: &RunInfo, scan: &Scan) {
    out.push_str("\n## Stuck agents and budget holds\n\n");
    for e in &scan.episodes {
        let _ = writeln!(
            out,
            "- `#{}` {} {}{}",
            e.seq,
            rfc3339(e.ts_ms),
            e.head,
            e.end.as_deref().unwrap_or(e.default_end)
        );
    }
    if scan.episodes.is_empty() {
        out.push_str("None: no agent got stuck and no budget was reached.\n");
    }
}

fn changes(out: &mut String, _state: &RunState, _info: &RunInfo, scan: &Scan) {
    out.push_str(
        "\n## Files changed, by agent\n\n| file | tasks | agents | lines |\n|---|---|---|---|\n",
    );
    for (path, (tasks, agents, a, d)) in &scan.files {
        let _ = writeln!(
            out,
            "| {} | {} | {} | +{a} −{d} |",
            cell_code(path),
            cell(&tasks.join(", ")),
            cell(&agents.join(", "))
        );
    }
}

fn evidence(out: &mut String, state: &RunState, _info: &RunInfo, _scan: &Scan) {
    out.push_str("\n## Evidence\n");
    for t in state.tasks.iter().filter(|t| t.evidence.is_some()) {
        let _ = writeln!(
            out,
            "\n### {} {}\n\n{}\n",
            t.id,
            cell(&t.title),
            cell(t.summary.as_deref().unwrap_or(""))
        );
        out.push_str(&fence("text", t.evidence.as_deref().unwrap_or("").trim_end()).to_string());
        if !t.failures.is_empty() {
            let _ = writeln!(out, "\nEarlier attempts failed:");
            for f in &t.failures {
                let _ = writeln!(out, "- {}", cell(f));
            }
        }
    }
}

fn costs(out: &mut String, state: &RunState, info: &RunInfo, scan: &Scan) {
    out.push_str("\n## Costs by agent\n\n| agent | role | model | requests | tokens in | tokens out | cost |\n|---|---|---|---|---|---|---|\n");
    for a in &state.agents {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md(&a.id),
            md(&a.role),
            md(&a.model),
            a.requests,
            a.usage.input_tokens,
            a.usage.output_tokens,
            usd(a.cost_usd, a.unpriced_requests)
        );
    }
    out.push_str("\n## Costs by task\n\n| task | role | turns | tokens in | tokens out | cost |\n|---|---|---|---|---|---|\n");
    for t in &state.tasks {
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} | {} | ${:.4} |",
            t.id,
            cell(&t.title),
            md(&t.role),
            t.turns,
            t.usage.input_tokens,
            t.usage.output_tokens,
            t.cost_usd
        );
    }
    out.push_str("\n## Costs by model\n\n| model | requests | tokens in | tokens out | cost |\n|---|---|---|---|---|\n");
    for (model, (n, i, o, c, unpriced)) in &scan.by_model {
        let _ = writeln!(
            out,
            "| {} | {n} | {i} | {o} | {} |",
            md(model),
            usd(*c, *unpriced)
        );
    }
    if info.simulated {
        out.push_str("\nCosts use the simulated model's nominal price; no money was spent.\n");
    }
}

/// Why the run stopped (or where it stands), and the event that said so.
fn why_stopped(out: &mut String, state: &RunState, _info: &RunInfo, scan: &Scan) {
    out.push_str("## Why the run stopped\n\n");
    let last = scan.last_change_to(state.status);
    let verdict = if state.status.is_terminal() {
        format!("The run is **{}**", state.status)
    } else {
        format!(
            "The run has not ended: it is **{}** and can be resumed",
            state.status
        )
    };
    match last {
        Some((seq, ts, reason)) => {
            let _ = writeln!(
                out,
                "{verdict}: {} (`#{seq}`, {}).",
                cell(reason),
                rfc3339(*ts)
            );
        }
        None => {
            let _ = writeln!(out, "{verdict}: {}.", cell(&state.status_reason));
        }
    }
    let waiting: Vec<String> = state
        .pending_approvals()
        .map(|a| format!("{} ({})", a.id, cell(&a.summary)))
        .collect();
    if !waiting.is_empty() {
        let _ = writeln!(out, "\nWaiting for a person: {}.", waiting.join("; "));
    }
    out.push('\n');
}

/// A place for the reviewer's name.
fn sign_off(out: &mut String, state: &RunState, _info: &RunInfo, _scan: &Scan) {
    let _ = writeln!(
        out,
        "\n## Sign-off\n\nReport of {} events (up to `#{}`). Reviewed by: ______________________  Date: ____________",
        state.last_seq, state.last_seq
    );
}
