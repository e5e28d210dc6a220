#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The remote providers against a loopback server replaying real protocol bytes.

mod common;

use common::llm_server::{DONE, Reply, an, oa, oa_usage, start};
use macrohard::domain::Usage;
use macrohard::llm::anthropic::Anthropic;
use macrohard::llm::openai::OpenAi;
use macrohard::llm::retry::RetryPolicy;
use macrohard::llm::{
    Endpoint, LlmError, LlmRequest, Message, Provider, Secret, StreamEvent, ToolDef,
};
use std::time::Duration;

fn request() -> LlmRequest {
    LlmRequest {
        model: "m".into(),
        system: "You are a test.".into(),
        messages: vec![Message::user("hi")],
        tools: vec![ToolDef {
            name: "read_file".into(),
            description: "read".into(),
            parameters: serde_json::json!({"type": "object"}),
        }],
        max_output_tokens: 100,
        ..LlmRequest::default()
    }
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

async fn collect(p: &dyn Provider) -> (Vec<StreamEvent>, Option<LlmError>) {
    let mut rx = p.stream(request());
    let mut events = Vec::new();
    while let Some(item) = rx.recv().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

fn endpoint(name: &str, url: &str, key: &str, model: &str) -> Endpoint {
    let mut e = Endpoint::new(name, &format!("{url}/v1"), Some(Secret::new(key)), model);
    e.retry = fast();
    e
}

fn openai(url: &str) -> OpenAi {
    OpenAi::new(endpoint("openai", url, "sk-test-key", "gpt-4o-mini")).unwrap()
}

fn text(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| {
            if let StreamEvent::Text(t) = e {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test]
async fn openai_plain_text_with_keep_alive_comments_and_the_usage_chunk() {
    let s = start(|_, _| {
        Reply::Sse(vec![
            ": OPENROUTER PROCESSING\n\n".into(),
            oa(r#"{"role":"assistant","content":""}"#, None),
            oa(r#"{"content":"Hello"}"#, None),
            oa(r#"{"content":", world"}"#, None),
            oa("{}", Some("stop")),
            oa_usage(12, 7),
            DONE.into(),
        ])
    })
    .await;
    let (events, err) = collect(&openai(&s.url)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text(&events), "Hello, world");
    assert!(events.contains(&StreamEvent::Usage(Usage {
        input_tokens: 12,
        output_tokens: 7,
        ..Usage::default()
    })));
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Done {
            stop_reason: "stop".into()
        })
    );
    let seen = s.seen.lock().unwrap();
    assert!(
        seen[0]
            .head
            .to_lowercase()
            .contains("authorization: bearer sk-test-key")
    );
    assert!(seen[0].head.starts_with("POST /v1/chat/completions"));
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["tools"][0]["function"]["name"], "read_file");
}

#[tokio::test]
async fn openai_reasoning_and_parallel_tool_calls_from_fragments() {
    let s = start(|_, _| {
        Reply::Sse(vec![
            oa(r#"{"reasoning_content":"Thinking about it."}"#, None),
            oa(r#"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read_file","arguments":""}}]}"#, None),
            oa(r#"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"list_files","arguments":"{}"}}]}"#, None),
            oa(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"RE"}}]}"#, None),
            oa(r#"{"tool_calls":[{"index":0,"function":{"arguments":"ADME.md\"}"}}]}"#, None),
            oa("{}", Some("tool_calls")),
            "data: {\"id\":\"c\",\"choices\":null,\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3}}\n\n".into(),
            DONE.into(),
        ])
    })
    .await;
    let (events, err) = collect(&openai(&s.url)).await;
    assert!(err.is_none(), "{err:?}");
    assert!(events.contains(&StreamEvent::Reasoning("Thinking about it.".into())));
    let calls: Vec<(String, String, serde_json::Value)> = events
        .iter()
        .filter_map(|e| {
            if let StreamEvent::ToolCall(c) = e {
                Some((c.id.clone(), c.name.clone(), c.arguments.clone()))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (
                "call_a".into(),
                "read_file".into(),
                serde_json::json!({"path": "README.md"})
            ),
            ("call_b".into(), "list_files".into(), serde_json::json!({})),
        ]
    );
    assert!(
        events.contains(&StreamEvent::Usage(Usage {
            input_tokens: 5,
            output_tokens: 3,
            ..Usage::default()
        })),
        "usage with choices: null"
    );
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Done {
            stop_reason: "tool_use".into()
        })
    );
}

#[tokio::test]
async fn openai_429_with_retry_after_waits_then_succeeds() {
    let s = start(|n, _| match n {
        0 => Reply::Status(429, vec![("retry-after".into(), "1".into())], r#"{"error":{"message":"Rate limit exceeded","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#.into()),
        _ => Reply::Sse(vec![oa(r#"{"content":"ok"}"#, Some("stop")), DONE.into()]),
    })
    .await;
    let (events, err) = collect(&openai(&s.url)).await;
    assert!(err.is_none(), "{err:?}");
    assert!(
        matches!(&events[0], StreamEvent::Retrying { wait_ms: 1000, reason } if reason.contains("429")),
        "{events:?}"
    );
    assert_eq!(text(&events), "ok");
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].at.duration_since(seen[0].at) >= Duration::from_millis(990),
        "no request before the wait is over"
    );
}

#[tokio::test]
async fn openai_500_then_success_and_quota_is_never_retried() {
    let s = start(|n, _| match n {
        0 => Reply::Status(
            500,
            vec![],
            r#"{"error":{"message":"boom","type":"server_error"}}"#.into(),
        ),
        _ => Reply::Sse(vec![oa(r#"{"content":"fine"}"#, Some("stop")), DONE.into()]),
    })
    .await;
    let (events, err) = collect(&openai(&s.url)).await;
    assert!(err.is_none());
    assert_eq!(text(&events), "fine");

    let q = start(|_, _| Reply::Status(429, vec![], r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}"#.into())).await;
    let (_, err) = collect(&openai(&q.url)).await;
    assert!(matches!(err, Some(LlmError::Quota(_))), "{err:?}");
    assert_eq!(
        q.seen.lock().unwrap().len(),
        1,
        "quota errors are not retried"
    );
    let bad =
        start(|_, _| Reply::Status(401, vec![], r#"{"error":{"message":"bad key"}}"#.into())).await;
    let (_, err) = collect(&openai(&bad.url)).await;
    assert!(
        matches!(&err, Some(LlmError::Http { status: 401, message }) if message == "bad key"),
        "{err:?}"
    );
}

#[tokio::test]
async fn openai_cut_streams_and_malformed_chunks_are_clear_errors() {
    let s = start(|_, _| Reply::Cut(vec![oa(r#"{"content":"par"}"#, None)])).await;
    let (events, err) = collect(&openai(&s.url)).await;
    assert_eq!(text(&events), "par", "what arrived is kept");
    assert!(matches!(err, Some(LlmError::Cut(_))), "{err:?}");
    assert!(err.unwrap().is_retryable());

    let m = start(|_, _| {
        Reply::Sse(vec![
            oa(r#"{"content":"a"}"#, None),
            "data: {not json\n\n".into(),
            DONE.into(),
        ])
    })
    .await;
    let (_, err) = collect(&openai(&m.url)).await;
    assert!(matches!(err, Some(LlmError::Malformed(_))), "{err:?}");

    let e = start(|_, _| {
        Reply::Sse(vec![
            "data: {\"error\":{\"message\":\"upstream failed\",\"type\":\"server_error\"}}\n\n"
                .into(),
        ])
    })
    .await;
    let (_, err) = collect(&openai(&e.url)).await;
    assert!(
        matches!(&err, Some(LlmError::Http { message, .. }) if message == "upstream failed"),
        "{err:?}"
    );

    let down = openai("http://127.0.0.1:9");
    let (_, err) = collect(&down).await;
    assert!(matches!(err, Some(LlmError::Connect(_))), "{err:?}");
}

fn anthropic(url: &str) -> Anthropic {
    Anthropic::new(
        endpoint("anthropic", url, "sk-ant-test", "claude-sonnet-4-5"),
        "2023-06-01",
    )
    .unwrap()
}

#[tokio::test]
async fn anthropic_text_thinking_tool_use_ping_and_cumulative_usage() {
    let s = start(|_, _| {
        Reply::Sse(vec![
            an("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","usage":{"input_tokens":25,"output_tokens":1}}}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me look."}}"#),
            an("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            an("ping", r#"{"type":"ping"}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Reading it."}}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"read_file","input":{}}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"path\":\"READ"}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ME.md\"}"}}"#),
            an("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
            an("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":47}}"#),
            an("message_stop", r#"{"type":"message_stop"}"#),
        ])
    })
    .await;
    let (events, err) = collect(&anthropic(&s.url)).await;
    assert!(err.is_none(), "{err:?}");
    assert!(events.contains(&StreamEvent::Reasoning("Let me look.".into())));
    assert_eq!(text(&events), "Reading it.");
    assert!(events.iter().any(|e| matches!(e, StreamEvent::ToolCall(c) if c.id == "toolu_1" && c.arguments == serde_json::json!({"path": "README.md"}))));
    assert!(events.contains(&StreamEvent::Usage(Usage {
        input_tokens: 25,
        output_tokens: 47,
        ..Usage::default()
    })));
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Done {
            stop_reason: "tool_use".into()
        })
    );
    let seen = s.seen.lock().unwrap();
    let head = seen[0].head.to_lowercase();
    assert!(
        head.contains("x-api-key: sk-ant-test") && head.contains("anthropic-version: 2023-06-01")
    );
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["system"][0]["text"], "You are a test.");
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
}

#[tokio::test]
async fn anthropic_error_event_after_200_is_a_retryable_error() {
    let s = start(|_, _| {
        Reply::Sse(vec![
            an("message_start", r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#),
            an("error", r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        ])
    })
    .await;
    let (_, err) = collect(&anthropic(&s.url)).await;
    match err {
        Some(e @ LlmError::Http { status: 529, .. }) => {
            assert!(e.is_retryable() && e.to_string().contains("Overloaded"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dropping_the_stream_hangs_up_at_once_even_while_waiting_to_retry() {
    // Streaming: the server notices the client hang up as soon as the receiver is dropped.
    let chunks: Vec<String> = (0..100)
        .map(|i| oa(&format!(r#"{{"content":"word {i} "}}"#), None))
        .collect();
    let s = start(move |_, _| Reply::Slow(chunks.clone(), Duration::from_millis(100))).await;
    let p = openai(&s.url);
    let mut rx = p.stream(request());
    assert!(matches!(rx.recv().await, Some(Ok(StreamEvent::Text(_)))));
    let dropped = std::time::Instant::now();
    drop(rx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hung = s.hung_up.lock().unwrap().clone();
    assert_eq!(hung.len(), 1, "the connection was closed");
    assert!(hung[0].duration_since(dropped) < Duration::from_millis(300));

    // Waiting out a Retry-After: no request is sent once the step is cancelled.
    let s = start(|_, _| {
        Reply::Status(
            429,
            vec![("retry-after".into(), "1".into())],
            r#"{"error":{"message":"slow down"}}"#.into(),
        )
    })
    .await;
    let p = openai(&s.url);
    let mut rx = p.stream(request());
    assert!(matches!(
        rx.recv().await,
        Some(Ok(StreamEvent::Retrying { wait_ms: 1000, .. }))
    ));
    drop(rx);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(s.seen.lock().unwrap().len(), 1, "the retry was not sent");
}

#[tokio::test]
async fn context_length_refusals_are_recognised_and_not_retried() {
    let bodies = [
        r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
        r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
    ];
    for body in bodies {
        let s = start(move |_, _| Reply::Status(400, vec![], body.into())).await;
        let (_, err) = collect(&openai(&s.url)).await;
        assert!(matches!(err, Some(LlmError::ContextLength(_))), "{err:?}");
        assert_eq!(s.seen.lock().unwrap().len(), 1);
    }
    // A rate limit that counts tokens is not a context-length refusal.
    let s = start(|_, _| {
        Reply::Status(
            400,
            vec![],
            r#"{"error":{"message":"too many tokens per minute"}}"#.into(),
        )
    })
    .await;
    let (_, err) = collect(&openai(&s.url)).await;
    assert!(
        matches!(err, Some(LlmError::Http { status: 400, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn model_lists_for_doctor() {
    let s = start(|_, body| {
        assert!(body.is_empty(), "a GET");
        Reply::Status(
            200,
            vec![],
            r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"},{"id":"qwen3:8b"}]}"#
                .into(),
        )
    })
    .await;
    let models = openai(&s.url).models().await.unwrap();
    assert_eq!(
        models,
        Some(vec!["gpt-4o-mini".to_owned(), "qwen3:8b".to_owned()])
    );
    assert!(s.seen.lock().unwrap()[0].head.starts_with("GET /v1/models"));
    let a = anthropic(&s.url).models().await.unwrap().unwrap();
    assert_eq!(a.len(), 2);
    let head = s.seen.lock().unwrap()[1].head.clone();
    assert!(head.starts_with("GET /v1/models?limit=1000"), "{head}");
    assert!(head.contains("x-api-key: sk-ant-test") && head.contains("anthropic-version"));

    let refused = start(|_, _| {
        Reply::Status(
            401,
            vec![],
            r#"{"error":{"message":"Incorrect API key provided"}}"#.into(),
        )
    })
    .await;
    let err = openai(&refused.url).models().await.unwrap_err();
    assert!(matches!(err, LlmError::Http { status: 401, .. }), "{err:?}");
    let missing = start(|_, _| Reply::Status(404, vec![], "not found".into())).await;
    assert_eq!(openai(&missing.url).models().await.unwrap(), None);
}

#[tokio::test]
async fn an_idle_stream_times_out_with_a_clear_error() {
    let chunks = vec![
        oa(r#"{"content":"Hel"}"#, None),
        oa(r#"{"content":"lo"}"#, None),
    ];
    let s = start(move |_, _| Reply::Slow(chunks.clone(), Duration::from_secs(3))).await;
    let mut e = endpoint("openai", &s.url, "k", "gpt-4o-mini");
    e.timeouts.idle = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let (events, err) = collect(&OpenAi::new(e).unwrap()).await;
    assert_eq!(text(&events), "Hel");
    assert!(
        matches!(&err, Some(LlmError::Timeout(m)) if m.contains("idle")),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

fn calls(events: &[StreamEvent]) -> Vec<(String, serde_json::Value)> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall(c) => Some((c.name.clone(), c.arguments.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn servers_that_ignore_stream_true_are_read_as_one_json_answer() {
    let s = start(|_, _| {
        Reply::Status(
            200,
            vec![],
            r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Planning.","reasoning_content":"Two tasks.","tool_calls":[{"id":"a","type":"function","function":{"name":"create_task","arguments":"{\"title\":\"T\"}"}},{"type":"function","function":{"name":"list_files","arguments":{"path":"."}}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":50,"completion_tokens":7}}"#.into(),
        )
    })
    .await;
    let (events, err) = collect(&openai(&s.url)).await;
    assert_eq!(err, None);
    assert_eq!(text(&events), "Planning.");
    assert!(events.contains(&StreamEvent::Reasoning("Two tasks.".into())));
    assert_eq!(
        calls(&events),
        vec![
            ("create_task".into(), serde_json::json!({"title": "T"})),
            ("list_files".into(), serde_json::json!({"path": "."})),
        ]
    );
    assert!(events.contains(&StreamEvent::Usage(Usage {
        input_tokens: 50,
        output_tokens: 7,
        ..Usage::default()
    })));

    let s = start(|_, _| {
        Reply::Status(
            200,
            vec![],
            r#"{"id":"msg","type":"message","role":"assistant","content":[{"type":"thinking","thinking":"Hm."},{"type":"text","text":"Reading."},{"type":"tool_use","id":"tu","name":"read_file","input":{"path":"a.py"}}],"stop_reason":"tool_use","usage":{"input_tokens":20,"output_tokens":5}}"#.into(),
        )
    })
    .await;
    let (events, err) = collect(&anthropic(&s.url)).await;
    assert_eq!(err, None);
    assert_eq!(text(&events), "Reading.");
    assert_eq!(
        calls(&events),
        vec![("read_file".into(), serde_json::json!({"path": "a.py"}))]
    );
}

#[tokio::test]
async fn anthropic_tool_input_given_whole_at_the_block_start_is_kept() {
    let s = start(|_, _| {
        Reply::Sse(vec![
            an("message_start", r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t1","name":"list_files","input":{"path":"src"}}}"#),
            an("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t2","name":"read_file","input":{}}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\": \"a\"}"}}"#),
            an("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
            an("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#),
            an("message_stop", r#"{"type":"message_stop"}"#),
        ])
    })
    .await;
    let (events, err) = collect(&anthropic(&s.url)).await;
    assert_eq!(err, None);
    assert_eq!(
        calls(&events),
        vec![
            ("list_files".into(), serde_json::json!({"path": "src"})),
            ("read_file".into(), serde_json::json!({"path": "a"})),
        ]
    );
}

#[tokio::test]
async fn anthropic_base_url_is_taken_with_or_without_v1() {
    let s = start(|_, _| {
        Reply::Sse(vec![
            an("message_start", r#"{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}"#),
            an("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            an("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}"#),
            an("message_stop", r#"{"type":"message_stop"}"#),
        ])
    })
    .await;
    // As `ANTHROPIC_BASE_URL` holds it (Anthropic's clients add `/v1`), with a trailing slash,
    // and in the `/v1` form.
    let forms = [
        s.url.clone(),
        format!("{}/", s.url),
        format!("{}/v1", s.url),
        format!("{}/v1/", s.url),
    ];
    for (i, base) in forms.iter().enumerate() {
        let mut e = Endpoint::new(
            "anthropic",
            base,
            Some(Secret::new("sk-ant-test")),
            "claude-sonnet-4-5",
        );
        e.retry = fast();
        let p = Anthropic::new(e, "2023-06-01").unwrap();
        let (events, err) = collect(&p).await;
        assert!(err.is_none(), "{base}: {err:?}");
        assert_eq!(text(&events), "ok", "{base}");
        let head = s.seen.lock().unwrap()[i].head.clone();
        assert!(head.starts_with("POST /v1/messages HTTP"), "{base}: {head}");
    }
    assert_eq!(
        macrohard::llm::anthropic::api_root("https://api.anthropic.com/v1"),
        "https://api.anthropic.com/v1"
    );
    assert_eq!(
        macrohard::llm::anthropic::api_root("https://proxy.example/anthropic"),
        "https://proxy.example/anthropic/v1"
    );
}
