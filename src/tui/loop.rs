//! The control room's one loop: terminal input, session events, command answers, signals and
//! the frame deadline in a single `select!`. It draws only when something changed, at most
//! `fps` times a second, and never waits for the engine: commands are queued and answered
//! later, as events.

use super::app::{App, Quit};
use super::keymap::Keymap;
use super::terminal::FrameSink;
use super::theme::Themes;
use super::view::View;
use crate::domain::{RunStatus, describe};
use crate::protocol::Command;
use crate::session::Session;
use crossterm::event::Event as TermEvent;
use futures_util::{Stream, StreamExt};
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A key's frame is drawn this long after the previous frame at the soonest (a held key does
/// not draw more than 125 frames a second), instead of waiting for the frame cap's slot.
pub const KEY_GAP: Duration = Duration::from_millis(8);

/// A read of older events in flight.
type Reading<'a> = std::pin::Pin<
    Box<dyn Future<Output = Result<Vec<crate::domain::EventRecord>, String>> + Send + 'a>,
>;

/// Events read from before attaching, for transcripts and logs: a few screenfuls of every pane
/// of a busy run (250 events an agent with 20 agents streaming), and a constant cost however
/// long the run (20,000 took 0.2 s of a 1M-event run's first frame; 5,000 take 20 ms).
pub const BACKLOG: u64 = 5_000;

pub struct Options {
    pub fps: u32,
    pub keymap: Keymap,
    pub themes: Themes,
    pub theme: usize,
    /// Listen for SIGHUP/SIGTERM (off in tests).
    pub signals: bool,
}

/// How the control room ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `q`: the run goes on (or stays resumable).
    Detached,
    /// `Q`: the run was stopped.
    Stopped,
    /// The terminal went away (SIGHUP, closed input).
    TerminalLost,
    /// SIGTERM.
    Terminated,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn recv(
    rx: &mut Option<tokio::sync::broadcast::Receiver<crate::protocol::Feed>>,
) -> Result<crate::protocol::Feed, RecvError> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn signal_or_pending(kind: SignalKind, enabled: bool) -> Option<tokio::signal::unix::Signal> {
    if enabled { signal(kind).ok() } else { None }
}

async fn next_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Commands given and not yet sent; more are refused with a notice, never waited for.
const OUTBOX: usize = 64;
/// How long leaving (`q`, `Q`) waits for the commands already given (Q's stop among them).
const FLUSH: Duration = Duration::from_secs(5);
/// How long a lost terminal or SIGTERM waits for them.
const FLUSH_LOST: Duration = Duration::from_millis(50);
/// Diffs made and not yet shown (each review asks for one at a time).
const DIFFS: usize = 4;
/// Input events handled before a frame may be drawn: all that are waiting, up to this many.
const DRAIN: usize = 4096;

/// A command's answer from the engine, for the loop.
type Answer = (Command, Result<(), String>);

/// Sends the commands in the order given, one round trip at a time, and hands each answer
/// back; ends when the loop has dropped its sender and every command given was sent.
async fn forward<S: Session>(
    session: &S,
    mut commands: mpsc::Receiver<Command>,
    answers: mpsc::UnboundedSender<Answer>,
) {
    while let Some(cmd) = commands.recv().await {
        let result = session.send(cmd.clone()).await;
        let _ = answers.send((cmd, result));
    }
}

/// Runs the control room on `terminal` until the person leaves or the terminal goes away.
///
/// A key never waits for the engine: commands go to a queue that a second task sends through
/// the session, and their answers come back as events of this loop.
pub async fn run<B, S, I>(
    terminal: &mut ratatui::Terminal<B>,
    session: &S,
    input: I,
    opts: Options,
) -> std::io::Result<(Ending, App)>
where
    B: FrameSink,
    S: Session,
    I: Stream<Item = std::io::Result<TermEvent>> + Unpin,
{
    let (commands, queue) = mpsc::channel(OUTBOX);
    let (answered, answers) = mpsc::unbounded_channel();
    let sender = forward(session, queue, answered);
    tokio::pin!(sender);
    let ui = ui(terminal, session, input, opts, commands, answers);
    tokio::pin!(ui);
    let mut sent_all = false;
    let result = tokio::select! {
        r = &mut ui => r,
        () = &mut sender => {
            sent_all = true;
            ui.await
        }
    };
    if !sent_all && let Ok((ending, _)) = &result {
        let grace = match ending {
            Ending::Detached | Ending::Stopped => FLUSH,
            Ending::TerminalLost | Ending::Terminated => FLUSH_LOST,
        };
        let _ = tokio::time::timeout(grace, sender).await;
    }
    result
}

