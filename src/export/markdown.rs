//! The run report a reviewer can sign off: goal, plan and how it changed, every decision a
//! person made (with who and when), approvals with their risk, the policy and sandbox, files by
//! agent, evidence, costs by agent, task and model, stuck episodes and budget holds, and why
//! the run stopped.

use super::literal::{cell_code, code, fence, md};
use super::{duration, rfc3339, usd};
use crate::domain::state::RunInfo;
use crate::domain::{AgentStatus, ApprovalDecision, Event, EventRecord, Rule, RunState};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A model's, a command's or a person's text as inline Markdown that renders as itself (one
/// line, pipes escaped for tables).
fn cell(text: &str) -> String {
    md(text).to_string()
}

/// A policy rule as `Rule::describe` reads, with its patterns (which can come from a model's
/// command, through "approve always") as code spans that hold any text.
fn rule_md(rule: &Rule, in_table: bool) -> String {
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

type Section = fn(&mut String, &RunState, &RunInfo, &[EventRecord]);

pub fn report(state: &RunState, records: &[EventRecord]) -> String {
    let Some(info) = state.info.as_ref() else {
        return "# Empty run\n".into();
    };
    let mut out = String::new();
    for section in SECTIONS {
        section(&mut out, state, info, records);
    }
    out
}

fn summary(out: &mut String, state: &RunState, info: &RunInfo, _records: &[EventRecord]) {
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

fn plan(out: &mut String, state: &RunState, _info: &RunInfo, _records: &[EventRecord]) {
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

fn history(out: &mut String, _state: &RunState, _info: &RunInfo, records: &[EventRecord]) {
    out.push_str("\n## How the plan changed\n\n");
    for r in records {
        let line = match &r.event {
            Event::TaskCreated {
                task, title, by, ..
            } => format!("{task} created by {}: {}", md(by), cell(title)),
            Event::TaskStatusChanged {
                task,
                status,
                reason,
            } => format!("{task} → {status}: {}", cell(reason)),
            Event::TaskCompleted { task, .. } => format!("{task} → done"),
            Event::RunStatusChanged { status, reason } => {
                format!("run → {status}: {}", cell(reason))
            }
            Event::Recovered { reason, tasks, .. } => format!(
                "recovered after a stop ({}); {} task(s) put back",
                cell(reason),
                tasks.len()
            ),
            Event::BudgetExceeded {
                target,
                scope,
                limit,
                used,
            } => format!(
                "{}: {scope} budget reached: {} of {}",
                md(target),
                scope.amount(*used),
                scope.amount(*limit)
            ),
            _ => continue,
        };
        let _ = writeln!(out, "- `#{}` {} {line}", r.seq, rfc3339(r.ts_ms));
    }
}

fn approvals(out: &mut String, state: &RunState, _info: &RunInfo, _records: &[EventRecord]) {
    out.push_str("\n## Approvals, with their risk\n\n");
    if state.approvals.is_empty() {
        out.push_str("No approvals were requested.\n");
    } else {
        out.push_str("| id | agent | task | request | risk | decision | by |\n|---|---|---|---|---|---|---|\n");
        for a in &state.approvals {
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
fn decisions(out: &mut String, state: &RunState, info: &RunInfo, records: &[EventRecord]) {
    out.push_str("\n## Decisions by people\n\n");
    let mut rows = vec![(
        state.created_ms,
        0,
        info.created_by.to_string(),
        format!("started the run: {}", cell(&info.goal)),
    )];
    let request = |id: &crate::domain::ApprovalId| {
        state
            .approval(id)
            .map(|a| format!("{id} ({}: {})", md(&a.agent), cell(&a.summary)))
            .unwrap_or_else(|| id.to_string())
    };
    for r in records {
        let row = match &r.event {
            Event::ApprovalResolved {
                approval,
                decision,
                by,
            } => {
                let what = match decision {
                    ApprovalDecision::Approve => "approved".to_owned(),
                    ApprovalDecision::ApproveAlways => "approved always for this kind".to_owned(),
                    ApprovalDecision::Deny { reason } => format!("denied ({})", cell(reason)),
                };
                Some((by, format!("{what} {}", request(approval))))
            }
            Event::HumanMessage { target, text, by } => {
                Some((by, format!("wrote to {}: {}", md(target), cell(text))))
            }
            Event::BudgetChanged { target, budget, by } => {
                Some((by, format!("set the {} budget to {budget}", md(target))))
            }
            Event::RunRuleAdded { rule, by } => {
                Some((by, format!("added the run rule: {}", rule_md(rule, true))))
            }
            Event::RunRuleRevoked { index, rule, by } => Some((
                by,
                format!("revoked run rule {index}: {}", rule_md(rule, true)),
            )),
            Event::AutonomyChanged { level, by } => {
                Some((by, format!("switched the autonomy to {level}")))
            }
            _ => None,
        };
        if let Some((by, what)) = row {
            rows.push((r.ts_ms, r.seq, by.to_string(), what));
            continue;
        }
        // Pauses, resumes, retries, cancels and stops name their person in the reason.
        let said = match &r.event {
            Event::RunStatusChanged { status, reason } => Some((format!("run → {status}"), reason)),
            Event::TaskStatusChanged {
                task,
                status,
                reason,
            } => Some((format!("{task} → {status}"), reason)),
            Event::AgentStatusChanged {
                agent,
                status,
                reason,
            } => Some((format!("{} → {status}", md(agent)), reason)),
            _ => None,
        };
        // Approvals are listed above, not again through the status they changed.
        if let Some((what, reason)) = said.filter(|(_, r)| !r.contains("approval")) {
            if let Some(who) = person_in(reason) {
                rows.push((r.ts_ms, r.seq, who, format!("{what}: {}", cell(reason))));
            }
        }
    }
    out.push_str("| when | # | who | decision |\n|---|---|---|---|\n");
    for (ts, seq, who, what) in rows {
        let seq = if seq == 0 {
            "—".to_owned()
        } else {
            seq.to_string()
        };
        let _ = writeln!(out, "| {} | {seq} | {} | {what} |", rfc3339(ts), cell(&who));
    }
}

/// The person a reason names (`paused now by ada@box`, `retry requested by ada`).
fn person_in(reason: &str) -> Option<String> {
    let (_, after) = reason.rsplit_once(" by ")?;
    let who: String = after
        .chars()
        .take_while(|c| !matches!(c, ':' | ';' | ',' | '(' | ')'))
        .collect();
    let who = who.trim();
    let machine = ["the engine", "engine", "a person", "policy"];
    (!who.is_empty() && !machine.contains(&who) && !who.contains(' ') || who.ends_with("(--yes)"))
        .then(|| who.to_owned())
}

/// The autonomy level, the rules in force and what the sandbox could do.
fn governance(out: &mut String, state: &RunState, info: &RunInfo, records: &[EventRecord]) {
    out.push_str("\n## Policy and sandbox\n\n");
    let first_level = records.iter().find_map(|r| match &r.event {
        Event::RunCreated { autonomy, .. } => Some(*autonomy),
        _ => None,
    });
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
    let denied_by_policy = records
        .iter()
        .filter(|r| matches!(&r.event, Event::ToolCallRequested { policy: Some(p), .. } if p.starts_with("deny")))
        .count();
    let _ = writeln!(out, "- Calls denied by policy: {denied_by_policy}");
}

/// Stuck agents and reached budgets, each with how it ended.
fn episodes(out: &mut String, _state: &RunState, _info: &RunInfo, records: &[EventRecord]) {
    out.push_str("\n## Stuck agents and budget holds\n\n");
    let mut any = false;
    let mut last_status: BTreeMap<&str, AgentStatus> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let was = match &r.event {
            Event::AgentStatusChanged { agent, status, .. } => {
                last_status.insert(agent.as_str(), *status)
            }
            _ => None,
        };
        let line = match &r.event {
            // One episode, however often it is announced.
            Event::AgentStatusChanged {
                status: AgentStatus::Stuck,
                ..
            } if was == Some(AgentStatus::Stuck) => continue,
            Event::AgentStatusChanged {
                agent,
                status: AgentStatus::Stuck,
                reason,
            } => {
                let end = records[i + 1..]
                    .iter()
                    .find_map(|later| match &later.event {
                        Event::AgentStatusChanged {
                            agent: a,
                            status,
                            reason,
                        } if a == agent && *status != AgentStatus::Stuck => Some(format!(
                            "`#{}` {} → {status}: {}",
                            later.seq,
                            rfc3339(later.ts_ms),
                            cell(reason)
                        )),
                        Event::HumanMessage { target, text, by } if target == agent => Some(
                            format!("`#{}` {} wrote to it: {}", later.seq, md(by), cell(text)),
                        ),
                        _ => None,
                    });
                format!(
                    "**{} stuck**: {}. Ended: {}",
                    md(agent),
                    cell(reason),
                    end.unwrap_or_else(|| "not yet (still stuck)".into())
                )
            }
            Event::BudgetExceeded {
                target,
                scope,
                limit,
                used,
            } => {
                let end = records[i + 1..]
                    .iter()
                    .find_map(|later| match &later.event {
                        Event::BudgetChanged {
                            target: t,
                            budget,
                            by,
                        } if t == target => {
                            Some(format!("`#{}` {} set it to {budget}", later.seq, md(by)))
                        }
                        _ => None,
                    });
                format!(
                    "**{} reached its {scope} budget**: {} of {}. Ended: {}",
                    md(target),
                    scope.amount(*used),
                    scope.amount(*limit),
                    end.unwrap_or_else(|| "not extended".into())
                )
            }
            _ => continue,
        };
        any = true;
        let _ = writeln!(out, "- `#{}` {} {line}", r.seq, rfc3339(r.ts_ms));
    }
    if !any {
        out.push_str("None: no agent got stuck and no budget was reached.\n");
    }
}

fn changes(out: &mut String, _state: &RunState, _info: &RunInfo, records: &[EventRecord]) {
    out.push_str(
        "\n## Files changed, by agent\n\n| file | tasks | agents | lines |\n|---|---|---|---|\n",
    );
    /// Tasks, agents, lines added, lines removed.
    type Touched = (Vec<String>, Vec<String>, u32, u32);
    let mut files: BTreeMap<&str, Touched> = BTreeMap::new();
    for r in records {
        if let Event::FileChanged {
            agent,
            task,
            path,
            added,
            removed,
        } = &r.event
        {
            let e = files
                .entry(path)
                .or_insert_with(|| (Vec::new(), Vec::new(), 0, 0));
            let task = task.as_ref().map(ToString::to_string).unwrap_or_default();
            if !e.0.contains(&task) {
                e.0.push(task);
            }
            if !e.1.contains(&agent.to_string()) {
                e.1.push(agent.to_string());
            }
            e.2 += added;
            e.3 += removed;
        }
    }
    for (path, (tasks, agents, a, d)) in &files {
        let _ = writeln!(
            out,
            "| {} | {} | {} | +{a} −{d} |",
            cell_code(path),
            cell(&tasks.join(", ")),
            cell(&agents.join(", "))
        );
    }
}

fn evidence(out: &mut String, state: &RunState, _info: &RunInfo, _records: &[EventRecord]) {
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

fn costs(out: &mut String, state: &RunState, info: &RunInfo, records: &[EventRecord]) {
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
    // By model: each finished request is charged to the model its agent last asked.
    let mut asked: BTreeMap<&str, &str> = BTreeMap::new();
    let mut by_model: BTreeMap<&str, (u64, u64, u64, f64, u64)> = BTreeMap::new();
    for r in records {
        match &r.event {
            Event::LlmRequestStarted { agent, model, .. } => {
                asked.insert(agent.as_str(), model.as_str());
            }
            Event::LlmRequestFinished {
                agent,
                usage,
                cost_usd,
                ..
            } => {
                let model = asked.get(agent.as_str()).copied().unwrap_or("unknown");
                let e = by_model.entry(model).or_default();
                e.0 += 1;
                e.1 += usage.input_tokens;
                e.2 += usage.output_tokens;
                e.3 += cost_usd.unwrap_or(0.0);
                e.4 += u64::from(cost_usd.is_none());
            }
            _ => {}
        }
    }
    out.push_str("\n## Costs by model\n\n| model | requests | tokens in | tokens out | cost |\n|---|---|---|---|---|\n");
    for (model, (n, i, o, c, unpriced)) in &by_model {
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
fn why_stopped(out: &mut String, state: &RunState, _info: &RunInfo, records: &[EventRecord]) {
    out.push_str("## Why the run stopped\n\n");
    let last = records.iter().rev().find_map(|r| match &r.event {
        Event::RunStatusChanged { status, reason } if *status == state.status => {
            Some((r.seq, r.ts_ms, reason))
        }
        _ => None,
    });
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
                rfc3339(ts)
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
fn sign_off(out: &mut String, state: &RunState, _info: &RunInfo, _records: &[EventRecord]) {
    let _ = writeln!(
        out,
        "\n## Sign-off\n\nReport of {} events (up to `#{}`). Reviewed by: ______________________  Date: ____________",
        state.last_seq, state.last_seq
    );
}
