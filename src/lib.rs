//! macrohard-tui: the control room of an autonomous software company.
//!
//! Layers (each may use only those below it that it names; see DESIGN.md §2):
//! `cli` → `tui` → `server` → `session` → `engine` → `llm`, `tools`, `store` → `protocol` → `domain`.
//! The server also reads the store directly (it is the one process that owns it) to answer
//! listings and exports.

pub mod cli;
pub mod domain;
pub mod engine;
pub mod export;
pub mod fsread;
pub mod llm;
pub mod protocol;
pub mod server;
pub mod session;
pub mod store;
pub mod tools;
pub mod tui;
