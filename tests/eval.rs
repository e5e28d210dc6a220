#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `eval [SUITE]`: goals run as `run --headless --yes` would, judged by hidden tests copied in
//! after the run and run in the sandbox. On the simulated company, on a scripted model behind a
//! loopback OpenAI-style server (a right and a wrong solution), with bad suites, and the
//! built-in suite's own tests against its reference solutions.

mod common;

use common::llm_server::{DONE, Reply, oa, oa_usage, start};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

const README: &str = include_str!("../README.md");
/// In the hidden test only: a model that ever sees it has read the hidden tests.
const MARKER: &str = "HIDDEN-MARKER-5f0c2e";

fn eval(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::bin();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("--data-dir")
        .arg(data)
        .arg("eval")
        .args(args)
        .output()
        .unwrap()
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The run as `runs --json` lists it.
fn listed(data: &Path, run: &str) -> Value {
    let out = common::run(data, &["runs", "--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    runs.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == run)
        .unwrap_or_else(|| panic!("run {run} is not listed: {runs}"))
        .clone()
}

#[test]
fn eval_on_the_simulated_company_reports_honest_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let json_path = dir.path().join("report.json");
    let out = eval(
        &data,
        &[
            "default",
            "--goal",
            "roman",
            "--json",
            json_path.to_str().unwrap(),
        ],
        &[],
    );
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stdout.contains("simulated company: a stand-in, not a model"),
        "{stdout}"
    );
    for column in [
        "goal",
        "seed",
        "result",
        "tests",
        "outcome",
        "cost",
        "time",
        "turns",
        "approvals",
        "pauses",
        "stuck",
        "run",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("goal ") && l.contains(column)),
            "{column}: {stdout}"
        );
    }
    let r = report(&json_path);
    assert_eq!(r["suite"], "default");
    assert_eq!(r["provider"], "sim");
    assert_eq!(r["simulated"], true);
    assert_eq!(r["attempts"].as_array().unwrap().len(), 1);
    let a = &r["attempts"][0];
    assert_eq!(a["goal"], "roman");
    assert_eq!(a["seed"], 1);
    assert_eq!(a["outcome"], "completed", "{a}");
    // The simulated company builds its own notes app: the hidden tests ran, and failed.
    assert_eq!(a["tests"]["ran"], true, "{a}");
    assert_eq!(a["passed"], false, "{a}");
    assert!(
        a["tests"]["output_tail"]
            .as_str()
            .unwrap()
            .contains("roman"),
        "{a}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("roman") && l.contains("FAIL")),
        "{stdout}"
    );
    // The numbers are the run's as recorded.
    let run = a["run"].as_str().unwrap();
    let listed = listed(&data, run);
    assert!(a["turns"].as_u64().unwrap() > 0);
    assert_eq!(a["cost_usd"], listed["cost_usd"], "{a}\n{listed}");
    let events = common::export_jsonl(&data, run);
    let requests = events
        .iter()
        .filter(|e| e["event"]["type"] == "llm_request_finished")
        .count() as u64;
    assert_eq!(a["turns"].as_u64().unwrap(), requests);
    let approvals = events
        .iter()
        .filter(|e| e["event"]["type"] == "approval_requested")
        .count() as u64;
    assert_eq!(
        a["approvals"].as_u64().unwrap() + a["questions"].as_u64().unwrap(),
        approvals
    );
    // Approved by the eval actor, which started the run.
    let created = events
        .iter()
        .find(|e| e["event"]["type"] == "run_created")
        .unwrap();
    assert_eq!(created["event"]["by"]["user"], "eval", "{created}");
    for key in ["pauses", "stuck", "secs", "tokens_in", "workspace"] {
        assert!(!a[key].is_null(), "{key}: {a}");
    }
    assert_eq!(r["total"]["runs"], 1);
    assert_eq!(r["total"]["pass_rate"], 0.0);
    assert_eq!(r["goals"][0]["goal"], "roman");
    assert!(stdout.contains(run), "the table names the run: {stdout}");
    // The workspace holds the hidden tests now (after the run), under the eval folder.
    let ws = PathBuf::from(a["workspace"].as_str().unwrap());
    assert!(ws.starts_with(data.join("eval")), "{}", ws.display());
    assert!(ws.join("eval_tests/test_roman.py").is_file());
    // Nothing is left unfinished for the next `macrohard-tui` to resume.
    assert_eq!(listed["status"], "completed");
}

