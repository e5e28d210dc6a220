//! HTTP for the remote providers: sending with retries (and saying so), timeouts for
//! connecting, the first byte and an idle stream, and reading an SSE body.

use super::retry::{RetryPolicy, is_quota_error, retryable_status};
use super::sse::{SseEvent, SseParser};
use super::{Endpoint, LlmError, StreamEvent, StreamItem};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long to wait for a connection, for the response to start, and between two pieces of a
/// streamed body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(90),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub policy: RetryPolicy,
    pub first_byte: Duration,
    pub idle: Duration,
}

impl Http {
    pub fn new(endpoint: &Endpoint) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(endpoint.timeouts.connect)
            .user_agent(concat!("macrohard-tui/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Connect(e.to_string()))?;
        Ok(Self {
            client,
            policy: endpoint.retry,
            first_byte: endpoint.timeouts.first_byte,
            idle: endpoint.timeouts.idle,
        })
    }

    /// Sends the request `make` builds, retrying what may be retried. Each wait is announced on
    /// `tx` before it starts, so it shows in the log.
    pub async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
        tx: &mpsc::Sender<StreamItem>,
    ) -> Result<reqwest::Response, LlmError> {
        let mut attempt = 0;
        loop {
            let (err, headers) = match tokio::time::timeout(self.first_byte, make().send()).await {
                Err(_) => (
                    LlmError::Timeout(format!("no response within {:?}", self.first_byte)),
                    None,
                ),
                Ok(Err(e)) => (LlmError::Connect(describe(&e)), None),
                Ok(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let body = resp.text().await.unwrap_or_default();
                    let message = error_message(&body);
                    if is_quota_error(&body) {
                        return Err(LlmError::Quota(message));
                    }
                    if is_context_length_error(status, &body) {
                        return Err(LlmError::ContextLength(message));
                    }
                    if !retryable_status(status, &headers) {
                        return Err(LlmError::Http { status, message });
                    }
                    (LlmError::Http { status, message }, Some(headers))
                }
            };
            attempt += 1;
            if attempt > self.policy.max_retries {
                return Err(err);
            }
            let Some(wait) = self.policy.delay(attempt, headers.as_ref()) else {
                return Err(err);
            };
            let reason = format!("{err}; retry {attempt} of {}", self.policy.max_retries);
            if tx
                .send(Ok(StreamEvent::Retrying {
                    wait_ms: wait.as_millis() as u64,
                    reason,
                }))
                .await
                .is_err()
            {
                return Err(err);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Reads `resp`'s body as SSE events.
    pub fn events(&self, resp: reqwest::Response) -> EventReader {
        EventReader {
            body: Box::pin(resp.bytes_stream()),
            parser: SseParser::default(),
            idle: self.idle,
            ended: false,
        }
    }
}

type Body =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// SSE events of a response body, read with an idle timeout.
pub struct EventReader {
    body: Body,
    parser: SseParser,
    idle: Duration,
    ended: bool,
}

impl EventReader {
    /// The events completed by the next read; `None` once the body has ended.
    pub async fn next(&mut self) -> Result<Option<Vec<SseEvent>>, LlmError> {
        if self.ended {
            return Ok(None);
        }
        match tokio::time::timeout(self.idle, self.body.next()).await {
            Err(_) => Err(LlmError::Timeout(format!(
                "the stream was idle for {:?}",
                self.idle
            ))),
            Ok(None) => {
                self.ended = true;
                Ok(Some(self.parser.finish().into_iter().collect()))
            }
            Ok(Some(Err(e))) => Err(LlmError::Cut(describe(&e))),
            Ok(Some(Ok(bytes))) => Ok(Some(self.parser.push(&bytes))),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The `error.message` of an API error body, or the body itself (shortened).
pub fn error_message(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    match v["error"]["message"]
        .as_str()
        .or_else(|| v["error"].as_str())
    {
        Some(m) => m.to_owned(),
        None => body.chars().take(300).collect(),
    }
}

/// True when a server answered a streaming request with one JSON document instead of an
/// event stream (some compatible servers ignore `stream: true`).
pub(super) fn is_json(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

/// Reads a whole JSON body, within the idle timeout.
pub(super) async fn read_json(
    http: &Http,
    resp: reqwest::Response,
) -> Result<serde_json::Value, LlmError> {
    let body = tokio::time::timeout(http.idle, resp.text())
        .await
        .map_err(|_| LlmError::Timeout(format!("the body did not arrive within {:?}", http.idle)))?
        .map_err(|e| LlmError::Cut(describe(&e)))?;
    serde_json::from_str(&body).map_err(|e| {
        LlmError::Malformed(format!(
            "{e} in {}",
            body.chars().take(120).collect::<String>()
        ))
    })
}

/// Parses tool-call arguments that arrive as a JSON string or as an object.
pub(super) fn arguments(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) if s.trim().is_empty() => serde_json::json!({}),
        serde_json::Value::String(s) => {
            serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.clone()))
        }
        serde_json::Value::Null => serde_json::json!({}),
        other => other.clone(),
    }
}

/// The ids a `GET …/models` lists (OpenAI, Anthropic and most local servers answer
/// `{"data": [{"id": …}]}`; Ollama's native API says `models` and `name`). `Ok(None)` when the
/// server has no such endpoint.
pub(super) async fn list_models(
    http: &Http,
    url: &str,
    headers: &[(&'static str, String)],
) -> Result<Option<Vec<String>>, LlmError> {
    let mut r = http.client.get(url).timeout(super::CHECK_TIMEOUT);
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    let resp = r.send().await.map_err(|e| {
        if e.is_timeout() {
            LlmError::Timeout(format!(
                "no answer within {}s",
                super::CHECK_TIMEOUT.as_secs()
            ))
        } else {
            LlmError::Connect(describe(&e))
        }
    })?;
    let status = resp.status().as_u16();
    if matches!(status, 404 | 405 | 501) {
        return Ok(None);
    }
    let body = resp.text().await.map_err(|e| LlmError::Cut(describe(&e)))?;
    if !(200..300).contains(&status) {
        return Err(LlmError::Http {
            status,
            message: error_message(&body),
        });
    }
    let v: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| LlmError::Malformed(format!("the model list is not JSON ({e})")))?;
    let items = v["data"].as_array().or_else(|| v["models"].as_array());
    Ok(items.map(|items| {
        items
            .iter()
            .filter_map(|m| m["id"].as_str().or_else(|| m["name"].as_str()))
            .map(str::to_owned)
            .collect()
    }))
}

/// A refusal because the request does not fit the model's context window. Servers word it
/// differently (OpenAI `context_length_exceeded`, Anthropic "prompt is too long", vLLM and
/// llama.cpp "maximum context length", "exceeds the context size").
pub fn is_context_length_error(status: u16, body: &str) -> bool {
    if !matches!(status, 400 | 413 | 422) {
        return false;
    }
    let b = body.to_lowercase();
    b.contains("context_length_exceeded")
        || b.contains("request_too_large")
        || b.contains("prompt is too long")
        || b.contains("context length")
        || b.contains("context window")
        || b.contains("context size")
        || (b.contains("too many tokens") && !b.contains("per minute"))
}

/// Sends one stream event; fails when the request was cancelled (the receiver is gone).
pub(super) async fn emit(tx: &mpsc::Sender<StreamItem>, e: StreamEvent) -> Result<(), LlmError> {
    tx.send(Ok(e))
        .await
        .map_err(|_| LlmError::Cut("the request was cancelled".into()))
}

/// How a provider turns a successful response into stream events.
pub(super) type ReadFn = for<'a> fn(
    &'a Http,
    reqwest::Response,
    &'a mpsc::Sender<StreamItem>,
) -> BoxFuture<'a, Result<(), LlmError>>;

/// Posts the JSON `body` to `url` with `headers` (retrying what may be retried) and reads the
/// response with `read`. Any error ends the stream as its last item.
pub(super) fn post_stream(
    http: Http,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: String,
    read: ReadFn,
) -> mpsc::Receiver<StreamItem> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let make = || {
            let mut r = http
                .client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "text/event-stream")
                .body(body.clone());
            for (k, v) in &headers {
                r = r.header(*k, v);
            }
            r
        };
        let work = async {
            match http.send(make, &tx).await {
                Ok(resp) => read(&http, resp, &tx).await,
                Err(e) => Err(e),
            }
        };
        // When the receiver goes (the step was cancelled: "pause now", a stopped task), the
        // request is dropped at once, wherever it is: connecting, waiting to retry, streaming.
        let result = tokio::select! {
            r = work => r,
            () = tx.closed() => return,
        };
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}
