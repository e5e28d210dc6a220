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
                Event::TaskCommitted { task, .. } if task.as_str() == "T1")),
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

#[test]
fn runs_and_show_say_what_a_waiting_run_waits_for_and_agree_on_active_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Without --yes, the headless run stops at its first approval (exit 3).
    let out = common::run(
        &data,
        &["run", "--headless", "Build a command-line todo app"],
    );
    assert_eq!(out.status.code(), Some(3), "{:?}", common::text(&out));
    let (runs, _) = common::text(&common::run(&data, &["runs"]));
    let row = runs.lines().nth(1).unwrap_or_default();
    assert!(row.contains(" waiting "), "{runs}");
    assert!(!row.contains("running"), "{runs}");
    assert!(runs.contains("waiting for a person: approval A1"), "{runs}");
    let (show, _) = common::text(&common::run(&data, &["show", "last"]));
    assert!(
        show.contains("status    waiting for a person: approval A1"),
        "{show}"
    );
    // One measure of active time: `show` and `runs` print the same.
    let active = show
        .lines()
        .find_map(|l| l.split("active ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let runs_active = row.split_whitespace().nth(4).unwrap();
    assert_eq!(runs_active, active, "{runs}\n{show}");
}

#[test]
fn planning_counts_as_active_time() {
    use macrohard::domain::{EventRecord, RunId, RunState};
    let rec = |seq: u64, ts_ms: u64, event: Event| EventRecord {
        v: 1,
        run: RunId::from("r"),
        seq,
        ts_ms,
        event,
    };
    let mut s = RunState::default();
    s.apply(&rec(
        1,
        1_000,
        Event::RunCreated {
            goal: "g".into(),
            workspace: "w".into(),
            provider: "sim".into(),
            model: "m".into(),
            base_url: None,
            simulated: true,
            budget: Default::default(),
            budgets: Default::default(),
            concurrency: 1,
            max_attempts: 1,
            autonomy: macrohard::domain::Autonomy::AskRisky,
            seed: 1,
            by: tester(),
        },
    ));
    s.apply(&rec(2, 61_000, Event::log(LogLevel::Info, "x", "planning")));
    assert_eq!(s.active_ms, 60_000, "a minute of planning is active time");
    assert_eq!(
        s.active_ms_at(71_000),
        70_000,
        "and it counts up while planning"
    );
    s.apply(&rec(
        3,
        62_000,
        Event::RunStatusChanged {
            status: RunStatus::Paused,
            reason: "paused by tester".into(),
        },
    ));
    assert_eq!(s.active_ms_at(500_000), 61_000, "a pause does not count");
}