#[test]
fn a_run_that_waits_for_a_person_is_stopped_there_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Three turns: the simulated supervisor reaches the budget while it plans.
    let out = eval(
        &data,
        &[
            "--goal",
            "slugify",
            "--budget-turns",
            "3",
            "--format",
            "json",
        ],
        &[],
    );
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let r: Value = serde_json::from_str(&stdout).expect("--format json prints the report");
    let a = &r["attempts"][0];
    assert_eq!(a["outcome"], "waiting", "{a}");
    assert!(a["waited_for"].as_str().unwrap().contains("budget"), "{a}");
    assert_eq!(a["run_pauses"], 1, "{a}");
    assert!(a["pauses"].as_u64().unwrap() >= 1, "{a}");
    assert_eq!(r["budget"]["turns"], 3);
    assert_eq!(r["total"]["completed"], 0);
    // Stopped, attributed to eval, so that no later `macrohard-tui` resumes it.
    let listed = listed(&data, a["run"].as_str().unwrap());
    assert_eq!(listed["status"], "cancelled", "{listed}");
    assert!(
        stderr.contains("slugify seed 1: FAIL") && stderr.contains("waiting"),
        "{stderr}"
    );
}

/// A suite of one goal, `adder`, whose hidden test carries the marker and, where Landlock
/// confines commands, checks that it cannot write `outside` (so it runs in the sandbox).
fn adder_suite(dir: &Path, outside: &Path) -> PathBuf {
    let goal = dir.join("suite/adder");
    std::fs::create_dir_all(goal.join("tests")).unwrap();
    std::fs::create_dir_all(goal.join("seed")).unwrap();
    std::fs::write(
        goal.join("goal.toml"),
        "description = \"a one-function library\"\ngoal = \"Write adder.py with add(a, b) returning a + b.\"\ntest_timeout_s = 60\n",
    )
    .unwrap();
    std::fs::write(goal.join("seed/NOTES.md"), "Seeded before the run.\n").unwrap();
    let confined = if macrohard::tools::sandbox::support().landlock() {
        format!(
            "\n    def test_confined(self):\n        with self.assertRaises(OSError):\n            with open({:?}, \"w\") as f:\n                f.write(\"escaped\")\n",
            outside.display().to_string()
        )
    } else {
        String::new()
    };
    std::fs::write(
        goal.join("tests/test_adder.py"),
        format!(
            "# {MARKER}\nimport unittest\n\nfrom adder import add\n\n\nclass AddTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n    def test_negative(self):\n        self.assertEqual(add(-2, 1), -1)\n{confined}\n\nif __name__ == \"__main__\":\n    unittest.main()\n"
        ),
    )
    .unwrap();
    dir.join("suite")
}

