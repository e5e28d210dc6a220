//! The OpenAI Responses API (`POST /responses`) with streaming, for models and accounts that
//! need it (`api = "responses"` in a provider's config section; Chat Completions stays the
//! default). Text and reasoning deltas, function calls assembled from
//! `response.output_item.added` / `response.function_call_arguments.delta` / `…done` /
//! `response.output_item.done`, usage from `response.completed` (or `response.incomplete`,
//! which says the output was cut off), and errors in and out of the stream.
//!
//! Requests are stateless (`store: false`): the whole conversation goes every time, in the same
//! order as Chat Completions, so the prefix stays cacheable. The provider is [`super::OpenAi`]
//! made with [`super::OpenAi::responses`]; this module is the wire format.

use super::http::{Http, arguments, emit, is_context_length_error, is_json, read_json};
use super::{LlmError, LlmRequest, MessageRole, StopReason, StreamEvent, StreamItem, ToolUse};
use crate::domain::Usage;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio::sync::mpsc;

/// The request body for `req`: the system prompt as `instructions`, messages as input items,
/// calls as `function_call` items and results as `function_call_output` items.
pub fn body(req: &LlmRequest) -> Value {
    let mut input = Vec::new();
    for m in &req.messages {
        match m.role {
            MessageRole::User => input.push(json!({ "role": "user", "content": m.content })),
            MessageRole::Tool => input.push(json!({
                "type": "function_call_output",
                "call_id": m.tool_call_id,
                "output": m.content,
            })),
            MessageRole::Assistant => {
                if !m.content.is_empty() {
                    input.push(json!({ "role": "assistant", "content": m.content }));
                }
                for c in &m.tool_calls {
                    input.push(json!({
                        "type": "function_call",
                        "call_id": c.id,
                        "name": c.name,
                        "arguments": c.arguments.to_string(),
                    }));
                }
            }
        }
    }
    // `strict` defaults to true here, which the tools' schemas are not written for.
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| json!({ "type": "function", "name": t.name, "description": t.description, "parameters": t.parameters, "strict": false }))
        .collect();
    let mut b = json!({ "model": req.model, "instructions": req.system, "input": input, "stream": true, "store": false });
    if !tools.is_empty() {
        b["tools"] = json!(tools);
    }
    if let Some(effort) = req.reasoning {
        b["reasoning"] = json!({ "effort": effort.as_str() });
    }
    // The answer's cap, reasoning included: without it one answer's size and cost have no
    // bound but the model's own, and a cut-off is never seen.
    let thinking = req
        .reasoning
        .map_or(0, super::anthropic_body::thinking_budget);
    b["max_output_tokens"] = json!(req.max_output_tokens.saturating_add(thinking));
    b
}

