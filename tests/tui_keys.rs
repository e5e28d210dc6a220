#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Keyboard flows on the control room's app state: every key of DESIGN §7 does what it says,
//! destructive ones ask first, and a finished run refuses to be steered.

mod common;

use common::fixture;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use macrohard::domain::{AgentId, ApprovalId, Budget, BudgetTarget, RunState, TaskId};
use macrohard::protocol::Command;
use macrohard::tui::app::{App, Focus, Quit};
use macrohard::tui::keymap::Keymap;
use macrohard::tui::popups::Popup;
use macrohard::tui::theme::{ColorDepth, Themes};
use macrohard::tui::view::View;

fn app(can_steer: bool) -> App {
    let recs = fixture::records();
    let view = View::new(RunState::fold(&recs), &recs);
    App::new(
        view,
        Keymap::default(),
        Themes::load(None, ColorDepth::Ansi16).unwrap(),
        0,
        can_steer,
    )
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            '\t' => KeyCode::Tab,
            c => KeyCode::Char(c),
        };
        let m = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        app.on_key(KeyEvent::new(code, m));
    }
}

#[test]
fn approvals_are_answered_oldest_first_with_y_a_and_n_with_a_reason() {
    let mut a = app(true);
    press(&mut a, "y");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::Approve {
            approval: ApprovalId::from("A1"),
            always: false
        })
    );
    press(&mut a, "a");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::Approve {
            approval: ApprovalId::from("A1"),
            always: true
        })
    );
    press(&mut a, "n");
    assert!(matches!(a.popup, Some(Popup::Composer(_))));
    press(&mut a, "too risky\n");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::Deny {
            approval: ApprovalId::from("A1"),
            reason: "too risky".into()
        })
    );
    assert!(a.popup.is_none());
}

#[test]
fn inject_goes_to_the_selected_agent_through_the_composer() {
    let mut a = app(true);
    press(&mut a, "jj"); // agents: supervisor, architect-1, engineer-1
    press(&mut a, "i");
    press(&mut a, "use pathlib\n");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::Inject {
            target: Some(AgentId::from("engineer-1")),
            text: "use pathlib".into()
        })
    );
    press(&mut a, "i\x1b");
    assert!(
        a.outbox.is_empty() && a.popup.is_none(),
        "Esc cancels the message"
    );
    press(&mut a, "3i");
    press(&mut a, "replan please\n");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::Inject {
            target: None,
            text: "replan please".into()
        }),
        "from other panes it goes to the supervisor"
    );
}

#[test]
fn cancel_and_stop_ask_to_confirm() {
    let mut a = app(true);
    press(&mut a, "3j");
    assert_eq!(a.focus, Focus::Tasks);
    press(&mut a, "x");
    assert!(matches!(a.popup, Some(Popup::Confirm(_))));
    press(&mut a, "n");
    assert!(a.outbox.is_empty());
    press(&mut a, "xy");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::CancelTask {
            task: TaskId::numbered(2),
            reason: None
        })
    );
    press(&mut a, "Q");
    assert!(a.quit.is_none());
    press(&mut a, "y");
    assert_eq!(a.outbox.pop(), Some(Command::StopRun { reason: None }));
    assert_eq!(a.quit, Some(Quit::Stopped));
}

#[test]
fn space_pauses_p_pauses_the_agent_r_retries_and_q_detaches() {
    let mut a = app(true);
    press(&mut a, " ");
    assert_eq!(a.outbox.pop(), Some(Command::PauseRun { now: true }));
    press(&mut a, "jp");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::PauseAgent {
            agent: AgentId::from("architect-1")
        })
    );
    press(&mut a, "3r");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::RetryTask {
            task: TaskId::numbered(1)
        })
    );
    press(&mut a, "q");
    assert_eq!(a.quit, Some(Quit::Detach));
}

#[test]
fn the_command_line_shares_the_command_set_and_completes() {
    let mut a = app(true);
    press(&mut a, ":bud\t5\n");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::SetBudget {
            target: BudgetTarget::Run,
            budget: Budget {
                usd: Some(5.0),
                ..Budget::default()
            }
        })
    );
    press(&mut a, ":budget tokens 1000\n");
    assert!(
        matches!(a.outbox.pop(), Some(Command::SetBudget { budget, .. }) if budget.tokens == Some(1000))
    );
    press(&mut a, ":pause\n");
    assert_eq!(a.outbox.pop(), Some(Command::PauseRun { now: true }));
    press(&mut a, ":pause next\n");
    assert_eq!(a.outbox.pop(), Some(Command::PauseRun { now: false }));
    press(&mut a, ":theme mono\n");
    assert_eq!(a.theme().name, "mono");
    press(&mut a, ":retry t3\n");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::RetryTask {
            task: TaskId::numbered(3)
        })
    );
    press(&mut a, ":launch\n");
    assert!(
        a.status
            .as_deref()
            .unwrap_or("")
            .contains("unknown command")
    );
}

