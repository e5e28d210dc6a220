//! The real terminal: raw mode, the alternate screen and bracketed paste on the way in, restored
//! on every way out (drop, panic). When the terminal is gone (SIGHUP) nothing more is written to
//! it.
//!
//! Bracketed paste makes a paste one `Event::Paste` of text: never keys that could send,
//! approve or stop something.

use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use std::io::{Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set while the terminal is in raw mode and owned by us.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Backends that can bracket a frame in synchronized output (DEC mode 2026), so the terminal
/// shows whole frames only.
pub trait FrameSink: Backend {
    fn begin_frame(&mut self) {}
    fn end_frame(&mut self) {}
}

impl<W: Write> FrameSink for CrosstermBackend<W> {
    fn begin_frame(&mut self) {
        let _ = crossterm::queue!(self, BeginSynchronizedUpdate);
    }

    fn end_frame(&mut self) {
        let _ = crossterm::queue!(self, EndSynchronizedUpdate);
        let _ = Write::flush(self);
    }
}

impl FrameSink for TestBackend {}

pub type Term = ratatui::Terminal<CrosstermBackend<Stdout>>;

/// Enters raw mode and the alternate screen; the guard restores them.
pub struct Guard {
    pub terminal: Term,
}

fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = crossterm::execute!(
            std::io::stdout(),
            crossterm::event::DisableBracketedPaste,
            crossterm::terminal::LeaveAlternateScreen,
            crossterm::cursor::Show
        );
    }
}

impl Guard {
    pub fn enter() -> std::io::Result<Self> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            hook(info);
        }));
        crossterm::terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let entered = Self::setup();
        if entered.is_err() {
            restore();
        }
        entered
    }

    fn setup() -> std::io::Result<Self> {
        let mut out = std::io::stdout();
        crossterm::execute!(
            out,
            crossterm::terminal::EnterAlternateScreen,
            crossterm::event::EnableBracketedPaste,
            crossterm::cursor::Hide
        )?;
        let terminal = ratatui::Terminal::new(CrosstermBackend::new(out))?;
        Ok(Self { terminal })
    }

    /// The terminal is gone: do not write to it again.
    pub fn abandon(&self) {
        ACTIVE.store(false, Ordering::SeqCst);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}