/// The next input event if one is waiting, without waiting for one. It polls with this task's
/// waker, so a stream that arms a wake-up when it has nothing (crossterm's) wakes this loop.
async fn ready<I>(input: &mut I) -> Option<Option<std::io::Result<TermEvent>>>
where
    I: Stream<Item = std::io::Result<TermEvent>> + Unpin,
{
    std::future::poll_fn(|cx| match input.poll_next_unpin(cx) {
        Poll::Ready(ev) => Poll::Ready(Some(ev)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// What one input event asks of the loop.
fn on_input<B: FrameSink>(
    terminal: &mut ratatui::Terminal<B>,
    app: &mut App,
    ev: Option<std::io::Result<TermEvent>>,
) -> Option<Ending> {
    match ev {
        Some(Ok(TermEvent::Key(k))) => app.on_key(k),
        Some(Ok(TermEvent::Paste(text))) => app.on_paste(&text),
        Some(Ok(TermEvent::Resize(_, _))) => {
            let _ = terminal.autoresize();
            app.dirty = true;
        }
        Some(Ok(_)) => {}
        // A closed or failing tty: never spin on it.
        Some(Err(_)) | None => return Some(Ending::TerminalLost),
    }
    None
}

async fn ui<B, S, I>(
    terminal: &mut ratatui::Terminal<B>,
    session: &S,
    mut input: I,
    opts: Options,
    commands: mpsc::Sender<Command>,
    mut answers: mpsc::UnboundedReceiver<Answer>,
) -> std::io::Result<(Ending, App)>
where
    B: FrameSink,
    S: Session,
    I: Stream<Item = std::io::Result<TermEvent>> + Unpin,
{
    let Some(attached) = session.attach(BACKLOG).await else {
        let why = session
            .why_not()
            .unwrap_or_else(|| "the engine has stopped".into());
        return Err(std::io::Error::other(format!(
            "the run is not reachable: {why}"
        )));
    };
    let view = View::new(attached.state, &attached.backlog);
    let mut app = App::new(
        view,
        opts.keymap,
        opts.themes,
        opts.theme,
        session.can_steer(),
    );
    let mut events = attached.events;
    if events.is_none() {
        app.can_steer = false;
    }
    let frame = Duration::from_secs(1) / opts.fps.clamp(1, 240);
    let mut last_frame = Instant::now() - frame;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut hup = signal_or_pending(SignalKind::hangup(), opts.signals).await;
    let mut term = signal_or_pending(SignalKind::terminate(), opts.signals).await;
    let (diff_made, mut diffs) = mpsc::channel(DIFFS);
    let mut older: Option<Reading<'_>> = None;
    let mut key_pending = false;
    let mut look_back = false;
    let ending = loop {
        // Diffs are made by git on a blocking thread; each comes back as an event.
        for load in std::mem::take(&mut app.diffs.loads) {
            let made = diff_made.clone();
            tokio::spawn(async move {
                let failed = load.answer(super::diff::Body::Failed(
                    "the diff could not be made (its thread stopped)".into(),
                ));
                let done = tokio::task::spawn_blocking(move || load.run())
                    .await
                    .unwrap_or(failed);
                let _ = made.send(done).await;
            });
        }
        for cmd in std::mem::take(&mut app.outbox) {
            if let Err(e) = commands.try_send(cmd) {
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => {
                        "too many commands wait for the engine; try again in a moment"
                    }
                    mpsc::error::TrySendError::Closed(_) => "the connection to the run is gone",
                };
                app.status = Some(format!("not sent: {why}"));
                app.dirty = true;
            }
        }
        match app.quit {
            Some(Quit::Detach) => break Ending::Detached,
            Some(Quit::Stopped) => break Ending::Stopped,
            None => {}
        }
        // Older events, read back when a pane is scrolled near the top of what is kept (looked
        // at after keys and after a read, not on every event: the logs' check counts lines).
        if older.is_none() && std::mem::take(&mut look_back) {
            if let Some((from, to)) = app.wants_older() {
                app.reading_older = true;
                older = Some(Box::pin(session.history(from, to)));
            }
        }
        // Streamed text draws at most one frame per slot; keys draw within KEY_GAP.
        let due = last_frame
            + if key_pending {
                KEY_GAP.min(frame)
            } else {
                frame
            };
        tokio::select! {
            biased;
            () = next_signal(&mut hup) => break Ending::TerminalLost,
            () = next_signal(&mut term) => break Ending::Terminated,
            ev = input.next() => {
                if let Some(end) = on_input(terminal, &mut app, ev) {
                    break end;
                }
                // Everything typed or pasted so far is handled before the next frame, so the
                // next key acts on what the screen will show.
                let mut lost = None;
                for _ in 0..DRAIN {
                    if app.quit.is_some() {
                        break;
                    }
                    match ready(&mut input).await {
                        Some(ev) => {
                            lost = on_input(terminal, &mut app, ev);
                            if lost.is_some() {
                                break;
                            }
                        }
                        None => break,
                    }
                }
                if let Some(end) = lost {
                    break end;
                }
                // What a key changed is drawn within KEY_GAP, not at the next slot: the frame
                // cap paces streamed text, never a person's keys.
                key_pending = true;
                look_back = true;
            },
            Some((cmd, result)) = answers.recv() => app.on_answer(&cmd, result),
            Some(done) = diffs.recv() => app.on_diff_loaded(done),
            got = async {
                match older.as_mut() {
                    Some(reading) => reading.await,
                    None => std::future::pending().await,
                }
            }, if older.is_some() => {
                older = None;
                app.on_older(got);
                look_back = true;
            }
            rec = recv(&mut events) => match rec {
                Ok(item) => app.on_feed(&item),
                Err(RecvError::Lagged(_)) => {
                    // Too far behind: start again from a fresh snapshot.
                    match session.attach(BACKLOG).await {
                        Some(a) => {
                            app.view = View::new(a.state, &a.backlog);
                            events = a.events;
                        }
                        None => events = None,
                    }
                    app.dirty = true;
                }
                Err(RecvError::Closed) => {
                    // The stream ended: the run has ended, or the connection to its server
                    // dropped (a slow client is let go). Attaching again tells which.
                    match session.attach(BACKLOG).await {
                        Some(a) if a.events.is_some() => {
                            app.view = View::new(a.state, &a.backlog);
                            events = a.events;
                        }
                        Some(a) => {
                            app.view = View::new(a.state, &a.backlog);
                            events = None;
                        }
                        None => events = None,
                    }
                    if events.is_none() {
                        app.can_steer = false;
                        app.status = Some(format!("the run is {}: {}", app.view.state.status, describe::one_line(&app.view.state.status_reason, 120)));
                    }
                    app.dirty = true;
                }
            },
            _ = tick.tick() => {
                // The header's clock moves only while the run runs.
                if app.view.state.status == RunStatus::Running {
                    app.dirty = true;
                }
            }
            () = tokio::time::sleep_until(due), if app.dirty => {
                terminal.backend_mut().begin_frame();
                terminal.draw(|f| super::render::draw(f, &app, now_ms())).map_err(|e| std::io::Error::other(e.to_string()))?;
                terminal.backend_mut().end_frame();
                last_frame = Instant::now();
                app.dirty = false;
                key_pending = false;
            }
        }
    };
    Ok((ending, app))
}
