//! The `:` command line. Its words are the action names of the keymap (one command set), plus
//! a few that take arguments: `budget`, `autonomy`, `rules`, `revoke`, `inject`, `deny`,
//! `retry`, `cancel`, `theme`, `level`.

use super::super::action::Action;
use super::super::app::App;
use super::Popup;
use crate::domain::{Autonomy, BudgetScope, BudgetTarget, LogLevel, TaskId};
use crate::protocol::Command;

const WITH_ARGS: [(&str, &str); 13] = [
    (
        "budget",
        "budget [role R | task T] [usd|tokens|turns|secs] [+]N: set (or +extend) a budget",
    ),
    (
        "autonomy",
        "autonomy suggest|ask-risky|full: switch the level for the rest of the run",
    ),
    (
        "rules",
        "rules: the policy rules and those added in this run",
    ),
    ("revoke", "revoke N: take back run rule N"),
    ("inject", "inject TEXT: message the selected agent"),
    ("deny", "deny REASON: deny the oldest request"),
    ("retry", "retry TASK"),
    ("cancel", "cancel TASK"),
    ("theme", "theme NAME: dark, light, high-contrast, mono"),
    (
        "level",
        "level debug|info|warn|error: the least level the logs show",
    ),
    ("resume", "resume the paused run"),
    ("pause next", "pause at the next step instead of now"),
    (
        "model",
        "model ROLE NAME: arrives with the real-model providers",
    ),
];

/// Every word the command line knows, for completion and help.
pub fn words() -> Vec<&'static str> {
    let mut w: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    w.extend(WITH_ARGS.iter().map(|(n, _)| *n));
    w.sort_unstable();
    w.dedup();
    w
}

/// True for the words with arguments that steer the run (not `rules`, `theme`, `level`).
pub fn steers(word: &str) -> bool {
    !matches!(word, "rules" | "theme" | "level")
}

pub fn help_lines() -> impl Iterator<Item = (&'static str, &'static str)> {
    WITH_ARGS.iter().copied()
}

/// Completes the first word when one command starts with it.
pub fn complete(input: &str) -> Option<String> {
    let t = input.trim_start();
    if t.contains(' ') {
        return None;
    }
    let matches: Vec<&str> = words().into_iter().filter(|w| w.starts_with(t)).collect();
    match matches.as_slice() {
        [one] => Some(format!("{one} ")),
        [] => None,
        many => {
            let first = many[0];
            let common = (t.len()..=first.len())
                .rev()
                .find(|&n| many.iter().all(|w| w.get(..n) == first.get(..n)))?;
            (common > t.len()).then(|| first[..common].to_owned())
        }
    }
}

fn task_arg(app: &App, arg: &str) -> Result<TaskId, String> {
    if arg.is_empty() {
        return app
            .selected_task()
            .cloned()
            .ok_or_else(|| "which task? e.g. retry T3".to_owned());
    }
    let id = TaskId::from(arg.to_uppercase());
    app.view
        .state
        .task(&id)
        .map(|t| t.id.clone())
        .ok_or_else(|| format!("there is no task {arg}"))
}

enum Amount {
    Set(f64),
    Add(f64),
}

/// `[run | role R | task T] [usd|tokens|turns|secs] [+]N`; USD when no unit is given.
fn parse_budget(app: &App, arg: &str) -> Result<(BudgetTarget, BudgetScope, Amount), String> {
    let usage =
        "budget [role R | task T] [usd|tokens|turns|secs] [+]N, e.g. :budget task T3 usd +0.5";
    let mut words: Vec<&str> = arg.split_whitespace().collect();
    let target = match words.as_slice() {
        ["run", ..] => {
            words.remove(0);
            BudgetTarget::Run
        }
        ["role", role, ..] => {
            let role = (*role).to_owned();
            words.drain(..2);
            BudgetTarget::Role { role }
        }
        ["task", task, ..] => {
            let task = task_arg(app, task)?;
            words.drain(..2);
            BudgetTarget::Task { task }
        }
        _ => BudgetTarget::Run,
    };
    let (scope, value) = match words.as_slice() {
        [unit, value] => (BudgetScope::from_word(unit).ok_or(usage)?, *value),
        [value] => (BudgetScope::Usd, *value),
        _ => return Err(usage.into()),
    };
    let (add, number) = match value.strip_prefix('+') {
        Some(v) => (true, v),
        None => (false, value),
    };
    let v: f64 = number
        .trim_start_matches('$')
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("budget: {value:?} is not an amount; {usage}"))?;
    Ok((
        target,
        scope,
        if add { Amount::Add(v) } else { Amount::Set(v) },
    ))
}

