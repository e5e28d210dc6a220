//! The control room's one loop: terminal input, session events, command answers, signals and
//! the frame deadline in a single `select!`. It draws only when something changed, at most
//! `fps` times a second.

use super::app::{App, Quit};
use super::keymap::Keymap;
use super::terminal::FrameSink;
use super::theme::Themes;
use super::view::View;
use crate::domain::{RunStatus, describe};
use crate::session::Session;
use crossterm::event::Event as TermEvent;
use futures_util::{Stream, StreamExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// Events kept from before attaching, for transcripts and logs.
pub const BACKLOG: u64 = 20_000;

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
    rx: &mut Option<tokio::sync::broadcast::Receiver<crate::domain::EventRecord>>,
) -> Result<crate::domain::EventRecord, RecvError> {
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

/// Runs the control room on `terminal` until the person leaves or the terminal goes away.
pub async fn run<B, S, I>(
    terminal: &mut ratatui::Terminal<B>,
    session: &S,
    mut input: I,
    opts: Options,
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
    let mut urgent = false;
    let mut hup = signal_or_pending(SignalKind::hangup(), opts.signals).await;
    let mut term = signal_or_pending(SignalKind::terminate(), opts.signals).await;
    let ending = loop {
        for cmd in std::mem::take(&mut app.outbox) {
            if let Err(e) = session.send(cmd).await {
                app.status = Some(format!("not done: {e}"));
                app.dirty = true;
            }
        }
        match app.quit {
            Some(Quit::Detach) => break Ending::Detached,
            Some(Quit::Stopped) => break Ending::Stopped,
            None => {}
        }
        // Keys are answered at once; streamed text waits for the next frame slot.
        let due = if urgent {
            Instant::now()
        } else {
            last_frame + frame
        };
        tokio::select! {
            biased;
            () = next_signal(&mut hup) => break Ending::TerminalLost,
            () = next_signal(&mut term) => break Ending::Terminated,
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => {
                    app.on_key(k);
                    urgent = true;
                }
                Some(Ok(TermEvent::Resize(_, _))) => {
                    let _ = terminal.autoresize().map_err(|e| e.to_string());
                    app.dirty = true;
                }
                Some(Ok(_)) => {}
                // A closed or failing tty: never spin on it.
                Some(Err(_)) | None => break Ending::TerminalLost,
            },
            rec = recv(&mut events) => match rec {
                Ok(rec) => app.on_record(&rec),
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
                urgent = false;
            }
        }
    };
    Ok((ending, app))
}
