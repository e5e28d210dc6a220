#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The exact JSON bodies of the first request of the supervisor and of a worker (engineer), as
//! the OpenAI and Anthropic providers send them to a loopback server, on a fixed run: fixed
//! goal, seed, workspace contents and model answers. Any change to a prompt, the task brief or
//! a tool description shows here for review, and each body must stay within a token budget
//! (about 4 bytes a token).
//!
//! After an intended change, re-accept the snapshots:
//! `INSTA_UPDATE=always cargo test --test request_bodies` (or `cargo insta review`), then
//! review the diff of `tests/snapshots/request_bodies__*.snap` before committing.

mod common;

use common::llm_server::{DONE, Reply, Seen, an, company, oa, start};
use macrohard::llm::anthropic::Anthropic;
use macrohard::llm::openai::OpenAi;
use macrohard::llm::{Endpoint, Provider, Secret};
use serde_json::{Value, json};
use std::sync::Arc;

const GOAL: &str = "Build a command-line todo app in Python: add, list and done, kept in todo.json";

/// The workspace the run starts in.
const FILES: &[(&str, &str)] = &[
    ("README.md", "# todo\n\nA small command-line todo app.\n"),
    (
        "AGENTS.md",
        "Use Python 3 and the standard library only. Run the tests with `python3 -m unittest`.\n",
    ),
    ("todo/__init__.py", ""),
];

const KEY: &str = "sk-request-bodies-secret";

/// Token budgets (bytes / 4) for the first requests: measured at about 1,700 (supervisor)
/// and 2,000 (engineer) tokens in both protocols, with room to grow.
const SUPERVISOR_BUDGET: usize = 4_000;
const WORKER_BUDGET: usize = 5_000;

/// The one fact of a brief that depends on the machine (whether its kernel can confine
/// commands), written as a placeholder so the snapshots hold everywhere.
fn machine_independent(pretty: &str) -> String {
    const LINE: &str = "- Sandbox: ";
    let Some(at) = pretty.find(LINE) else {
        return pretty.to_owned();
    };
    let start = at + LINE.len();
    let end = pretty[start..]
        .find("\\n")
        .map_or(pretty.len(), |e| start + e);
    format!(
        "{}[the sandbox as this machine has it]{}",
        &pretty[..start],
        &pretty[end..]
    )
}

fn task() -> Value {
    json!({
        "title": "Implement the todo CLI",
        "description": "todo/cli.py with add, list and done, storing todo.json; tests in tests/test_cli.py",
        "role": "engineer",
        "depends_on": []
    })
}

/// Which tools a body offers (OpenAI nests the name under `function`).
fn tool_names(b: &Value) -> Vec<String> {
    b["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    t["name"]
                        .as_str()
                        .or_else(|| t["function"]["name"].as_str())
                })
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn is_supervisor(b: &Value) -> bool {
    tool_names(b).iter().any(|t| t == "finish_run")
}

fn assistant_turns(b: &Value) -> usize {
    b["messages"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count())
}