/// The config's rules, then the run's, numbered as `:revoke` counts them.
fn rule_lines(app: &App) -> Vec<String> {
    let s = &app.view.state;
    let mut lines = vec![format!(
        "autonomy: {}",
        s.info
            .as_ref()
            .map(|i| i.autonomy.to_string())
            .unwrap_or_default()
    )];
    if let Some(sb) = &s.sandbox {
        let mark = if sb.complete { "" } else { "INCOMPLETE: " };
        lines.push(format!("sandbox: {mark}{}", sb.detail));
    }
    lines.push(String::new());
    if s.run_rules.is_empty() {
        lines.push("No rules were added in this run (a approves always and adds one).".into());
    } else {
        lines.push("Added in this run (first match after the config's [[policy]]):".into());
        for (i, r) in s.run_rules.iter().enumerate() {
            lines.push(format!(
                "  {}. {}   (by {}, #{})",
                i + 1,
                r.rule.describe(),
                r.by,
                r.seq
            ));
        }
    }
    lines.push(String::new());
    if s.policy_rules.is_empty() {
        lines.push("The config has no [[policy]] rules.".into());
    } else {
        lines.push("The config's [[policy]] rules (first match first, before the run's):".into());
        for (i, r) in s.policy_rules.iter().enumerate() {
            lines.push(format!("  {}. {}", i + 1, r.describe()));
        }
    }
    lines
}

pub fn execute(app: &mut App, input: &str) -> Result<(), String> {
    let input = input.trim().trim_start_matches(':');
    let (word, arg) = input
        .split_once(' ')
        .map_or((input, ""), |(w, a)| (w, a.trim()));
    let steer = |app: &mut App, cmd: Command, msg: String| -> Result<(), String> {
        if !app.can_steer {
            return Err(app.no_steer_reason());
        }
        app.outbox.push(cmd);
        app.status = Some(msg);
        Ok(())
    };
    match word {
        "" => Ok(()),
        "resume" => steer(app, Command::ResumeRun, "resuming the run".into()),
        "pause" if arg == "next" => steer(app, Command::PauseRun { now: false }, "pausing at the next step".into()),
        "budget" => {
            let (target, scope, value) = parse_budget(app, arg)?;
            let current = app.view.state.budget_of(&target);
            let now = |scope: BudgetScope| match scope {
                BudgetScope::Usd => current.usd,
                BudgetScope::Tokens => current.tokens.map(|v| v as f64),
                BudgetScope::Turns => current.turns.map(|v| v as f64),
                BudgetScope::WallTime => current.wall_secs.map(|v| v as f64),
            };
            let v = match value {
                Amount::Set(v) => v,
                Amount::Add(v) => now(scope).unwrap_or(0.0) + v,
            };
            let budget = current.with(scope, v);
            budget.validate().map_err(|e| format!("budget: {e}"))?;
            let msg = format!("{target} {scope} budget set to {}", scope.amount(v));
            steer(app, Command::SetBudget { target, budget }, msg)
        }
        "autonomy" => {
            let level = match arg {
                "suggest" => Autonomy::Suggest,
                "ask-risky" => Autonomy::AskRisky,
                "full" => Autonomy::Full,
                _ => return Err("autonomy: suggest, ask-risky or full".into()),
            };
            steer(app, Command::SetAutonomy { level }, format!("autonomy set to {level}"))
        }
        "rules" => {
            app.popup = Some(Popup::Text { title: "policy rules · :revoke N takes a run rule back".into(), lines: rule_lines(app), scroll: 0, approval: None });
            Ok(())
        }
        "revoke" => {
            let index: usize = arg.parse().map_err(|_| "revoke N: the number :rules shows".to_owned())?;
            steer(app, Command::RevokeRule { index }, format!("revoking run rule {index}"))
        }
        "inject" if !arg.is_empty() => {
            let target = app.selected_agent().cloned();
            steer(app, Command::Inject { target, text: arg.to_owned() }, "message sent".into())
        }
        "deny" => {
            let approval = app.view.state.pending_approvals().next().map(|a| a.id.clone()).ok_or("nothing waits for approval")?;
            steer(app, Command::Deny { approval, reason: arg.to_owned() }, "denied".into())
        }
        "retry" => {
            let task = task_arg(app, arg)?;
            steer(app, Command::RetryTask { task: task.clone() }, format!("retrying {task}"))
        }
        "cancel" if !arg.is_empty() => {
            let task = task_arg(app, arg)?;
            steer(app, Command::CancelTask { task: task.clone(), reason: None }, format!("cancelling {task}"))
        }
        "theme" if !arg.is_empty() => {
            let i = app.themes.index_of(arg).ok_or_else(|| {
                let names: Vec<&str> = app.themes.list.iter().map(|t| t.name.as_str()).collect();
                format!("no theme {arg:?} (themes: {})", names.join(", "))
            })?;
            app.theme = i;
            app.status = Some(format!("theme: {arg}"));
            Ok(())
        }
        "level" => {
            app.log_min = match arg {
                "debug" => LogLevel::Debug,
                "info" => LogLevel::Info,
                "warn" => LogLevel::Warn,
                "error" => LogLevel::Error,
                _ => return Err("level: debug, info, warn or error".into()),
            };
            app.status = Some(format!("logs show {arg} and above"));
            Ok(())
        }
        "model" => Err("per-role models arrive with the real-model providers; set [roles.NAME] model in the config".into()),
        w => match Action::from_name(w) {
            Some(action) => {
                app.perform(action);
                Ok(())
            }
            None => Err(format!("unknown command {w:?}; Tab completes, ? lists the keys")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_extends_unique_prefixes() {
        assert_eq!(complete("bud").as_deref(), Some("budget "));
        assert_eq!(complete("ap").as_deref(), Some("approve"));
        assert_eq!(complete("zzz"), None);
        assert_eq!(complete("budget 1"), None);
    }
}
