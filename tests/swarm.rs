#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `#swarm`, the simulated company's load generator, on the real engine, tools and store: as
//! many streams as the concurrency, all working at once, streaming, writing, editing and
//! running code, going on past the role's turn limit, until the run's time budget stops it.

mod common;

use common::scripted::tester;
use macrohard::domain::{
    Budget, BudgetScope, DeltaKind, Event, EventRecord, RunStatus, TaskStatus,
};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::sim::{SimProvider, SimSpeed};
use macrohard::store::Store;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

const STREAMS: u32 = 4;
/// A short turn limit, so every stream runs out of turns, is tried again by the engine and
/// then replaced by its next part within the budget.
const TURNS: u32 = 6;
/// Model turns of the whole run: enough for every stream to reach its third part.
const TURNS_OF_WORK: u64 = 240;

/// Runs `#swarm` at speed 0 until `budget` pauses it; returns its records. A budget of
/// turns makes the same amount of work on a busy machine as on an idle one.
async fn swarm(
    budget: Budget,
) -> (
    tempfile::TempDir,
    macrohard::domain::RunState,
    Vec<EventRecord>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut roster = Roster::embedded().unwrap();
    roster.configure("engineer", None, Some(TURNS)).unwrap();
    let mut config = EngineConfig::new(roster, dir.path().join("workspaces"));
    config.auto_approve = Some(tester());
    config.concurrency = STREAMS;
    config.budget = budget;
    let new = NewRun {
        goal: "Build a thing #swarm".into(),
        workspace: None,
        seed: 5,
        by: tester(),
    };
    let provider = Arc::new(SimProvider::new(SimSpeed(0.0), None));
    let engine = engine::start(store.clone(), provider, config, RunTarget::New(new))
        .await
        .unwrap();
    // The budget pauses the run (a person may extend it); the engine itself goes on, so stop
    // it once paused, as the headless follower does.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let (state, _) = engine.handle.subscribe().await.unwrap();
        if state.status != RunStatus::Running && state.status != RunStatus::Planning {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the budget never stopped the swarm"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.handle.shutdown().await;
    let state = engine.join.await.unwrap().unwrap();
    let records: Vec<EventRecord> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (dir, state, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_ends_when_its_time_budget_is_reached() {
    let (_dir, state, records) = swarm(Budget {
        wall_secs: Some(2),
        ..Budget::default()
    })
    .await;
    assert_eq!(state.status, RunStatus::Paused, "{}", state.status_reason);
    assert!(records.iter().any(|r| matches!(
        r.event,
        Event::BudgetExceeded {
            scope: BudgetScope::WallTime,
            ..
        }
    )));
    assert!(state.tasks.iter().all(|t| t.status != TaskStatus::Done));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_streams_on_every_place_until_its_budget_ends_it() {
    let (_dir, state, records) = swarm(Budget {
        turns: Some(TURNS_OF_WORK),
        ..Budget::default()
    })
    .await;
    // Ended by the budget, never by the company.
    assert_eq!(state.status, RunStatus::Paused, "{}", state.status_reason);
    assert!(
        state.status_reason.starts_with("budget reached"),
        "{}",
        state.status_reason
    );
    assert!(records.iter().any(|r| matches!(
        r.event,
        Event::BudgetExceeded {
            scope: BudgetScope::Turns,
            ..
        }
    )));
    assert!(state.tasks.iter().all(|t| t.status != TaskStatus::Done));
    assert!(state.tasks.iter().all(|t| t.depends_on.is_empty()));
    let open: Vec<_> = state
        .tasks
        .iter()
        .filter(|t| t.status != TaskStatus::Cancelled)
        .collect();
    assert_eq!(open.len(), STREAMS as usize, "one open task per stream");

    // Every place is taken at once: the most tasks running together is the concurrency.
    let mut running = HashSet::new();
    let mut most = 0;
    for r in &records {
        match &r.event {
            Event::TaskAssigned { task, .. } => {
                running.insert(task.clone());
            }
            Event::TaskStatusChanged { task, status, .. } if *status != TaskStatus::Running => {
                running.remove(task);
            }
            _ => {}
        }
        most = most.max(running.len());
    }
    assert_eq!(most, STREAMS as usize);

    // Each stream's agent streams reasoning, in many deltas.
    let mut deltas: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        if let Event::AgentDelta {
            agent,
            kind: DeltaKind::Reasoning,
            ..
        } = &r.event
        {
            *deltas.entry(agent.to_string()).or_default() += 1;
        }
    }
    let workers: Vec<_> = deltas
        .iter()
        .filter(|(a, _)| a.starts_with("engineer-"))
        .collect();
    assert_eq!(workers.len(), STREAMS as usize, "{deltas:?}");
    assert!(workers.iter().all(|(_, n)| **n >= 10), "{deltas:?}");

    // The usual mix of tools, and the modules it writes really run.
    let mut tools: BTreeMap<String, usize> = BTreeMap::new();
    let mut calls = BTreeMap::new();
    for r in &records {
        if let Event::ToolCallRequested { call, tool, .. } = &r.event {
            *tools.entry(tool.clone()).or_default() += 1;
            calls.insert(call.clone(), tool.clone());
        }
    }
    for tool in ["write_file", "edit_file", "run_command", "read_file"] {
        assert!(
            tools.get(tool).copied().unwrap_or(0) >= STREAMS as usize,
            "{tools:?}"
        );
    }
    let ran_clean = records.iter().any(|r| {
        matches!(&r.event, Event::ToolCallFinished { call, ok: true, output, .. }
            if calls.get(call).map(String::as_str) == Some("run_command") && output.starts_with("exit code 0"))
    });
    assert!(ran_clean, "no module ran cleanly");
    let edits_failed = records.iter().filter(|r| {
        matches!(&r.event, Event::ToolCallFinished { call, ok: false, .. }
            if calls.get(call).map(String::as_str) == Some("edit_file"))
    });
    assert_eq!(edits_failed.count(), 0, "an edit missed its text");

    // A stream goes on past the turn limit: the engine tries again, then the supervisor
    // replaces the task with the stream's next part.
    let replaced = state
        .tasks
        .iter()
        .filter(|t| t.replaced_by.is_some())
        .count();
    assert!(replaced >= STREAMS as usize, "{replaced} tasks replaced");
    assert!(state.tasks.iter().any(|t| t.title.ends_with(", part 3")));
    assert!(!records.iter().any(|r| matches!(
        r.event,
        Event::RunStatusChanged {
            status: RunStatus::Completed,
            ..
        }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_swarm_keeps_every_request_bounded() {
    let (_dir, _state, records) = swarm(Budget {
        turns: Some(300),
        ..Budget::default()
    })
    .await;
    // Input tokens of each request, in order, per agent.
    let mut sizes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut window = 0;
    for r in &records {
        match &r.event {
            Event::LlmRequestStarted { context_window, .. } => window = *context_window,
            Event::LlmRequestFinished { agent, usage, .. } => sizes
                .entry(agent.to_string())
                .or_default()
                .push(usage.input_tokens),
            _ => {}
        }
    }
    let steps: usize = sizes.values().map(Vec::len).sum();
    assert!(steps > 200, "only {steps} requests");
    for (agent, s) in &sizes {
        let max = s.iter().max().copied().unwrap_or(0);
        eprintln!(
            "{agent}: {} requests, input tokens max {max}, last {:?}",
            s.len(),
            s.last()
        );
        assert!(max < window, "{agent}: {max} tokens of a {window} window");
        if agent.starts_with("engineer-") {
            // A stream's conversation starts again with each attempt: its late requests are
            // no larger than its early ones.
            let half = s.len() / 2;
            let early = s[..half].iter().max().copied().unwrap_or(0);
            let late = s[half..].iter().max().copied().unwrap_or(0);
            assert!(late <= early + early / 4, "{agent}: {early} then {late}");
        }
    }
}
