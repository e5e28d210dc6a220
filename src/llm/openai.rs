//! OpenAI-compatible Chat Completions over SSE: OpenAI, xAI, Ollama's `/v1`, vLLM, llama.cpp
//! server, OpenRouter, LM Studio. Text and reasoning deltas, tool calls assembled from fragments
//! by `index` (falling back to `id`), the usage chunk, and errors in and out of the stream.

use super::http::{
    Http, arguments, emit, error_message, is_json, list_models, post_stream, read_json,
};
use super::{
    Endpoint, LlmError, LlmRequest, MessageRole, Provider, ProviderInfo, StopReason, StreamEvent,
    StreamItem, ToolUse,
};
use crate::domain::Usage;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub struct OpenAi {
    http: Http,
    endpoint: Endpoint,
    wire: Wire,
}

/// Which of OpenAI's APIs the provider speaks: the same endpoint, key and model list either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    ChatCompletions,
    /// `POST /responses` ([`super::responses`]).
    Responses,
}

impl OpenAi {
    /// Chat Completions, which every OpenAI-compatible server speaks.
    pub fn new(endpoint: Endpoint) -> Result<Self, LlmError> {
        Self::speaking(endpoint, Wire::ChatCompletions)
    }

    /// The Responses API, for models and accounts that need it.
    pub fn responses(endpoint: Endpoint) -> Result<Self, LlmError> {
        Self::speaking(endpoint, Wire::Responses)
    }

    fn speaking(endpoint: Endpoint, wire: Wire) -> Result<Self, LlmError> {
        Ok(Self {
            http: Http::new(&endpoint)?,
            endpoint,
            wire,
        })
    }
}

/// The request body for `req`. The system prompt and the tools come first and stay the same
/// for every request of an agent, and messages are only ever appended (masked in batches, see
/// [`super::masking`]), so the prefix OpenAI caches automatically stays cacheable.
pub fn body(req: &LlmRequest) -> Value {
    let mut messages = vec![json!({ "role": "system", "content": req.system })];
    for m in &req.messages {
        messages.push(match m.role {
            MessageRole::User => json!({ "role": "user", "content": m.content }),
            MessageRole::Tool => json!({ "role": "tool", "tool_call_id": m.tool_call_id, "content": m.content }),
            MessageRole::Assistant => {
                let mut v = json!({ "role": "assistant", "content": if m.content.is_empty() { Value::Null } else { json!(m.content) } });
                if !m.tool_calls.is_empty() {
                    v["tool_calls"] = m
                        .tool_calls
                        .iter()
                        .map(|c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.arguments.to_string() } }))
                        .collect();
                }
                v
            }
        });
    }
    let tools: Vec<Value> =
        req.tools.iter().map(|t| json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": t.parameters } })).collect();
    let mut b = json!({ "model": req.model, "messages": messages, "stream": true, "stream_options": { "include_usage": true } });
    if !tools.is_empty() {
        b["tools"] = json!(tools);
    }
    if let Some(effort) = req.reasoning {
        b["reasoning_effort"] = json!(effort.as_str());
    }
    b
}

/// The stop reason of a turn: tool calls count as tool use whatever the server said (some say
/// `stop`), except when the output was cut off, which the last call may be too.
pub(super) fn stop_of(finish: Option<&str>, has_calls: bool) -> StopReason {
    match (StopReason::parse(finish.unwrap_or("stop")), has_calls) {
        (StopReason::MaxTokens, _) => StopReason::MaxTokens,
        (_, true) => StopReason::ToolUse,
        (other, false) => other,
    }
}

/// Tool calls being assembled from fragments.
#[derive(Default)]
struct Calls {
    calls: Vec<(Option<u64>, String, String, String)>, // (index, id, name, arguments)
}

impl Calls {
    fn fragment(&mut self, f: &Value, position: usize) {
        let index = f["index"].as_u64();
        let id = f["id"].as_str();
        let slot = match (index, id) {
            // A new id at a known index starts a new call (servers that send index 0 for all).
            (Some(i), Some(id)) => self
                .calls
                .iter()
                .position(|c| c.0 == Some(i) && (c.1.is_empty() || c.1 == id)),
            (Some(i), None) => self.calls.iter().rposition(|c| c.0 == Some(i)),
            (None, Some(id)) => self.calls.iter().position(|c| c.1 == id),
            (None, None) => (position < self.calls.len()).then_some(position),
        };
        let slot = match slot {
            Some(s) => s,
            None => {
                self.calls.push((
                    index.or(Some(position as u64)),
                    String::new(),
                    String::new(),
                    String::new(),
                ));
                self.calls.len() - 1
            }
        };
        let c = &mut self.calls[slot];
        if let Some(id) = id {
            c.1 = id.to_owned();
        }
        if let Some(name) = f["function"]["name"].as_str() {
            c.2.push_str(name);
        }
        match &f["function"]["arguments"] {
            Value::String(a) => c.3.push_str(a),
            Value::Object(_) => c.3 = f["function"]["arguments"].to_string(),
            _ => {}
        }
    }

    fn finish(self) -> Vec<ToolUse> {
        self.calls
            .into_iter()
            .enumerate()
            .map(|(i, (_, id, name, args))| {
                let arguments = if args.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&args).unwrap_or(Value::String(args))
                };
                ToolUse {
                    id: if id.is_empty() {
                        format!("call_{i}")
                    } else {
                        id
                    },
                    name,
                    arguments,
                }
            })
            .collect()
    }
}

