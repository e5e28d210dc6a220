#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What the providers use of the APIs, against a loopback server: prompt caching and its
//! usage, reasoning effort and extended thinking, output cut off by the token limit (told to
//! the model, the cut call not run), and the OpenAI Responses API.

mod common;

use common::llm_server::{DONE, Reply, an, company, oa, start};
use macrohard::domain::{Effort, Event, RoleChoice, Usage};
use macrohard::llm::anthropic::Anthropic;
use macrohard::llm::openai::OpenAi;
use macrohard::llm::{
    Endpoint, LlmError, LlmRequest, Message, Provider, Secret, StopReason, StreamEvent, Thinking,
    ToolDef,
};
use serde_json::{Value, json};
use std::sync::Arc;

fn request(reasoning: Option<Effort>) -> LlmRequest {
    LlmRequest {
        model: "m".into(),
        system: "You are a test.".into(),
        messages: vec![Message::user("hi")],
        tools: vec![ToolDef {
            name: "write_file".into(),
            description: "write".into(),
            parameters: json!({"type": "object"}),
        }],
        max_output_tokens: 1000,
        reasoning,
        ..LlmRequest::default()
    }
}

fn endpoint(url: &str, model: &str) -> Endpoint {
    let mut e = Endpoint::new("t", &format!("{url}/v1"), Some(Secret::new("k")), model);
    e.retry.max_retries = 0;
    e
}