/// The text of an OpenAI message's content (a string, or parts).
fn content(m: &Value) -> String {
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn call(name: &str, args: Value) -> Reply {
    let frag = json!({"tool_calls": [{"index": 0, "id": format!("call_{name}"), "type": "function", "function": {"name": name, "arguments": args.to_string()}}]});
    Reply::Sse(vec![
        oa(&frag.to_string(), None),
        oa("{}", Some("tool_calls")),
        oa_usage(300, 40),
        DONE.into(),
    ])
}

fn say(text: &str) -> Reply {
    Reply::Sse(vec![
        oa(&json!({"content": text}).to_string(), None),
        oa("{}", Some("stop")),
        oa_usage(200, 10),
        DONE.into(),
    ])
}

/// The scripted model: the supervisor plans one engineer task and finishes when the engine
/// asks it to; the engineer looks for the hidden tests, writes `adder.py` (right or wrong,
/// the wrong one with a `unittest.py` that fakes a pass) and completes.
fn model(body: &str, right: bool, snoop: &str) -> Reply {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let msgs = v["messages"].as_array().cloned().unwrap_or_default();
    let answered = msgs.iter().filter(|m| m["role"] == "assistant").count();
    let supervisor = v["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == "create_task"));
    if supervisor {
        let last = msgs.last().cloned().unwrap_or_default();
        return if answered == 0 {
            call(
                "create_task",
                json!({"title": "Write adder.py", "description": "add(a, b) in adder.py", "role": "engineer", "depends_on": []}),
            )
        } else if last["role"] == "user" && content(&last).contains("finish_run") {
            call("finish_run", json!({"summary": "adder.py is written."}))
        } else {
            say("Waiting for the engineer.")
        };
    }
    let code = if right {
        "def add(a, b):\n    return a + b\n"
    } else {
        "def add(a, b):\n    return a - b\n"
    };
    // The wrong one also leaves a `unittest.py` that prints a pass: the hidden tests must
    // still run the real unittest.
    const FAKE: &str = "import sys\nprint('Ran 2 tests in 0.001s\\n\\nOK')\nsys.exit(0)\n";
    match (answered, right) {
        (0, _) => call("run_command", json!({"command": snoop})),
        (1, _) => call("write_file", json!({"path": "adder.py", "content": code})),
        (2, false) => call(
            "write_file",
            json!({"path": "unittest.py", "content": FAKE}),
        ),
        (2, true) | (3, false) => call(
            "complete_task",
            json!({"summary": "Wrote adder.py", "evidence": "adder.py defines add"}),
        ),
        _ => say("Done."),
    }
}

/// Whether commands cannot see folders the control room hides (a private mount namespace).
fn hides_folders() -> bool {
    macrohard::tools::sandbox::support()
        .parts()
        .iter()
        .any(|p| p.name == "socket" && p.detail.contains("hidden"))
}

async fn eval_scripted(right: bool) -> (Value, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("written-by-a-hidden-test");
    let suite = adder_suite(dir.path(), &outside);
    let hidden = suite.join("adder/tests/test_adder.py");
    // The engineer looks where the hidden tests are (the workspace, the suite's folder).
    let mut snoop = "ls -a; ls eval_tests; grep -rs HIDDEN-MARKER . ; echo SNOOPED".to_owned();
    if hides_folders() {
        snoop = format!("cat {}; {snoop}", hidden.display());
    }
    let server = start(move |_, body| model(body, right, &snoop)).await;
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[prices.\"scripted-1\"]\ninput = 1.0\noutput = 2.0\n",
    )
    .unwrap();
    let json_path = dir.path().join("out/report.json");
    std::fs::create_dir_all(json_path.parent().unwrap()).unwrap();
    let url = format!("{}/v1", server.url);
    let args: Vec<String> = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "eval",
        suite.to_str().unwrap(),
        "--provider",
        "openai",
        "--base-url",
        &url,
        "--model",
        "scripted-1",
        "--json",
        json_path.to_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        common::bin()
            .env("OPENAI_API_KEY", "sk-test-eval")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains("simulated company"), "{stdout}");
    let seen: Vec<String> = server
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.body.clone())
        .collect();
    let r = report(&json_path);
    let run = r["attempts"][0]["run"].as_str().unwrap().to_owned();
    assert_eq!(
        listed(&data, &run)["cost_usd"],
        r["attempts"][0]["cost_usd"]
    );
    (r, seen, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_solution_passes_the_hidden_tests_and_a_wrong_one_fails_them() {
    let (r, seen, stdout) = eval_scripted(true).await;
    let a = &r["attempts"][0];
    assert_eq!(a["outcome"], "completed", "{a}");
    assert_eq!(a["passed"], true, "{a}");
    let confined = u64::from(macrohard::tools::sandbox::support().landlock());
    assert_eq!(a["tests"]["tests"], 2 + confined, "{a}");
    assert_eq!(a["tests"]["failed"], 0, "{a}");
    assert_eq!(r["total"]["pass_rate"], 1.0);
    assert_eq!(r["provider"], "openai");
    assert_eq!(r["simulated"], false);
    assert!(stdout.contains("total: 1 of 1 passed (100%)"), "{stdout}");
    // Every request is a turn, priced from the config: 300 in at $1/M, 40 or 10 out at $2/M.
    let turns = a["turns"].as_u64().unwrap();
    assert_eq!(turns, seen.len() as u64);
    let cost = a["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0 && a["unpriced_requests"] == 0, "{a}");
    // The engineer's command asked for approval, granted by the eval actor and counted.
    assert!(a["approvals"].as_u64().unwrap() >= 1, "{a}");
    assert_eq!(a["pauses"], 0);

    // (d) The hidden tests were nowhere the model could read while the run went on.
    assert!(seen.iter().any(|b| b.contains("SNOOPED")), "the snoop ran");
    assert!(
        seen.iter()
            .any(|b| b.contains("eval_tests") && b.contains("No such file")),
        "eval_tests was not in the workspace"
    );
    assert!(
        !seen.iter().any(|b| b.contains(MARKER)),
        "the model saw the hidden tests"
    );
    assert!(
        seen.iter().any(|b| b.contains("NOTES.md")),
        "the seed was in the workspace"
    );

    let (r, _, stdout) = eval_scripted(false).await;
    let a = &r["attempts"][0];
    assert_eq!(a["outcome"], "completed", "{a}");
    assert_eq!(a["passed"], false, "{a}");
    assert_eq!(a["tests"]["failed"], 2, "{a}");
    assert!(
        a["tests"]["output_tail"]
            .as_str()
            .unwrap()
            .contains("AssertionError"),
        "{a}"
    );
    assert_eq!(r["total"]["pass_rate"], 0.0);
    assert!(stdout.contains("total: 0 of 1 passed (0%)"), "{stdout}");
}

#[test]
fn a_bad_suite_is_a_clear_error_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let check = |args: &[&str], want: &[&str]| {
        let out = eval(&data, args, &[]);
        let (stdout, stderr) = common::text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        for w in want {
            assert!(stderr.contains(w), "{args:?}: {w:?} not in {stderr}");
        }
    };
    // A goal.toml with a mistyped key: the file, the line and the key.
    let suite = dir.path().join("suite");
    std::fs::create_dir_all(suite.join("g1/tests")).unwrap();
    std::fs::write(suite.join("g1/tests/test_g.py"), "").unwrap();
    std::fs::write(
        suite.join("g1/goal.toml"),
        "description = \"x\"\ngaol = \"Build it\"\n",
    )
    .unwrap();
    let s = suite.to_str().unwrap();
    check(&[s], &["g1/goal.toml", "line 2", "gaol"]);
    // Not TOML at all.
    std::fs::write(suite.join("g1/goal.toml"), "goal = \"unterminated\n").unwrap();
    check(&[s], &["g1/goal.toml", "line 1"]);
    // No hidden tests.
    std::fs::write(suite.join("g1/goal.toml"), "goal = \"Build it\"\n").unwrap();
    std::fs::remove_file(suite.join("g1/tests/test_g.py")).unwrap();
    check(&[s], &["g1/tests", "no hidden tests"]);
    // A folder that is not a goal.
    std::fs::write(suite.join("g1/tests/test_g.py"), "").unwrap();
    std::fs::create_dir_all(suite.join("stray")).unwrap();
    check(&[s], &["stray", "no goal.toml"]);
    std::fs::remove_dir(suite.join("stray")).unwrap();
    // No such suite, a file, an empty folder, an unknown goal.
    check(&["/nonexistent/suite"], &["/nonexistent/suite", "default"]);
    check(
        &[suite.join("g1/goal.toml").to_str().unwrap()],
        &["not a folder"],
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    check(&[empty.to_str().unwrap()], &["no goals"]);
    check(&[s, "--goal", "nope"], &["--goal nope", "g1"]);
    check(
        &["default", "--goal", "nope"],
        &["roman", "semver", "kv-server"],
    );
    // Flags: no seeds, a JSON report nowhere.
    check(&["--seeds", "0"], &["--seeds"]);
    check(
        &["--json", "/nonexistent/dir/r.json"],
        &["--json", "does not exist"],
    );
    // Nothing ran, so no run was recorded and no eval folder was left.
    assert!(
        !data.join("eval").exists() || std::fs::read_dir(data.join("eval")).unwrap().count() == 0
    );
}

#[test]
fn the_built_in_suite_written_out_is_a_suite_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let target = dir.path().join("mine");
    let out = eval(&data, &["--write-suite", target.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", common::text(&out));
    assert!(target.join("fix-inventory/seed/inventory.py").is_file());
    assert!(target.join("kv-server/tests/test_kvserver.py").is_file());
    // Read back as a folder: every goal is there (the unknown name lists them all).
    let out = eval(&data, &[target.to_str().unwrap(), "--goal", "nope"], &[]);
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(2));
    for g in [
        "fix-inventory",
        "kv-server",
        "log-stats",
        "lru-cache",
        "md-toc",
        "roman",
        "sales-summary",
        "semver",
        "slugify",
        "wordcount",
    ] {
        assert!(stderr.contains(g), "{g}: {stderr}");
    }
    // It does not overwrite.
    let out = eval(&data, &["--write-suite", target.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// Every goal of the built-in suite: its hidden tests fail on what the workspace starts with
/// and pass on the reference solution, so they measure something and can be met.
#[test]
fn the_built_in_goals_tests_fail_without_and_pass_with_their_reference_solution() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/eval/suite/default");
    let mut goals: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    goals.sort();
    assert_eq!(goals.len(), 10);
    let copy = |from: &Path, to: &Path| {
        if !from.is_dir() {
            return;
        }
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
            }
        }
    };
    let run_tests = |ws: &Path| {
        std::process::Command::new("python3")
            .args(["-B", "-m", "unittest", "discover", "-s", "eval_tests"])
            .current_dir(ws)
            .output()
            .expect("python3 runs")
    };
    for goal in goals {
        let name = goal.file_name().unwrap().to_string_lossy().into_owned();
        let ws = tempfile::tempdir().unwrap();
        copy(&goal.join("seed"), ws.path());
        std::fs::create_dir(ws.path().join("eval_tests")).unwrap();
        copy(&goal.join("tests"), &ws.path().join("eval_tests"));
        let before = run_tests(ws.path());
        assert!(
            !before.status.success(),
            "{name}: the hidden tests pass on the seed alone"
        );
        copy(&goal.join("solution"), ws.path());
        let after = run_tests(ws.path());
        assert!(
            after.status.success(),
            "{name}: the reference solution fails its hidden tests:\n{}",
            String::from_utf8_lossy(&after.stderr)
        );
    }
}

#[test]
fn every_eval_flag_is_described_in_the_readme() {
    let out = common::bin().args(["eval", "-h"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| *w != "--help")
        .collect();
    assert!(flags.len() >= 10, "{help}");
    for flag in flags {
        assert!(
            README.contains(flag),
            "README does not describe eval {flag}"
        );
    }
    assert!(README.contains("Evaluating a model"));
}
