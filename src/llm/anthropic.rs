//! The Anthropic Messages API with streaming: `message_start`, content blocks for text,
//! thinking and `tool_use` (`input_json_delta`), `message_delta` with cumulative usage,
//! `message_stop`, `ping`, and `error` events that arrive after a 200.

use super::http::{
    Http, arguments, emit, error_message, is_json, list_models, post_stream, read_json,
};
use super::{
    Endpoint, LlmError, LlmRequest, MessageRole, Provider, ProviderInfo, StreamEvent, StreamItem,
    ToolUse,
};
use crate::domain::Usage;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
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

/// The request body: `system` on top, tool calls as `tool_use` blocks, results as `tool_result`
/// blocks in a user turn (consecutive results share one turn).
pub fn body(req: &LlmRequest) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for m in &req.messages {
        match m.role {
            MessageRole::User => messages.push(
                json!({ "role": "user", "content": [{ "type": "text", "text": m.content }] }),
            ),
            MessageRole::Assistant => {
                let mut content = Vec::new();
                if !m.content.is_empty() {
                    content.push(json!({ "type": "text", "text": m.content }));
                }
                for c in &m.tool_calls {
                    let input = if c.arguments.is_object() {
                        c.arguments.clone()
                    } else {
                        json!({})
                    };
                    content.push(
                        json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": input }),
                    );
                }
                if content.is_empty() {
                    content.push(json!({ "type": "text", "text": "(no answer)" }));
                }
                messages.push(json!({ "role": "assistant", "content": content }));
            }
            MessageRole::Tool => {
                let block = json!({ "type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content });
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"][0]["type"] == "tool_result" =>
                    {
                        if let Some(arr) = last["content"].as_array_mut() {
                            arr.push(block);
                        }
                    }
                    _ => messages.push(json!({ "role": "user", "content": [block] })),
                }
            }
        }
    }
    let tools: Vec<Value> = req.tools.iter().map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters })).collect();
    let mut b = json!({ "model": req.model, "max_tokens": req.max_output_tokens, "stream": true, "system": req.system, "messages": messages });
    if !tools.is_empty() {
        b["tools"] = json!(tools);
    }
    b
}

/// Usage as Anthropic counts it: cache reads and writes are input too.
fn usage_of(u: &Value) -> Usage {
    let cached = u["cache_read_input_tokens"].as_u64().unwrap_or(0);
    Usage {
        input_tokens: u["input_tokens"].as_u64().unwrap_or(0)
            + u["cache_creation_input_tokens"].as_u64().unwrap_or(0)
            + cached,
        output_tokens: u["output_tokens"].as_u64().unwrap_or(0),
        cached_tokens: cached,
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
            "thinking" => StreamEvent::Reasoning(b["thinking"].as_str().unwrap_or("").into()),
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
    let stop = v["stop_reason"].as_str().unwrap_or("end_turn").to_owned();
    emit(tx, StreamEvent::Done { stop_reason: stop }).await
}

/// Parses a streamed Messages response into events on `tx`.
pub async fn read_stream(
    http: &Http,
    resp: reqwest::Response,
    tx: &mpsc::Sender<StreamItem>,
) -> Result<(), LlmError> {
    if is_json(&resp) {
        return message(&read_json(http, resp).await?, tx).await;
    }
    // index → (id, name, input JSON text, whether deltas have arrived)
    let mut tools: BTreeMap<u64, (String, String, String, bool)> = BTreeMap::new();
    let mut usage = Usage::default();
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
            match kind.as_str() {
                "message_start" => usage = usage_of(&v["message"]["usage"]),
                "content_block_start" => {
                    let b = &v["content_block"];
                    if b["type"] == "tool_use" {
                        let i = v["index"].as_u64().unwrap_or(0);
                        // Servers that send the whole input here and no deltas are read too.
                        let start = match &b["input"] {
                            Value::Object(o) if !o.is_empty() => b["input"].to_string(),
                            _ => String::new(),
                        };
                        tools.insert(
                            i,
                            (
                                b["id"].as_str().unwrap_or("").into(),
                                b["name"].as_str().unwrap_or("").into(),
                                start,
                                false,
                            ),
                        );
                    }
                }
                "content_block_delta" => {
                    let d = &v["delta"];
                    match d["type"].as_str().unwrap_or("") {
                        "text_delta" => {
                            emit(
                                tx,
                                StreamEvent::Text(d["text"].as_str().unwrap_or("").into()),
                            )
                            .await?
                        }
                        "thinking_delta" => {
                            emit(
                                tx,
                                StreamEvent::Reasoning(d["thinking"].as_str().unwrap_or("").into()),
                            )
                            .await?
                        }
                        "input_json_delta" => {
                            if let Some(t) = tools.get_mut(&v["index"].as_u64().unwrap_or(0)) {
                                if !t.3 {
                                    t.2.clear(); // deltas replace an input given at the start
                                    t.3 = true;
                                }
                                t.2.push_str(d["partial_json"].as_str().unwrap_or(""));
                            }
                        }
                        _ => {}
                    }
                }
                "message_delta" => {
                    if let Some(s) = v["delta"]["stop_reason"].as_str() {
                        stop = Some(s.to_owned());
                    }
                    if let Some(o) = v["usage"]["output_tokens"].as_u64() {
                        usage.output_tokens = o; // cumulative
                    }
                }
                "message_stop" => {
                    stopped = true;
                    break 'read;
                }
                "error" => {
                    let message = error_message(&ev.data);
                    let t = v["error"]["type"].as_str().unwrap_or("");
                    let status = match t {
                        "overloaded_error" => 529,
                        "rate_limit_error" => 429,
                        "api_error" => 500,
                        _ => 400,
                    };
                    return Err(LlmError::Http {
                        status,
                        message: format!("{t}: {message}"),
                    });
                }
                _ => {} // ping, content_block_stop, and types added later
            }
        }
    }
    if !stopped {
        return Err(LlmError::Cut("the stream ended before message_stop".into()));
    }
    for (_, (id, name, json_text, _)) in tools {
        let arguments = arguments(&Value::String(json_text));
        emit(
            tx,
            StreamEvent::ToolCall(ToolUse {
                id,
                name,
                arguments,
            }),
        )
        .await?;
    }
    emit(tx, StreamEvent::Usage(usage)).await?;
    emit(
        tx,
        StreamEvent::Done {
            stop_reason: stop.unwrap_or_else(|| "end_turn".into()),
        },
    )
    .await
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
