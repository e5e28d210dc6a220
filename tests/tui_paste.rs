#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Pastes in the real binary, in a pseudo-terminal with bracketed paste: a paste is text for the
//! field that is open, never keys; a large one arrives whole and the next key acts on it.

mod common;

use common::export_jsonl;
use common::pty::Pty;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

/// Pastes as a terminal does: in brackets when the program asked for bracketed paste, else
/// as the bare characters (which a program then reads as keys).
fn paste(p: &mut Pty, text: &str) {
    let bracketed = p.parser.lock().unwrap().screen().bracketed_paste();
    if bracketed {
        p.send(&format!("\x1b[200~{text}\x1b[201~"));
    } else {
        p.send(text);
    }
}

fn count(events: &[serde_json::Value], kind: &str) -> usize {
    events.iter().filter(|e| e["event"]["type"] == kind).count()
}

#[test]
fn a_paste_of_lines_is_text_in_the_composer_and_never_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(dir.path(), &[], &[("MACROHARD_SIM_SPEED", "3")], 120, 40);
    p.wait_for("an approval request", Duration::from_secs(60), |s| {
        s.contains("⚠ A1")
    });
    assert!(
        p.parser.lock().unwrap().screen().bracketed_paste(),
        "the control room asks the terminal for bracketed paste"
    );

    // Nothing open: the paste is dropped with a notice; none of its keys acts.
    paste(&mut p, "y\rQ\ry\r q");
    p.wait_for("the notice", LONG, |s| s.contains("characters ignored"));
    std::thread::sleep(Duration::from_millis(300));
    let s = p.screen();
    assert!(s.contains("⚠ A1"), "nothing was approved:\n{s}");
    assert!(!s.contains("confirm"), "nothing asks to stop:\n{s}");
    assert!(
        !s.lines().next().unwrap_or("").contains("PAUSED"),
        "nothing paused:\n{s}"
    );
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "q in a paste does not quit"
    );

    // The composer open: two lines, the second a key that would approve, arrive as text.
    p.send("i");
    p.wait_for("the composer", LONG, |s| s.contains("message to"));
    paste(&mut p, "first pasted line\ry");
    p.wait_for("the pasted text in the composer", LONG, |s| {
        s.contains("first pasted line")
    });
    std::thread::sleep(Duration::from_millis(300));
    let s = p.screen();
    assert!(s.contains("message to"), "the composer stays open:\n{s}");
    assert!(
        s.contains("⚠ A1"),
        "the pending request is not approved:\n{s}"
    );
    p.send("\x1b");
    p.wait_for("the composer to close", LONG, |s| !s.contains("message to"));
    p.send("q");
    p.wait_exit(Duration::from_secs(5)).expect("q exits");

    let events = export_jsonl(dir.path(), "last");
    assert_eq!(count(&events, "human_message"), 0, "nothing was sent");
    let answered = events
        .iter()
        .any(|e| e["event"]["type"] == "approval_resolved" && e["event"]["approval"] == "A1");
    assert!(!answered, "A1 was not answered by the paste");
    {
        let parser = p.parser.lock().unwrap();
        assert!(
            !parser.screen().bracketed_paste(),
            "bracketed paste is turned off on the way out"
        );
    }
}

#[test]
fn a_100_kb_paste_arrives_whole_and_the_next_esc_cancels_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(dir.path(), &[], &[("MACROHARD_SIM_SPEED", "2")], 120, 40);
    p.wait_for("the control room", LONG, |s| s.contains("1 Agents"));
    p.send("i");
    p.wait_for("the composer", LONG, |s| s.contains("message to"));
    let line =
        "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 pasted-text";
    let mut text = String::new();
    while text.len() < 100 * 1024 {
        text.push_str(line);
        text.push('\r');
    }
    text.push_str("END-OF-PASTE");
    let start = Instant::now();
    paste(&mut p, &text);
    // The last line shows, with nothing typed after it.
    let took = p.wait_for("the end of the paste", LONG, |s| s.contains("END-OF-PASTE"));
    let whole = start.elapsed();
    eprintln!("100 KB paste on screen {whole:?} after the first byte ({took:?} after the write)");
    assert!(whole < Duration::from_secs(5), "the paste took {whole:?}");
    // The next key acts at once, on what the screen shows: Esc cancels the message.
    let esc = Instant::now();
    p.send("\x1b");
    let closed = p.wait_for("Esc to close the composer", Duration::from_secs(5), |s| {
        !s.contains("message to")
    });
    eprintln!("Esc closed the composer {closed:?} after it was pressed");
    assert!(
        esc.elapsed() < Duration::from_secs(2),
        "Esc took {:?}",
        esc.elapsed()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "the client is still running"
    );
    p.send("q");
    p.wait_exit(Duration::from_secs(5)).expect("q exits");
    let events = export_jsonl(dir.path(), "last");
    assert_eq!(
        count(&events, "human_message"),
        0,
        "Esc cancelled the message: nothing was sent"
    );
}

#[test]
fn keys_typed_past_one_read_buffer_are_all_handled_without_waiting_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(dir.path(), &[], &[("MACROHARD_SIM_SPEED", "2")], 120, 40);
    p.wait_for("the control room", LONG, |s| s.contains("1 Agents"));
    p.send(":");
    p.wait_for("the command line", LONG, |s| s.contains(" : "));
    // 3 KB of keys in one write (a paste in a terminal without bracketed paste, or a fast
    // typist over a slow link): the last of them shows without another key pressed.
    let mut keys = "x".repeat(3000);
    keys.push_str("THE-LAST-KEYS");
    p.send(&keys);
    p.wait_for("the last keys typed", Duration::from_secs(5), |s| {
        s.contains("THE-LAST-KEYS")
    });
    p.send("\x1b");
    p.wait_for(
        "Esc to close the command line",
        Duration::from_secs(5),
        |s| !s.contains("THE-LAST-KEYS"),
    );
    p.send("q");
    p.wait_exit(Duration::from_secs(5)).expect("q exits");
}
