//! The model side: reading an OpenAI-style SSE stream (the framing alone, and end to end from a
//! loopback socket through reqwest and the provider to the agent's channel), and condensing a
//! long conversation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use macrohard::llm::context::condense;
use macrohard::llm::openai::OpenAi;
use macrohard::llm::sse::SseParser;
use macrohard::llm::{
    Endpoint, LlmRequest, Message, Provider, RequestContext, StreamEvent, ToolUse,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNKS: usize = 10_000;

/// A streamed answer of `CHUNKS` text deltas, as a server sends it.
fn body() -> Vec<u8> {
    let mut b = String::new();
    for i in 0..CHUNKS {
        b.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1795462072,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token{i} \"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    b.push_str("data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    b.push_str("data: [DONE]\n\n");
    b.into_bytes()
}

fn sse(c: &mut Criterion) {
    let body = body();
    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(body.len() as u64));
    // Network reads of 1,400 bytes, and of 64 KiB (a fast local server).
    for read in [1_400usize, 65_536] {
        group.bench_function(format!("parse_10k_chunks_reads_of_{read}"), |b| {
            b.iter(|| {
                let mut p = SseParser::default();
                let mut n = 0;
                for piece in body.chunks(read) {
                    for ev in p.push(piece) {
                        let v: serde_json::Value =
                            serde_json::from_str(&ev.data).unwrap_or_default();
                        n += usize::from(v.is_object());
                    }
                }
                assert_eq!(n, CHUNKS + 1);
            })
        });
    }
    group.finish();
}

/// Serves `body` as a chunked event stream to every connection.
async fn serve(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                let mut seen = Vec::new();
                loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(p) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..p]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap_or(0));
                        if seen.len() >= p + 4 + len {
                            break;
                        }
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                for piece in body.chunks(4_096) {
                    let _ = sock
                        .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                        .await;
                    let _ = sock.write_all(piece).await;
                    let _ = sock.write_all(b"\r\n").await;
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    url
}

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(serve(body()));
    let provider = OpenAi::new(Endpoint::new("openai", &url, None, "gpt-4o-mini")).unwrap();
    let request = LlmRequest {
        model: "gpt-4o-mini".into(),
        system: "s".into(),
        messages: vec![Message::user("hi")],
        tools: Vec::new(),
        max_output_tokens: 100,
        reasoning: None,
        context: RequestContext::default(),
    };
    let mut group = c.benchmark_group("openai_stream");
    group.throughput(Throughput::Elements(CHUNKS as u64));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("loopback_10k_deltas", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut rx = provider.stream(request.clone());
                let mut texts = 0;
                while let Some(item) = rx.recv().await {
                    match item.unwrap() {
                        StreamEvent::Text(_) => texts += 1,
                        StreamEvent::Done { .. } => break,
                        _ => {}
                    }
                }
                assert_eq!(texts, CHUNKS);
            })
        })
    });
    group.finish();
}

fn conversation(turns: usize) -> Vec<Message> {
    let mut m = vec![Message::user("Task T1: build the store")];
    for i in 0..turns {
        m.push(Message::assistant(
            format!("Reading part {i}."),
            vec![ToolUse {
                id: format!("c{i}"),
                name: "read_file".into(),
                arguments: serde_json::json!({"path": format!("src/part{i}.py")}),
            }],
        ));
        m.push(Message::tool(
            format!("c{i}"),
            "def f(x):\n    return x\n".repeat(150),
        ));
    }
    m
}

fn condensing(c: &mut Criterion) {
    let long = conversation(200); // 400 messages, about 270k tokens
    let mut group = c.benchmark_group("context");
    group.bench_function("condense_400_messages_to_64k_tokens", |b| {
        b.iter_batched(
            || long.clone(),
            |mut m| condense(&mut m, 3_000, 64_000).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, sse, end_to_end, condensing);
criterion_main!(benches);
