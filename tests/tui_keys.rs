#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Keyboard flows on the control room's app state: every key of DESIGN §7 does what it says,
//! destructive ones ask first, and a finished run refuses to be steered.

mod common;

use common::fixture;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use macrohard::domain::{AgentId, ApprovalId, Budget, BudgetTarget, RunState, TaskId};
use macrohard::protocol::Command;
use macrohard::tui::action::Action;
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
    assert_eq!(a.outbox.pop(), Some(Command::TogglePause { now: true }));
    press(&mut a, "jp");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::ToggleAgentPause {
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
    assert_eq!(a.outbox.pop(), Some(Command::TogglePause { now: true }));
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
    // Three lines up, stepping over the raw view's line of the last call (hidden here).
    assert_eq!(a.reasoning_scroll, 4);
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
        a.reasoning_scroll, 6,
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

fn ctrl(app: &mut App, c: char) {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
}

fn composer_text(app: &App) -> Option<String> {
    match &app.popup {
        Some(Popup::Composer(c)) => Some(c.text()),
        _ => None,
    }
}

#[test]
fn a_paste_is_text_for_the_open_field_and_never_keys() {
    let mut a = app(true);
    // Nothing open: dropped with a notice, none of its characters acts.
    a.on_paste("y\nQ\n \nq");
    assert!(a.outbox.is_empty() && a.popup.is_none() && a.quit.is_none());
    assert!(a.status.as_deref().unwrap_or("").contains("ignored"));
    // The composer keeps a message's lines; nothing is sent.
    press(&mut a, "i");
    a.on_paste("first line\r\ny");
    assert_eq!(composer_text(&a).as_deref(), Some("first line\ny"));
    assert!(a.outbox.is_empty(), "a paste never sends");
    press(&mut a, "\x1b");
    // The `:` line and a filter get one line.
    press(&mut a, ":");
    a.on_paste("pause\nresume");
    assert_eq!(composer_text(&a).as_deref(), Some("pause resume"));
    assert!(a.outbox.is_empty());
    press(&mut a, "\x1b/");
    a.on_paste("warn\x1b[A\n");
    assert_eq!(
        composer_text(&a).as_deref(),
        Some("warn[A "),
        "no control characters"
    );
    press(&mut a, "\x1b?");
    a.on_paste("deny");
    assert!(matches!(&a.popup, Some(Popup::Help { filter, .. }) if filter == "deny"));
}

#[test]
fn a_second_space_during_a_round_trip_toggles_again_in_the_engine() {
    // The view still shows the run as running when the second space comes: the app must not
    // decide "pause" twice from it; the engine decides each toggle from its true state.
    let mut a = app(true);
    press(&mut a, "  ");
    assert_eq!(
        a.outbox,
        vec![
            Command::TogglePause { now: true },
            Command::TogglePause { now: true }
        ]
    );
}

#[test]
fn popups_follow_the_keymap() {
    let mut o = std::collections::BTreeMap::new();
    o.insert("down".to_owned(), vec!["J".to_owned()]);
    o.insert("close".to_owned(), vec!["ctrl-g".to_owned()]);
    o.insert("approve".to_owned(), vec!["Y".to_owned()]);
    o.insert("deny".to_owned(), vec!["N".to_owned()]);
    let mut a = app(true);
    a.keymap = Keymap::with_overrides(&o).unwrap();
    press(&mut a, ":rules\n");
    assert!(matches!(a.popup, Some(Popup::Text { scroll: 0, .. })));
    press(&mut a, "j");
    assert!(
        matches!(a.popup, Some(Popup::Text { scroll: 0, .. })),
        "j no longer moves"
    );
    press(&mut a, "J");
    assert!(
        matches!(a.popup, Some(Popup::Text { scroll: 1, .. })),
        "J moves"
    );
    press(&mut a, "\x1b");
    assert!(a.popup.is_some(), "Esc no longer closes");
    ctrl(&mut a, 'g');
    assert!(a.popup.is_none(), "the close key closes");
    // Confirmation answers with the approve and deny keys.
    press(&mut a, "3Jx");
    assert!(matches!(a.popup, Some(Popup::Confirm(_))));
    press(&mut a, "yn");
    assert!(
        matches!(a.popup, Some(Popup::Confirm(_))),
        "y and n are plain keys now"
    );
    assert!(a.outbox.is_empty());
    press(&mut a, "Y");
    assert!(a.popup.is_none());
    assert!(matches!(a.outbox.pop(), Some(Command::CancelTask { .. })));
    // A task's detail scrolls with J and closes with the close key.
    press(&mut a, "\n");
    assert!(matches!(a.popup, Some(Popup::Detail { scroll: 0, .. })));
    press(&mut a, "J");
    assert!(matches!(a.popup, Some(Popup::Detail { scroll: 1, .. })));
    ctrl(&mut a, 'g');
    assert!(a.popup.is_none());
}

fn draw(a: &App, w: u16, h: u16) -> String {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
    t.draw(|f| macrohard::tui::render::draw(f, a, 0)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn help_scrolls_by_page_and_to_either_end_and_says_so() {
    let mut a = app(true);
    press(&mut a, "?");
    let screen = draw(&a, 80, 24);
    assert!(
        screen.contains("scroll"),
        "the help says it scrolls:\n{screen}"
    );
    let max = a.scroll_max.get();
    assert!(max > 10, "the help is longer than a page at 80x24");
    let scroll = |a: &App| match &a.popup {
        Some(Popup::Help { scroll, .. }) => *scroll,
        _ => usize::MAX,
    };
    a.on_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
    assert_eq!(scroll(&a), 10);
    press(&mut a, "G");
    assert_eq!(scroll(&a), max);
    a.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE));
    assert_eq!(scroll(&a), max - 10);
    press(&mut a, "g");
    assert_eq!(scroll(&a), 0);
    press(&mut a, "j");
    assert_eq!(scroll(&a), 1);
    // Typing still filters.
    press(&mut a, "deny");
    assert!(matches!(&a.popup, Some(Popup::Help { filter, .. }) if filter == "deny"));
}

#[test]
fn the_command_line_kills_to_the_start_and_a_word_back() {
    let mut a = app(true);
    press(&mut a, ":budget task t2 10");
    ctrl(&mut a, 'w');
    assert_eq!(composer_text(&a).as_deref(), Some("budget task t2 "));
    ctrl(&mut a, 'u');
    assert_eq!(composer_text(&a).as_deref(), Some(""));
    press(&mut a, "pause\n");
    assert_eq!(a.outbox.pop(), Some(Command::TogglePause { now: true }));
}

#[test]
fn search_moves_between_matches_with_keys_that_approve_nothing() {
    let mut a = app(true);
    let km = Keymap::default();
    for action in [Action::SearchNext, Action::SearchPrev] {
        for k in km.keys_for(action) {
            assert!(
                !["y", "a", "n"].contains(&k.as_str()),
                "{k} is an approval key"
            );
        }
    }
    press(&mut a, "jj2/ids\n");
    assert!(
        a.status.as_deref().unwrap_or("").contains("2 matches"),
        "{:?}",
        a.status
    );
    let last = a.reasoning_scroll;
    press(&mut a, "[");
    assert!(
        a.status.as_deref().unwrap_or("").contains("match 1 of 2"),
        "{:?}",
        a.status
    );
    assert!(a.reasoning_scroll > last, "the earlier match is further up");
    press(&mut a, "[");
    assert!(
        a.status
            .as_deref()
            .unwrap_or("")
            .contains("no earlier match")
    );
    press(&mut a, "]");
    assert!(a.status.as_deref().unwrap_or("").contains("match 2 of 2"));
    assert_eq!(a.reasoning_scroll, last);
    assert!(a.outbox.is_empty(), "nothing was approved or denied");
    let help = {
        press(&mut a, "?");
        draw(&a, 120, 60)
    };
    assert!(
        help.contains("search-next") && help.contains("search-prev"),
        "{help}"
    );
}

#[test]
fn a_read_only_viewer_is_shown_no_keys_it_cannot_use() {
    let mut a = app(false);
    let screen = draw(&a, 120, 40);
    let hints = screen.lines().last().unwrap_or("");
    for gone in ["pause run", "pause agent", "message"] {
        assert!(!hints.contains(gone), "{gone} in the hints: {hints}");
    }
    assert!(hints.contains("help"), "{hints}");
    let bar = screen
        .lines()
        .find(|l| l.contains("⚠ A1"))
        .expect("the approvals bar");
    assert!(
        !bar.contains("approve"),
        "the approvals bar offers no answer: {bar}"
    );
    assert!(bar.contains("examine"), "it can still look closer: {bar}");
    press(&mut a, "?");
    let help = draw(&a, 120, 60);
    for gone in [
        "approve the oldest request",
        "pause / resume the whole run",
        "message the selected agent",
        "set (or +extend) a budget",
        "stop the run and quit",
    ] {
        assert!(!help.contains(gone), "{gone} in a read-only help:\n{help}");
    }
    assert!(help.contains("theme NAME"), "{help}");
    // The steering viewer sees them.
    let mut s = app(true);
    press(&mut s, "?");
    let help = draw(&s, 120, 60);
    assert!(
        help.contains(":approve") && help.contains(":budget"),
        "{help}"
    );
}

#[test]
fn m_shows_the_raw_text_and_enter_in_the_reasoning_unfolds_tool_entries() {
    let mut a = app(true);
    let agent = a.selected_agent().cloned().unwrap();
    let content: String = (1..=10).map(|i| format!("line_{i} = {i}\n")).collect();
    let t = a.view.transcripts.entry(agent).or_default();
    t.delta(
        macrohard::tui::transcript::LineKind::Text,
        "## Plan\n**bold** move\n",
    );
    t.tool_call(
        "c99",
        "write_file",
        &serde_json::json!({"path": "x.py", "content": content}),
    );
    let screen = draw(&a, 120, 40);
    assert!(
        screen.contains("▶ c99 write_file x.py (10 lines)"),
        "{screen}"
    );
    assert!(
        screen.contains("… 4 more lines (Enter unfolds)"),
        "{screen}"
    );
    assert!(screen.contains("bold move") && !screen.contains("**bold**"));
    assert!(!screen.contains("line_10"));
    press(&mut a, "2\n");
    assert!(a.popup.is_none(), "Enter in the reasoning opens nothing");
    assert_eq!(a.status.as_deref(), Some("tool entries unfolded"));
    let screen = draw(&a, 120, 40);
    assert!(screen.contains("line_10 = 10") && !screen.contains("more lines"));
    press(&mut a, "m");
    let screen = draw(&a, 120, 40);
    assert!(
        screen.contains("Reasoning: ") && screen.contains(" · raw"),
        "{screen}"
    );
    assert!(screen.contains("**bold** move") && screen.contains("## Plan"));
    assert!(
        screen.contains(r#"▶ c99 write_file {"content":"line_1 = 1\nline_2 ="#),
        "{screen}"
    );
    assert!(!screen.contains("(10 lines)"));
    press(&mut a, "m");
    assert!(draw(&a, 120, 40).contains("(10 lines)"));
    // The key is in the help and in the reasoning's hints.
    a.status = None;
    let screen = draw(&a, 120, 40);
    assert!(
        screen.contains(" Enter  unfold ") && screen.contains(" m  raw "),
        "{screen}"
    );
    press(&mut a, "?raw");
    assert!(draw(&a, 120, 40).contains("rendered Markdown / the raw text"));
}
