#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tools a model can use well, driven by a scripted model through the real engine: a command's
//! long output comes as head and tail with the count left out and the whole of it saved, which
//! read_file reads back by line ranges; read_file numbers lines and says how to read on;
//! edit_file reports a syntax error after the edit, the closest text when `old` is missing and
//! the lines when it occurs twice; files a command creates or deletes are the task's and go
//! into its commit.

mod common;

use common::scripted::{all_done, run, step};
use macrohard::domain::{Event, EventRecord};
use macrohard::llm::sim::Turn;
use macrohard::llm::{LlmRequest, MessageRole};
use serde_json::json;
use std::collections::HashMap;

const NUMBERS: &str = "Make the numbers";
const CLEAN: &str = "Remove the scratch file";

fn supervisor(req: &LlmRequest) -> Turn {
    match step(req) {
        0 => Turn::think("plan")
            .call(
                "create_task",
                json!({"title": NUMBERS, "description": "d", "role": "engineer"}),
            )
            .call(
                "create_task",
                json!({"title": CLEAN, "description": "d", "role": "engineer", "depends_on": ["T1"]}),
            ),
        _ if all_done(req) => Turn::think("done").call("finish_run", json!({"summary": "ok"})),
        _ => Turn::think("waiting"),
    }
}

/// The text of the latest tool result the model has seen.
fn last_result(req: &LlmRequest) -> &str {
    req.messages
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::Tool)
        .map_or("", |m| m.content.as_str())
}

