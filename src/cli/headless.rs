//! `--headless`: follow a run on standard output, one line (or JSON object) per event. Without
//! `--yes`, an approval is asked on the terminal when there is one, and otherwise the process
//! stops with exit code 3 and says what the run waits for. Text from models, commands and
//! people is sanitised on its way to the terminal (JSON keeps it exact, escaped).

use super::lines;
use crate::domain::sanitize::{self, line as safe};
use crate::domain::{Actor, AgentId, ApprovalId, Event, EventRecord, RunState, RunStatus, TaskId};
use crate::engine::Engine;
use crate::protocol::{Command, Feed};
use crate::session::{InProcess, Session};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;

#[derive(Clone)]
pub struct FollowOptions {
    pub json: bool,
    pub auto_approve: bool,
    /// Ask approvals on the terminal.
    pub interactive: bool,
    pub by: Actor,
    /// The run lives in a server (it goes on when this process stops).
    pub remote: bool,
}

impl FollowOptions {
    pub fn new(yes: bool, json: bool, remote: bool) -> Self {
        Self {
            json,
            auto_approve: yes,
            interactive: !yes && std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
            by: super::identity::me(false),
            remote,
        }
    }
}

fn print_record(rec: &EventRecord, json: bool) {
    let mut out = std::io::stdout().lock();
    let text = if json {
        let raw = serde_json::to_string(rec).unwrap_or_default();
        sanitize::json(&raw).into_owned()
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
        safe(info.id.as_str()),
        safe(&info.provider),
        safe(&info.model)
    );
    eprintln!("goal: {}", safe(&info.goal));
    eprintln!("workspace: {}", safe(&info.workspace));
}

/// Asks one approval on the terminal; returns the command to send.
async fn prompt(id: ApprovalId, summary: String) -> Option<Command> {
    let summary = safe(&summary).into_owned();
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

/// Follows an engine in this process until the run ends (exit 0/1) or stops for a person
/// (exit 3; the engine is then stopped and the run stays resumable).
pub async fn follow(engine: Engine, opts: FollowOptions) -> u8 {
    let session = InProcess::new(engine.handle.clone(), opts.by.clone());
    let code = follow_session(&session, opts, engine.first_seq <= 1).await;
    engine.handle.shutdown().await;
    match engine.join.await {
        Ok(Ok(_)) => code,
        Ok(Err(e)) => {
            eprintln!(
                "macrohard-tui: the engine stopped: {}",
                safe(&e.to_string())
            );
            // A full disk, a read-only or deleted data directory: a person must act (3).
            match &e {
                crate::engine::EngineError::Store(s) if s.needs_a_person() => 3,
                _ => 1,
            }
        }
        Err(e) => {
            eprintln!(
                "macrohard-tui: the engine crashed: {}",
                safe(&e.to_string())
            );
            1
        }
    }
}

/// An approval a person must give: queued for the terminal, or the follower stops (3).
fn needs_approval(
    approval: &ApprovalId,
    agent: &AgentId,
    task: Option<&TaskId>,
    summary: &str,
    opts: &FollowOptions,
    queue: &mut VecDeque<(ApprovalId, String)>,
) -> Option<u8> {
    if opts.auto_approve {
        return None;
    }
    if opts.interactive {
        if !queue.iter().any(|(id, _)| id == approval) {
            queue.push_back((approval.clone(), summary.to_owned()));
        }
        return None;
    }
    let on = task.map(|t| format!(" on {t}")).unwrap_or_default();
    eprintln!(
        "waiting for a person: approval {approval} ({}{on}): {}",
        safe(agent.as_str()),
        safe(summary)
    );
    eprintln!(
        "answer it in the control room, or continue unattended with `macrohard-tui resume last --headless --yes`"
    );
    Some(3)
}

/// A paused run: the follower stops (3) and says how to go on.
fn paused(reason: &str) -> u8 {
    eprintln!("the run is paused: {}", safe(reason));
    eprintln!(
        "continue with `macrohard-tui resume last --headless` (add --budget-usd/--budget-tokens to raise a budget)"
    );
    3
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
        } => needs_approval(approval, agent, task.as_ref(), summary, opts, queue),
        Event::ApprovalResolved { approval, .. } => {
            queue.retain(|(id, _)| id != approval);
            None
        }
        Event::RunStatusChanged {
            status: RunStatus::Paused,
            reason,
        } => Some(paused(reason)),
        _ => None,
    }
}

