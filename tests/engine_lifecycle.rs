#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The ends of a run: its last commit is made before the engine's join completes, and a run
//! that is stopped leaves no approval waiting for an answer.

mod common;
use common::scripted::{self, all_done, step, tester};
use common::wait_for;

use macrohard::domain::{Event, LogLevel, RunStatus};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::LlmRequest;
use macrohard::llm::sim::{SimProvider, SimSpeed, Turn};
use macrohard::protocol::Command;
use macrohard::store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// One task; the supervisor finishes the run as soon as it is done.
fn one_task(req: &LlmRequest) -> Turn {
    match req.context.role.as_str() {
        "supervisor" if req.context.plan.is_empty() => Turn::think("One task.").call(
            "create_task",
            json!({"title": "Write notes", "description": "notes.txt", "role": "engineer", "depends_on": []}),
        ),
        "supervisor" if all_done(req) => {
            Turn::think("Done.").call("finish_run", json!({"summary": "notes written"}))
        }
        "supervisor" => Turn::think("Waiting."),
        _ => match step(req) {
            0 => Turn::think("Writing.").call(
                "write_file",
                json!({"path": "notes.txt", "content": "one\ntwo\n"}),
            ),
            _ => Turn::think("Done.").call(
                "complete_task",
                json!({"summary": "wrote notes.txt", "evidence": "notes.txt has two lines"}),
            ),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_tasks_commit_is_made_before_the_run_ends() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let f = scripted::run(dir.path(), ws.clone(), "notes", one_task, |_| {}).await;
        assert_eq!(
            f.state.status,
            RunStatus::Completed,
            "{}",
            f.state.status_reason
        );
        // The commit is recorded in the log the join returned with...
        assert!(
            f.records.iter().any(|r| matches!(&r.event,
                Event::Log { level: LogLevel::Info, source, text }
                    if source == "T1" && text.starts_with("committed to git"))),
            "round {round}: the last task's commit is missing from the log"
        );
        // ...and is in the repository at once.
        let log = std::process::Command::new("git")
            .args(["log", "--format=%s%n%b", "--", "notes.txt"])
            .current_dir(&ws)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&log.stdout);
        assert!(log.contains("T1"), "round {round}: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_run_expires_its_pending_approvals() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("ws"));
    let provider = Arc::new(SimProvider::new(SimSpeed(0.0), None));
    let new = NewRun {
        goal: "Build a command-line todo app".into(),
        workspace: None,
        seed: 1,
        by: tester(),
    };
    let engine = engine::start(store.clone(), provider, config, RunTarget::New(new))
        .await
        .unwrap();
    let (_, mut rx) = engine.handle.subscribe().await.unwrap();
    let asked = wait_for(&mut rx, "an approval", |e| {
        matches!(e, Event::ApprovalRequested { .. })
    })
    .await;
    let Event::ApprovalRequested { approval, .. } = asked.event else {
        unreachable!()
    };
    engine
        .handle
        .command(tester(), Command::StopRun { reason: None })
        .await
        .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(60), engine.join)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(state.status, RunStatus::Cancelled);
    assert_eq!(state.pending_approvals().count(), 0, "no live approval");
    let records: Vec<_> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        records.iter().any(|r| matches!(&r.event,
            Event::ApprovalExpired { approval: a, by, .. } if a == &approval && by == &tester())),
        "the expiry is recorded and attributed"
    );
    // Every viewer folds the same log; the report says so too.
    let folded = macrohard::domain::RunState::fold(&records);
    assert_eq!(folded.pending_approvals().count(), 0);
    let report = macrohard::export::report(&state, &records);
    assert!(
        report.contains("expired (the run was stopped by tester@lab)"),
        "{report}"
    );
    assert!(!report.contains("**pending**"), "{report}");
}
