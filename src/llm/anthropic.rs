//! The Anthropic Messages API with streaming: `message_start`, content blocks for text,
//! thinking and `tool_use` (`input_json_delta`), `message_delta` with cumulative usage,
//! `message_stop`, `ping`, and `error` events that arrive after a 200.

pub use super::anthropic_body::{body, thinking_budget};
use super::http::{
    Http, arguments, emit, error_message, is_json, list_models, post_stream, read_json,
};
use super::{
    Endpoint, LlmError, LlmRequest, Provider, ProviderInfo, StopReason, StreamEvent, StreamItem,
    Thinking, ToolUse,
};
use crate::domain::Usage;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::BTreeMap;
use tokio::sync::mpsc;

pub const DEFAULT_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    http: Http,
    endpoint: Endpoint,
    version: String,
    /// Where the API's paths start: the base URL with `/v1` (see [`api_root`]).
    root: String,
}

/// Where the API's paths (`/messages`, `/models`) start, from a base URL in either form people
/// use: with `/v1` (`https://api.anthropic.com/v1`) or as Anthropic's own clients and
/// `ANTHROPIC_BASE_URL` take it, without (`http://host:port`, `https://proxy/anthropic`), to
/// which they add `/v1` themselves.
pub fn api_root(base_url: &str) -> String {
    let base = base_url.trim().trim_end_matches('/');
    if base.ends_with("/v1") {
        base.to_owned()
    } else {
        format!("{base}/v1")
    }
}

impl Anthropic {
    /// `version` is the `anthropic-version` header ([`DEFAULT_VERSION`] unless configured).
    pub fn new(endpoint: Endpoint, version: &str) -> Result<Self, LlmError> {
        Ok(Self {
            http: Http::new(&endpoint)?,
            root: api_root(&endpoint.base_url),
            endpoint,
            version: version.into(),
        })
    }
}

/// The counts of an Anthropic `usage` object, as they came: fresh input, cache writes, cache
/// reads, output. `message_delta` may repeat some of them (cumulatively) or none.
#[derive(Default)]
struct Counts {
    fresh: u64,
    written: u64,
    read: u64,
    output: u64,
}

impl Counts {
    fn update(&mut self, u: &Value) {
        for (key, field) in [
            ("input_tokens", &mut self.fresh),
            ("cache_creation_input_tokens", &mut self.written),
            ("cache_read_input_tokens", &mut self.read),
            ("output_tokens", &mut self.output),
        ] {
            if let Some(n) = u[key].as_u64() {
                *field = n;
            }
        }
    }

    /// Usage as the run counts it: cache reads and writes are input too.
    fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.fresh + self.written + self.read,
            output_tokens: self.output,
            cached_tokens: self.read,
            cache_write_tokens: self.written,
        }
    }
}

fn usage_of(u: &Value) -> Usage {
    let mut c = Counts::default();
    c.update(u);
    c.usage()
}

/// A content block being streamed.
enum Block {
    Thinking {
        text: String,
        signature: String,
    },
    Redacted(String),
    /// id, name, input JSON text, whether deltas have arrived
    Tool(String, String, String, bool),
}

impl Block {
    fn start(b: &Value) -> Option<Self> {
        let s = |k: &str| b[k].as_str().unwrap_or("").to_owned();
        match b["type"].as_str()? {
            "thinking" => Some(Block::Thinking {
                text: s("thinking"),
                signature: s("signature"),
            }),
            "redacted_thinking" => Some(Block::Redacted(s("data"))),
            "tool_use" => {
                // Servers that send the whole input here and no deltas are read too.
                let start = match &b["input"] {
                    Value::Object(o) if !o.is_empty() => b["input"].to_string(),
                    _ => String::new(),
                };
                Some(Block::Tool(s("id"), s("name"), start, false))
            }
            _ => None,
        }
    }

    fn event(self) -> StreamEvent {
        match self {
            Block::Thinking { text, signature } => StreamEvent::Thinking(Thinking::Thinking {
                thinking: text,
                signature,
            }),
            Block::Redacted(data) => StreamEvent::Thinking(Thinking::RedactedThinking { data }),
            Block::Tool(id, name, json_text, _) => StreamEvent::ToolCall(ToolUse {
                id,
                name,
                arguments: arguments(&Value::String(json_text)),
            }),
        }
    }
}

/// A whole (non-streamed) message, from a server that ignored `stream: true`.
async fn message(v: &Value, tx: &mpsc::Sender<StreamItem>) -> Result<(), LlmError> {
    if v["type"] == "error" {
        return Err(LlmError::Http {
            status: 200,
            message: error_message(&v.to_string()),
        });
    }
    let Some(blocks) = v["content"].as_array() else {
        return Err(LlmError::Malformed(
            "a JSON answer without a content array".into(),
        ));
    };
    for b in blocks {
        let item = match b["type"].as_str().unwrap_or("") {
            "text" => StreamEvent::Text(b["text"].as_str().unwrap_or("").into()),
            "thinking" => {
                emit(
                    tx,
                    StreamEvent::Reasoning(b["thinking"].as_str().unwrap_or("").into()),
                )
                .await?;
                StreamEvent::Thinking(Thinking::Thinking {
                    thinking: b["thinking"].as_str().unwrap_or("").into(),
                    signature: b["signature"].as_str().unwrap_or("").into(),
                })
            }
            "redacted_thinking" => StreamEvent::Thinking(Thinking::RedactedThinking {
                data: b["data"].as_str().unwrap_or("").into(),
            }),
            "tool_use" => StreamEvent::ToolCall(ToolUse {
                id: b["id"].as_str().unwrap_or("").into(),
                name: b["name"].as_str().unwrap_or("").into(),
                arguments: arguments(&b["input"]),
            }),
            _ => continue,
        };
        emit(tx, item).await?;
    }
    emit(tx, StreamEvent::Usage(usage_of(&v["usage"]))).await?;
    let stop = StopReason::parse(v["stop_reason"].as_str().unwrap_or("end_turn"));
    emit(tx, StreamEvent::Done { stop_reason: stop }).await
}