async fn collect(p: &dyn Provider, req: LlmRequest) -> (Vec<StreamEvent>, Option<LlmError>) {
    let mut rx = p.stream(req);
    let mut events = Vec::new();
    while let Some(item) = rx.recv().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

fn done(events: &[StreamEvent]) -> Option<&StopReason> {
    events.iter().find_map(|e| match e {
        StreamEvent::Done { stop_reason } => Some(stop_reason),
        _ => None,
    })
}

fn usage(events: &[StreamEvent]) -> Option<Usage> {
    events.iter().find_map(|e| match e {
        StreamEvent::Usage(u) => Some(*u),
        _ => None,
    })
}

fn body(server: &common::llm_server::Server, n: usize) -> Value {
    serde_json::from_str(&server.seen.lock().unwrap()[n].body).unwrap()
}

#[tokio::test]
async fn openai_cut_off_output_is_a_typed_stop_and_cached_tokens_are_counted() {
    let s = start(|_, _| {
        Reply::Sse(vec![
            oa(r#"{"content":"Writing it."}"#, None),
            oa(
                r#"{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"write_file","arguments":"{\"path\":\"a.py\",\"content\":\"def f("}}]}"#,
                None,
            ),
            oa("{}", Some("length")),
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":1000,\"prompt_tokens_details\":{\"cached_tokens\":1536}}}\n\n".into(),
            DONE.into(),
        ])
    })
    .await;
    let p = OpenAi::new(endpoint(&s.url, "gpt-5")).unwrap();
    let (events, err) = collect(&p, request(Some(Effort::High))).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(done(&events), Some(&StopReason::MaxTokens), "not tool_use");
    let u = usage(&events).unwrap();
    assert_eq!((u.input_tokens, u.cached_tokens), (2000, 1536));
    let b = body(&s, 0);
    assert_eq!(b["reasoning_effort"], "high");
    assert!(
        request(None).reasoning.is_none() && OpenAi::new(endpoint(&s.url, "m")).is_ok(),
        "no effort unless a role asks"
    );
}

#[tokio::test]
async fn anthropic_caches_thinks_and_keeps_signed_and_redacted_thinking() {
    let s = start(|_, _| {
        Reply::Sse(vec![
            an("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","usage":{"input_tokens":20,"cache_creation_input_tokens":3000,"cache_read_input_tokens":5000,"output_tokens":1}}}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Plan the file."}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCkYIARgC"}}"#),
            an("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3"}}"#),
            an("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"write_file","input":{}}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"path\":\"a.py\""}}"#),
            an("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":9192}}"#),
            an("message_stop", r#"{"type":"message_stop"}"#),
        ])
    })
    .await;
    let p = Anthropic::new(endpoint(&s.url, "claude-sonnet-4-5"), "2023-06-01").unwrap();
    let (events, err) = collect(&p, request(Some(Effort::Medium))).await;
    assert!(err.is_none(), "{err:?}");
    assert!(events.contains(&StreamEvent::Reasoning("Plan the file.".into())));
    let thinking: Vec<&Thinking> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Thinking(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(
        thinking,
        [
            &Thinking::Thinking {
                thinking: "Plan the file.".into(),
                signature: "EqQBCkYIARgC".into()
            },
            &Thinking::RedactedThinking {
                data: "EmwKAhgBEgy3".into()
            }
        ]
    );
    assert_eq!(done(&events), Some(&StopReason::MaxTokens));
    assert_eq!(
        usage(&events).unwrap(),
        Usage {
            input_tokens: 8020,
            output_tokens: 9192,
            cached_tokens: 5000,
            cache_write_tokens: 3000,
        }
    );
    let b = body(&s, 0);
    assert_eq!(b["system"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(b["tools"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(
        b["messages"][0]["content"][0]["cache_control"]["type"],
        "ephemeral"
    );
    assert_eq!(b["thinking"]["type"], "enabled");
    let budget = b["thinking"]["budget_tokens"].as_u64().unwrap();
    assert!(
        budget >= 1024 && b["max_tokens"].as_u64().unwrap() > budget,
        "{b}"
    );
}

/// A Responses API stream: reasoning, text, a call whose arguments come in pieces, a second
/// call given whole, and usage with cached tokens.
fn responses_stream() -> Vec<String> {
    let ev = |t: &str, data: Value| {
        let mut d = data;
        d["type"] = json!(t);
        format!("event: {t}\ndata: {d}\n\n")
    };
    vec![
        ev(
            "response.created",
            json!({"response": {"id": "resp_1", "status": "in_progress", "output": []}}),
        ),
        ev(
            "response.reasoning_summary_text.delta",
            json!({"output_index": 0, "delta": "Look first."}),
        ),
        ev(
            "response.output_item.added",
            json!({"output_index": 1, "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
        ),
        ev(
            "response.output_text.delta",
            json!({"output_index": 1, "content_index": 0, "delta": "Reading "}),
        ),
        ev(
            "response.output_text.delta",
            json!({"output_index": 1, "content_index": 0, "delta": "both."}),
        ),
        ev(
            "response.output_item.added",
            json!({"output_index": 2, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "read_file", "arguments": ""}}),
        ),
        ev(
            "response.function_call_arguments.delta",
            json!({"output_index": 2, "item_id": "fc_1", "delta": "{\"path\":"}),
        ),
        ev(
            "response.function_call_arguments.delta",
            json!({"output_index": 2, "item_id": "fc_1", "delta": "\"a.py\"}"}),
        ),
        ev(
            "response.output_item.done",
            json!({"output_index": 3, "item": {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "read_file", "arguments": "{\"path\":\"b.py\"}"}}),
        ),
        ev(
            "response.completed",
            json!({"response": {"id": "resp_1", "status": "completed", "usage": {"input_tokens": 900, "input_tokens_details": {"cached_tokens": 512}, "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 950}}}),
        ),
    ]
}

#[tokio::test]
async fn the_responses_api_streams_text_reasoning_calls_and_usage() {
    let s = start(|_, _| Reply::Sse(responses_stream())).await;
    let p = OpenAi::responses(endpoint(&s.url, "gpt-5")).unwrap();
    let mut req = request(Some(Effort::Low));
    req.messages.push(Message::assistant(
        "",
        vec![macrohard::llm::ToolUse {
            id: "call_0".into(),
            name: "write_file".into(),
            arguments: json!({"path": "x"}),
        }],
    ));
    req.messages.push(Message::tool("call_0", "wrote x"));
    let (events, err) = collect(&p, req).await;
    assert!(err.is_none(), "{err:?}");
    assert!(events.contains(&StreamEvent::Reasoning("Look first.".into())));
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Reading both.");
    let calls: Vec<(String, Value)> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall(c) => Some((c.id.clone(), c.arguments.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("call_a".to_owned(), json!({"path": "a.py"})),
            ("call_b".to_owned(), json!({"path": "b.py"}))
        ]
    );
    let u = usage(&events).unwrap();
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.cached_tokens),
        (900, 50, 512)
    );
    assert_eq!(done(&events), Some(&StopReason::ToolUse));
    let seen = s.seen.lock().unwrap()[0].clone();
    assert!(seen.head.starts_with("POST /v1/responses"), "{}", seen.head);
    let b: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(b["instructions"], "You are a test.");
    assert_eq!(b["reasoning"]["effort"], "low");
    assert_eq!(b["tools"][0]["type"], "function");
    assert_eq!(b["input"][1]["type"], "function_call");
    assert_eq!(b["input"][2]["type"], "function_call_output");
    assert_eq!(b["input"][2]["output"], "wrote x");
}

#[tokio::test]
async fn the_responses_api_reports_cut_off_output_and_errors() {
    let s = start(|n, _| {
        let ev = |t: &str, d: Value| format!("event: {t}\ndata: {d}\n\n");
        match n {
            0 => Reply::Sse(vec![
                ev("response.output_text.delta", json!({"type": "response.output_text.delta", "output_index": 0, "delta": "Half an ans"})),
                ev("response.incomplete", json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "usage": {"input_tokens": 10, "output_tokens": 100}}})),
            ]),
            1 => Reply::Sse(vec![ev(
                "response.failed",
                json!({"type": "response.failed", "response": {"status": "failed", "error": {"code": "server_error", "message": "The model failed"}}}),
            )]),
            2 => Reply::Sse(vec![ev(
                "error",
                json!({"type": "error", "code": "context_length_exceeded", "message": "Your input exceeds the context window of this model."}),
            )]),
            _ => Reply::Sse(vec![ev(
                "response.output_text.delta",
                json!({"type": "response.output_text.delta", "output_index": 0, "delta": "and then"}),
            )]),
        }
    })
    .await;
    let p = OpenAi::responses(endpoint(&s.url, "gpt-5")).unwrap();
    let (events, err) = collect(&p, request(None)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(done(&events), Some(&StopReason::MaxTokens));
    let (_, err) = collect(&p, request(None)).await;
    assert!(
        matches!(&err, Some(e @ LlmError::Http { status: 500, .. }) if e.is_retryable()),
        "{err:?}"
    );
    let (_, err) = collect(&p, request(None)).await;
    assert!(matches!(err, Some(LlmError::ContextLength(_))), "{err:?}");
    let (_, err) = collect(&p, request(None)).await;
    assert!(matches!(err, Some(LlmError::Cut(_))), "{err:?}");
}

/// The last user text of an OpenAI body.
fn last_user(b: &Value) -> String {
    b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned()
}

fn is_supervisor(b: &Value) -> bool {
    b.to_string().contains("supervisor of Macrohard")
}

/// The supervisor plans one engineer task; the engineer's first answer is cut off in the
/// middle of a `write_file`, its second writes a small file.
fn cut_off_model(body: &str) -> Reply {
    let b: Value = serde_json::from_str(body).unwrap();
    let call = |name: &str, args: String| {
        oa(
            &json!({"tool_calls": [{"index": 0, "id": format!("call_{name}"), "type": "function", "function": {"name": name, "arguments": args}}]}).to_string(),
            None,
        )
    };
    let answered = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .count();
    if is_supervisor(&b) {
        if answered == 0 {
            let args = json!({"title": "Write the app", "description": "app.py", "role": "engineer", "depends_on": []});
            return Reply::Sse(vec![
                call("create_task", args.to_string()),
                oa("{}", Some("tool_calls")),
                DONE.into(),
            ]);
        }
        return Reply::Sse(vec![
            oa(r#"{"content":"Waiting."}"#, None),
            oa("{}", Some("stop")),
            DONE.into(),
        ]);
    }
    if answered == 0 {
        return Reply::Sse(vec![
            oa(r#"{"content":"Here is the whole app."}"#, None),
            call(
                "write_file",
                r#"{"path":"app.py","content":"import sys\n\ndef main(argv):\n    for a"#.into(),
            ),
            oa("{}", Some("length")),
            DONE.into(),
        ]);
    }
    let args = json!({"path": "app.py", "content": "print('hi')\n"});
    Reply::Sse(vec![
        call("write_file", args.to_string()),
        oa("{}", Some("tool_calls")),
        DONE.into(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_answer_is_told_to_the_model_and_its_cut_call_is_not_run() {
    let server = start(|_, body| cut_off_model(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(OpenAi::new(endpoint(&server.url, "gpt-4o-mini")).unwrap());
    let run = company(dir.path(), provider, "Write an app", &[], |_| {}).await;
    // supervisor plan, engineer cut off, supervisor maybe, engineer again
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let bodies = loop {
        let seen = run.wait_requests(&server, 1).await;
        let workers: Vec<Value> = seen
            .iter()
            .map(|s| serde_json::from_str::<Value>(&s.body).unwrap())
            .filter(|b| !is_supervisor(b))
            .collect();
        if workers.len() >= 2 {
            break workers;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the engineer never asked twice"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let second = &bodies[1];
    let msgs = second["messages"].as_array().unwrap();
    let assistant = msgs.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(assistant["content"], "Here is the whole app.");
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"], "{}",
        "the cut arguments are not sent back"
    );
    let result = msgs.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(result["tool_call_id"], "call_write_file");
    let result = result["content"].as_str().unwrap();
    assert!(
        result.contains("cut off by the output token limit") && result.contains("not run"),
        "{result}"
    );
    let note = last_user(second);
    assert!(
        note.contains("cut off by the output token limit") && note.contains("smaller"),
        "{note}"
    );
    let workspace = run.workspace.clone();
    // The second answer writes the small file; the cut one never wrote anything.
    let events = run.stop().await;
    // Later answers write the small file (perhaps more than once before the stop); the cut
    // call is never requested.
    for e in &events {
        if let Event::ToolCallRequested { tool, args, .. } = e {
            assert!(
                tool != "write_file" || args["content"] == "print('hi')\n",
                "only whole calls run: {args}"
            );
        }
    }
    if let Ok(text) = std::fs::read_to_string(workspace.join("app.py")) {
        assert_eq!(text, "print('hi')\n", "never the cut content");
    }
    assert!(events.iter().any(|e| matches!(e,
        Event::LlmRequestFinished { stop_reason, .. } if stop_reason == "max_tokens")));
    assert!(events.iter().any(|e| matches!(e,
        Event::Log { text, .. } if text.contains("cut off by the output token limit") && text.contains("not run: write_file"))));
}

/// Speaks Anthropic: the supervisor plans one task; the engineer thinks (signed) and calls
/// `list_files`, then thinks again and calls it again.
fn thinking_model(body: &str) -> Reply {
    let b: Value = serde_json::from_str(body).unwrap();
    let answered = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .count();
    let start = an(
        "message_start",
        r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":1}}}"#,
    );
    let tool = |name: &str, input: Value| {
        let input = input.to_string();
        vec![
            an("content_block_start", &json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":format!("toolu_{name}_{answered}"),"name":name,"input":{}}}).to_string()),
            an("content_block_delta", &json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":input}}).to_string()),
            an("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        ]
    };
    let mut chunks = vec![start];
    if is_supervisor(&b) {
        if answered > 0 {
            return Reply::Sse(vec![
                chunks.remove(0),
                an(
                    "message_delta",
                    r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#,
                ),
                an("message_stop", r#"{"type":"message_stop"}"#),
            ]);
        }
        chunks.extend(tool("create_task", json!({"title": "Look around", "description": "list the files", "role": "engineer", "depends_on": []})));
    } else {
        chunks.extend([
            an("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#),
            an("content_block_delta", &json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":format!("Thought {answered}.")}}).to_string()),
            an("content_block_delta", &json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":format!("sig{answered}")}}).to_string()),
            an("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        ]);
        chunks.extend(tool("list_files", json!({"path": "."})));
    }
    chunks.push(an("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20}}"#));
    chunks.push(an("message_stop", r#"{"type":"message_stop"}"#));
    Reply::Sse(chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_reasoning_thinks_and_its_thinking_goes_back_with_the_tool_results() {
    let server = start(|_, body| thinking_model(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let provider =
        Arc::new(Anthropic::new(endpoint(&server.url, "claude-sonnet-4-5"), "2023-06-01").unwrap());
    let run = company(
        dir.path(),
        provider,
        "Look around",
        &[("a.txt", "a")],
        |c| {
            c.role_settings.insert(
                "engineer".into(),
                RoleChoice {
                    reasoning: Some(Effort::Low),
                    ..RoleChoice::default()
                },
            );
        },
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let workers = loop {
        let seen = run.wait_requests(&server, 1).await;
        let workers: Vec<Value> = seen
            .iter()
            .map(|s| serde_json::from_str::<Value>(&s.body).unwrap())
            .filter(|b| !is_supervisor(b))
            .collect();
        if workers.len() >= 2 {
            break workers;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the engineer never asked twice"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let supervisor = body(&server, 0);
    assert!(
        supervisor.get("thinking").is_none(),
        "only the engineer thinks"
    );
    assert_eq!(workers[0]["thinking"]["budget_tokens"], 2048);
    let second = &workers[1];
    assert_eq!(second["thinking"]["type"], "enabled");
    let turn = &second["messages"][1];
    assert_eq!(turn["role"], "assistant");
    assert_eq!(
        turn["content"][0],
        json!({"type": "thinking", "thinking": "Thought 0.", "signature": "sig0"}),
        "{second}"
    );
    assert_eq!(turn["content"][1]["type"], "tool_use");
    assert_eq!(second["messages"][2]["content"][0]["type"], "tool_result");
    let events = run.stop().await;
    assert!(events.iter().any(|e| matches!(e,
        Event::AgentDelta { kind: macrohard::domain::DeltaKind::Reasoning, text, .. } if text.contains("Thought 0."))),
        "thinking shows as reasoning in the control room");
    assert!(
        events.iter().any(|e| matches!(e,
        Event::RoleSettings { roles } if roles["engineer"].reasoning == Some(Effort::Low))),
        "the setting is recorded with the run"
    );
}
