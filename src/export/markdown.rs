//! The run report: goal, plan and how it changed, decisions and approvals, people's
//! interventions, changes, evidence and costs.

use super::{duration, rfc3339, usd};
use crate::domain::state::RunInfo;
use crate::domain::{ApprovalDecision, Event, EventRecord, RunState};
use std::collections::BTreeMap;
use std::fmt::Write;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The sections of the report, in order.
const SECTIONS: [Section; 8] = [
    summary,
    plan,
    history,
    approvals,
    interventions,
    changes,
    evidence,
    costs,
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
    let _ = writeln!(out, "# Run {}\n", info.id);
    let _ = writeln!(out, "**Goal:** {}\n", info.goal);
    let _ = writeln!(
        out,
        "- Status: **{}** — {}",
        state.status, state.status_reason
    );
    let _ = writeln!(out, "- Provider: {} / {}{sim}", info.provider, info.model);
    let _ = writeln!(
        out,
        "- Started {} by {}; last event {}",
        rfc3339(state.created_ms),
        info.created_by,
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
    let _ = writeln!(out, "- Workspace: `{}`", info.workspace);
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
            t.role,
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
            } => format!("{task} created by {by}: {title}"),
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
                "recovered after a stop ({reason}); {} task(s) put back",
                tasks.len()
            ),
            Event::BudgetExceeded {
                target,
                scope,
                limit,
                used,
            } => format!(
                "{target}: {scope} budget reached: {} of {}",
                scope.amount(*used),
                scope.amount(*limit)
            ),
            _ => continue,
        };
        let _ = writeln!(out, "- `#{}` {} {line}", r.seq, rfc3339(r.ts_ms));
    }
}

fn approvals(out: &mut String, state: &RunState, _info: &RunInfo, _records: &[EventRecord]) {
    out.push_str("\n## Approvals and decisions\n\n");
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
                None if a.expired => ("expired (interrupted)".to_owned(), "—".to_owned()),
                None => ("**pending**".to_owned(), "—".to_owned()),
            };
            let task = a.task.as_ref().map(ToString::to_string).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {task} | {} | {} | {} | {} |",
                a.id,
                a.agent,
                cell(&a.summary),
                cell(&a.risk),
                cell(&decision),
                cell(&by)
            );
        }
    }
}

fn interventions(out: &mut String, _state: &RunState, _info: &RunInfo, records: &[EventRecord]) {
    out.push_str("\n## People's interventions\n\n");
    let mut any = false;
    for r in records {
        let line = match &r.event {
            Event::HumanMessage { target, text, by } => format!("{by} to {target}: {}", cell(text)),
            Event::BudgetChanged { target, budget, by } => {
                format!("{by} set the {target} budget to {budget}")
            }
            Event::RunStatusChanged { status, reason } if reason.contains(" by ") => {
                format!("run {status}: {}", cell(reason))
            }
            Event::TaskStatusChanged {
                task,
                status,
                reason,
            } if reason.contains(" by ") => format!("{task} {status}: {}", cell(reason)),
            _ => continue,
        };
        any = true;
        let _ = writeln!(out, "- `#{}` {line}", r.seq);
    }
    if !any {
        out.push_str("None.\n");
    }
}

fn changes(out: &mut String, _state: &RunState, _info: &RunInfo, records: &[EventRecord]) {
    out.push_str("\n## Changes\n\n| file | task | agent | lines |\n|---|---|---|---|\n");
    let mut files: BTreeMap<&str, (String, String, u32, u32)> = BTreeMap::new();
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
                .or_insert_with(|| (String::new(), String::new(), 0, 0));
            e.0 = task.as_ref().map(ToString::to_string).unwrap_or_default();
            e.1 = agent.to_string();
            e.2 += added;
            e.3 += removed;
        }
    }
    for (path, (task, agent, a, d)) in &files {
        let _ = writeln!(out, "| `{path}` | {task} | {agent} | +{a} −{d} |");
    }
}

fn evidence(out: &mut String, state: &RunState, _info: &RunInfo, _records: &[EventRecord]) {
    out.push_str("\n## Evidence\n");
    for t in state.tasks.iter().filter(|t| t.evidence.is_some()) {
        let _ = writeln!(
            out,
            "\n### {} {}\n\n{}\n",
            t.id,
            t.title,
            t.summary.as_deref().unwrap_or("")
        );
        let _ = writeln!(
            out,
            "```text\n{}\n```",
            t.evidence.as_deref().unwrap_or("").trim_end()
        );
        if !t.failures.is_empty() {
            let _ = writeln!(out, "\nEarlier attempts failed:");
            for f in &t.failures {
                let _ = writeln!(out, "- {}", cell(f));
            }
        }
    }
}

fn costs(out: &mut String, state: &RunState, info: &RunInfo, _records: &[EventRecord]) {
    out.push_str("\n## Costs by agent\n\n| agent | role | model | requests | tokens in | tokens out | cost |\n|---|---|---|---|---|---|---|\n");
    for a in &state.agents {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            a.id,
            a.role,
            a.model,
            a.requests,
            a.usage.input_tokens,
            a.usage.output_tokens,
            usd(a.cost_usd, a.unpriced_requests)
        );
    }
    if info.simulated {
        out.push_str("\nCosts use the simulated model's nominal price; no money was spent.\n");
    }
}
