#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Loop detection on calls and their results: an engineer working test-first runs the same
//! test command after every edit and is never taken for stuck; one that reads the same file
//! and gets the same answer again and again is.

mod common;

use common::scripted::{all_done, run, step};
use macrohard::domain::{AgentStatus, Event};
use macrohard::llm::LlmRequest;
use macrohard::llm::sim::Turn;
use serde_json::json;

fn supervisor(req: &LlmRequest) -> Option<Turn> {
    if req.context.role != "supervisor" {
        return None;
    }
    Some(match step(req) {
        0 => Turn::think("plan").call(
            "create_task",
            json!({"title": "Build it test-first", "description": "d", "role": "engineer"}),
        ),
        _ if all_done(req) => Turn::think("done").call("finish_run", json!({"summary": "ok"})),
        _ => Turn::think("waiting"),
    })
}

/// Edit, test, edit, test, … six times, then done.
fn test_first(req: &LlmRequest) -> Turn {
    if let Some(t) = supervisor(req) {
        return t;
    }
    let s = step(req);
    match s {
        0..12 if s % 2 == 0 => Turn::think("edit").call(
            "write_file",
            json!({"path": "n.txt", "content": format!("{}\n", s / 2)}),
        ),
        0..12 => Turn::think("test").call(
            "run_command",
            json!({"command": "test \"$(cat n.txt)\" = 5 || { echo \"got $(cat n.txt)\"; exit 1; }"}),
        ),
        _ => Turn::think("green").call(
            "complete_task",
            json!({"summary": "built", "evidence": "the test passes"}),
        ),
    }
}

/// Reads the same missing-nothing file forever: the same call, the same result.
fn reread(req: &LlmRequest) -> Turn {
    if let Some(t) = supervisor(req) {
        return t;
    }
    Turn::think("once more").call("list_files", json!({"path": "."}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_driven_work_is_never_taken_for_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let done = run(dir.path(), dir.path().join("ws"), "tdd", test_first, |_| {}).await;
    done.assert_completed();
    let tests = done
        .records
        .iter()
        .filter(
            |r| matches!(&r.event, Event::ToolCallRequested { tool, .. } if tool == "run_command"),
        )
        .count();
    assert_eq!(tests, 6, "the same test command six times");
    assert!(
        !done.records.iter().any(|r| matches!(
            &r.event,
            Event::AgentStatusChanged {
                status: AgentStatus::Stuck,
                ..
            }
        )),
        "nobody was taken for stuck"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_call_with_the_same_result_is_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let store = macrohard::store::Store::open(&dir.path().join("store")).unwrap();
    let mut config = macrohard::engine::EngineConfig::new(
        macrohard::engine::Roster::embedded().unwrap(),
        dir.path().join("wss"),
    );
    config.auto_approve = Some(common::scripted::tester());
    let engine = macrohard::engine::start(
        store,
        std::sync::Arc::new(common::scripted::Scripted(reread)),
        config,
        macrohard::engine::RunTarget::New(macrohard::engine::NewRun {
            goal: "loop".into(),
            workspace: Some(dir.path().join("ws")),
            seed: 1,
            by: common::scripted::tester(),
        }),
    )
    .await
    .unwrap();
    let (_, mut rx) = engine.handle.subscribe().await.unwrap();
    let rec = common::wait_for(&mut rx, "the stuck engineer", |e| {
        matches!(
            e,
            Event::AgentStatusChanged {
                status: AgentStatus::Stuck,
                ..
            }
        )
    })
    .await;
    let Event::AgentStatusChanged { reason, .. } = rec.event else {
        unreachable!()
    };
    assert!(
        reason.contains("the same call with the same result 4 times"),
        "{reason}"
    );
    engine.handle.shutdown().await;
}

/// Plans fourteen tasks, one a step, then waits for them and finishes.
fn planner(req: &LlmRequest) -> Turn {
    if req.context.role == "supervisor" {
        return match step(req) {
            s @ 0..14 => Turn::think("one more part").call(
                "create_task",
                json!({"title": format!("Part {s}"), "description": "d", "role": "engineer"}),
            ),
            _ if all_done(req) => Turn::think("done").call("finish_run", json!({"summary": "ok"})),
            _ => Turn::think("waiting"),
        };
    }
    Turn::think("quick").call(
        "complete_task",
        json!({"summary": "built", "evidence": "nothing to check"}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_that_keeps_planning_new_tasks_is_not_stuck() {
    // Engine tools' results are news too: fourteen steps that each create a task are progress,
    // not fourteen idle steps.
    let dir = tempfile::tempdir().unwrap();
    let done = run(dir.path(), dir.path().join("ws"), "plan", planner, |_| {}).await;
    done.assert_completed();
    let stuck: Vec<_> = done
        .records
        .iter()
        .filter(|r| {
            matches!(
                &r.event,
                Event::AgentStatusChanged {
                    status: AgentStatus::Stuck,
                    ..
                }
            )
        })
        .collect();
    assert!(stuck.is_empty(), "{stuck:?}");
}
