#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Terminal escape sequences from a hostile model, from a file it writes and from a command's
//! output never reach a person's terminal: a whole headless run against a loopback server
//! speaking the OpenAI protocol, whose model puts OSC 52 clipboard writes, title changes,
//! screen clears, cursor moves, C1 controls and bidirectional overrides everywhere it can.
//! Then the headless output, `show`, `runs`, `blame`, the Markdown and HTML reports and the log
//! file must hold none of them, while the JSON lines keep the model's text exactly.

mod common;

use common::llm_server::{DONE, Reply, oa, oa_usage, start};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A clipboard write, a title change, a screen clear, a cursor move, an 8-bit CSI, bidi
/// overrides and isolates, DEL, a backspace and a carriage return.
const HOSTILE: &str = "\u{1b}]52;c;aGFjaw==\u{7}\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[H\u{9b}31m\u{202e}gnp.exe\u{2066}x\u{2069}\u{200f}\u{61c}\u{7f}\u{8}\rmasked";

/// A command whose output is hostile: printf's octal escapes for ESC, BEL, CSI and RLO.
const COMMAND: &str =
    r"printf '\033]52;c;Y21k\007\033[2J\033[10;10H\302\233\061m\342\200\256tuo-dmc\n'";

/// The first hazard in `bytes` (a control other than newline and tab, or a bidi control), or
/// invalid UTF-8.
fn hazard(bytes: &[u8]) -> Option<String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some("invalid UTF-8 (a raw 8-bit control?)".into());
    };
    text.char_indices()
        .find(|(_, c)| {
            (c.is_control() && !matches!(c, '\n' | '\t'))
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{61c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .map(|(i, c)| {
            let before: String = text[..i].chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            let after: String = text[i..].chars().take(60).collect();
            format!("U+{:04X} at byte {i}: {before:?} then {after:?}", c as u32)
        })
}

fn assert_clean(what: &str, bytes: &[u8]) {
    if let Some(h) = hazard(bytes) {
        panic!("{what} lets a terminal control through: {h}");
    }
}

/// What the scripted model does next.
enum Act {
    Call(&'static str, Value),
    Say(String),
}

/// The supervisor plans one task with a hostile title and finishes with a hostile summary; the
/// engineer writes a hostile file, reads it back, runs a command with hostile output and
/// completes with hostile evidence. Every turn thinks hostile thoughts.
fn decide(system: &str, answered: usize, last_user: &str) -> Act {
    if system.contains("supervisor of Macrohard") {
        if answered == 0 {
            return Act::Call(
                "create_task",
                json!({"title": format!("Make {HOSTILE}"), "description": format!("Do {HOSTILE}"), "role": "engineer", "depends_on": []}),
            );
        }
        if last_user.contains("settled") || last_user.contains("All tasks are done") {
            return Act::Call(
                "finish_run",
                json!({"summary": format!("Finished {HOSTILE}")}),
            );
        }
        return Act::Say(format!("Waiting {HOSTILE}"));
    }
    match answered {
        0 => Act::Call(
            "write_file",
            json!({"path": "evil.txt", "content": format!("line one {HOSTILE}\nline two\n")}),
        ),
        1 => Act::Call("read_file", json!({"path": "evil.txt"})),
        2 => Act::Call("run_command", json!({"command": COMMAND, "timeout_s": 20})),
        _ => Act::Call(
            "complete_task",
            json!({"summary": format!("Done {HOSTILE}"), "evidence": format!("{COMMAND}\n{HOSTILE}")}),
        ),
    }
}

fn model(body: &str) -> Reply {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let msgs = v["messages"].as_array().cloned().unwrap_or_default();
    let system = msgs
        .first()
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let answered = msgs.iter().filter(|m| m["role"] == "assistant").count();
    let last_user = msgs
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let thinking = oa(
        &json!({"reasoning_content": format!("Thinking {HOSTILE}")}).to_string(),
        None,
    );
    match decide(system, answered, last_user) {
        Act::Call(name, args) => {
            let frag = json!({"tool_calls": [{"index": 0, "id": format!("call_{name}_{answered}"), "type": "function", "function": {"name": name, "arguments": args.to_string()}}]});
            Reply::Sse(vec![
                thinking,
                oa(&frag.to_string(), None),
                oa("{}", Some("tool_calls")),
                oa_usage(300, 40),
                DONE.into(),
            ])
        }
        Act::Say(text) => Reply::Sse(vec![
            thinking,
            oa(&json!({"content": text}).to_string(), None),
            oa("{}", Some("stop")),
            oa_usage(200, 10),
            DONE.into(),
        ]),
    }
}

/// A headless run of the hostile model; `json` adds `--json`. Returns the data directory.
async fn hostile_run(dir: &Path, json: bool) -> (PathBuf, std::process::Output) {
    use std::os::unix::fs::PermissionsExt;
    let server = start(|_, body| model(body)).await;
    let data = dir.join("data");
    let config = dir.join("config.toml");
    std::fs::write(&config, "").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = common::bin();
    cmd.env("OPENAI_API_KEY", "sk-test")
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .args(["run", "--headless", "--yes"]);
    if json {
        cmd.arg("--json");
    }
    cmd.args([
        "--provider",
        "openai",
        "--base-url",
        &format!("{}/v1", server.url),
        "--model",
        "hostile-1",
        &format!("Goal {HOSTILE}"),
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (data, out)
}

fn ok(out: &std::process::Output, what: &str) -> Vec<u8> {
    assert!(out.status.success(), "{what}: {:?}", common::text(out));
    out.stdout.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_terminal_control_from_a_hostile_model_reaches_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = hostile_run(dir.path(), false).await;
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The hostile text really went through the run: the command ran, the file was read.
    assert!(stdout.contains("tuo-dmc"), "{stdout}");
    assert!(stdout.contains("line one"), "{stdout}");
    assert_clean("the headless output", &out.stdout);
    assert_clean("the headless messages", &out.stderr);
    // What was neutralised stays visible.
    assert!(stdout.contains("]52;c;aGFjaw=="), "{stdout}");
    assert!(stdout.contains('␛'), "{stdout}");

    let show = ok(&common::run(&data, &["show", "last"]), "show");
    assert_clean("show", &show);
    assert!(String::from_utf8_lossy(&show).contains("Make"));
    let runs = ok(&common::run(&data, &["runs"]), "runs");
    assert_clean("runs", &runs);
    assert!(String::from_utf8_lossy(&runs).contains("Goal"));
    let runs_json = ok(&common::run(&data, &["runs", "--json"]), "runs --json");
    assert_clean("runs --json", &runs_json);
    let listed: Value = serde_json::from_slice(&runs_json).unwrap();
    assert_eq!(
        listed[0]["goal"],
        format!("Goal {HOSTILE}"),
        "the JSON keeps the goal exactly"
    );
    let blame = ok(&common::run(&data, &["blame", "evil.txt"]), "blame");
    assert_clean("blame", &blame);
    assert!(String::from_utf8_lossy(&blame).contains("line one"));
    let blame1 = ok(
        &common::run(&data, &["blame", "evil.txt:1"]),
        "blame a line",
    );
    assert_clean("blame of a line", &blame1);
    for format in ["markdown", "html"] {
        let report = ok(
            &common::run(&data, &["export", "last", "--format", format]),
            format,
        );
        assert_clean(format, &report);
        assert!(String::from_utf8_lossy(&report).contains("aGFjaw=="));
    }
    let log = std::fs::read(data.join("macrohard.log")).unwrap_or_default();
    assert_clean("the log file", &log);
    assert!(
        String::from_utf8_lossy(&log).contains("Goal ␛]52;c;aGFjaw=="),
        "the log names the run's goal, neutralised"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_keep_hostile_text_exactly_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = hostile_run(dir.path(), true).await;
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_clean("the headless JSON", &out.stdout);
    assert_clean("the headless messages", &out.stderr);
    let thought = format!("Thinking {HOSTILE}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"]["type"] == "agent_delta" && e["event"]["text"] == thought.as_str()),
        "the JSON keeps the model's text exactly:\n{stdout}"
    );
    let export = ok(
        &common::run(&data, &["export", "last", "--format", "jsonl"]),
        "export",
    );
    assert_clean("the exported JSON lines", &export);
    let exported = common::export_jsonl(&data, "last");
    let read = exported
        .iter()
        .find(|e| {
            e["event"]["type"] == "tool_call_finished"
                && e["event"]["output"]
                    .as_str()
                    .is_some_and(|o| o.contains("line one"))
        })
        .expect("the file read back is in the export");
    assert!(
        read["event"]["output"]
            .as_str()
            .unwrap()
            .contains(&format!("line one {HOSTILE}")),
        "{read}"
    );
}