/// The saved output's path, as the result of a command names it.
fn saved_path(result: &str) -> String {
    result
        .split("are in ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or("nowhere")
        .to_owned()
}

fn numbers(req: &LlmRequest) -> Turn {
    let t = Turn::think("next");
    match step(req) {
        0 => t.call(
            "run_command",
            json!({"command": "seq 1 1000 > numbers.txt; echo scratch > doomed.txt; seq 1 300"}),
        ),
        1 => t.call(
            "read_file",
            json!({"path": saved_path(last_result(req)), "offset": 51, "limit": 3}),
        ),
        2 => t.call("read_file", json!({"path": "numbers.txt", "offset": 998})),
        3 => t.call("read_file", json!({"path": "numbers.txt"})),
        4 => t.call(
            "write_file",
            json!({"path": "config.toml", "content": "[server]\nport = 8080\nhost = \"localhost\"\n"}),
        ),
        5 => t.call(
            "edit_file",
            json!({"path": "config.toml", "old": "port = 8080", "new": "port = "}),
        ),
        6 => t.call(
            "edit_file",
            json!({"path": "config.toml", "old": "host = 'localhost'", "new": "host = '0.0.0.0'"}),
        ),
        7 => t.call(
            "edit_file",
            json!({"path": "config.toml", "old": " = ", "new": "="}),
        ),
        8 => t.call(
            "write_file",
            json!({"path": "data.json", "content": "{\"a\": 1,}\n"}),
        ),
        _ => t.call(
            "complete_task",
            json!({"summary": "numbers made", "evidence": "numbers.txt has 1000 lines"}),
        ),
    }
}

fn model(req: &LlmRequest) -> Turn {
    if req.context.role == "supervisor" {
        return supervisor(req);
    }
    let title = req.context.task.as_ref().map_or("", |t| t.title.as_str());
    if title == NUMBERS {
        return numbers(req);
    }
    match step(req) {
        0 => Turn::think("clean").call("run_command", json!({"command": "rm doomed.txt"})),
        _ => Turn::think("done").call(
            "complete_task",
            json!({"summary": "removed", "evidence": "doomed.txt is gone"}),
        ),
    }
}

/// Each finished workspace call: (tool, ok, output), in order.
fn results(records: &[EventRecord]) -> Vec<(String, bool, String)> {
    let mut tools = HashMap::new();
    let mut out = Vec::new();
    for r in records {
        match &r.event {
            Event::ToolCallRequested { call, tool, .. } => {
                tools.insert(call.clone(), tool.clone());
            }
            Event::ToolCallFinished {
                call, ok, output, ..
            } => {
                let tool = tools.get(call).cloned().unwrap_or_default();
                out.push((tool, *ok, output.clone()));
            }
            _ => {}
        }
    }
    out
}

use common::git::git;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_model_reads_by_lines_edits_with_hints_and_commits_what_commands_made() {
    let dir = tempfile::tempdir().unwrap();
    let done = run(dir.path(), dir.path().join("ws"), "numbers", model, |_| {}).await;
    done.assert_completed();
    let results = results(&done.records);
    let of = |tool: &str, n: usize| -> (bool, String) {
        let (_, ok, text) = results
            .iter()
            .filter(|(t, _, _)| t == tool)
            .nth(n)
            .unwrap_or_else(|| panic!("{tool} #{n} in {results:#?}"));
        (*ok, text.clone())
    };

    // The command: head and tail by lines, the count left out, the files it made.
    let (ok, text) = of("run_command", 0);
    assert!(ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "exit code 0", "{text}");
    assert_eq!(lines[1], "files changed: doomed.txt, numbers.txt", "{text}");
    assert_eq!(lines[2], "1");
    assert_eq!(lines[51], "50");
    assert!(lines[52].starts_with("[… 100 lines ("), "{text}");
    assert!(lines[52].ends_with("from line 51]"), "{text}");
    assert_eq!(lines[53], "151");
    assert_eq!(*lines.last().unwrap(), "300");

    // The saved output, read back where the result left off.
    let (ok, text) = of("read_file", 0);
    assert!(ok, "{text}");
    assert_eq!(
        text,
        "    51\t51\n    52\t52\n    53\t53\n[lines 51-53 of 300; call read_file with offset 54 to read on]"
    );
    // A range to the end, and the default window.
    assert_eq!(
        of("read_file", 1).1,
        "   998\t998\n   999\t999\n  1000\t1000\n[lines 998-1000 of 1000: the end of the file]"
    );
    let (_, window) = of("read_file", 2);
    assert!(window.starts_with("     1\t1\n     2\t2\n"), "{window}");
    assert!(window.contains("   400\t400\n"), "{window}");
    assert!(
        window.ends_with("[lines 1-400 of 1000; call read_file with offset 401 to read on]"),
        "{window}"
    );

    // Writes and edits.
    let (_, wrote) = of("write_file", 0);
    assert!(wrote.contains("3 lines"), "{wrote}");
    let (ok, edited) = of("edit_file", 0);
    assert!(ok, "the edit stands: {edited}");
    assert!(
        edited.contains("TOML syntax error at line 2, column 8"),
        "{edited}"
    );
    assert!(edited.contains("     2\tport = "), "{edited}");
    let (ok, missed) = of("edit_file", 1);
    assert!(!ok);
    assert!(
        missed.contains("most similar text") && missed.contains("at lines 3-3:"),
        "{missed}"
    );
    assert!(missed.contains("     3\thost = \"localhost\""), "{missed}");
    let (ok, twice) = of("edit_file", 2);
    assert!(!ok);
    assert!(
        twice.contains("occurs 2 times in config.toml, at lines 2, 3"),
        "{twice}"
    );
    let (ok, json) = of("write_file", 1);
    assert!(ok);
    assert!(json.contains("JSON syntax error at line 1"), "{json}");

    // Files made and removed by commands are the tasks' and in their commits.
    let changed: Vec<(String, String)> = done
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::FileChanged { task, path, .. } => Some((
                task.as_ref().map(|t| t.to_string()).unwrap_or_default(),
                path.clone(),
            )),
            _ => None,
        })
        .collect();
    for want in [
        ("T1", "numbers.txt"),
        ("T1", "doomed.txt"),
        ("T2", "doomed.txt"),
    ] {
        assert!(
            changed.iter().any(|(t, p)| t == want.0 && p == want.1),
            "{want:?} in {changed:?}"
        );
    }
    let ws = &done.workspace;
    let t1 = git(ws, &["log", "--format=%s", "--name-status", "--grep=^T1:"]);
    assert!(t1.contains("A\tnumbers.txt"), "{t1}");
    assert!(t1.contains("A\tdoomed.txt"), "{t1}");
    let t2 = git(ws, &["log", "--format=%s", "--name-status", "--grep=^T2:"]);
    assert!(t2.contains("D\tdoomed.txt"), "{t2}");
    let tracked = git(ws, &["ls-files"]);
    assert!(!tracked.contains(".macrohard"), "{tracked}");
    // The saved output was there for the model to read (it went with the task's worktree,
    // never into a commit).
    let saved = saved_path(&of("run_command", 0).1);
    assert!(saved.starts_with(".macrohard/output/"), "{saved}");
    assert!(!ws.join(&saved).exists());
}

