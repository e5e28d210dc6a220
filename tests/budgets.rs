#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Negative, NaN, infinite and absurd budgets are refused where they are set: the `:budget`
//! line, the engine's commands (the socket sends the same ones) and the command-line flags.

mod common;

use common::fixture;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use macrohard::domain::{Actor, Budget, BudgetTarget, RunState};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::sim::{SimProvider, SimSpeed};
use macrohard::protocol::Command;
use macrohard::store::Store;
use macrohard::tui::app::App;
use macrohard::tui::keymap::Keymap;
use macrohard::tui::theme::{ColorDepth, Themes};
use macrohard::tui::view::View;
use std::sync::Arc;

fn app() -> App {
    let recs = fixture::records();
    let view = View::new(RunState::fold(&recs), &recs);
    App::new(
        view,
        Keymap::default(),
        Themes::load(None, ColorDepth::Ansi16).unwrap(),
        0,
        true,
    )
}

fn type_line(app: &mut App, line: &str) {
    for c in format!(":{line}\n").chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            c => KeyCode::Char(c),
        };
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
    }
}

#[test]
fn the_budget_line_refuses_absurd_amounts_and_sends_nothing() {
    let mut a = app();
    for line in [
        "budget usd 2000000000",
        "budget usd 1e300",
        "budget tokens 1e15",
        "budget turns 99999999999",
        "budget usd -1",
        "budget usd NaN",
        "budget usd inf",
    ] {
        type_line(&mut a, line);
        assert_eq!(a.outbox.pop(), None, ":{line} was sent");
        // Close whatever the refusal left open.
        a.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    }
    type_line(&mut a, "budget usd 5");
    assert!(matches!(
        a.outbox.pop(),
        Some(Command::SetBudget { budget, .. }) if budget.usd == Some(5.0)
    ));
}

fn person() -> Actor {
    Actor::Human {
        user: "tester".into(),
        host: None,
        auto: false,
    }
}

#[tokio::test]
async fn the_engine_refuses_a_bad_budget_from_any_client() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("ws"));
    let new = NewRun {
        goal: "a todo app".into(),
        workspace: None,
        seed: 1,
        by: person(),
    };
    // Slow enough that the run is still going when the commands arrive.
    let provider = Arc::new(SimProvider::new(SimSpeed(0.05), None));
    let engine = engine::start(store, provider, config, RunTarget::New(new))
        .await
        .unwrap();
    let set = |budget: Budget| Command::SetBudget {
        target: BudgetTarget::Run,
        budget,
    };
    for (budget, what) in [
        (
            Budget {
                usd: Some(f64::NAN),
                ..Budget::default()
            },
            "not a number",
        ),
        (
            Budget {
                usd: Some(-3.0),
                ..Budget::default()
            },
            "negative",
        ),
        (
            Budget {
                usd: Some(f64::INFINITY),
                ..Budget::default()
            },
            "largest",
        ),
        (
            Budget {
                tokens: Some(u64::MAX),
                ..Budget::default()
            },
            "largest",
        ),
    ] {
        let e = engine
            .handle
            .command(person(), set(budget))
            .await
            .unwrap_err();
        assert!(e.contains("run budget") && e.contains(what), "{e}");
    }
    engine
        .handle
        .command(
            person(),
            set(Budget {
                usd: Some(3.0),
                ..Budget::default()
            }),
        )
        .await
        .unwrap();
    engine.handle.shutdown().await;
    let _ = engine.join.await;
}

#[test]
fn budget_flags_refuse_negative_nan_and_absurd_values() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--budget-usd", "-1"),
        ("--budget-usd", "NaN"),
        ("--budget-usd", "inf"),
        ("--budget-usd", "5e9"),
        ("--budget-tokens", "9000000000000"),
        ("--budget-turns", "-4"),
    ] {
        let arg = format!("{flag}={value}");
        let out = common::run(dir.path(), &["run", "--headless", &arg]);
        let (_, stderr) = common::text(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        assert!(
            !dir.path().join("store").exists(),
            "{flag} {value} started a run"
        );
    }
}
