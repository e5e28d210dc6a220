//! Rendering one full frame of the control room at 200×60 with 12 agents, 1,000 tasks and
//! 100k log lines (DESIGN §10: < 2 ms median).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use macrohard::domain::*;
use macrohard::tui::app::{App, Focus};
use macrohard::tui::keymap::Keymap;
use macrohard::tui::theme::{ColorDepth, Themes};
use macrohard::tui::view::View;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn big_view() -> View {
    let run = RunId::from("bench");
    let mut seq = 0u64;
    let mut events = vec![Event::RunCreated {
        goal: "Build a large system".into(),
        workspace: "/w".into(),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        base_url: None,
        simulated: false,
        budget: Budget {
            usd: Some(50.0),
            ..Budget::default()
        },
        budgets: Default::default(),
        concurrency: 12,
        max_attempts: 2,
        autonomy: Autonomy::AskRisky,
        seed: 1,
        by: Actor::Engine,
    }];
    let roles = ["architect", "engineer", "qa", "reviewer", "ops", "growth"];
    for a in 0..12 {
        events.push(Event::AgentSpawned {
            agent: format!("{}-{}", roles[a % 6], a / 6 + 1).into(),
            role: roles[a % 6].into(),
            model: "gpt-4o-mini".into(),
            provider: "sim".into(),
        });
    }
    for t in 1..=1000usize {
        let deps = if t > 3 {
            vec![TaskId::numbered(t - 1), TaskId::numbered(t / 2)]
        } else {
            vec![]
        };
        events.push(Event::TaskCreated {
            task: TaskId::numbered(t),
            title: format!("Task number {t} of the big plan"),
            description: String::new(),
            role: roles[t % 6].into(),
            depends_on: deps,
            by: "supervisor".into(),
            acceptance: None,
            check: None,
        });
    }
    events.push(Event::RunStatusChanged {
        status: RunStatus::Running,
        reason: "plan ready".into(),
    });
    let mut recs: Vec<EventRecord> = events
        .into_iter()
        .map(|event| {
            seq += 1;
            EventRecord {
                v: SCHEMA_VERSION,
                run: run.clone(),
                seq,
                ts_ms: 1_000 * seq,
                event,
            }
        })
        .collect();
    for i in 0..100_000u64 {
        seq += 1;
        let agent = AgentId::from(format!(
            "{}-{}",
            roles[(i % 12) as usize % 6],
            (i % 12) / 6 + 1
        ));
        let event = if i % 2 == 0 {
            Event::AgentDelta {
                agent,
                kind: DeltaKind::Reasoning,
                text: "Considering the next step of the plan carefully, with tests first.\n".into(),
            }
        } else {
            Event::log(
                LogLevel::Info,
                agent.as_str(),
                format!("log line {i}: something happened in the workspace"),
            )
        };
        recs.push(EventRecord {
            v: SCHEMA_VERSION,
            run: run.clone(),
            seq,
            ts_ms: 1_000 * seq,
            event,
        });
    }
    let state = RunState::fold(&recs);
    View::new(state, &recs)
}

fn render(c: &mut Criterion) {
    let view = big_view();
    assert!(view.logs.len() >= 50_000);
    let themes = Themes::load(None, ColorDepth::TrueColor).unwrap();
    let mut app = App::new(view, Keymap::default(), themes, 0, true);
    app.focus = Focus::Tasks;
    app.task_sel = 500;
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("render_frame_200x60_12_agents_1000_tasks_100k_logs", |b| {
        b.iter(|| {
            terminal
                .draw(|f| macrohard::tui::render::draw(f, &app, 2_000_000))
                .unwrap();
        })
    });
}

/// A Markdown-heavy transcript for every agent: headings, lists, inline code, fenced Rust and
/// Python, and tool calls (a file written, a command) — the reasoning pane focused, the grid too.
fn render_markdown(c: &mut Criterion) {
    use macrohard::tui::transcript::LineKind;
    let mut view = big_view();
    macrohard::tui::highlight::load();
    let agents: Vec<AgentId> = view.state.agents.iter().map(|a| a.id.clone()).collect();
    let file: String = (0..80)
        .map(|i| {
            format!("def test_{i}(store):\n    assert store.get({i}) == \"item {i}\"  # {i}\n")
        })
        .collect();
    for (n, agent) in agents.iter().enumerate() {
        let t = view.transcripts.entry(agent.clone()).or_default();
        for i in 0..200 {
            t.delta(
                LineKind::Text,
                &format!(
                    "## Step {i}\nThe **store** keeps items in `Vec<Item>`; see [docs](https://x.dev/{i}).\n\
                     - add `complete()`\n- test *unknown* ids\n```rust\n\
                     pub fn complete(&mut self, id: u64) -> Result<(), Error> {{\n    \
                     let item = self.items.get_mut(&id).ok_or(Error::Unknown(id))?; // {i}\n    \
                     item.done = true;\n    Ok(())\n}}\n```\n"
                ),
            );
            if i % 20 == 0 {
                let call = format!("c{n}-{i}");
                t.tool_call(
                    &call,
                    "write_file",
                    &serde_json::json!({"path": "tests/test_store.py", "content": file}),
                );
                t.tool_result(&call, true, "wrote tests/test_store.py (160 lines)");
            }
        }
    }
    let themes = Themes::load(None, ColorDepth::TrueColor).unwrap();
    let mut app = App::new(view, Keymap::default(), themes, 0, true);
    app.focus = Focus::Reasoning;
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("render_frame_200x60_markdown_code_reasoning", |b| {
        b.iter(|| {
            terminal
                .draw(|f| macrohard::tui::render::draw(f, &app, 2_000_000))
                .unwrap();
        })
    });
    app.unfolded = true;
    c.bench_function(
        "render_frame_200x60_markdown_code_reasoning_unfolded",
        |b| {
            b.iter(|| {
                terminal
                    .draw(|f| macrohard::tui::render::draw(f, &app, 2_000_000))
                    .unwrap();
            })
        },
    );
    app.unfolded = false;
    app.grid = true;
    c.bench_function("render_frame_200x60_markdown_code_grid_12_agents", |b| {
        b.iter(|| {
            terminal
                .draw(|f| macrohard::tui::render::draw(f, &app, 2_000_000))
                .unwrap();
        })
    });
}

criterion_group!(benches, render, render_markdown);
criterion_main!(benches);
