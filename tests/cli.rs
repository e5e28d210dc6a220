#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The command line as a user drives it: exit codes, listings, exports, config errors.

mod common;

use common::{export_jsonl, run, text};
use std::collections::HashSet;

#[test]
fn a_headless_run_with_yes_completes_and_is_listed_exported_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "run",
            "--headless",
            "--yes",
            "Build a command-line todo app",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIMULATED"), "{stderr}");
    assert!(
        stdout.contains("NEEDS APPROVAL"),
        "approvals are requested even with --yes"
    );

    let out = run(dir.path(), &["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &runs[0];
    assert_eq!(r["status"], "completed");
    assert_eq!(r["tasks_done"], r["tasks_total"]);
    assert!(r["tasks_total"].as_u64().unwrap() >= 6);

    let events = export_jsonl(dir.path(), "last");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "contiguous from 1"
    );
    assert!(
        events
            .iter()
            .all(|e| e["time"].as_str().is_some_and(|t| t.ends_with('Z')))
    );

    let ws = r["workspace"].as_str().unwrap();
    let py = std::process::Command::new("python3")
        .args(["-m", "todo", "--help"])
        .current_dir(ws)
        .output()
        .unwrap();
    assert!(py.status.success(), "the project the company built runs");

    let out = run(dir.path(), &["export", "last", "--format", "markdown"]);
    let md = String::from_utf8_lossy(&out.stdout);
    for section in [
        "# Run ",
        "**Goal:**",
        "## Plan",
        "## How the plan changed",
        "## Why the run stopped",
        "## Decisions by people",
        "## Approvals, with their risk",
        "## Policy and sandbox",
        "## Stuck agents and budget holds",
        "## Files changed, by agent",
        "## Evidence",
        "## Costs by agent",
        "## Costs by task",
        "## Costs by model",
        "## Sign-off",
        "SIMULATED",
    ] {
        assert!(md.contains(section), "report lacks {section}");
    }
    assert!(
        md.contains("(--yes)"),
        "approvals are attributed to the person who passed --yes"
    );

    let out = run(dir.path(), &["resume", "last", "--headless", "--yes"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).1.contains("already ended"));
}

