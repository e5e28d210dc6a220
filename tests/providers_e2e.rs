#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A whole headless company run against a loopback server speaking the OpenAI protocol, whose
//! scripted "model" calls the company's tools; the first request is rate limited.

mod common;

use common::llm_server::{DONE, Reply, oa, oa_usage, start};
use serde_json::{Value, json};

fn tool_call(name: &str, args: Value) -> Reply {
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

/// A tiny model: the supervisor plans one task and finishes when told everything is settled;
/// the architect writes DESIGN.md and completes with evidence.
fn model(n: usize, body: &str) -> Reply {
    if n == 0 {
        return Reply::Status(
            429,
            vec![("retry-after".into(), "1".into())],
            r#"{"error":{"message":"Rate limit exceeded","type":"rate_limit_error"}}"#.into(),
        );
    }
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
    if system.contains("supervisor of Macrohard") {
        if answered == 0 {
            return tool_call(
                "create_task",
                json!({"title": "Write the design", "description": "DESIGN.md with the shape", "role": "architect", "depends_on": []}),
            );
        }
        if last_user.contains("settled") || last_user.contains("All tasks are done") {
            return tool_call("finish_run", json!({"summary": "The design is written."}));
        }
        return say("Waiting for the architect.");
    }
    match answered {
        0 => tool_call(
            "write_file",
            json!({"path": "DESIGN.md", "content": "# Design\n\nOne module.\n"}),
        ),
        _ => tool_call(
            "complete_task",
            json!({"summary": "Wrote DESIGN.md", "evidence": "DESIGN.md"}),
        ),
    }
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_run_completes_against_an_openai_compatible_server() {
    let server = start(model).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let url = format!("{}/v1", server.url);
    let out = tokio::task::spawn_blocking(move || {
        common::bin()
            .env("OPENAI_API_KEY", "sk-secret-test-key-123")
            .arg("--data-dir")
            .arg(&data)
            .args([
                "run",
                "--headless",
                "--yes",
                "--provider",
                "openai",
                "--base-url",
                &url,
                "--model",
                "gpt-4o-mini",
                "Write a design",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("waiting 1000 ms"),
        "the rate-limit wait is in the log:\n{stdout}"
    );
    assert!(!stderr.contains("SIMULATED"));
    let seen = server.seen.lock().unwrap();
    assert!(seen[1].at.duration_since(seen[0].at) >= std::time::Duration::from_millis(990));
    assert!(
        seen.iter()
            .all(|s| s.head.contains("sk-secret-test-key-123")),
        "the key is sent to the server"
    );
    let runs: Value =
        serde_json::from_slice(&common::run(dir.path(), &["runs", "--json"]).stdout).unwrap();
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["provider"], "openai");
    let ws = runs[0]["workspace"].as_str().unwrap();
    assert!(std::path::Path::new(ws).join("DESIGN.md").is_file());
    assert!(
        runs[0]["cost_usd"].as_f64().unwrap() > 0.0,
        "gpt-4o-mini is priced"
    );
    // No secret in the store, the log or the exports.
    let export = common::run(dir.path(), &["export", "last", "--format", "jsonl"]);
    let md = common::run(dir.path(), &["export", "last", "--format", "markdown"]);
    assert!(!String::from_utf8_lossy(&export.stdout).contains("sk-secret"));
    assert!(!String::from_utf8_lossy(&md.stdout).contains("sk-secret"));
    assert_eq!(
        files_contain(dir.path(), b"sk-secret-test-key"),
        Vec::<String>::new()
    );
}