/// What the state of a run, as attached, asks of a follower: approvals waiting and a pause.
fn react_state(
    state: &RunState,
    opts: &FollowOptions,
    queue: &mut VecDeque<(ApprovalId, String)>,
) -> Option<u8> {
    for a in state.pending_approvals() {
        let code = needs_approval(&a.id, &a.agent, a.task.as_ref(), &a.summary, opts, queue);
        if code.is_some() {
            return code;
        }
    }
    (state.status == RunStatus::Paused).then(|| paused(&state.status_reason))
}

/// Recorded events a follower prints when it catches up, at most.
const CATCH_UP: u64 = 100_000;
/// Missed events read back at once (a bound on the follower's memory and the server's work).
const GAP_CHUNK: u64 = 5_000;

/// Follows a run through a session (a run a server runs) until it ends (exit 0/1) or stops
/// for a person (exit 3). `history` prints the events recorded before attaching (for a run
/// just started); otherwise only what happens from now on. Leaving early leaves the run to
/// the server.
pub async fn follow_session<S: Session>(session: &S, opts: FollowOptions, history: bool) -> u8 {
    // Only a run just started prints its history; following a long run reads none of it.
    let Some(attached) = session.attach(if history { CATCH_UP } else { 0 }).await else {
        eprintln!("macrohard-tui: cannot attach to the run");
        return 1;
    };
    if let Some(info) = &attached.state.info {
        tracing::info!(run = %info.id, goal = %info.goal, by = %opts.by, "following the run");
    }
    if !opts.json {
        banner(&attached.state);
    }
    let mut queue: VecDeque<(ApprovalId, String)> = VecDeque::new();
    let mut last_seq = attached.state.last_seq;
    if history {
        for rec in &attached.backlog {
            print_record(rec, opts.json);
        }
    }
    if attached.events.is_some() {
        if let Some(code) = on_attach(session, &attached.state, &opts, &mut queue).await {
            return code;
        }
    }
    let mut state = attached.state;
    let Some(mut rx) = attached.events else {
        return ended(&state);
    };
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        return 1;
    };
    let mut asking: Option<tokio::task::JoinHandle<Option<Command>>> = None;
    loop {
        if asking.is_none() && opts.interactive {
            if let Some((id, summary)) = queue.pop_front() {
                asking = Some(tokio::spawn(prompt(id, summary)));
            }
        }
        tokio::select! {
            r = rx.recv() => match r {
                // Live text runs ahead of its events; this mode prints the events.
                Ok(Feed::Live(_)) => {}
                Ok(Feed::Record(rec)) => {
                    if rec.seq <= last_seq {
                        continue;
                    }
                    last_seq = rec.seq;
                    state.apply(&rec);
                    print_record(&rec, opts.json);
                    approve_on_my_own(session, &rec.event, &opts).await;
                    if let Some(code) = react(&rec, &opts, &mut queue) {
                        return code;
                    }
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                    // Fell behind, or the server let go of this connection: attach again (live
                    // from now on), then read what was missed from the store, in chunks. A
                    // run that outpaced this follower by more than CATCH_UP events has the
                    // older ones skipped, and says so.
                    let mut again = None;
                    for _ in 0..3 {
                        again = session.attach(0).await;
                        if again.is_some() {
                            break;
                        }
                    }
                    let Some(a) = again else {
                        return ended(&state);
                    };
                    let now = a.state.last_seq;
                    let from = (last_seq + 1).max(now.saturating_sub(CATCH_UP) + 1);
                    if from > last_seq + 1 {
                        eprintln!(
                            ">>> {} events not shown: this follower fell too far behind (`export` has them all)",
                            from - last_seq - 1
                        );
                    }
                    let mut at = from;
                    while at <= now {
                        let to = now.min(at + GAP_CHUNK - 1);
                        let records = match session.history(at, to).await {
                            Ok(records) => records,
                            Err(e) => {
                                eprintln!(
                                    ">>> events {at} to {now} not shown: {}",
                                    safe(&e)
                                );
                                break;
                            }
                        };
                        let seen = last_seq;
                        for rec in records.iter().filter(|r| r.seq > seen) {
                            last_seq = rec.seq;
                            print_record(rec, opts.json);
                            if let Some(code) = react(rec, &opts, &mut queue) {
                                return code;
                            }
                        }
                        at = to + 1;
                    }
                    last_seq = last_seq.max(now);
                    state = a.state;
                    match a.events {
                        Some(events) => rx = events,
                        None => return ended(&state),
                    }
                    // What waits now was perhaps asked while this follower was away.
                    if let Some(code) = on_attach(session, &state, &opts, &mut queue).await {
                        return code;
                    }
                }
            },
            answer = async { asking.as_mut()?.await.ok().flatten() }, if asking.is_some() => {
                asking = None;
                if let Some(cmd) = answer {
                    if let Err(e) = session.send(cmd).await {
                        eprintln!(">>> not accepted: {}", safe(&e.to_string()));
                    }
                }
            }
            _ = term.recv() => return left("SIGTERM", opts.remote),
            _ = hup.recv() => return left("SIGHUP", opts.remote),
            _ = int.recv() => return left("Ctrl-C", opts.remote),
        }
    }
}