/// Two tasks at once in the shared workspace: the builder's command runs for 1.5 s and makes
/// `b.txt`; meanwhile the writer writes `w.txt` with a file tool, then runs a command of its
/// own past the builder's end. Each command sees both files change; each task is credited
/// with its own file only.
fn side_by_side(req: &LlmRequest) -> Turn {
    let title = req.context.task.as_ref().map_or("", |t| t.title.as_str());
    match (req.context.role.as_str(), title) {
        ("supervisor", _) => match common::scripted::step(req) {
            0 => Turn::think("plan")
                .call(
                    "create_task",
                    json!({"title": "Write", "description": "d", "role": "engineer"}),
                )
                .call(
                    "create_task",
                    json!({"title": "Build", "description": "d", "role": "engineer"}),
                ),
            _ if common::scripted::all_done(req) => {
                Turn::think("done").call("finish_run", json!({"summary": "ok"}))
            }
            _ => Turn::think("waiting"),
        },
        (_, "Write") => match common::scripted::step(req) {
            0 => Turn::think("wait").call("run_command", json!({"command": "sleep 0.3"})),
            1 => Turn::think("write")
                .call("write_file", json!({"path": "w.txt", "content": "mine\n"})),
            2 => Turn::think("busy").call("run_command", json!({"command": "sleep 2"})),
            _ => Turn::think("done").call(
                "complete_task",
                json!({"summary": "wrote w.txt", "evidence": "w.txt"}),
            ),
        },
        _ => match common::scripted::step(req) {
            0 => Turn::think("build").call(
                "run_command",
                json!({"command": "sleep 1.5; echo built > b.txt"}),
            ),
            _ => Turn::think("done").call(
                "complete_task",
                json!({"summary": "built b.txt", "evidence": "b.txt"}),
            ),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_not_credited_with_a_file_another_task_wrote_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let done = common::scripted::run(
        dir.path(),
        dir.path().join("ws"),
        "side by side",
        side_by_side,
        |_| {},
    )
    .await;
    assert_eq!(done.state.status, macrohard::domain::RunStatus::Completed);
    let artifacts = |title: &str| {
        done.state
            .tasks
            .iter()
            .find(|t| t.title == title)
            .unwrap()
            .artifacts
            .clone()
    };
    assert_eq!(artifacts("Write"), vec!["w.txt".to_owned()]);
    assert_eq!(artifacts("Build"), vec!["b.txt".to_owned()]);
    let ws = &done.workspace;
    let files_of = |task: &str| {
        let sha = git(ws, &["log", "--format=%H", "--grep", &format!("^{task}:")]);
        git(ws, &["show", "--name-only", "--format=", sha.trim()])
    };
    let (t1, t2) = (files_of("T1"), files_of("T2"));
    assert_eq!(t1.trim(), "w.txt", "{t1}");
    assert_eq!(t2.trim(), "b.txt", "{t2}");
}
