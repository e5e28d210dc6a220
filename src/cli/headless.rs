//! `--headless`: follow a run on standard output, one line (or JSON object) per event. Without
//! `--yes`, an approval is asked on the terminal when there is one, and otherwise the process
//! stops with exit code 3 and says what the run waits for.

use super::lines;
use crate::domain::{Actor, ApprovalId, Event, EventRecord, RunState, RunStatus};
use crate::engine::{Backlog, Engine, EngineHandle};
use crate::protocol::Command;
use std::collections::VecDeque;
use std::io::Write;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;

pub struct FollowOptions {
    pub json: bool,
    pub auto_approve: bool,
    /// Ask approvals on the terminal.
    pub interactive: bool,
    pub by: Actor,
}

fn print_record(rec: &EventRecord, json: bool) {
    let mut out = std::io::stdout().lock();
    let text = if json {
        serde_json::to_string(rec).unwrap_or_default()
    } else {
        lines::line(rec)
    };
    // A closed stdout (a pipe into `head`) must not stop the run.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn banner(state: &RunState) {
    let Some(info) = state.info.as_ref() else {
        return;
    };
    let sim = if info.simulated {
        "  SIMULATED company (no model configured)"
    } else {
        ""
    };
    eprintln!(
        "macrohard-tui  run {}  {}/{}{sim}",
        info.id, info.provider, info.model
    );
    eprintln!("goal: {}", info.goal);
    eprintln!("workspace: {}", info.workspace);
}

/// Asks one approval on the terminal; returns the command to send.
async fn prompt(id: ApprovalId, summary: String) -> Option<Command> {
    tokio::task::spawn_blocking(move || {
        let stdin = std::io::stdin();
        loop {
            eprint!("\n>>> {id}: {summary}\n>>> approve? [y]es / [a]lways for this kind / [n]o: ");
            let mut line = String::new();
            if stdin.read_line(&mut line).ok()? == 0 {
                return None;
            }
            match line.trim() {
                "y" | "yes" => {
                    return Some(Command::Approve {
                        approval: id,
                        always: false,
                    });
                }
                "a" | "always" => {
                    return Some(Command::Approve {
                        approval: id,
                        always: true,
                    });
                }
                "n" | "no" => {
                    eprint!(">>> reason: ");
                    let mut reason = String::new();
                    stdin.read_line(&mut reason).ok()?;
                    return Some(Command::Deny {
                        approval: id,
                        reason: reason.trim().to_owned(),
                    });
                }
                _ => continue,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

fn exit_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Completed => 0,
        RunStatus::Failed | RunStatus::Cancelled => 1,
        _ => 3,
    }
}

/// Follows the engine until the run ends (exit 0/1) or stops for a person (exit 3).
pub async fn follow(engine: Engine, opts: FollowOptions) -> u8 {
    let handle = engine.handle.clone();
    let code = watch(&handle, engine.first_seq, &opts).await;
    handle.shutdown().await;
    let final_state = match engine.join.await {
        Ok(Ok(state)) => state,
        Ok(Err(e)) => {
            eprintln!("macrohard-tui: the engine stopped: {e}");
            return 1;
        }
        Err(e) => {
            eprintln!("macrohard-tui: the engine crashed: {e}");
            return 1;
        }
    };
    if let Some(code) = code {
        return code;
    }
    let id = final_state
        .id()
        .map(ToString::to_string)
        .unwrap_or_default();
    eprintln!(
        "run {id} {}: {}",
        final_state.status, final_state.status_reason
    );
    exit_code(final_state.status)
}

/// What one event means for a follower: `Some(code)` when it must stop here.
fn react(
    rec: &EventRecord,
    opts: &FollowOptions,
    queue: &mut VecDeque<(ApprovalId, String)>,
) -> Option<u8> {
    match &rec.event {
        Event::ApprovalRequested {
            approval,
            summary,
            agent,
            task,
            ..
        } if !opts.auto_approve => {
            if opts.interactive {
                queue.push_back((approval.clone(), summary.clone()));
                return None;
            }
            let on = task
                .as_ref()
                .map(|t| format!(" on {t}"))
                .unwrap_or_default();
            eprintln!("waiting for a person: approval {approval} ({agent}{on}): {summary}");
            eprintln!(
                "answer it in the control room, or continue unattended with `macrohard-tui resume last --headless --yes`"
            );
            Some(3)
        }
        Event::ApprovalResolved { approval, .. } => {
            queue.retain(|(id, _)| id != approval);
            None
        }
        Event::RunStatusChanged {
            status: RunStatus::Paused,
            reason,
        } => {
            eprintln!("the run is paused: {reason}");
            eprintln!(
                "continue with `macrohard-tui resume last --headless` (add --budget-usd/--budget-tokens to raise a budget)"
            );
            Some(3)
        }
        _ => None,
    }
}

/// Returns `Some(code)` when following stopped before the run ended.
async fn watch(handle: &EngineHandle, first_seq: u64, opts: &FollowOptions) -> Option<u8> {
    let sub = handle.subscribe_with(Backlog::From(first_seq)).await?;
    let mut rx = sub.events;
    if !opts.json {
        banner(&sub.state);
    }
    let mut queue: VecDeque<(ApprovalId, String)> = VecDeque::new();
    for rec in &sub.backlog {
        print_record(rec, opts.json);
        if let Some(code) = react(rec, opts, &mut queue) {
            return Some(code);
        }
    }
    let (mut term, mut hup, mut int) = (
        signal(SignalKind::terminate()).ok()?,
        signal(SignalKind::hangup()).ok()?,
        signal(SignalKind::interrupt()).ok()?,
    );
    let mut asking: Option<tokio::task::JoinHandle<Option<Command>>> = None;
    loop {
        if asking.is_none() && opts.interactive {
            if let Some((id, summary)) = queue.pop_front() {
                asking = Some(tokio::spawn(prompt(id, summary)));
            }
        }
        tokio::select! {
            r = rx.recv() => match r {
                Ok(rec) => {
                    print_record(&rec, opts.json);
                    if let Some(code) = react(&rec, opts, &mut queue) {
                        return Some(code);
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    eprintln!("(output fell behind; {n} events not shown; `export` has them all)");
                    rx = handle.subscribe().await?.1;
                }
                Err(RecvError::Closed) => return None,
            },
            answer = async { asking.as_mut()?.await.ok().flatten() }, if asking.is_some() => {
                asking = None;
                if let Some(cmd) = answer {
                    if let Err(e) = handle.command(opts.by.clone(), cmd).await {
                        eprintln!(">>> not accepted: {e}");
                    }
                }
            }
            _ = term.recv() => return Some(detached("SIGTERM")),
            _ = hup.recv() => return Some(detached("SIGHUP")),
            _ = int.recv() => return Some(detached("Ctrl-C")),
        }
    }
}

fn detached(why: &str) -> u8 {
    eprintln!(
        "\n{why}: stopping this process; the run is saved and resumes with `macrohard-tui resume last`"
    );
    3
}
