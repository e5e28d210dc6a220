//! Logs go to a file in the data directory, never to the terminal.

use std::path::Path;
use std::sync::Mutex;

/// Starts logging to `file` (level from `MACROHARD_LOG`, default `info`). Failing to open the
/// log is not fatal: the run is recorded in the store either way.
pub fn init(file: &Path) {
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MACROHARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(f))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}
