#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The tmux model with the real binary in pseudo-terminals: `macrohard-tui` starts a server
//! and attaches; `q` detaches and the run goes on; a second control room attaches at once and
//! finds the run further along; two attached at once share an approval; a killed terminal
//! only detaches; and the finished run has no gap in its events.

mod common;

use common::pty::Pty;
use common::run;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn runs(dir: &std::path::Path) -> serde_json::Value {
    let out = run(dir, &["runs", "--json"]);
    assert!(out.status.success(), "{:?}", common::text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn detach_attach_share_an_approval_and_survive_a_killed_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("MACROHARD_SIM_SPEED", "3")];
    let mut a = Pty::spawn(dir.path(), &[], &env, 120, 40);
    a.wait_for("the control room", LONG, |s| {
        s.contains("1 Agents") && s.contains("SIMULATED")
    });
    a.wait_for("the plan", LONG, |s| s.contains("T7"));
    a.send("q");
    let took = a.wait_exit(Duration::from_secs(3)).expect("q detaches");
    assert!(took < Duration::from_secs(1), "q took {took:?}");
    let before = runs(dir.path());
    assert!(
        ["planning", "running"].contains(&before[0]["status"].as_str().unwrap()),
        "the run goes on: {before}"
    );
    let seq_before = common::export_jsonl(dir.path(), "last").len();
    assert!(common::server_pid(dir.path()).is_some(), "a server runs it");

    // A second control room attaches within a second and finds the run further along.
    std::thread::sleep(Duration::from_millis(500));
    let b = Pty::spawn(dir.path(), &[], &env, 120, 40);
    let took = b.wait_for("the control room again", LONG, |s| s.contains("1 Agents"));
    eprintln!("attaching to the live run took {took:?}");
    assert!(took < Duration::from_secs(1), "attaching took {took:?}");
    let seq_after = common::export_jsonl(dir.path(), "last").len();
    assert!(seq_after > seq_before, "{seq_after} > {seq_before}");

    // Two attached at once: the same approval shows in both; `y` in one clears it in both.
    let mut c = Pty::spawn(dir.path(), &["attach"], &[], 120, 40);
    c.wait_for("the third control room", LONG, |s| s.contains("1 Agents"));
    let asked = |s: &str| s.contains("⚠ A1");
    b.wait_for("an approval in b", Duration::from_secs(90), asked);
    c.wait_for("the approval in c", LONG, asked);
    c.send("y");
    b.wait_for("the approval to clear in b", LONG, |s| !s.contains("⚠ A1 "));
    c.wait_for("the approval to clear in c", LONG, |s| !s.contains("⚠ A1 "));

    // The terminal of c is killed: only c goes; the run goes on for b.
    let pid = c.child.process_id().unwrap();
    // SAFETY: signalling a child this test started.
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    let took = c.wait_exit(Duration::from_secs(3)).expect("SIGHUP ends c");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let seq = common::export_jsonl(dir.path(), "last").len();
    b.wait_for("b still live", LONG, |s| s.contains("1 Agents"));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(common::export_jsonl(dir.path(), "last").len() > seq);

    // Finished unattended (approvals answered by this --yes follower): no gap in the events.
    let out = run(dir.path(), &["resume", "last", "--headless", "--yes"]);
    if out.status.code() != Some(0) {
        // Said first and short, so a CI excerpt of the failure shows why.
        let stderr = common::text(&out).1;
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        eprintln!(
            "the follower ended with {:?}; its last lines, newest first:\n{}\nruns: {}",
            out.status.code(),
            tail.join("\n"),
            runs(dir.path())
        );
    }
    assert_eq!(out.status.code(), Some(0), "{:?}", common::text(&out));
    let events = common::export_jsonl(dir.path(), "last");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "no gap");
    }
    assert_eq!(runs(dir.path())[0]["status"], "completed");
    drop(b);
    assert!(
        common::server_pid(dir.path()).is_none(),
        "the server is stopped"
    );
}

#[test]
fn attach_without_a_server_says_so_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["attach"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out).1.contains("no server runs"));
}

#[test]
fn q_upper_stops_the_run_and_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Pty::spawn(dir.path(), &[], &[("MACROHARD_SIM_SPEED", "2")], 120, 40);
    a.wait_for("the control room", LONG, |s| s.contains("1 Agents"));
    a.send("Q");
    a.wait_for("the confirmation", LONG, |s| {
        s.contains("y/n") || s.contains("[y]")
    });
    a.send("y");
    a.wait_exit(Duration::from_secs(5)).expect("Q exits");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while common::server_pid(dir.path()).is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        common::server_pid(dir.path()).is_none(),
        "the server stopped"
    );
    let r = runs(dir.path());
    assert_eq!(r[0]["status"], "cancelled", "{r}");
}

#[test]
fn a_headless_run_is_handed_to_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::bin()
        .env("MACROHARD_SIM_SPEED", "0")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while common::server_pid(dir.path()).is_none() {
        assert!(std::time::Instant::now() < deadline, "the server listens");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The store is the server's: this process must not (and does not) open it.
    let out = run(
        dir.path(),
        &["run", "--headless", "--yes", "Write a todo app"],
    );
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("created: \"Write a todo app\""), "{stdout}");
    assert!(!stderr.contains("in use"), "{stderr}");
    let r = runs(dir.path());
    assert_eq!(r[0]["status"], "completed");
    let events = common::export_jsonl(dir.path(), "last");
    let approved_by_yes = events
        .iter()
        .any(|e| e["event"]["type"] == "approval_resolved" && e["event"]["by"]["auto"] == true);
    assert!(approved_by_yes, "the follower's approvals are marked --yes");
    let show = run(dir.path(), &["show", "last"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("completed"));
    // SAFETY: signalling the server this test started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let status = server.wait().unwrap();
    assert!(status.success(), "SIGTERM stops the server cleanly");
    assert!(common::server_pid(dir.path()).is_none());
}