#[test]
fn help_filters_focus_zoom_grid_and_theme_keys() {
    let mut a = app(true);
    press(&mut a, "?");
    assert!(matches!(a.popup, Some(Popup::Help { .. })));
    press(&mut a, "deny");
    assert!(matches!(&a.popup, Some(Popup::Help { filter, .. }) if filter == "deny"));
    press(&mut a, "\x1b");
    assert!(a.popup.is_none());
    press(&mut a, "\t");
    assert_eq!(a.focus, Focus::Reasoning);
    press(&mut a, "4z");
    assert!(a.zoomed && a.focus == Focus::Logs);
    press(&mut a, "zv");
    assert!(!a.zoomed && a.grid);
    let before = a.theme;
    press(&mut a, "t");
    assert_ne!(a.theme, before);
}

#[test]
fn the_reasoning_pane_holds_its_place_while_text_arrives() {
    let mut a = app(true);
    press(&mut a, "jj2kkk");
    assert_eq!(a.reasoning_scroll, 3);
    let mut recs = fixture::records();
    let mut next = recs.pop().unwrap();
    next.seq = a.view.state.last_seq + 1;
    next.event = macrohard::domain::Event::ToolCallFinished {
        agent: AgentId::from("engineer-1"),
        call: "c11".into(),
        ok: true,
        output: "a\nb".into(),
        duration_ms: 3,
    };
    a.on_record(&next);
    assert_eq!(
        a.reasoning_scroll, 5,
        "two new lines arrived below; the view stays put"
    );
    press(&mut a, "G");
    assert_eq!(a.reasoning_scroll, 0, "G follows again");
}

#[test]
fn a_viewer_that_cannot_steer_sends_nothing_and_says_why() {
    let mut a = app(false);
    press(&mut a, "y ");
    assert!(a.outbox.is_empty());
    assert!(
        a.status
            .as_deref()
            .unwrap_or("")
            .contains("read-only: it can look but not steer")
    );
    press(&mut a, "/warn\n");
    assert_eq!(a.log_filter.text, "warn");
}

#[test]
fn governance_from_the_keyboard_budgets_autonomy_rules_and_examine() {
    use macrohard::domain::Autonomy;
    let mut a = app(true);
    // The fixture's engineer role has $0.05 and 40 turns; extend the task's own by an amount.
    press(&mut a, ":budget task t2 usd +0.5\n");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::SetBudget {
            target: BudgetTarget::Task {
                task: TaskId::from("T2")
            },
            budget: Budget {
                usd: Some(0.5),
                ..Budget::default()
            },
        })
    );
    press(&mut a, ":budget role engineer turns +10\n");
    let Some(Command::SetBudget { target, budget }) = a.outbox.pop() else {
        panic!("no budget command")
    };
    assert_eq!(
        target,
        BudgetTarget::Role {
            role: "engineer".into()
        }
    );
    assert_eq!((budget.turns, budget.usd), (Some(50), Some(0.05)));
    press(&mut a, ":budget role engineer lots\n");
    assert!(a.outbox.is_empty());
    assert!(a.status.as_deref().unwrap_or("").contains("budget"));
    press(&mut a, "B");
    assert_eq!(a.outbox.pop(), Some(Command::ExtendBudget { target: None }));
    press(&mut a, ":autonomy full\n");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::SetAutonomy {
            level: Autonomy::Full
        })
    );
    press(&mut a, ":autonomy yolo\n");
    assert!(a.outbox.is_empty());
    press(&mut a, ":revoke 2\n");
    assert_eq!(a.outbox.pop(), Some(Command::RevokeRule { index: 2 }));
    press(&mut a, ":rules\n");
    let Some(Popup::Text { lines, .. }) = a.popup.as_ref() else {
        panic!("no rules popup")
    };
    assert!(lines.iter().any(|l| l.contains("autonomy: ask-risky")));
    assert!(lines.iter().any(|l| l.contains("sandbox:")));
    press(&mut a, "\x1b");
    // e examines the oldest request: its risk, in words, and its arguments.
    press(&mut a, "e");
    let Some(Popup::Text { title, lines, .. }) = a.popup.as_ref() else {
        panic!("no examine popup")
    };
    assert!(title.contains("A1"), "{title}");
    let text = lines.join("\n");
    assert!(text.contains("irreversible"), "{text}");
    assert!(text.contains("none (sandboxed)"), "{text}");
    // And answered from there.
    press(&mut a, "y");
    assert!(a.popup.is_none());
    assert_eq!(
        a.outbox.pop(),
        Some(Command::Approve {
            approval: ApprovalId::from("A1"),
            always: false
        })
    );
}