/// OpenAI: the supervisor plans one task, then waits; the engineer says it is looking.
fn openai_model(body: &str) -> Reply {
    let b: Value = serde_json::from_str(body).unwrap();
    if is_supervisor(&b) && assistant_turns(&b) == 0 {
        let call = json!({"tool_calls": [{"index": 0, "id": "call_plan", "type": "function", "function": {"name": "create_task", "arguments": task().to_string()}}]});
        return Reply::Sse(vec![
            oa(&call.to_string(), None),
            oa("{}", Some("tool_calls")),
            DONE.into(),
        ]);
    }
    Reply::Sse(vec![
        oa(r#"{"content":"Looking."}"#, None),
        oa("{}", Some("stop")),
        DONE.into(),
    ])
}

/// The same model speaking Anthropic.
fn anthropic_model(body: &str) -> Reply {
    let b: Value = serde_json::from_str(body).unwrap();
    let mut chunks = vec![an(
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":1}}}"#,
    )];
    let stop = if is_supervisor(&b) && assistant_turns(&b) == 0 {
        chunks.extend([
            an(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_plan","name":"create_task","input":{}}}"#,
            ),
            an(
                "content_block_delta",
                &json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":task().to_string()}}).to_string(),
            ),
            an(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
        ]);
        "tool_use"
    } else {
        chunks.extend([
            an(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            an(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Looking."}}"#,
            ),
            an(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
        ]);
        "end_turn"
    };
    chunks.push(an(
        "message_delta",
        &json!({"type":"message_delta","delta":{"stop_reason":stop},"usage":{"output_tokens":5}})
            .to_string(),
    ));
    chunks.push(an("message_stop", r#"{"type":"message_stop"}"#));
    Reply::Sse(chunks)
}

/// Runs the company on `provider` until the engineer has asked once; returns the first
/// supervisor and engineer bodies as sent, with the run's directory written as `[DIR]`.
async fn first_bodies(
    dir: &std::path::Path,
    server: &common::llm_server::Server,
    provider: Arc<dyn Provider>,
) -> (String, String) {
    let run = company(dir, provider, GOAL, FILES, |_| {}).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (sup, worker) = loop {
        let seen: Vec<Seen> = run.wait_requests(server, 1).await;
        let parsed: Vec<(Value, &Seen)> = seen
            .iter()
            .map(|s| (serde_json::from_str::<Value>(&s.body).unwrap(), s))
            .collect();
        let sup = parsed.iter().find(|(b, _)| is_supervisor(b));
        let worker = parsed.iter().find(|(b, _)| !is_supervisor(b));
        if let (Some(s), Some(w)) = (sup, worker) {
            break (s.1.clone(), w.1.clone());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no engineer request within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    run.stop().await;
    for s in [&sup, &worker] {
        assert!(!s.body.contains(KEY), "the key is never in a body");
    }
    let root = dir.display().to_string();
    let pretty = |s: &Seen| {
        let v: Value = serde_json::from_str(&s.body).unwrap();
        machine_independent(
            &serde_json::to_string_pretty(&v)
                .unwrap()
                .replace(&root, "[DIR]"),
        )
    };
    (pretty(&sup), pretty(&worker))
}

fn endpoint(url: &str, model: &str) -> Endpoint {
    let mut e = Endpoint::new("t", &format!("{url}/v1"), Some(Secret::new(KEY)), model);
    e.retry.max_retries = 0;
    e
}

/// The rough token count the engine uses (4 bytes a token), of the compact body.
fn tokens(pretty: &str) -> usize {
    let v: Value = serde_json::from_str(pretty).unwrap();
    v.to_string().len().div_ceil(4)
}

#[test]
fn only_the_sandbox_line_is_made_machine_independent() {
    let body = r#"{"content": "Environment:\n- Sandbox: incomplete on this machine (missing: landlock).\n- Turns left: 3"}"#;
    assert_eq!(
        machine_independent(body),
        r#"{"content": "Environment:\n- Sandbox: [the sandbox as this machine has it]\n- Turns left: 3"}"#
    );
}

fn check_budgets(protocol: &str, sup: &str, worker: &str) {
    let (s, w) = (tokens(sup), tokens(worker));
    eprintln!("{protocol}: supervisor's first request ~{s} tokens, engineer's ~{w}");
    assert!(
        s <= SUPERVISOR_BUDGET,
        "{protocol}: the supervisor's first request is ~{s} tokens, over its budget of {SUPERVISOR_BUDGET}"
    );
    assert!(
        w <= WORKER_BUDGET,
        "{protocol}: the engineer's first request is ~{w} tokens, over its budget of {WORKER_BUDGET}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_first_requests() {
    let server = start(|_, body| openai_model(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(OpenAi::new(endpoint(&server.url, "gpt-4.1")).unwrap());
    let (sup, worker) = first_bodies(dir.path(), &server, provider).await;
    check_budgets("openai", &sup, &worker);
    insta::assert_snapshot!("openai_supervisor", sup);
    insta::assert_snapshot!("openai_engineer", worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_first_requests() {
    let server = start(|_, body| anthropic_model(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let provider =
        Arc::new(Anthropic::new(endpoint(&server.url, "claude-sonnet-4-5"), "2023-06-01").unwrap());
    let (sup, worker) = first_bodies(dir.path(), &server, provider).await;
    check_budgets("anthropic", &sup, &worker);
    insta::assert_snapshot!("anthropic_supervisor", sup);
    insta::assert_snapshot!("anthropic_engineer", worker);
}
