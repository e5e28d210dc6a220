//! The `:` command line. Its words are the action names of the keymap (one command set), plus
//! a few that take arguments: `budget`, `inject`, `deny`, `retry`, `cancel`, `theme`, `level`.

use super::super::action::Action;
use super::super::app::App;
use crate::domain::{BudgetScope, LogLevel, TaskId};
use crate::protocol::Command;

const WITH_ARGS: [(&str, &str); 10] = [
    (
        "budget",
        "budget USD | budget tokens|turns|secs N: raise a run budget",
    ),
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
            let (scope, value) = match arg.split_once(' ') {
                Some(("tokens", v)) => (BudgetScope::Tokens, v),
                Some(("turns", v)) => (BudgetScope::Turns, v),
                Some(("secs", v)) => (BudgetScope::WallTime, v),
                Some(("usd", v)) => (BudgetScope::Usd, v),
                _ => (BudgetScope::Usd, arg),
            };
            let v: f64 = value.trim_start_matches('$').parse().map_err(|_| format!("budget: {value:?} is not a number"))?;
            let budget = app.view.state.budget.with(scope, v);
            steer(app, Command::SetBudget { budget }, format!("{scope} budget set to {v}"))
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
