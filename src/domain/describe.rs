//! One-line descriptions of events, for logs, headless output and the control room.

use super::event::{ApprovalDecision, DeltaKind, Event};

/// Collapses whitespace and cuts to `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Who an event is about, and what it says.
pub fn describe(event: &Event) -> (String, String) {
    match event {
        Event::RunCreated {
            goal,
            provider,
            model,
            simulated,
            workspace,
            ..
        } => {
            let sim = if *simulated { " [SIMULATED]" } else { "" };
            (
                "run".into(),
                format!("created: {goal:?} on {provider}/{model}{sim}, workspace {workspace}"),
            )
        }
        Event::RunStatusChanged { status, reason } => {
            ("run".into(), format!("{status}: {}", one_line(reason, 300)))
        }
        Event::TaskCreated {
            task,
            title,
            role,
            depends_on,
            check,
            ..
        } => {
            let deps: Vec<&str> = depends_on.iter().map(|d| d.as_str()).collect();
            let after = if deps.is_empty() {
                String::new()
            } else {
                format!(" (after {})", deps.join(", "))
            };
            let checked = check
                .as_deref()
                .map(|c| format!("; check `{}`", one_line(c, 80)))
                .unwrap_or_default();
            (
                task.to_string(),
                format!("created for {role}: {title}{after}{checked}"),
            )
        }
        Event::TaskRetried { task, guidance, by } => (
            task.to_string(),
            format!("retried by {by}: {}", one_line(guidance, 200)),
        ),
        Event::TaskReplaced {
            task,
            replacement,
            dependents,
            by,
        } => {
            let moved: Vec<&str> = dependents.iter().map(|d| d.as_str()).collect();
            let moved = if moved.is_empty() {
                String::new()
            } else {
                format!("; {} now wait for {replacement}", moved.join(", "))
            };
            (
                task.to_string(),
                format!("replaced by {replacement} ({by}){moved}"),
            )
        }
        Event::TaskChecked {
            task,
            command,
            ok,
            output,
        } => {
            let verdict = if *ok { "passed" } else { "failed" };
            let last = output.lines().last().unwrap_or_default();
            (
                task.to_string(),
                format!(
                    "check `{}` {verdict}: {}",
                    one_line(command, 80),
                    one_line(last, 120)
                ),
            )
        }
        Event::TaskStatusChanged {
            task,
            status,
            reason,
        } => (
            task.to_string(),
            format!("{status}: {}", one_line(reason, 200)),
        ),
        Event::TaskAssigned {
            task,
            agent,
            attempt,
        } => (
            task.to_string(),
            format!("assigned to {agent} (attempt {attempt})"),
        ),
        Event::TaskCompleted { task, summary, .. } => (
            task.to_string(),
            format!("done: {}", one_line(summary, 200)),
        ),
        Event::AgentSpawned {
            agent,
            role,
            model,
            provider,
        } => {
            let via = if provider.is_empty() {
                String::new()
            } else {
                format!(" via {provider}")
            };
            (
                agent.to_string(),
                format!("joined as {role} on {model}{via}"),
            )
        }
        Event::AgentStatusChanged {
            agent,
            status,
            reason,
        } => (agent.to_string(), format!("{status} ({reason})")),
        Event::LlmRequestStarted {
            agent,
            model,
            step,
            prompt_hash,
            ..
        } => (
            agent.to_string(),
            format!("step {step}: asking {model} (prompt {prompt_hash})"),
        ),
        Event::AgentDelta { agent, kind, text } => {
            let tag = if *kind == DeltaKind::Reasoning {
                "thinks"
            } else {
                "says"
            };
            (agent.to_string(), format!("{tag}: {}", one_line(text, 400)))
        }
        Event::AgentInput { agent, text } => (
            agent.to_string(),
            format!("was told: {}", one_line(text, 200)),
        ),
        Event::LlmRequestFinished {
            agent,
            usage,
            cost_usd,
            duration_ms,
            stop_reason,
            ..
        } => {
            let cost = cost_usd.map_or_else(|| "cost unknown".to_owned(), |c| format!("${c:.4}"));
            (
                agent.to_string(),
                format!(
                    "answered in {duration_ms} ms: {} in / {} out tokens, {cost}, {stop_reason}",
                    usage.input_tokens, usage.output_tokens
                ),
            )
        }
        Event::ToolCallRequested {
            agent,
            call,
            tool,
            args,
            policy,
            ..
        } => {
            let rule = match policy.as_deref() {
                Some(p) if p.contains("policy rule") => format!(" ({p})"),
                _ => String::new(),
            };
            (
                agent.to_string(),
                format!("{call} {tool} {}{rule}", one_line(&args.to_string(), 160)),
            )
        }
        Event::ApprovalRequested {
            approval,
            agent,
            task,
            summary,
            risk,
            ..
        } => {
            let on = task
                .as_ref()
                .map(|t| format!(" on {t}"))
                .unwrap_or_default();
            (
                agent.to_string(),
                format!("NEEDS APPROVAL {approval}{on}: {summary} — {risk}"),
            )
        }
        Event::ApprovalResolved {
            approval,
            decision,
            by,
        } => {
            let d = match decision {
                ApprovalDecision::Approve => "approved".to_owned(),
                ApprovalDecision::ApproveAlways => "approved always".to_owned(),
                ApprovalDecision::Deny { reason } => format!("denied ({reason})"),
            };
            ("approval".into(), format!("{approval} {d} by {by}"))
        }
        Event::ToolCallFinished {
            agent,
            call,
            ok,
            output,
            duration_ms,
        } => {
            let mark = if *ok { "ok" } else { "FAILED" };
            (
                agent.to_string(),
                format!(
                    "{call} {mark} in {duration_ms} ms: {}",
                    one_line(output, 200)
                ),
            )
        }
        Event::FileChanged {
            path,
            added,
            removed,
            ..
        } => ("file".into(), format!("{path} +{added} -{removed}")),
        Event::HumanMessage { target, text, by } => (
            by.to_string(),
            format!("to {target}: {}", one_line(text, 300)),
        ),
        Event::BudgetExceeded {
            target,
            scope,
            limit,
            used,
        } => (
            "budget".into(),
            format!(
                "{target}: {scope} budget reached: {} of {}",
                scope.amount(*used),
                scope.amount(*limit)
            ),
        ),
        Event::BudgetChanged { target, budget, by } => (
            "budget".into(),
            format!("{target} budget set to {budget} by {by}"),
        ),
        Event::RunRuleAdded { rule, by } => (
            by.to_string(),
            format!("added run rule: {}", rule.describe()),
        ),
        Event::RunRuleRevoked { index, rule, by } => (
            by.to_string(),
            format!("revoked run rule {index}: {}", rule.describe()),
        ),
        Event::AutonomyChanged { level, by } => {
            (by.to_string(), format!("autonomy set to {level}"))
        }
        Event::PolicyRules { rules } => (
            "policy".into(),
            if rules.is_empty() {
                "no [[policy]] rules: the autonomy level decides".to_owned()
            } else {
                let r: Vec<String> = rules.iter().map(|r| r.describe()).collect();
                format!("[[policy]] rules: {}", r.join("; "))
            },
        ),
        Event::RoleSettings { roles } => (
            "roles".into(),
            if roles.is_empty() {
                "every role on the run's provider and model".to_owned()
            } else {
                let r: Vec<String> = roles
                    .iter()
                    .map(|(role, c)| {
                        format!(
                            "{role} on {}{}",
                            c.provider.as_deref().unwrap_or("the run's provider"),
                            c.model
                                .as_deref()
                                .map(|m| format!(" / {m}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                format!("role settings: {}", r.join("; "))
            },
        ),
        Event::SandboxReported {
            complete, detail, ..
        } => (
            "sandbox".into(),
            format!("{}{detail}", if *complete { "" } else { "INCOMPLETE: " }),
        ),
        Event::ApprovalExpired {
            approval,
            reason,
            by,
        } => (
            by.to_string(),
            format!("approval {approval} expired: {reason}"),
        ),
        Event::Recovered {
            reason,
            tasks,
            calls,
        } => {
            let t: Vec<&str> = tasks.iter().map(|t| t.as_str()).collect();
            (
                "engine".into(),
                format!(
                    "recovered ({reason}): {} task(s) put back [{}], {} call(s) abandoned",
                    tasks.len(),
                    t.join(", "),
                    calls.len()
                ),
            )
        }
        Event::Log {
            level,
            source,
            text,
        } => (source.clone(), format!("{level}: {}", one_line(text, 400))),
        Event::TaskCommitted { task, sha } => (
            task.to_string(),
            format!("committed to git as {}", short(sha)),
        ),
        Event::RunBranch {
            repo,
            branch,
            base,
            existing,
            ..
        } => (
            "git".into(),
            format!(
                "the run works on branch {branch} of {} {repo}, from {}",
                if *existing {
                    "the repository"
                } else {
                    "its own repository"
                },
                short(base)
            ),
        ),
        Event::WorktreeCreated {
            task,
            attempt,
            branch,
            base,
            ..
        } => (
            task.to_string(),
            format!(
                "attempt {attempt} works on branch {branch}, from {}",
                short(base)
            ),
        ),
        Event::WorktreeRemoved { task, .. } => (task.to_string(), "worktree removed".into()),
        Event::MergeStarted { task, tip, .. } => (
            task.to_string(),
            format!("merging {} into the run branch", short(tip)),
        ),
        Event::TaskMerged { task, sha } => (
            task.to_string(),
            format!("merged into the run branch as {}", short(sha)),
        ),
    }
}

/// The first 12 characters of a commit id.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// `HH:MM:SS` (UTC) of a unix-millisecond time.
pub fn clock(ts_ms: u64) -> String {
    let secs = ts_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}
