#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A resumed supervisor goes on from its conversation, rebuilt from the log: a deterministic
//! model that plans on its first turn does not plan the run a second time.

mod common;

use common::scripted::{Scripted, all_done, step, tester};
use common::wait_for;
use macrohard::domain::{Event, EventRecord, RunStatus};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::LlmRequest;
use macrohard::llm::sim::Turn;
use macrohard::store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn planner(req: &LlmRequest) -> Turn {
    match (req.context.role.as_str(), step(req)) {
        ("supervisor", 0) => Turn::think("plan").call(
            "create_task",
            json!({"title": "Build it", "description": "d", "role": "engineer"}),
        ),
        ("supervisor", _) if all_done(req) => {
            Turn::think("done").call("finish_run", json!({"summary": "built"}))
        }
        ("supervisor", _) => Turn::think("waiting"),
        (_, 0) => Turn::think("work").call(
            "run_command",
            json!({"command": "sleep 2", "timeout_s": 30}),
        ),
        _ => Turn::think("report").call(
            "complete_task",
            json!({"summary": "built", "evidence": "slept"}),
        ),
    }
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(Roster::embedded().unwrap(), dir.join("wss"));
    c.auto_approve = Some(tester());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_supervisor_goes_on_from_its_conversation_and_plans_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let new = NewRun {
        goal: "Build it".into(),
        workspace: Some(dir.path().join("ws")),
        seed: 1,
        by: tester(),
    };
    let engine = engine::start(
        store.clone(),
        Arc::new(Scripted(planner)),
        config(dir.path()),
        RunTarget::New(new),
    )
    .await
    .unwrap();
    let (_, mut rx) = engine.handle.subscribe().await.unwrap();
    wait_for(
        &mut rx,
        "the engineer at work",
        |e| matches!(e, Event::ToolCallRequested { tool, .. } if tool == "run_command"),
    )
    .await;
    engine.handle.shutdown().await;
    let run = engine.handle.run().clone();
    let _ = engine.join.await;

    let engine = engine::start(
        store.clone(),
        Arc::new(Scripted(planner)),
        config(dir.path()),
        RunTarget::Resume {
            run: run.clone(),
            by: tester(),
            budget: None,
        },
    )
    .await
    .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(60), engine.join)
        .await
        .expect("the resumed run ends")
        .unwrap()
        .unwrap();
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    let records: Vec<EventRecord> = store.events(&run, 1).unwrap().map(Result::unwrap).collect();
    let created = records
        .iter()
        .filter(|r| matches!(r.event, Event::TaskCreated { .. }))
        .count();
    assert_eq!(created, 1, "the plan was made once");
    assert!(
        records.iter().any(|r| matches!(&r.event, Event::AgentInput { text, .. } if text.contains("has been resumed"))),
        "the supervisor was told the run resumed"
    );
}