#[test]
fn without_yes_a_headless_run_stops_at_the_first_approval_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["run", "--headless"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("waiting for a person: approval A1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("run `python3"),
        "it says what it waits for: {stderr}"
    );
    let out = run(dir.path(), &["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "running", "the run stays resumable");
    // Resuming with --yes finishes it, and no finished task runs again.
    let before = export_jsonl(dir.path(), "last");
    let done_before: HashSet<String> = before
        .iter()
        .filter(|e| e["event"]["type"] == "task_completed")
        .map(|e| e["event"]["task"].as_str().unwrap().to_owned())
        .collect();
    let out = run(dir.path(), &["resume", "last", "--headless", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let after = export_jsonl(dir.path(), "last");
    let reassigned: Vec<&serde_json::Value> = after[before.len()..]
        .iter()
        .filter(|e| {
            e["event"]["type"] == "task_assigned"
                && done_before.contains(e["event"]["task"].as_str().unwrap())
        })
        .collect();
    assert!(
        reassigned.is_empty(),
        "finished tasks ran again: {reassigned:?}"
    );
    assert!(
        after[before.len()..]
            .iter()
            .any(|e| e["event"]["type"] == "recovered")
    );
}

#[test]
fn a_budget_pauses_the_run_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["run", "--headless", "--yes", "--budget-usd", "0.01"],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("budget reached"), "{stderr}");
    let out = run(
        dir.path(),
        &[
            "resume",
            "last",
            "--headless",
            "--yes",
            "--budget-usd",
            "100",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let md = String::from_utf8_lossy(
        &run(dir.path(), &["export", "last", "--format", "markdown"]).stdout,
    )
    .into_owned();
    assert!(
        md.contains("set the run budget to $100.00"),
        "the budget change is attributed in the report"
    );
}

#[test]
fn config_errors_exit_2_naming_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[run]\nconcurrency = 2\nprovdier = \"sim\"\n").unwrap();
    let out = run(
        dir.path(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--headless",
            "--yes",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("config.toml")
            && stderr.contains("line 3")
            && stderr.contains("run.provdier"),
        "{stderr}"
    );

    std::fs::write(&cfg, "[run]\nconcurrency = \"many\"\n").unwrap();
    let out = run(
        dir.path(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--headless",
            "--yes",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("line 2")
            && stderr.contains("run.concurrency")
            && stderr.contains("invalid type"),
        "{stderr}"
    );

    let out = run(
        dir.path(),
        &[
            "--config",
            dir.path().join("missing.toml").to_str().unwrap(),
            "runs",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a named config that does not exist is an error"
    );

    let out = common::bin()
        .arg("--data-dir")
        .arg(dir.path())
        .env("MACROHARD_SIM_SPEED", "fast")
        .args(["run", "--headless"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("MACROHARD_SIM_SPEED"));

    let out = common::bin()
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("OPENAI_API_KEY")
        .args(["run", "--headless", "--provider", "openai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("set OPENAI_API_KEY"),
        "{}",
        text(&out).1
    );

    let out = run(dir.path(), &["run", "--headless", "--provider", "opneai"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("unknown provider \"opneai\""));
}

#[test]
fn init_writes_the_config_and_prompts_and_keeps_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("conf").join("config.toml");
    let out = run(dir.path(), &["--config", cfg.to_str().unwrap(), "init"]);
    assert!(out.status.success());
    assert!(cfg.is_file());
    assert!(dir.path().join("conf/prompts/engineer.md").is_file());
    let out = run(dir.path(), &["--config", cfg.to_str().unwrap(), "init"]);
    assert!(text(&out).0.contains("kept"));
    // The written config is valid and used.
    let out = run(dir.path(), &["--config", cfg.to_str().unwrap(), "runs"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no runs yet is an empty listing: {:?}",
        text(&out)
    );
    assert!(text(&out).0.contains("No runs yet"), "{:?}", text(&out));
}

#[test]
fn unknown_runs_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["run", "--headless", "--yes"]);
    let out = run(dir.path(), &["show", "zzzz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no run matches"));
}

#[test]
fn each_finished_task_is_a_commit_and_blame_names_who_wrote_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--foreground", "run", "--headless", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let runs: serde_json::Value =
        serde_json::from_slice(&run(dir.path(), &["runs", "--json"]).stdout).unwrap();
    let ws = runs[0]["workspace"].as_str().unwrap();
    let log = std::process::Command::new("git")
        .args([
            "-C",
            ws,
            "log",
            "--format=%an|%(trailers:key=Task,valueonly)",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("engineer|T2"), "{log}");
    assert!(log.contains("architect|T1"), "{log}");
    let out = run(dir.path(), &["blame", "todo/core.py:3"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("task       T2 Implement the task store"),
        "{stdout}"
    );
    assert!(
        stdout.contains("agent      engineer-1 (role engineer)"),
        "{stdout}"
    );
    assert!(stdout.contains("model      sim-1"), "{stdout}");
    assert!(
        stdout.contains("(--yes)"),
        "the approval and who gave it: {stdout}"
    );
    let bad = run(dir.path(), &["blame", "todo/core.py:100000"]);
    assert_eq!(bad.status.code(), Some(2));
    // A FIFO an agent left in the workspace is refused, not waited on.
    let fifo = std::path::Path::new(ws).join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let started = std::time::Instant::now();
    let out = run(dir.path(), &["blame", "pipe:1"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("FIFO"), "{:?}", text(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn policy_rules_decide_calls_and_the_deciding_rule_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[policy]]\ntool = \"run_command\"\ncommand = \"python3 -m unittest*\"\ndecision = \"allow\"\n\n[[policy]]\ntool = \"run_command\"\ncommand = \"python3 -m todo --help && python3 -m todo *\"\ndecision = \"allow\"\n\n[[policy]]\ntool = \"run_command\"\ncommand = \"sh scripts/smoke.sh*\"\ndecision = \"deny\"\n",
    )
    .unwrap();
    // No --yes: every command is decided by a rule, so nobody is asked.
    let out = run(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--foreground",
            "run",
            "--headless",
        ],
    );
    let (stdout, stderr) = text(&out);
    let events = export_jsonl(dir.path(), "last");
    assert!(
        !events
            .iter()
            .any(|e| e["event"]["type"] == "approval_requested"
                && e["event"]["tool"] == "run_command"),
        "{stdout}\n{stderr}"
    );
    let policy_of = |needle: &str| {
        events
            .iter()
            .find(|e| {
                e["event"]["type"] == "tool_call_requested"
                    && e["event"]["args"]["command"]
                        .as_str()
                        .is_some_and(|c| c.starts_with(needle))
            })
            .map(|e| e["event"]["policy"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        policy_of("python3 -m unittest"),
        "allow: policy rule 1: allow run_command `python3 -m unittest*`"
    );
    assert!(policy_of("sh scripts/smoke.sh").starts_with("deny: policy rule 3"));
    assert!(events.iter().any(|e| {
        e["event"]["type"] == "tool_call_finished"
            && e["event"]["output"]
                .as_str()
                .unwrap_or("")
                .starts_with("denied by policy rule 3")
    }));
    let write = events
        .iter()
        .find(|e| e["event"]["type"] == "tool_call_requested" && e["event"]["tool"] == "write_file")
        .unwrap();
    assert_eq!(write["event"]["policy"], "allow: autonomy ask-risky");
}

#[test]
fn a_sandboxed_run_keeps_its_commands_off_the_network_and_the_report_is_one_html_page() {
    let dir = tempfile::tempdir().unwrap();
    // --yes approves the release's `curl … | sh`: the sandbox, not a person, stops it.
    let out = run(
        dir.path(),
        &[
            "--foreground",
            "run",
            "--headless",
            "--yes",
            "Build a command-line todo app #deny",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let events = export_jsonl(dir.path(), "last");
    let sandbox = events
        .iter()
        .find(|e| e["event"]["type"] == "sandbox_reported")
        .expect("the run records its sandbox");
    let curl = events.iter().find(|e| {
        e["event"]["type"] == "tool_call_finished"
            && e["event"]["output"]
                .as_str()
                .is_some_and(|o| o.contains("curl:"))
    });
    if sandbox["event"]["complete"] == true {
        let output = curl.expect("curl ran")["event"]["output"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(output.contains("Could not resolve host"), "{output}");
    }
    let page = dir.path().join("report.html");
    let out = run(
        dir.path(),
        &[
            "export",
            "last",
            "--format",
            "html",
            "-o",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    for needle in [
        "<h2>Decisions by people</h2>",
        "<h2>Policy and sandbox</h2>",
        "<h2>Stuck agents and budget holds</h2>",
        "<h2>Costs by model</h2>",
        "<h2>Why the run stopped</h2>",
        "(--yes)</td><td>approved A",
        "<table>",
    ] {
        assert!(html.contains(needle), "{needle} not in the page");
    }
    // Self-contained: nothing is loaded from anywhere.
    assert!(!html.contains("<script") && !html.contains(" src=") && !html.contains("<link"));
}

#[test]
fn a_resumed_run_keeps_the_models_its_roles_were_given_by_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "--foreground",
            "run",
            "--headless",
            "--yes",
            "--role-model",
            "engineer=sim-eng",
            "--budget-turns",
            "8",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let before = common::export_jsonl(dir.path(), "last").len();
    // Resumed without the flag: the engineer keeps its model.
    let out = run(
        dir.path(),
        &[
            "--foreground",
            "resume",
            "last",
            "--headless",
            "--yes",
            "--budget-turns",
            "1000",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let events = common::export_jsonl(dir.path(), "last");
    let engineer_models: Vec<(usize, String)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e["event"]["type"] == "llm_request_started"
                && e["event"]["agent"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("engineer"))
        })
        .map(|(i, e)| (i, e["event"]["model"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert!(
        engineer_models.iter().any(|(i, _)| *i >= before),
        "the engineer worked after the resume"
    );
    assert!(
        engineer_models.iter().all(|(_, m)| m == "sim-eng"),
        "{engineer_models:?}"
    );
}