/// On (re)attaching to a live run: a `--yes` follower approves what waits; what still asks
/// for a person (or a pause) stops it.
async fn on_attach<S: Session>(
    session: &S,
    state: &RunState,
    opts: &FollowOptions,
    queue: &mut VecDeque<(ApprovalId, String)>,
) -> Option<u8> {
    if opts.auto_approve {
        for a in state.pending_approvals() {
            let approve = Command::Approve {
                approval: a.id.clone(),
                always: false,
            };
            if let Err(e) = session.send(approve).await {
                eprintln!(">>> {}: not approved: {}", a.id, safe(&e.to_string()));
            }
        }
    }
    react_state(state, opts, queue)
}

/// `--yes` on a run the server started without it: this follower approves, as the person it
/// is (the server marks its approvals automatic).
async fn approve_on_my_own<S: Session>(session: &S, event: &Event, opts: &FollowOptions) {
    if let (Event::ApprovalRequested { approval, .. }, true) = (event, opts.auto_approve) {
        let approve = Command::Approve {
            approval: approval.clone(),
            always: false,
        };
        // Refused when it was answered already (the engine may approve on its own too).
        let _ = session.send(approve).await;
    }
}

fn ended(state: &RunState) -> u8 {
    let id = state.id().map(ToString::to_string).unwrap_or_default();
    tracing::info!(run = %id, status = %state.status, reason = %state.status_reason, "run ended");
    eprintln!(
        "run {} {}: {}",
        safe(&id),
        state.status,
        safe(&state.status_reason)
    );
    for line in super::where_to_look(state) {
        eprintln!("{line}");
    }
    exit_code(state.status)
}