fn usage_of(u: &Value) -> Usage {
    Usage {
        input_tokens: u["input_tokens"].as_u64().unwrap_or(0),
        output_tokens: u["output_tokens"].as_u64().unwrap_or(0),
        cached_tokens: u["input_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap_or(0),
        cache_write_tokens: 0,
    }
}

/// An error the API reported (`error` event, `response.failed`, or a JSON answer).
fn api_error(e: &Value) -> LlmError {
    let code = e["code"].as_str().unwrap_or("");
    let message = e["message"]
        .as_str()
        .unwrap_or("the server reported an error");
    let text = format!("{code}: {message}");
    if is_context_length_error(400, &text) {
        return LlmError::ContextLength(text);
    }
    if code == "insufficient_quota" {
        return LlmError::Quota(text);
    }
    let status = match code {
        "rate_limit_exceeded" => 429,
        "server_error" | "" => 500,
        _ => 400,
    };
    LlmError::Http {
        status,
        message: text,
    }
}

/// Function calls by output index: call id, name, arguments text.
type Calls = BTreeMap<u64, (String, String, String)>;

fn call_item(item: &Value) -> Option<(String, String, String)> {
    (item["type"] == "function_call").then(|| {
        let s = |k: &str| item[k].as_str().unwrap_or("").to_owned();
        (s("call_id"), s("name"), s("arguments"))
    })
}

/// Sends the calls, the usage and the end of a finished (or cut off) response.
async fn finish(
    response: &Value,
    mut calls: Calls,
    tx: &mpsc::Sender<StreamItem>,
) -> Result<(), LlmError> {
    // The final output is authoritative where it lists the calls.
    if let Some(items) = response["output"].as_array() {
        for (i, item) in items.iter().enumerate() {
            if let Some(c) = call_item(item) {
                calls.insert(i as u64, c);
            }
        }
    }
    let has_calls = !calls.is_empty();
    for (_, (id, name, args)) in calls {
        let arguments = arguments(&Value::String(args));
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
    if response["usage"].is_object() {
        emit(tx, StreamEvent::Usage(usage_of(&response["usage"]))).await?;
    }
    let stop = match response["status"].as_str().unwrap_or("completed") {
        "incomplete" => StopReason::parse(
            response["incomplete_details"]["reason"]
                .as_str()
                .unwrap_or("incomplete"),
        ),
        _ if has_calls => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    };
    emit(tx, StreamEvent::Done { stop_reason: stop }).await
}

/// A whole (non-streamed) response, from a server that ignored `stream: true`.
async fn whole(v: &Value, tx: &mpsc::Sender<StreamItem>) -> Result<(), LlmError> {
    if v["error"].is_object() {
        return Err(api_error(&v["error"]));
    }
    let Some(items) = v["output"].as_array() else {
        return Err(LlmError::Malformed("a JSON answer without output".into()));
    };
    for item in items {
        let parts = item["content"]
            .as_array()
            .or_else(|| item["summary"].as_array());
        for part in parts.into_iter().flatten() {
            let t = part["text"].as_str().unwrap_or("").to_owned();
            let e = match (item["type"].as_str(), part["type"].as_str()) {
                (Some("message"), Some("output_text")) => StreamEvent::Text(t),
                (Some("reasoning"), _) => StreamEvent::Reasoning(t),
                _ => continue,
            };
            emit(tx, e).await?;
        }
    }
    finish(v, Calls::new(), tx).await
}

/// Parses a streamed Responses answer into events on `tx`.
pub async fn read_stream(
    http: &Http,
    resp: reqwest::Response,
    tx: &mpsc::Sender<StreamItem>,
) -> Result<(), LlmError> {
    if is_json(&resp) {
        return whole(&read_json(http, resp).await?, tx).await;
    }
    let mut calls = Calls::new();
    let mut reader = http.events(resp);
    while let Some(events) = reader.next().await? {
        for ev in events {
            let v: Value = serde_json::from_str(&ev.data).map_err(|e| {
                LlmError::Malformed(format!(
                    "{e} in {}",
                    ev.data.chars().take(120).collect::<String>()
                ))
            })?;
            let kind = v["type"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| ev.event.clone())
                .unwrap_or_default();
            let index = v["output_index"].as_u64().unwrap_or(0);
            let delta = || v["delta"].as_str().unwrap_or("").to_owned();
            match kind.as_str() {
                "response.output_text.delta" => emit(tx, StreamEvent::Text(delta())).await?,
                "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                    emit(tx, StreamEvent::Reasoning(delta())).await?
                }
                "response.output_item.added" | "response.output_item.done" => {
                    if let Some(c) = call_item(&v["item"]) {
                        let slot = calls.entry(index).or_default();
                        // `added` carries empty arguments; deltas fill them in.
                        if !c.2.is_empty() || slot.0.is_empty() {
                            *slot = c;
                        }
                    }
                }
                "response.function_call_arguments.delta" => {
                    calls.entry(index).or_default().2.push_str(&delta());
                }
                "response.function_call_arguments.done" => {
                    if let Some(a) = v["arguments"].as_str() {
                        calls.entry(index).or_default().2 = a.to_owned();
                    }
                }
                "response.completed" | "response.incomplete" => {
                    return finish(&v["response"], calls, tx).await;
                }
                "response.failed" => return Err(api_error(&v["response"]["error"])),
                "error" => return Err(api_error(v.get("error").unwrap_or(&v))),
                _ => {} // created, in_progress, content parts, and types added later
            }
        }
    }
    Err(LlmError::Cut(
        "the stream ended before response.completed".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Effort, Message, ToolDef};

    #[test]
    fn the_body_has_instructions_input_items_and_function_tools() {
        let req = LlmRequest {
            model: "gpt-5".into(),
            system: "sys".into(),
            messages: vec![
                Message::user("task"),
                Message::assistant(
                    "Reading.",
                    vec![ToolUse {
                        id: "call_1".into(),
                        name: "read_file".into(),
                        arguments: json!({"path": "a"}),
                    }],
                ),
                Message::tool("call_1", "text"),
            ],
            tools: vec![ToolDef {
                name: "read_file".into(),
                description: "read".into(),
                parameters: json!({"type": "object"}),
            }],
            max_output_tokens: 100,
            reasoning: Some(Effort::High),
            ..LlmRequest::default()
        };
        let b = body(&req);
        assert_eq!(b["instructions"], "sys");
        assert_eq!(b["input"][0], json!({"role": "user", "content": "task"}));
        assert_eq!(b["input"][1]["role"], "assistant");
        assert_eq!(b["input"][2]["type"], "function_call");
        assert_eq!(b["input"][2]["arguments"], "{\"path\":\"a\"}");
        assert_eq!(
            b["input"][3],
            json!({"type": "function_call_output", "call_id": "call_1", "output": "text"})
        );
        assert_eq!(b["tools"][0]["name"], "read_file");
        assert_eq!(b["tools"][0]["strict"], false);
        assert_eq!(b["reasoning"]["effort"], "high");
        assert_eq!(b["store"], false);
        // The cap covers the answer and the high effort's reasoning.
        assert_eq!(b["max_output_tokens"], 100 + 24_576);
    }
}
