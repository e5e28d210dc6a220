//! The control room: a full-screen client of a run. It talks to the engine only through a
//! [`Session`](crate::session::Session): a snapshot plus live events in, commands out.
//!
//! Invariants: nothing is drawn unless something changed; at most `fps` frames a second; every
//! frame is wrapped in synchronized-output brackets; the terminal is restored on every exit path
//! (and on panic), except when the terminal itself is gone (SIGHUP), when nothing more is written.

pub mod action;
pub mod app;
pub mod diff;
pub mod highlight;
mod history;
pub mod keymap;
mod live;
pub mod log_filter;
mod r#loop;
pub mod markdown;
pub mod markdown_rows;
pub mod panes;
pub mod popups;
pub mod render;
pub mod terminal;
pub mod theme;
pub mod tool_view;
pub mod transcript;
pub mod view;

pub use r#loop::{Ending, KEY_GAP, Options, run};
