#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A long task must not fail for context length: a model that reads big files over and over,
//! behind a server that refuses requests larger than its real window (smaller than the one the
//! provider claims), still completes; the conversation is condensed and says so.

use macrohard::domain::{Actor, Event, LogLevel, RunStatus};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::context::NOTE_PREFIX;
use macrohard::llm::sim::Turn;
use macrohard::llm::{
    LlmError, LlmRequest, MessageRole, Provider, ProviderInfo, StreamEvent, StreamItem,
};
use macrohard::store::Store;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The tokens the "server" accepts, far below the 32k the provider claims.
const REAL_WINDOW: u64 = 12_000;
const READS: usize = 12;

#[derive(Default)]
struct Seen {
    largest_accepted: u64,
    refused: usize,
    saw_note: bool,
    /// The engineer's turns so far: the model keeps its own tally, since condensing shortens
    /// the conversation it could count from.
    engineer_turns: usize,
}

struct ReadsALot(Arc<Mutex<Seen>>);

fn turn(req: &LlmRequest, engineer_turns: usize) -> Turn {
    let step = req
        .messages
        .iter()
        .filter(|m| m.role == MessageRole::Assistant)
        .count();
    match req.context.role.as_str() {
        "supervisor" if step == 0 => Turn::think("plan").call(
            "create_task",
            json!({"title": "Read the logs", "description": "all of them", "role": "engineer"}),
        ),
        "supervisor" if req.context.plan.iter().all(|t| t.status.is_terminal()) => {
            Turn::think("done").call("finish_run", json!({"summary": "read"}))
        }
        "supervisor" => Turn::think("waiting"),
        _ if engineer_turns < READS => Turn::think("another log").call(
            "read_file",
            json!({"path": format!("log{engineer_turns}.txt")}),
        ),
        _ => Turn::think("enough").call(
            "complete_task",
            json!({"summary": "read every log", "evidence": "log0.txt to log11.txt"}),
        ),
    }
}

impl Provider for ReadsALot {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "strict".into(),
            model: "strict-1".into(),
            base_url: None,
            simulated: false,
        }
    }

    fn context_window(&self, _model: &str) -> u64 {
        32_768
    }

    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem> {
        let (tx, rx) = mpsc::channel(16);
        let size = request.estimated_input_tokens();
        let seen = self.0.clone();
        let turn = {
            let mut s = seen.lock().unwrap();
            if request
                .messages
                .iter()
                .any(|m| m.content.starts_with(NOTE_PREFIX))
            {
                s.saw_note = true;
            }
            let engineer = request.context.role == "engineer";
            let t = turn(&request, s.engineer_turns);
            if engineer && size <= REAL_WINDOW {
                s.engineer_turns += 1;
            }
            t
        };
        tokio::spawn(async move {
            if size > REAL_WINDOW {
                seen.lock().unwrap().refused += 1;
                let _ = tx
                    .send(Err(LlmError::ContextLength(format!(
                        "maximum context length is {REAL_WINDOW} tokens, the request has {size}"
                    ))))
                    .await;
                return;
            }
            {
                let mut s = seen.lock().unwrap();
                s.largest_accepted = s.largest_accepted.max(size);
            }
            let _ = tx.send(Ok(StreamEvent::Reasoning(turn.reasoning))).await;
            let stop = if turn.calls.is_empty() {
                "end_turn"
            } else {
                "tool_use"
            };
            for c in turn.calls {
                let _ = tx.send(Ok(StreamEvent::ToolCall(c))).await;
            }
            let _ = tx
                .send(Ok(StreamEvent::Done {
                    stop_reason: stop.into(),
                }))
                .await;
        });
        rx
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_outgrows_the_window_is_condensed_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    for i in 0..READS {
        let line = format!("{i}: request served in 12ms, cache hit, nothing to report\n");
        std::fs::write(ws.join(format!("log{i}.txt")), line.repeat(200)).unwrap();
    }
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("wss"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let new = NewRun {
        goal: "read the logs".into(),
        workspace: Some(ws),
        seed: 1,
        by: Actor::Engine,
    };
    let engine = engine::start(
        store.clone(),
        Arc::new(ReadsALot(seen.clone())),
        config,
        RunTarget::New(new),
    )
    .await
    .unwrap();
    let run = engine.handle.run().clone();
    let Ok(joined) = tokio::time::timeout(Duration::from_secs(60), engine.join).await else {
        for r in store.events(&run, 1).unwrap() {
            eprintln!(
                "{:?}",
                macrohard::domain::describe::describe(&r.unwrap().event)
            );
        }
        panic!("the run did not end within a minute");
    };
    let state = joined.unwrap().unwrap();
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    let s = seen.lock().unwrap();
    assert!(s.refused >= 1, "the server refused at least once");
    assert!(
        s.saw_note,
        "the model was told its conversation was condensed"
    );
    assert!(s.largest_accepted <= REAL_WINDOW);

    let logs: Vec<(LogLevel, String)> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .filter_map(|r| match r.unwrap().event {
            Event::Log { level, text, .. } => Some((level, text)),
            _ => None,
        })
        .collect();
    assert!(
        logs.iter()
            .any(|(l, t)| *l == LogLevel::Warn && t.contains("refused about")),
        "{logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|(_, t)| t.starts_with("context: condensed the conversation")),
        "{logs:#?}"
    );
    let engineer = state.agents.iter().find(|a| a.role == "engineer").unwrap();
    assert!(engineer.context_window > 0 && engineer.context_window < 32_768);
}
