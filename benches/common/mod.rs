//! A realistic event mix for benchmarks: an agent step is a request, a few coalesced deltas,
//! a tool call and its result.
#![allow(dead_code)]

use macrohard::domain::{AgentId, DeltaKind, Event, EventRecord, RunId, TaskId, Usage};

pub fn mix(i: u64) -> Event {
    let agent = AgentId::from(format!("engineer-{}", i % 3 + 1));
    let task = Some(TaskId::numbered((i / 50 % 40) as usize + 1));
    match i % 8 {
        0 => Event::LlmRequestStarted { agent, task, model: "gpt-4o-mini".into(), prompt_hash: "7cbd56c3cbe00164".into(), step: (i % 20) as u32, context_window: 128_000 },
        1..=4 => Event::AgentDelta {
            agent,
            kind: DeltaKind::Reasoning,
            text: "The design says 1-based ids, atomic saves, and an error type for unknown ids. The store is a list of dicts; complete() marks one done.".into(),
        },
        5 => Event::LlmRequestFinished {
            agent,
            task,
            usage: Usage { input_tokens: 1200, output_tokens: 300, ..Usage::default() },
            cost_usd: Some(0.0004),
            duration_ms: 1800,
            stop_reason: "tool_use".into(),
        },
        6 => Event::ToolCallRequested { agent, task, call: format!("c{i}").into(), tool: "read_file".into(), args: serde_json::json!({"path": "todo/core.py"}), policy: None },
        _ => Event::ToolCallFinished { agent, call: format!("c{}", i - 1).into(), ok: true, output: "exit code 0\nRan 9 tests in 0.014s\n\nOK".into(), duration_ms: 120 },
    }
}

/// The events that make a run with agents and tasks for the mix to refer to (the same run the
/// memory tests and benches generate: `store::synthetic`), as records.
pub fn preamble(run: &RunId) -> Vec<EventRecord> {
    macrohard::store::synthetic::preamble()
        .into_iter()
        .enumerate()
        .map(|(i, event)| EventRecord {
            v: macrohard::domain::SCHEMA_VERSION,
            run: run.clone(),
            seq: i as u64 + 1,
            ts_ms: 1_000 + i as u64,
            event,
        })
        .collect()
}

/// Peak resident memory of this process so far, in MiB (Linux).
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
