//! Long synthetic runs for tests and benchmarks of memory and times by run length: a run with
//! three agents and forty tasks, then a realistic mix repeated for as many events as asked
//! (an agent step is a request, a few coalesced deltas, a tool call and its result; now and
//! then a file changes or a warning is logged). Not part of the product: hidden from the docs.
//!
//! Invariant: what the mix refers to (agents, tasks, files) is a fixed set, so what a bounded
//! consumer keeps (a report's file table, a view's transcripts) does not grow with the length.

use super::{Store, StoreError};
use crate::domain::{
    Actor, AgentId, Autonomy, Budget, DeltaKind, Event, LogLevel, RunId, RunState, RunStatus,
    TaskId, Usage,
};

const AGENTS: u64 = 3;
const TASKS: u64 = 40;
/// Events appended (and made durable) at once.
const BATCH: u64 = 5_000;

/// The `i`th event of the mix.
pub fn mix(i: u64) -> Event {
    let agent = AgentId::from(format!("engineer-{}", i % AGENTS + 1));
    let task = Some(TaskId::numbered((i / 50 % TASKS) as usize + 1));
    if i % 1_000 == 999 {
        return Event::FileChanged {
            agent,
            task,
            path: format!("todo/module_{}.py", i / 1_000 % 25),
            added: 12,
            removed: 3,
        };
    }
    if i % 5_000 == 4_999 {
        return Event::log(LogLevel::Warn, "engine", format!("slow disk at event {i}"));
    }
    match i % 8 {
        0 => Event::LlmRequestStarted {
            agent,
            task,
            model: "gpt-4o-mini".into(),
            prompt_hash: "7cbd56c3cbe00164".into(),
            step: (i % 20) as u32,
            context_window: 128_000,
        },
        1..=4 => Event::AgentDelta {
            agent,
            kind: DeltaKind::Reasoning,
            text: "The design says 1-based ids, atomic saves, and an error type for unknown ids. \
                   The store is a list of dicts; complete() marks one done.\n"
                .into(),
        },
        5 => Event::LlmRequestFinished {
            agent,
            task,
            usage: Usage {
                input_tokens: 1200,
                output_tokens: 300,
                ..Usage::default()
            },
            cost_usd: Some(0.0004),
            duration_ms: 1800,
            stop_reason: "tool_use".into(),
        },
        6 => Event::ToolCallRequested {
            agent,
            task,
            call: format!("c{i}").into(),
            tool: "read_file".into(),
            args: serde_json::json!({"path": "todo/core.py"}),
            policy: None,
        },
        _ => Event::ToolCallFinished {
            agent,
            call: format!("c{}", i - 1).into(),
            ok: true,
            output: "exit code 0\nRan 9 tests in 0.014s\n\nOK".into(),
            duration_ms: 120,
        },
    }
}

/// The events that make a run with agents and tasks for the mix to refer to.
pub fn preamble() -> Vec<Event> {
    let mut events = vec![Event::RunCreated {
        goal: "synthetic run".into(),
        workspace: "/tmp/w".into(),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        base_url: None,
        simulated: false,
        budget: Budget::default(),
        budgets: Default::default(),
        concurrency: AGENTS as u32,
        max_attempts: 2,
        autonomy: Autonomy::AskRisky,
        seed: 1,
        by: Actor::Engine,
    }];
    events.push(Event::RunStatusChanged {
        status: RunStatus::Running,
        reason: "started".into(),
    });
    for a in 1..=AGENTS {
        events.push(Event::AgentSpawned {
            agent: format!("engineer-{a}").into(),
            role: "engineer".into(),
            model: "gpt-4o-mini".into(),
            provider: "openai".into(),
        });
    }
    for t in 1..=TASKS as usize {
        events.push(Event::TaskCreated {
            task: TaskId::numbered(t),
            title: format!("task {t}"),
            description: String::new(),
            role: "engineer".into(),
            depends_on: if t > 1 {
                vec![TaskId::numbered(t - 1)]
            } else {
                vec![]
            },
            by: "supervisor".into(),
            acceptance: None,
            check: None,
        });
    }
    events
}

/// Writes a run of `total` events (preamble, mix, a last status change) into `store`, with
/// snapshots as the engine takes them, and returns its final state.
pub async fn write_run(store: &Store, run: &RunId, total: u64) -> Result<RunState, StoreError> {
    let mut journal = store.journal(run)?;
    let mut state = RunState::default();
    let ts = |k: u64| 1_700_000_000_000 + k * 10;
    let pre: Vec<(u64, Event)> = preamble().into_iter().map(|e| (ts(0), e)).collect();
    let mut n = pre.len() as u64;
    for r in journal.append(pre).await? {
        state.apply(&r);
    }
    let body = total.saturating_sub(1);
    while n < body {
        let end = (n + BATCH).min(body);
        let batch: Vec<(u64, Event)> = (n..end).map(|k| (ts(k), mix(k))).collect();
        n = end;
        for r in journal.append(batch).await? {
            state.apply(&r);
        }
        journal.checkpoint(&state)?;
    }
    let last = Event::RunStatusChanged {
        status: RunStatus::Paused,
        reason: "paused now by ada".into(),
    };
    for r in journal.append(vec![(ts(n), last)]).await? {
        state.apply(&r);
    }
    journal.close(&state).await?;
    Ok(state)
}
