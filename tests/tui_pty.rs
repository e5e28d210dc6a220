#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real binary in a pseudo-terminal, as a person uses it: start, pause, resume, approve,
//! help, inject, quit with the terminal restored; and a lost terminal (SIGHUP).

mod common;

use common::pty::Pty;
use common::{export_jsonl, run};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn start_pause_resume_approve_help_inject_and_quit() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(dir.path(), &[], &[("MACROHARD_SIM_SPEED", "3")], 120, 40);
    p.wait_for("the control room", LONG, |s| {
        s.contains("1 Agents") && s.contains("3 Task graph") && s.contains("SIMULATED")
    });
    p.wait_for("the plan", LONG, |s| s.contains("T7"));

    p.send(" ");
    p.wait_for("PAUSED in the header", LONG, |s| {
        s.lines().next().unwrap_or("").contains("PAUSED")
    });
    p.send(" ");
    p.wait_for("RUNNING in the header", LONG, |s| {
        s.lines().next().unwrap_or("").contains("RUNNING")
    });

    p.wait_for("an approval request", Duration::from_secs(60), |s| {
        s.contains("⚠ A1")
    });
    p.send("y");
    p.wait_for("the approval to clear", LONG, |s| !s.contains("⚠ A1 "));

    p.send("?");
    p.wait_for("the help", LONG, |s| {
        s.contains("Help ·") && s.contains("type to filter")
    });
    p.send("\x1b");
    p.wait_for("the help to close", LONG, |s| !s.contains("type to filter"));

    p.send("i");
    p.wait_for("the composer", LONG, |s| s.contains("message to"));
    p.send("hello from the pty\r");
    p.wait_for("the message in the transcript", LONG, |s| {
        s.contains("hello from the pty")
    });
    std::thread::sleep(Duration::from_millis(1500));

    p.send("q");
    let took = p.wait_exit(Duration::from_secs(3)).expect("q exits");
    assert!(
        took < Duration::from_secs(1) + Duration::from_millis(500),
        "q took {took:?}"
    );
    {
        let parser = p.parser.lock().unwrap();
        assert!(
            !parser.screen().alternate_screen(),
            "the alternate screen is left"
        );
        assert!(!parser.screen().hide_cursor(), "the cursor is shown again");
    }

    let events = export_jsonl(dir.path(), "last");
    let said = events.iter().any(|e| {
        e["event"]["type"] == "human_message" && e["event"]["text"] == "hello from the pty"
    });
    assert!(said, "the message is recorded");
    // What the agent it was sent to streamed, whatever pieces it was recorded in.
    let to = events
        .iter()
        .find(|e| e["event"]["type"] == "human_message")
        .map(|e| e["event"]["target"].clone())
        .unwrap_or_default();
    let streamed: String = events
        .iter()
        .filter(|e| e["event"]["type"] == "agent_delta" && e["event"]["agent"] == to)
        .filter_map(|e| e["event"]["text"].as_str())
        .collect();
    let heard = streamed.contains("hello from the pty");
    assert!(
        heard,
        "the agent's next request contained the message (the simulated agent answers it)"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"]["type"] == "approval_resolved")
    );
    // q detaches: the run is not stopped, and resumes where it was.
    let out = run(dir.path(), &["resume", "last", "--headless", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", common::text(&out));
}

/// SIGHUP to a control room in `args`' mode: the client is gone within 200 ms and the run is
/// left resumable (or going on in its server), not stopped.
fn a_lost_terminal_ends_the_client_at_once(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(dir.path(), args, &[("MACROHARD_SIM_SPEED", "2")], 80, 24);
    p.wait_for("the control room", LONG, |s| s.contains("1 Agents"));
    p.wait_for("the run to work", LONG, |s| s.contains("RUNNING"));
    let pid = p.child.process_id().unwrap();
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    let took = p
        .wait_exit(Duration::from_secs(5))
        .expect("SIGHUP ends the client");
    eprintln!("{args:?}: the client ended {took:?} after SIGHUP");
    assert!(took < Duration::from_millis(200), "{args:?}: took {took:?}");
    let out = run(dir.path(), &["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = runs[0]["status"].as_str().unwrap_or_default().to_owned();
    assert!(
        ["planning", "running", "paused"].contains(&status.as_str()),
        "the run is left resumable, not stopped: {status} ({:?})",
        common::text(&out)
    );
}

#[test]
fn a_lost_terminal_ends_an_attached_client_within_200_ms() {
    a_lost_terminal_ends_the_client_at_once(&[]);
}

#[test]
fn a_lost_terminal_ends_a_foreground_run_within_200_ms_and_it_stays_resumable() {
    a_lost_terminal_ends_the_client_at_once(&["--foreground"]);
}

/// The terminal closed under a control room in `args`' mode (the window closed, the SSH
/// connection dropped): the client is gone within 200 ms of the hang-up.
fn a_closed_terminal_ends_the_client_at_once(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(dir.path(), args, &[("MACROHARD_SIM_SPEED", "2")], 80, 24);
    p.wait_for("the control room", LONG, |s| s.contains("1 Agents"));
    p.wait_for("the run to work", LONG, |s| s.contains("RUNNING"));
    let at = p.hang_up();
    p.wait_exit(Duration::from_secs(5))
        .expect("a closed terminal ends the client");
    let took = at.elapsed();
    eprintln!("{args:?}: the client ended within {took:?} of the hang-up");
    assert!(took < Duration::from_millis(200), "{args:?}: took {took:?}");
}

#[test]
fn a_closed_terminal_ends_an_attached_client_within_200_ms() {
    a_closed_terminal_ends_the_client_at_once(&[]);
}

#[test]
fn a_closed_terminal_ends_a_foreground_run_within_200_ms() {
    a_closed_terminal_ends_the_client_at_once(&["--foreground"]);
}

#[test]
fn a_dumb_terminal_gets_lines_with_a_notice_not_a_full_screen() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(
        dir.path(),
        &["--foreground", "run", "--fps", "10"],
        &[("MACROHARD_SIM_SPEED", "3"), ("TERM", "dumb")],
        100,
        30,
    );
    p.wait_for("the notice", LONG, |s| s.contains("TERM=dumb"));
    p.wait_for("event lines", LONG, |s| s.contains("T1"));
    {
        let parser = p.parser.lock().unwrap();
        let screen = parser.screen();
        assert!(!screen.alternate_screen(), "no full-screen UI");
        assert!(!screen.contents().contains("1 Agents"), "no panes");
    }
    let pid = p.child.process_id().unwrap();
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    p.wait_exit(Duration::from_secs(5)).expect("SIGHUP ends it");
}

#[test]
fn no_color_keeps_the_selection_visible() {
    let dir = tempfile::tempdir().unwrap();
    let p = Pty::spawn(
        dir.path(),
        &["run", "--fps", "10"],
        &[("MACROHARD_SIM_SPEED", "2"), ("NO_COLOR", "1")],
        100,
        30,
    );
    p.wait_for("the control room", LONG, |s| s.contains("1 Agents"));
    std::thread::sleep(Duration::from_millis(300));
    let parser = p.parser.lock().unwrap();
    let screen = parser.screen();
    // The first agent row is selected: drawn in reverse video, with no colour anywhere.
    let (mut reversed, mut coloured) = (false, false);
    for row in 0..30 {
        for col in 0..100 {
            if let Some(cell) = screen.cell(row, col) {
                reversed |= cell.inverse() && cell.contents() == "s";
                coloured |= cell.fgcolor() != vt100::Color::Default
                    || cell.bgcolor() != vt100::Color::Default;
            }
        }
    }
    assert!(reversed, "the selection is shown in reverse video");
    assert!(!coloured, "NO_COLOR draws no colour");
}
