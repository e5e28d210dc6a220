#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Snapshots of the control room on ratatui's TestBackend: whole screens at 120×40 and 80×24 in
//! every theme (with styles), and every pane and popup on its own.

mod common;

use common::fixture::{self, NOW_MS};
use macrohard::domain::{AgentId, RunState};
use macrohard::tui::app::{App, Focus};
use macrohard::tui::keymap::Keymap;
use macrohard::tui::panes;
use macrohard::tui::popups::{Composer, ComposerPurpose, Confirm, Popup};
use macrohard::tui::render;
use macrohard::tui::theme::{ColorDepth, Themes};
use macrohard::tui::view::View;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

fn app(theme: &str) -> App {
    let recs = fixture::records();
    let view = View::new(RunState::fold(&recs), &recs);
    let themes = Themes::load(None, ColorDepth::TrueColor).unwrap();
    let i = themes.index_of(theme).unwrap();
    let mut app = App::new(view, Keymap::default(), themes, i, true);
    app.agent_sel = 2; // engineer-1
    app
}

fn screen(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render::draw(f, app, NOW_MS)).unwrap();
    t
}

#[test]
fn whole_screens_in_every_theme_at_both_sizes() {
    for theme in ["dark", "light", "high-contrast", "mono"] {
        for (w, h) in [(120, 40), (80, 24)] {
            let t = screen(&app(theme), w, h);
            insta::assert_snapshot!(
                format!("screen_{theme}_{w}x{h}"),
                fixture::styled(t.backend().buffer())
            );
        }
    }
}

fn pane(w: u16, h: u16, draw: impl FnOnce(&mut ratatui::Frame, Rect)) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, f.area())).unwrap();
    t.backend().to_string()
}

#[test]
fn every_pane() {
    let a = app("dark");
    insta::assert_snapshot!(
        "pane_header",
        pane(120, 1, |f, r| panes::header::draw(f, r, &a, NOW_MS))
    );
    insta::assert_snapshot!(
        "pane_agents",
        pane(40, 8, |f, r| panes::agents::draw(f, r, &a))
    );
    insta::assert_snapshot!(
        "pane_reasoning",
        pane(70, 14, |f, r| panes::reasoning::draw(f, r, &a))
    );
    insta::assert_snapshot!(
        "pane_task_graph",
        pane(50, 10, |f, r| panes::task_graph::draw(f, r, &a))
    );
    insta::assert_snapshot!(
        "pane_logs",
        pane(100, 8, |f, r| panes::logs::draw(f, r, &a))
    );
    insta::assert_snapshot!(
        "pane_approvals",
        pane(100, 1, |f, r| panes::approvals::draw(f, r, &a))
    );
    insta::assert_snapshot!(
        "pane_hints",
        pane(120, 1, |f, r| panes::hints::draw(f, r, &a))
    );
    insta::assert_snapshot!(
        "pane_grid",
        pane(120, 24, |f, r| panes::grid::draw(f, r, &a))
    );
}

#[test]
fn every_popup() {
    let mut a = app("dark");
    a.popup = Some(Popup::Help {
        filter: "appr".into(),
        scroll: 0,
    });
    insta::assert_snapshot!(
        "popup_help_filtered",
        screen(&a, 100, 30).backend().to_string()
    );
    a.popup = Some(Popup::Detail {
        task: macrohard::domain::TaskId::numbered(1),
        scroll: 0,
    });
    insta::assert_snapshot!(
        "popup_task_detail",
        screen(&a, 100, 30).backend().to_string()
    );
    a.popup = Some(Popup::Confirm(Confirm::CancelTask(
        macrohard::domain::TaskId::numbered(2),
    )));
    insta::assert_snapshot!(
        "popup_confirm_cancel",
        screen(&a, 100, 30).backend().to_string()
    );
    let theme = a.theme().clone();
    a.popup = Some(Popup::Composer(Box::new(Composer::new(
        ComposerPurpose::Inject(Some(AgentId::from("engineer-1"))),
        &theme,
    ))));
    insta::assert_snapshot!(
        "popup_composer_inject",
        screen(&a, 100, 30).backend().to_string()
    );
}

#[test]
fn zoom_and_grid_views() {
    let mut a = app("dark");
    a.focus = Focus::Tasks;
    a.zoomed = true;
    insta::assert_snapshot!("zoom_task_graph", screen(&a, 80, 24).backend().to_string());
    a.zoomed = false;
    a.grid = true;
    insta::assert_snapshot!("grid_view", screen(&a, 120, 40).backend().to_string());
}

#[test]
fn a_huge_transcript_draws_like_a_small_one() {
    let mut a = app("dark");
    let agent = AgentId::from("engineer-1");
    let t = a.view.transcripts.entry(agent).or_default();
    for i in 0..200_000 {
        t.push(
            macrohard::tui::transcript::LineKind::Text,
            &format!("line {i} of a very long transcript that keeps going"),
        );
    }
    let start = std::time::Instant::now();
    let out = screen(&a, 120, 40).backend().to_string();
    assert!(out.contains("line 199999"));
    assert!(
        start.elapsed() < std::time::Duration::from_millis(500),
        "drawing took {:?}",
        start.elapsed()
    );
}

/// An agent's transcript with Markdown, a code block and tool calls of each kind.
fn markdown_app(theme: &str) -> App {
    use macrohard::tui::transcript::LineKind;
    use serde_json::json;
    macrohard::tui::highlight::load();
    let mut a = app(theme);
    let t = a
        .view
        .transcripts
        .entry(AgentId::from("engineer-1"))
        .or_default();
    *t = Default::default();
    for chunk in [
        "## The plan\nFirst, **tests**: see [the spec](https://x.dev/spec) and `core.py`.\n",
        "- add `complete()`\n  - with an *unknown* id\n1. run them\n> keep the CLI small\n---\n",
        "```python\ndef complete(items, i):\n    \"\"\"Marks item i done.\"\"\"\n    return items[i] + 1  # one\n```\nDone.",
    ] {
        t.delta(LineKind::Text, chunk);
    }
    let content: String = (1..=9)
        .map(|i| format!("def test_{i}(): assert {i}\n"))
        .collect();
    t.tool_call(
        "c12",
        "write_file",
        &json!({"path": "tests/test_core.py", "content": content}),
    );
    t.tool_result("c12", true, "wrote tests/test_core.py (9 lines)");
    t.tool_call(
        "c13",
        "edit_file",
        &json!({"path": "todo/core.py", "old": "x = 1\n", "new": "x = 2\ny = 3\n"}),
    );
    t.tool_call(
        "c14",
        "run_command",
        &json!({"command": "python3 -m unittest"}),
    );
    let out: String = (1..=9).map(|i| format!("\nok {i}")).collect();
    t.tool_result("c14", false, &format!("exit code 1{out}"));
    a
}

#[test]
fn markdown_code_and_tool_calls_in_the_reasoning() {
    for theme in ["dark", "mono"] {
        let mut a = markdown_app(theme);
        let styled = |a: &App| {
            let mut t = Terminal::new(TestBackend::new(64, 44)).unwrap();
            t.draw(|f| panes::reasoning::draw(f, f.area(), a)).unwrap();
            fixture::styled(t.backend().buffer())
        };
        insta::assert_snapshot!(format!("reasoning_markdown_{theme}"), styled(&a));
        if theme == "dark" {
            a.unfolded = true;
            insta::assert_snapshot!("reasoning_markdown_unfolded", styled(&a));
            a.unfolded = false;
            a.raw = true;
            insta::assert_snapshot!("reasoning_markdown_raw", styled(&a));
        }
    }
}
