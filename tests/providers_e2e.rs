#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A whole headless company run against a loopback server speaking the OpenAI protocol, whose
//! scripted "model" calls the company's tools; the first request is rate limited.

mod common;

use common::llm_server::{DONE, Reply, an, oa, oa_usage, start};
use serde_json::{Value, json};

/// What the scripted model does next.
enum Act {
    Call(&'static str, Value),
    Say(&'static str),
}

/// A tiny model: the supervisor plans one task and finishes when told everything is settled;
/// the architect writes DESIGN.md and completes with evidence. It reads only what any model
/// would: the system prompt, its own earlier turns and the latest message.
fn decide(system: &str, answered: usize, last_user: &str) -> Act {
    if system.contains("supervisor of Macrohard") {
        if answered == 0 {
            return Act::Call(
                "create_task",
                json!({"title": "Write the design", "description": "DESIGN.md with the shape", "role": "architect", "depends_on": []}),
            );
        }
        if last_user.contains("settled") || last_user.contains("All tasks are done") {
            return Act::Call("finish_run", json!({"summary": "The design is written."}));
        }
        return Act::Say("Waiting for the architect.");
    }
    match answered {
        0 => Act::Call(
            "write_file",
            json!({"path": "DESIGN.md", "content": "# Design\n\nOne module.\n"}),
        ),
        _ => Act::Call(
            "complete_task",
            json!({"summary": "Wrote DESIGN.md", "evidence": "DESIGN.md"}),
        ),
    }
}

/// The model speaking the OpenAI protocol.
fn openai_model(body: &str) -> Reply {
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
    match decide(system, answered, last_user) {
        Act::Call(name, args) => {
            let frag = json!({"tool_calls": [{"index": 0, "id": format!("call_{name}"), "type": "function", "function": {"name": name, "arguments": args.to_string()}}]});
            Reply::Sse(vec![
                oa(&frag.to_string(), None),
                oa("{}", Some("tool_calls")),
                oa_usage(300, 40),
                DONE.into(),
            ])
        }
        Act::Say(text) => Reply::Sse(vec![
            oa(&json!({"content": text}).to_string(), None),
            oa("{}", Some("stop")),
            oa_usage(200, 10),
            DONE.into(),
        ]),
    }
}

/// The same model speaking the Anthropic protocol, with a thinking block and pings; the tool
/// input arrives in two `input_json_delta` pieces.
fn anthropic_model(body: &str) -> Reply {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let system = v["system"][0]["text"].as_str().unwrap_or("");
    let msgs = v["messages"].as_array().cloned().unwrap_or_default();
    let answered = msgs.iter().filter(|m| m["role"] == "assistant").count();
    let last_user = msgs
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find_map(|b| (b["type"] == "text").then(|| b["text"].as_str().unwrap_or("").to_owned()))
        .unwrap_or_default();
    let start = an(
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","usage":{"input_tokens":300,"output_tokens":1}}}"#,
    );
    let thinking = [
        an(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        ),
        an(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Considering the next step."}}"#,
        ),
        an("ping", r#"{"type":"ping"}"#),
        an(
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        ),
    ];
    let (block, stop) = match decide(system, answered, &last_user) {
        Act::Call(name, args) => {
            let input = args.to_string();
            let (a, b) = input.split_at(input.len() / 2);
            (
                vec![
                    an(
                        "content_block_start",
                        &json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":format!("toolu_{name}"),"name":name,"input":{}}}).to_string(),
                    ),
                    an(
                        "content_block_delta",
                        &json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":a}}).to_string(),
                    ),
                    an(
                        "content_block_delta",
                        &json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":b}}).to_string(),
                    ),
                    an(
                        "content_block_stop",
                        r#"{"type":"content_block_stop","index":1}"#,
                    ),
                ],
                "tool_use",
            )
        }
        Act::Say(text) => (
            vec![
                an(
                    "content_block_start",
                    r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
                ),
                an(
                    "content_block_delta",
                    &json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":text}}).to_string(),
                ),
                an(
                    "content_block_stop",
                    r#"{"type":"content_block_stop","index":1}"#,
                ),
            ],
            "end_turn",
        ),
    };
    let mut chunks = vec![start];
    chunks.extend(thinking);
    chunks.extend(block);
    chunks.push(an(
        "message_delta",
        &json!({"type":"message_delta","delta":{"stop_reason":stop,"stop_sequence":null},"usage":{"output_tokens":40}}).to_string(),
    ));
    chunks.push(an("message_stop", r#"{"type":"message_stop"}"#));
    Reply::Sse(chunks)
}

/// The first request is rate limited, with `Retry-After: 1`.
fn model(n: usize, body: &str) -> Reply {
    if n == 0 {
        return Reply::Status(
            429,
            vec![("retry-after".into(), "1".into())],
            r#"{"error":{"message":"Rate limit exceeded","type":"rate_limit_error"}}"#.into(),
        );
    }
    openai_model(body)
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

/// `macrohard-tui --data-dir DATA --config CONFIG run --headless --yes ARGS…` with `env`.
async fn headless(
    data: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = common::bin();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .args(["run", "--headless", "--yes"])
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn model_of(seen: &common::llm_server::Seen) -> String {
    let v: Value = serde_json::from_str(&seen.body).unwrap();
    v["model"].as_str().unwrap().to_owned()
}

fn is_supervisor(seen: &common::llm_server::Seen) -> bool {
    seen.body.contains("supervisor of Macrohard")
}

/// The run completed and its workspace has the design.
fn completed(data: &std::path::Path) -> Value {
    let runs: Value =
        serde_json::from_slice(&common::run(data, &["runs", "--json"]).stdout).unwrap();
    assert_eq!(runs[0]["status"], "completed", "{runs}");
    let ws = runs[0]["workspace"].as_str().unwrap();
    assert!(std::path::Path::new(ws).join("DESIGN.md").is_file());
    runs[0].clone()
}

/// No secret in the store, the log, the workspace or the exports.
fn no_secret(data: &std::path::Path, secret: &str) {
    let export = common::run(data, &["export", "last", "--format", "jsonl"]);
    let md = common::run(data, &["export", "last", "--format", "markdown"]);
    assert!(export.status.success() && md.status.success());
    assert!(!String::from_utf8_lossy(&export.stdout).contains(secret));
    assert!(!String::from_utf8_lossy(&md.stdout).contains(secret));
    assert_eq!(files_contain(data, secret.as_bytes()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_run_completes_against_an_openai_compatible_server() {
    let server = start(model).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        "[roles.architect]\nmodel = \"arch-model\"\n\n[prices.\"arch-model\"]\ninput = 1.0\noutput = 2.0\n",
    );
    let url = format!("{}/v1", server.url);
    let out = headless(
        &data,
        &config,
        &[
            "--provider",
            "openai",
            "--base-url",
            &url,
            "--model",
            "unused-model",
            "--role-model",
            "supervisor=gpt-4o-mini",
            "Write a design",
        ],
        &[("OPENAI_API_KEY", "sk-secret-test-key-123")],
    )
    .await;
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("waiting 1000 ms"),
        "the rate-limit wait is in the log:\n{stdout}"
    );
    assert!(!stderr.contains("SIMULATED"));
    let seen = server.seen.lock().unwrap().clone();
    assert!(seen[1].at.duration_since(seen[0].at) >= std::time::Duration::from_millis(990));
    assert!(
        seen.iter()
            .all(|s| s.head.contains("sk-secret-test-key-123")),
        "the key is sent to the server"
    );
    // One model per role: the supervisor's from the command line, the architect's from the
    // config; the run's own model is used by neither.
    for s in &seen {
        let want = if is_supervisor(s) {
            "gpt-4o-mini"
        } else {
            "arch-model"
        };
        assert_eq!(model_of(s), want);
    }
    assert!(seen.iter().any(|s| !is_supervisor(s)));
    let run = completed(&data);
    assert_eq!(run["provider"], "openai");
    assert_eq!(run["base_url"], url.as_str(), "recorded for a resume");
    // 300 in / 40 out per priced request: gpt-4o-mini from the table, arch-model from the config.
    assert!(run["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(run["unpriced_requests"], 0, "{run}");
    no_secret(&data, "sk-secret-test-key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_run_completes_against_an_anthropic_server_with_the_key_in_the_config() {
    let server = start(|_, body| anthropic_model(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        "[providers.anthropic]\napi_key = \"sk-ant-config-secret-456\"\n\n[roles.architect]\nmodel = \"claude-haiku-4-5\"\n",
    );
    let url = format!("{}/v1", server.url);
    let out = headless(
        &data,
        &config,
        &[
            "--provider",
            "anthropic",
            "--base-url",
            &url,
            "Write a design",
        ],
        &[("ANTHROPIC_API_KEY", "")],
    )
    .await;
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains("warning"),
        "the config is private: {stderr}"
    );
    let seen = server.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.head.starts_with("POST /v1/messages")
        && s.head.contains("x-api-key: sk-ant-config-secret-456")
        && s.head.contains("anthropic-version: 2023-06-01")));
    for s in &seen {
        let want = if is_supervisor(s) {
            "claude-sonnet-4-5"
        } else {
            "claude-haiku-4-5"
        };
        assert_eq!(model_of(s), want);
    }
    // The tool results went back as tool_result blocks, so the model saw them.
    assert!(seen.iter().any(|s| s.body.contains("\"tool_result\"")));
    let run = completed(&data);
    assert_eq!(run["provider"], "anthropic");
    assert!(
        stdout.contains("Considering the next step"),
        "thinking is streamed"
    );
    no_secret(&data, "sk-ant-config-secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_can_run_on_a_provider_of_its_own() {
    let openai = start(|_, body| openai_model(body)).await;
    let claude = start(|_, body| anthropic_model(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &format!(
            "[run]\nprovider = \"local\"\n\n[providers.local]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"qwen3\"\ncontext_window = 40000\n\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}/v1\"\napi_key_env = \"MY_CLAUDE_KEY\"\n\n[roles.architect]\nprovider = \"claude\"\nmodel = \"claude-opus-4-1\"\n",
            openai.url, claude.url
        ),
    );
    let out = headless(
        &data,
        &config,
        &["Write a design"],
        &[("MY_CLAUDE_KEY", "sk-routed-secret-789")],
    )
    .await;
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let to_openai = openai.seen.lock().unwrap().clone();
    let to_claude = claude.seen.lock().unwrap().clone();
    assert!(!to_openai.is_empty() && to_openai.iter().all(is_supervisor));
    assert!(to_openai.iter().all(|s| model_of(s) == "qwen3"));
    assert!(!to_claude.is_empty() && !to_claude.iter().any(is_supervisor));
    assert!(
        to_claude.iter().all(|s| model_of(s) == "claude-opus-4-1"
            && s.head.contains("x-api-key: sk-routed-secret-789"))
    );
    assert!(
        stdout.contains("role architect uses provider claude at"),
        "{stdout}"
    );
    let jsonl = common::export_jsonl(&data, "last");
    let spawned: Vec<(String, String)> = jsonl
        .iter()
        .filter(|r| r["event"]["type"] == "agent_spawned")
        .map(|r| {
            (
                r["event"]["role"].as_str().unwrap().to_owned(),
                r["event"]["provider"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(spawned.contains(&("supervisor".into(), "local".into())));
    assert!(spawned.contains(&("architect".into(), "claude".into())));
    let run = completed(&data);
    assert!(
        run["unpriced_requests"].as_u64().unwrap() > 0,
        "qwen3 has no price: {run}"
    );
    no_secret(&data, "sk-routed-secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usd_budget_stops_a_run_on_real_spend() {
    let server = start(|_, body| openai_model(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // gpt-4o: 300 in / 40 out costs $0.00115 a request; the budget allows about two.
    let config = write_config(dir.path(), "");
    let url = format!("{}/v1", server.url);
    let out = headless(
        &data,
        &config,
        &[
            "--provider",
            "openai",
            "--base-url",
            &url,
            "--model",
            "gpt-4o",
            "--budget-usd",
            "0.002",
            "Write a design",
        ],
        &[("OPENAI_API_KEY", "sk-budget")],
    )
    .await;
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let runs: Value =
        serde_json::from_slice(&common::run(&data, &["runs", "--json"]).stdout).unwrap();
    assert_eq!(runs[0]["status"], "paused");
    let reason = runs[0]["status_reason"].as_str().unwrap();
    assert!(
        reason.contains("budget reached: $0.00") && reason.contains("of $0.0020 allowed"),
        "{reason}"
    );
    let spent = runs[0]["cost_usd"].as_f64().unwrap();
    assert!((0.002..0.004).contains(&spent), "{spent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handed_to_a_server_keeps_the_clients_config_and_key() {
    let llm = start(|_, body| openai_model(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The server runs with no config of its own and no key in its environment.
    let mut server = common::bin()
        .arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if common::server_pid(&data).is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(common::server_pid(&data).is_some(), "the server listens");
    let config = write_config(dir.path(), "[roles.architect]\nmodel = \"arch-model\"\n");
    let url = format!("{}/v1", llm.url);
    let out = headless(
        &data,
        &config,
        &[
            "--provider",
            "openai",
            "--base-url",
            &url,
            "--model",
            "gpt-4o-mini",
            "Write a design",
        ],
        &[("OPENAI_API_KEY", "sk-handed-over-secret")],
    )
    .await;
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let seen = llm.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|s| !is_supervisor(s) && model_of(s) == "arch-model")
    );
    assert!(
        seen.iter()
            .all(|s| s.head.contains("sk-handed-over-secret"))
    );
    completed(&data);
    no_secret(&data, "sk-handed-over-secret");
    // SAFETY: signalling the server this test started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    assert!(server.wait().unwrap().success());
}