/// Parses a streamed Messages response into events on `tx`. Thinking blocks and tool calls
/// are sent whole, in the order they came, once the message has stopped.
pub async fn read_stream(
    http: &Http,
    resp: reqwest::Response,
    tx: &mpsc::Sender<StreamItem>,
) -> Result<(), LlmError> {
    if is_json(&resp) {
        return message(&read_json(http, resp).await?, tx).await;
    }
    let mut blocks: BTreeMap<u64, Block> = BTreeMap::new();
    let mut counts = Counts::default();
    let mut stop: Option<String> = None;
    let mut stopped = false;
    let mut reader = http.events(resp);
    'read: while let Some(events) = reader.next().await? {
        for ev in events {
            let v: Value = serde_json::from_str(&ev.data).map_err(|e| {
                LlmError::Malformed(format!(
                    "{e} in {}",
                    ev.data.chars().take(120).collect::<String>()
                ))
            })?;
            let kind = ev
                .event
                .clone()
                .or_else(|| v["type"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let index = v["index"].as_u64().unwrap_or(0);
            match kind.as_str() {
                "message_start" => counts.update(&v["message"]["usage"]),
                "content_block_start" => {
                    if let Some(b) = Block::start(&v["content_block"]) {
                        blocks.insert(index, b);
                    }
                }
                "content_block_delta" => {
                    if let Some(e) = delta(&v["delta"], blocks.get_mut(&index)) {
                        emit(tx, e).await?;
                    }
                }
                "message_delta" => {
                    if let Some(s) = v["delta"]["stop_reason"].as_str() {
                        stop = Some(s.to_owned());
                    }
                    counts.update(&v["usage"]); // cumulative
                }
                "message_stop" => {
                    stopped = true;
                    break 'read;
                }
                "error" => return Err(stream_error(&ev.data, &v)),
                _ => {} // ping, content_block_stop, and types added later
            }
        }
    }
    if !stopped {
        return Err(LlmError::Cut("the stream ended before message_stop".into()));
    }
    for (_, b) in blocks {
        emit(tx, b.event()).await?;
    }
    emit(tx, StreamEvent::Usage(counts.usage())).await?;
    let stop_reason = StopReason::parse(stop.as_deref().unwrap_or("end_turn"));
    emit(tx, StreamEvent::Done { stop_reason }).await
}

/// Applies a `content_block_delta` to its block; returns what to stream at once.
fn delta(d: &Value, block: Option<&mut Block>) -> Option<StreamEvent> {
    let text = |k: &str| d[k].as_str().unwrap_or("").to_owned();
    match (d["type"].as_str().unwrap_or(""), block) {
        ("text_delta", _) => Some(StreamEvent::Text(text("text"))),
        ("thinking_delta", b) => {
            if let Some(Block::Thinking { text: t, .. }) = b {
                t.push_str(&text("thinking"));
            }
            Some(StreamEvent::Reasoning(text("thinking")))
        }
        ("signature_delta", Some(Block::Thinking { signature, .. })) => {
            signature.push_str(&text("signature"));
            None
        }
        ("input_json_delta", Some(Block::Tool(_, _, json_text, started))) => {
            if !*started {
                json_text.clear(); // deltas replace an input given at the start
                *started = true;
            }
            json_text.push_str(&text("partial_json"));
            None
        }
        _ => None,
    }
}

/// An `error` event that arrived after a 200.
fn stream_error(data: &str, v: &Value) -> LlmError {
    let message = error_message(data);
    let t = v["error"]["type"].as_str().unwrap_or("");
    let status = match t {
        "overloaded_error" => 529,
        "rate_limit_error" => 429,
        "api_error" => 500,
        _ => 400,
    };
    LlmError::Http {
        status,
        message: format!("{t}: {message}"),
    }
}

impl Anthropic {
    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("anthropic-version", self.version.clone())];
        headers.extend(
            self.endpoint
                .key
                .iter()
                .map(|k| ("x-api-key", k.expose().to_owned())),
        );
        headers
    }
}

impl Provider for Anthropic {
    fn info(&self) -> ProviderInfo {
        self.endpoint.info()
    }

    fn context_window(&self, model: &str) -> u64 {
        self.endpoint.window(model)
    }

    fn models(&self) -> BoxFuture<'_, Result<Option<Vec<String>>, LlmError>> {
        Box::pin(async move {
            let url = format!("{}/models?limit=1000", self.root);
            list_models(&self.http, &url, &self.headers()).await
        })
    }

    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem> {
        let url = format!("{}/messages", self.root);
        let headers = self.headers();
        post_stream(
            self.http.clone(),
            url,
            headers,
            body(&request).to_string(),
            |h, r, t| Box::pin(read_stream(h, r, t)),
        )
    }
}
