//! A scripted model: a provider that plays the turn a plain function picks for each request,
//! so a test can act as a hostile (or merely particular) model against the real engine, tools
//! and store. `run` starts a headless run on it and waits for the end.
#![allow(dead_code)]

use macrohard::domain::{Actor, EventRecord, RunState};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::sim::Turn;
use macrohard::llm::{LlmRequest, MessageRole, Provider, ProviderInfo, StreamEvent, StreamItem};
use macrohard::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A provider that plays fixed turns chosen by a function of the request.
pub struct Scripted(pub fn(&LlmRequest) -> Turn);

impl Provider for Scripted {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "scripted".into(),
            model: "scripted-1".into(),
            base_url: None,
            simulated: true,
        }
    }

    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem> {
        let (tx, rx) = mpsc::channel(16);
        let turn = (self.0)(&request);
        tokio::spawn(async move {
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

/// How many turns the agent of this request has already taken in its task.
pub fn step(req: &LlmRequest) -> usize {
    req.messages
        .iter()
        .filter(|m| m.role == MessageRole::Assistant)
        .count()
}

/// Whether every planned task is done (the supervisor's cue to finish).
pub fn all_done(req: &LlmRequest) -> bool {
    !req.context.plan.is_empty()
        && req
            .context
            .plan
            .iter()
            .all(|t| t.status == macrohard::domain::TaskStatus::Done)
}

/// The person of these tests.
pub fn tester() -> Actor {
    Actor::Human {
        user: "tester".into(),
        host: Some("lab".into()),
        auto: false,
    }
}

/// A finished run of a scripted model: its state, its records and where it ran.
pub struct Finished {
    pub state: RunState,
    pub records: Vec<EventRecord>,
    pub workspace: PathBuf,
    pub store: Store,
}

impl Finished {
    /// Asserts the run completed, showing why it ended otherwise.
    pub fn assert_completed(&self) {
        assert_eq!(
            self.state.status,
            macrohard::domain::RunStatus::Completed,
            "{}",
            self.state.status_reason
        );
    }
}

/// Starts `goal` on the scripted model in `workspace` (under `dir`), every request approved
/// by the tester unless `tweak`, which adjusts the engine's config, says otherwise.
pub async fn start(
    dir: &Path,
    workspace: PathBuf,
    goal: &str,
    model: fn(&LlmRequest) -> Turn,
    tweak: impl FnOnce(&mut EngineConfig),
) -> (Store, engine::Engine) {
    let store = Store::open(&dir.join("store")).unwrap();
    let mut config = EngineConfig::new(Roster::embedded().unwrap(), dir.join("wss"));
    config.auto_approve = Some(tester());
    tweak(&mut config);
    let new = NewRun {
        goal: goal.into(),
        workspace: Some(workspace),
        seed: 1,
        by: tester(),
    };
    let engine = engine::start(
        store.clone(),
        Arc::new(Scripted(model)),
        config,
        RunTarget::New(new),
    )
    .await
    .unwrap();
    (store, engine)
}

/// [`start`], then waits up to 60 s for the run to end.
pub async fn run(
    dir: &Path,
    workspace: PathBuf,
    goal: &str,
    model: fn(&LlmRequest) -> Turn,
    tweak: impl FnOnce(&mut EngineConfig),
) -> Finished {
    let (store, engine) = start(dir, workspace.clone(), goal, model, tweak).await;
    finish(store, engine.join, workspace).await
}

/// Waits up to 60 s for a run [`start`]ed in `workspace` to end; its state and records.
pub async fn finish(
    store: Store,
    join: tokio::task::JoinHandle<Result<RunState, engine::EngineError>>,
    workspace: PathBuf,
) -> Finished {
    let state = tokio::time::timeout(Duration::from_secs(60), join)
        .await
        .expect("the run ends within 60 s")
        .unwrap()
        .unwrap();
    let records: Vec<EventRecord> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    Finished {
        state,
        records,
        workspace,
        store,
    }
}
