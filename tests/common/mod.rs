#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]
//! Helpers for tests that run the real binary, and a fixed log for screen tests.

pub mod fixture;
pub mod git;
pub mod llm_server;
pub mod pty;
pub mod scripted;
pub mod served;

use std::path::Path;
use std::process::{Command, Output};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_macrohard-tui"));
    c.env_remove("MACROHARD_DATA_DIR")
        .env_remove("MACROHARD_CONFIG")
        .env_remove("MACROHARD_PROVIDER")
        .env_remove("MACROHARD_MODEL")
        .env_remove("MACROHARD_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("XAI_API_KEY")
        .env_remove("OPENROUTER_API_KEY")
        .env("MACROHARD_SIM_SPEED", "0")
        .env("XDG_CONFIG_HOME", "/nonexistent-macrohard-test-config");
    c
}

/// Runs the binary on a data directory with `args`.
pub fn run(data: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("the binary runs")
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exported jsonl lines as JSON values.
pub fn export_jsonl(data: &Path, run: &str) -> Vec<serde_json::Value> {
    let out = run_export(data, run);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid json line"))
        .collect()
}

fn run_export(data: &Path, run: &str) -> Output {
    let out = self::run(data, &["export", run, "--format", "jsonl"]);
    assert!(out.status.success(), "{:?}", text(&out));
    out
}

#[allow(unused_imports)]
pub use pty::{server_pid, stop_server};

/// What a stream of events carries: a recorded event, or (a viewer's feed) live text too.
pub trait AsRecord: Clone {
    fn record(self) -> Option<macrohard::domain::EventRecord>;
}

impl AsRecord for macrohard::domain::EventRecord {
    fn record(self) -> Option<macrohard::domain::EventRecord> {
        Some(self)
    }
}

impl AsRecord for macrohard::protocol::Feed {
    fn record(self) -> Option<macrohard::domain::EventRecord> {
        match self {
            macrohard::protocol::Feed::Record(r) => Some(*r),
            macrohard::protocol::Feed::Live(_) => None,
        }
    }
}

/// The next event on `rx` that `pred` accepts; panics after 60 s, naming `what`.
pub async fn wait_for<T: AsRecord>(
    rx: &mut tokio::sync::broadcast::Receiver<T>,
    what: &str,
    pred: impl Fn(&macrohard::domain::Event) -> bool,
) -> macrohard::domain::EventRecord {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let item = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|e| panic!("the stream ended waiting for {what}: {e}"));
        if let Some(rec) = item.record() {
            if pred(&rec.event) {
                return rec;
            }
        }
    }
}
