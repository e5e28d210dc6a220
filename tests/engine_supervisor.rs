#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The supervisor as a dead end: one that loops pauses the run and says so (a person's word
//! frees it), and a supervisor prompt that cannot end a run is refused before any run starts.

mod common;
use common::scripted::{self, all_done, tester};

use macrohard::domain::{AgentStatus, Event, RunStatus};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::LlmRequest;
use macrohard::llm::sim::Turn;
use macrohard::protocol::Command;
use macrohard::store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A supervisor that plans one task, then lists the same directory again and again until a
/// person writes to it.
fn looping_supervisor(req: &LlmRequest) -> Turn {
    let heard = req
        .messages
        .iter()
        .any(|m| m.content.contains("Message from "));
    match req.context.role.as_str() {
        "supervisor" if req.context.plan.is_empty() => Turn::think("One task.").call(
            "create_task",
            json!({"title": "Write notes", "description": "notes.txt", "role": "engineer", "depends_on": []}),
        ),
        "supervisor" if all_done(req) => {
            Turn::think("Done.").call("finish_run", json!({"summary": "notes written"}))
        }
        "supervisor" if heard => Turn::think("Understood; dispatching."),
        "supervisor" => Turn::think("Let me look again.").call("list_files", json!({"path": "."})),
        _ => match scripted::step(req) {
            0 => Turn::think("Writing.").call(
                "write_file",
                json!({"path": "notes.txt", "content": "one\n"}),
            ),
            _ => Turn::think("Done.").call(
                "complete_task",
                json!({"summary": "wrote notes.txt", "evidence": "notes.txt exists"}),
            ),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_supervisor_pauses_the_run_and_a_message_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("wss"));
    config.auto_approve = Some(tester());
    let new = NewRun {
        goal: "notes".into(),
        workspace: None,
        seed: 1,
        by: tester(),
    };
    let engine = engine::start(
        store.clone(),
        Arc::new(scripted::Scripted(looping_supervisor)),
        config,
        RunTarget::New(new),
    )
    .await
    .unwrap();
    let (_, mut rx) = engine.handle.subscribe().await.unwrap();
    let paused = common::wait_for(&mut rx, "the run paused for the stuck supervisor", |e| {
        matches!(
            e,
            Event::RunStatusChanged {
                status: RunStatus::Paused,
                ..
            }
        )
    })
    .await;
    let Event::RunStatusChanged { reason, .. } = &paused.event else {
        unreachable!()
    };
    assert!(
        reason.starts_with("waiting for a person: the supervisor is stuck"),
        "{reason}"
    );
    engine
        .handle
        .command(
            tester(),
            Command::Inject {
                target: None,
                text: "stop listing, dispatch the plan".into(),
            },
        )
        .await
        .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(60), engine.join)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    let records: Vec<_> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::AgentStatusChanged { agent, status, reason }
            if agent.as_str() == "supervisor" && *status != AgentStatus::Stuck
                && reason == "freed by tester@lab, who wrote to it")));
}

/// A config directory whose supervisor prompt lacks `finish_run`.
fn config_without_finish_run(dir: &std::path::Path) -> std::path::PathBuf {
    let cfg = dir.join("cfg").join("macrohard");
    std::fs::create_dir_all(cfg.join("prompts")).unwrap();
    let embedded = Roster::embedded().unwrap();
    assert!(embedded.get("supervisor").is_some());
    let text = "+++\nname = \"supervisor\"\ntitle = \"Supervisor\"\ndescription = \"plans\"\ntools = [\"create_task\", \"ask_human\"]\n+++\nPlan {{goal}}.\n";
    std::fs::write(cfg.join("prompts").join("supervisor.md"), text).unwrap();
    std::fs::write(cfg.join("config.toml"), "").unwrap();
    cfg
}

#[test]
fn a_supervisor_prompt_without_finish_run_is_refused_by_doctor_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_without_finish_run(dir.path());
    let run = |args: &[&str]| {
        let out = common::bin()
            .env("XDG_CONFIG_HOME", dir.path().join("cfg"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(cfg.join("config.toml"))
            .args(args)
            .output()
            .unwrap();
        let (o, e) = common::text(&out);
        (out.status.code(), format!("{o}{e}"))
    };
    let (code, out) = run(&["doctor"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("finish_run")),
        "{out}"
    );
    let (code, out) = run(&["run", "--headless", "notes"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("finish_run"), "{out}");
}

#[test]
fn the_embedded_roster_passes_the_check() {
    engine::check_roster(&Roster::embedded().unwrap()).unwrap();
}
