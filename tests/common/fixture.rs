//! A fixed mid-run log for screen tests: the plan made, the design done, the store waiting for
//! an approval, the docs being written. Deterministic ids and times.
#![allow(dead_code)]

use macrohard::domain::*;
use serde_json::json;

pub const RUN: &str = "01fixture0000000000000000";
/// "Now" for rendering: 75 s after the first event.
pub const NOW_MS: u64 = 1_795_000_075_000;

pub fn records() -> Vec<EventRecord> {
    let a = |s: &str| AgentId::from(s);
    let t = TaskId::numbered;
    let person = Actor::Human {
        user: "ada".into(),
        host: Some("box".into()),
        auto: false,
    };
    let mut ev: Vec<Event> = vec![
        Event::RunCreated {
            goal: "Build a command-line todo app".into(),
            workspace: "/srv/runs/workspaces/01fixture".into(),
            provider: "sim".into(),
            model: "sim-1".into(),
            base_url: None,
            simulated: true,
            budget: Budget { usd: Some(1.0), ..Budget::default() },
            budgets: Budgets {
            roles: [("engineer".to_owned(), Budget { usd: Some(0.05), turns: Some(40), ..Budget::default() })].into(),
            task: Budget::default(),
        },
            concurrency: 3,
            max_attempts: 2,
            autonomy: Autonomy::AskRisky,
            seed: 42,
            by: person.clone(),
        },
        Event::log(LogLevel::Warn, "engine", "SIMULATED: no model is configured, so the built-in simulated company runs this."),
        Event::SandboxReported { complete: true, detail: "Landlock ABI 7: writes only in the workspace; network namespace: no network".into(), missing: Vec::new() },
        Event::AgentSpawned { agent: a("supervisor"), role: "supervisor".into(), model: "sim-1".into(), provider: "sim".into() },
        Event::LlmRequestStarted { agent: a("supervisor"), task: None, model: "sim-1".into(), prompt_hash: "7cbd56c3cbe00164".into(), step: 0, context_window: 32_768 },
        Event::AgentDelta { agent: a("supervisor"), kind: DeltaKind::Reasoning, text: "Breaking the goal down. The smallest thing that fully meets it is a Todo CLI in plain Python, with unit tests, docs, a review and a smoke-tested release.".into() },
    ];
    let plan = [
        ("Design the Todo command line", "architect", vec![]),
        ("Implement the task store", "engineer", vec![1]),
        ("Build the command-line interface", "engineer", vec![2]),
        ("Write the README and the launch page", "growth", vec![1]),
        ("Test the CLI end to end", "qa", vec![3]),
        ("Review the code", "reviewer", vec![3]),
        ("Package and smoke-test a release", "ops", vec![5, 6]),
    ];
    for (i, (title, role, deps)) in plan.iter().enumerate() {
        ev.push(Event::TaskCreated {
            task: t(i + 1),
            title: (*title).into(),
            description: format!("{title}, with evidence."),
            role: (*role).into(),
            depends_on: deps.iter().map(|d| t(*d)).collect(),
            by: a("supervisor"),
            acceptance: None,
            check: None,
        });
    }
    ev.extend([
        Event::LlmRequestFinished { agent: a("supervisor"), task: None, usage: Usage { input_tokens: 631, output_tokens: 418, cached_tokens: 0, cache_write_tokens: 0 }, cost_usd: Some(0.0023), duration_ms: 2100, stop_reason: "tool_use".into() },
        Event::RunStatusChanged { status: RunStatus::Running, reason: "plan ready: 7 tasks".into() },
        Event::AgentStatusChanged { agent: a("supervisor"), status: AgentStatus::Idle, reason: "waiting for news".into() },
        Event::AgentSpawned { agent: a("architect-1"), role: "architect".into(), model: "sim-1".into(), provider: "sim".into() },
        Event::TaskAssigned { task: t(1), agent: a("architect-1"), attempt: 1 },
        Event::LlmRequestStarted { agent: a("architect-1"), task: Some(t(1)), model: "sim-1".into(), prompt_hash: "c8b3435860b48b23".into(), step: 0, context_window: 32_768 },
        Event::AgentDelta { agent: a("architect-1"), kind: DeltaKind::Reasoning, text: "Scope check before I write anything: the design should fit on one page.".into() },
        Event::LlmRequestFinished { agent: a("architect-1"), task: Some(t(1)), usage: Usage { input_tokens: 769, output_tokens: 243, cached_tokens: 0, cache_write_tokens: 0 }, cost_usd: Some(0.0017), duration_ms: 1500, stop_reason: "tool_use".into() },
        Event::ToolCallRequested { agent: a("architect-1"), task: Some(t(1)), call: "c8".into(), tool: "write_file".into(), args: json!({"path": "DESIGN.md"}), policy: None },
        Event::ToolCallFinished { agent: a("architect-1"), call: "c8".into(), ok: true, output: "wrote DESIGN.md (812 bytes, +16 -0)".into(), duration_ms: 1 },
        Event::FileChanged { agent: a("architect-1"), task: Some(t(1)), path: "DESIGN.md".into(), added: 16, removed: 0 },
        Event::TaskCompleted { task: t(1), summary: "Wrote DESIGN.md: module layout, storage format, commands".into(), evidence: "DESIGN.md".into() },
        Event::AgentStatusChanged { agent: a("architect-1"), status: AgentStatus::Idle, reason: "finished with T1".into() },
        Event::AgentSpawned { agent: a("engineer-1"), role: "engineer".into(), model: "sim-1".into(), provider: "sim".into() },
        Event::TaskAssigned { task: t(2), agent: a("engineer-1"), attempt: 1 },
        Event::AgentSpawned { agent: a("growth-1"), role: "growth".into(), model: "sim-1".into(), provider: "sim".into() },
        Event::TaskAssigned { task: t(4), agent: a("growth-1"), attempt: 1 },
        Event::LlmRequestStarted { agent: a("engineer-1"), task: Some(t(2)), model: "sim-1".into(), prompt_hash: "adc52d2abe1c0302".into(), step: 0, context_window: 32_768 },
        Event::AgentDelta { agent: a("engineer-1"), kind: DeltaKind::Reasoning, text: "The design says 1-based ids, atomic saves, and an error type for unknown ids.\nTests: ids increase, complete hits the right item, unknown ids raise.".into() },
        Event::AgentDelta { agent: a("engineer-1"), kind: DeltaKind::Text, text: "Writing the store and its tests.".into() },
        Event::LlmRequestFinished { agent: a("engineer-1"), task: Some(t(2)), usage: Usage { input_tokens: 1065, output_tokens: 794, cached_tokens: 0, cache_write_tokens: 0 }, cost_usd: Some(0.0042), duration_ms: 3200, stop_reason: "tool_use".into() },
        Event::ToolCallRequested { agent: a("engineer-1"), task: Some(t(2)), call: "c9".into(), tool: "write_file".into(), args: json!({"path": "todo/core.py"}), policy: None },
        Event::ToolCallFinished { agent: a("engineer-1"), call: "c9".into(), ok: true, output: "wrote todo/core.py (1368 bytes, +48 -0)".into(), duration_ms: 1 },
        Event::FileChanged { agent: a("engineer-1"), task: Some(t(2)), path: "todo/core.py".into(), added: 48, removed: 0 },
        Event::ToolCallRequested { agent: a("growth-1"), task: Some(t(4)), call: "c10".into(), tool: "read_file".into(), args: json!({"path": "../../etc/passwd"}), policy: None },
        Event::log(LogLevel::Warn, "growth-1", "refused c10: path \"../../etc/passwd\" is refused: `..` is not allowed"),
        Event::ToolCallFinished { agent: a("growth-1"), call: "c10".into(), ok: false, output: "error: path \"../../etc/passwd\" is refused: `..` is not allowed".into(), duration_ms: 0 },
        Event::HumanMessage { target: a("engineer-1"), text: "keep the CLI dependency-free".into(), by: person.clone() },
        Event::LlmRequestStarted { agent: a("engineer-1"), task: Some(t(2)), model: "sim-1".into(), prompt_hash: "adc52d2abe1c0302".into(), step: 1, context_window: 32_768 },
        Event::AgentDelta { agent: a("engineer-1"), kind: DeltaKind::Reasoning, text: "Running the unit tests to see where this stands.".into() },
        Event::LlmRequestFinished { agent: a("engineer-1"), task: Some(t(2)), usage: Usage { input_tokens: 1832, output_tokens: 31, cached_tokens: 0, cache_write_tokens: 0 }, cost_usd: Some(0.002), duration_ms: 900, stop_reason: "tool_use".into() },
        Event::ToolCallRequested { agent: a("engineer-1"), task: Some(t(2)), call: "c11".into(), tool: "run_command".into(), args: json!({"command": "python3 -m unittest discover -s tests -t . -v"}), policy: None },
        Event::ApprovalRequested { approval: "A1".into(), call: "c11".into(), agent: a("engineer-1"), task: Some(t(2)), tool: "run_command".into(), risk: "touches files in the workspace (sandboxed); irreversible · offline".into(), summary: "run `python3 -m unittest discover -s tests -t . -v`".into(), label: Some(Risk { touches: "files in the workspace (sandboxed)".into(), reversible: false, network: false, remote_code: false }) },
        Event::LlmRequestStarted { agent: a("growth-1"), task: Some(t(4)), model: "sim-1".into(), prompt_hash: "9f00aa11bb22cc33".into(), step: 1, context_window: 32_768 },
        Event::AgentDelta { agent: a("growth-1"), kind: DeltaKind::Reasoning, text: "Positioning: local-first, scriptable, no dependencies. The CLI stays free; sync and teams are the paid tiers.".into() },
        Event::log(LogLevel::Error, "engine", "example error line for the screen tests"),
    ]);
    ev.into_iter()
        .enumerate()
        .map(|(i, event)| EventRecord {
            v: SCHEMA_VERSION,
            run: RunId::from(RUN),
            seq: i as u64 + 1,
            ts_ms: 1_795_000_000_000 + i as u64 * 1_500,
            event,
        })
        .collect()
}

/// Renders a buffer as text plus the style of each run of cells, so a theme change shows up.
pub fn styled(buf: &ratatui::buffer::Buffer) -> String {
    let mut out = String::new();
    let area = buf.area;
    for y in 0..area.height {
        let mut text = String::new();
        let mut runs: Vec<String> = Vec::new();
        let mut last: Option<(
            ratatui::style::Color,
            ratatui::style::Color,
            ratatui::style::Modifier,
        )> = None;
        let mut start = 0;
        for x in 0..area.width {
            let cell = &buf[(x, y)];
            text.push_str(cell.symbol());
            let key = (cell.fg, cell.bg, cell.modifier);
            if last != Some(key) {
                if let Some((fg, bg, m)) = last {
                    runs.push(format!("{start}-{}:{fg:?}/{bg:?}/{m:?}", x - 1));
                }
                last = Some(key);
                start = x;
            }
        }
        if let Some((fg, bg, m)) = last {
            runs.push(format!("{start}-{}:{fg:?}/{bg:?}/{m:?}", area.width - 1));
        }
        out.push_str(&format!("{text}\n    {}\n", runs.join(" ")));
    }
    out
}