fn left(why: &str, remote: bool) -> u8 {
    if remote {
        eprintln!("\n{why}: this process stops; the run goes on in the server");
    } else {
        eprintln!(
            "\n{why}: stopping this process; the run is saved and resumes with `macrohard-tui resume last`"
        );
    }
    3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallId, RunId, SCHEMA_VERSION};
    use crate::session::Attached;
    use std::sync::Mutex;
    use tokio::sync::broadcast;

    fn rec(seq: u64, event: Event) -> EventRecord {
        EventRecord {
            v: SCHEMA_VERSION,
            run: RunId::from("r"),
            seq,
            ts_ms: seq,
            event,
        }
    }

    /// Attaches from a script, one answer per attach; records the commands sent.
    struct Scripted {
        attaches: Mutex<VecDeque<Attached>>,
        sent: Mutex<Vec<Command>>,
        /// The ranges of events read back.
        read: Mutex<Vec<(u64, u64)>>,
    }

    impl Session for Scripted {
        async fn attach(&self, _backlog: u64) -> Option<Attached> {
            self.attaches.lock().unwrap().pop_front()
        }
        async fn send(&self, command: Command) -> Result<(), String> {
            self.sent.lock().unwrap().push(command);
            Ok(())
        }
        async fn detach(&self) {}
        fn can_steer(&self) -> bool {
            true
        }
        async fn history(&self, from: u64, to: u64) -> Result<Vec<EventRecord>, String> {
            self.read.lock().unwrap().push((from, to));
            Ok(Vec::new())
        }
    }

    fn at(last_seq: u64, status: RunStatus) -> RunState {
        RunState {
            last_seq,
            status,
            ..RunState::default()
        }
    }

    #[tokio::test]
    async fn a_follower_that_fell_behind_reads_only_what_it_missed_in_chunks() {
        let scripted = |behind: u64| Scripted {
            attaches: Mutex::new(VecDeque::from([
                dropped(at(1_000, RunStatus::Running)),
                Attached {
                    backlog: Vec::new(),
                    state: at(1_000 + behind, RunStatus::Completed),
                    events: None,
                },
            ])),
            sent: Mutex::default(),
            read: Mutex::default(),
        };
        let mut opts = FollowOptions::new(true, true, true);
        opts.interactive = false;
        let session = scripted(12_000);
        assert_eq!(follow_session(&session, opts.clone(), false).await, 0);
        assert_eq!(
            *session.read.lock().unwrap(),
            [(1_001, 6_000), (6_001, 11_000), (11_001, 13_000)]
        );
        // Further behind than CATCH_UP: the oldest missed are skipped.
        let session = scripted(CATCH_UP + 7_000);
        assert_eq!(follow_session(&session, opts, false).await, 0);
        let read = session.read.lock().unwrap();
        assert_eq!(read.first(), Some(&(8_001, 13_000)));
        assert_eq!(read.last().map(|r| r.1), Some(CATCH_UP + 8_000));
        assert_eq!(read.len() as u64, CATCH_UP / GAP_CHUNK);
    }

    /// A live attach whose stream has already ended (the server let go of the follower).
    fn dropped(state: RunState) -> Attached {
        let (tx, rx) = broadcast::channel(4);
        drop(tx);
        Attached {
            backlog: Vec::new(),
            state,
            events: Some(rx),
        }
    }

    #[tokio::test]
    async fn a_yes_follower_that_attaches_again_approves_what_was_asked_while_it_was_away() {
        let asked = rec(
            1,
            Event::ApprovalRequested {
                approval: ApprovalId::from("A1"),
                call: CallId::from("c1"),
                agent: AgentId::from("engineer-1"),
                task: None,
                tool: "run_command".into(),
                risk: "r".into(),
                label: None,
                summary: "make test".into(),
            },
        );
        let waiting = RunState::fold(std::slice::from_ref(&asked));
        let mut done = waiting.clone();
        done.apply(&rec(
            2,
            Event::RunStatusChanged {
                status: RunStatus::Completed,
                reason: "finished".into(),
            },
        ));
        let session = Scripted {
            attaches: Mutex::new(VecDeque::from([
                dropped(RunState::default()),
                dropped(waiting),
                Attached {
                    backlog: Vec::new(),
                    state: done,
                    events: None,
                },
            ])),
            sent: Mutex::default(),
            read: Mutex::default(),
        };
        let mut opts = FollowOptions::new(true, true, true);
        opts.interactive = false;
        let code = follow_session(&session, opts, false).await;
        assert_eq!(code, 0);
        let sent = session.sent.lock().unwrap();
        assert!(
            matches!(sent.as_slice(), [Command::Approve { approval, always: false }] if approval.as_str() == "A1"),
            "{sent:?}"
        );
    }
}