/// Parses a streamed Chat Completions response into events on `tx`.
pub async fn read_stream(
    http: &Http,
    resp: reqwest::Response,
    tx: &mpsc::Sender<StreamItem>,
) -> Result<(), LlmError> {
    if is_json(&resp) {
        return completion(&read_json(http, resp).await?, tx).await;
    }
    let mut calls = Calls::default();
    let mut finish: Option<String> = None;
    let mut usage: Option<Usage> = None;
    let mut done = false;
    let mut reader = http.events(resp);
    'read: while let Some(events) = reader.next().await? {
        for ev in events {
            if ev.data.trim() == "[DONE]" {
                done = true;
                break 'read;
            }
            let v: Value = serde_json::from_str(&ev.data).map_err(|e| {
                LlmError::Malformed(format!(
                    "{e} in {}",
                    ev.data.chars().take(120).collect::<String>()
                ))
            })?;
            if v.get("error").is_some_and(|e| !e.is_null()) {
                return Err(LlmError::Http {
                    status: 200,
                    message: error_message(&ev.data),
                });
            }
            if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                usage = Some(usage_of(u));
            }
            let choices = v["choices"].as_array().cloned().unwrap_or_default();
            for c in choices
                .iter()
                .filter(|c| c["index"].as_u64().unwrap_or(0) == 0)
            {
                let d = &c["delta"];
                for key in ["reasoning_content", "reasoning"] {
                    if let Some(t) = d[key].as_str().filter(|t| !t.is_empty()) {
                        emit(tx, StreamEvent::Reasoning(t.to_owned())).await?;
                    }
                }
                if let Some(t) = d["content"].as_str().filter(|t| !t.is_empty()) {
                    emit(tx, StreamEvent::Text(t.to_owned())).await?;
                }
                if let Some(frags) = d["tool_calls"].as_array() {
                    for (pos, f) in frags.iter().enumerate() {
                        calls.fragment(f, pos);
                    }
                }
                if let Some(r) = c["finish_reason"].as_str() {
                    finish = Some(r.to_owned());
                }
            }
        }
    }
    if !done && finish.is_none() {
        return Err(LlmError::Cut(
            "the stream ended before the response was complete".into(),
        ));
    }
    let tool_calls = calls.finish();
    let stop = stop_of(finish.as_deref(), !tool_calls.is_empty());
    for c in tool_calls {
        emit(tx, StreamEvent::ToolCall(c)).await?;
    }
    if let Some(u) = usage {
        emit(tx, StreamEvent::Usage(u)).await?;
    }
    emit(tx, StreamEvent::Done { stop_reason: stop }).await
}

fn usage_of(u: &Value) -> Usage {
    Usage {
        input_tokens: u["prompt_tokens"].as_u64().unwrap_or(0),
        output_tokens: u["completion_tokens"].as_u64().unwrap_or(0),
        cached_tokens: u["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap_or(0),
        cache_write_tokens: 0,
    }
}

/// A whole (non-streamed) `chat.completion`, from a server that ignored `stream: true`.
async fn completion(v: &Value, tx: &mpsc::Sender<StreamItem>) -> Result<(), LlmError> {
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(LlmError::Http {
            status: 200,
            message: error_message(&v.to_string()),
        });
    }
    let choice = &v["choices"][0];
    let m = &choice["message"];
    if m.is_null() {
        return Err(LlmError::Malformed(
            "a JSON answer without choices[0].message".into(),
        ));
    }
    for key in ["reasoning_content", "reasoning"] {
        if let Some(t) = m[key].as_str().filter(|t| !t.is_empty()) {
            emit(tx, StreamEvent::Reasoning(t.to_owned())).await?;
        }
    }
    if let Some(t) = m["content"].as_str().filter(|t| !t.is_empty()) {
        emit(tx, StreamEvent::Text(t.to_owned())).await?;
    }
    let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
    for (i, c) in calls.iter().enumerate() {
        let id = c["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map_or_else(|| format!("call_{i}"), str::to_owned);
        let call = ToolUse {
            id,
            name: c["function"]["name"].as_str().unwrap_or("").to_owned(),
            arguments: arguments(&c["function"]["arguments"]),
        };
        emit(tx, StreamEvent::ToolCall(call)).await?;
    }
    if v["usage"].is_object() {
        emit(tx, StreamEvent::Usage(usage_of(&v["usage"]))).await?;
    }
    let stop = stop_of(choice["finish_reason"].as_str(), !calls.is_empty());
    emit(tx, StreamEvent::Done { stop_reason: stop }).await
}

impl OpenAi {
    fn headers(&self) -> Vec<(&'static str, String)> {
        self.endpoint
            .key
            .iter()
            .map(|k| ("authorization", format!("Bearer {}", k.expose())))
            .collect()
    }
}

impl Provider for OpenAi {
    fn models(&self) -> BoxFuture<'_, Result<Option<Vec<String>>, LlmError>> {
        Box::pin(async move {
            let url = format!("{}/models", self.endpoint.base_url);
            list_models(&self.http, &url, &self.headers()).await
        })
    }

    fn info(&self) -> ProviderInfo {
        self.endpoint.info()
    }

    fn context_window(&self, model: &str) -> u64 {
        self.endpoint.window(model)
    }

    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem> {
        let base = &self.endpoint.base_url;
        match self.wire {
            Wire::ChatCompletions => post_stream(
                self.http.clone(),
                format!("{base}/chat/completions"),
                self.headers(),
                body(&request).to_string(),
                |h, r, t| Box::pin(read_stream(h, r, t)),
            ),
            Wire::Responses => post_stream(
                self.http.clone(),
                format!("{base}/responses"),
                self.headers(),
                super::responses::body(&request).to_string(),
                |h, r, t| Box::pin(super::responses::read_stream(h, r, t)),
            ),
        }
    }
}
