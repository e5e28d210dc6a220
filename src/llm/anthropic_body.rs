//! The Anthropic Messages request body: `system` on top, tool calls as `tool_use` blocks,
//! results as `tool_result` blocks in a user turn, prompt-cache breakpoints, and extended
//! thinking with the thinking blocks a tool loop must give back.
//!
//! Cache breakpoints (`cache_control: ephemeral`, at most 4): the last tool definition, the
//! system prompt, the last block of the conversation (moving with every request), and the last
//! block of the message that ended the previous request, so the next request finds the prefix
//! the last one wrote even when many tool results came in between.

use super::{Effort, LlmRequest, Message, MessageRole, Thinking};
use serde_json::{Value, json};

/// The thinking budget in tokens for each effort (Anthropic's minimum is 1024).
pub fn thinking_budget(effort: Effort) -> u32 {
    match effort {
        Effort::Low => 2_048,
        Effort::Medium => 8_192,
        Effort::High => 24_576,
    }
}

fn ephemeral() -> Value {
    json!({ "type": "ephemeral" })
}

/// Whether this request may think: a role asked for it, and the last assistant turn, if it
/// called tools, kept its thinking (the API refuses a tool loop that lost it, e.g. a
/// conversation rebuilt from the log after a restart).
fn thinks(req: &LlmRequest) -> Option<u32> {
    let budget = thinking_budget(req.reasoning?);
    let last = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::Assistant);
    match last {
        Some(m) if !m.tool_calls.is_empty() && m.thinking.is_empty() => None,
        _ => Some(budget),
    }
}

fn assistant(m: &Message, thinking: bool) -> Value {
    let mut content = Vec::new();
    if thinking {
        for t in &m.thinking {
            content.push(match t {
                Thinking::Thinking {
                    thinking,
                    signature,
                } => json!({ "type": "thinking", "thinking": thinking, "signature": signature }),
                Thinking::RedactedThinking { data } => {
                    json!({ "type": "redacted_thinking", "data": data })
                }
            });
        }
    }
    if !m.content.is_empty() {
        content.push(json!({ "type": "text", "text": m.content }));
    }
    for c in &m.tool_calls {
        let input = if c.arguments.is_object() {
            c.arguments.clone()
        } else {
            json!({})
        };
        content.push(json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": input }));
    }
    if content.is_empty() {
        content.push(json!({ "type": "text", "text": "(no answer)" }));
    }
    json!({ "role": "assistant", "content": content })
}

fn messages(req: &LlmRequest, thinking: bool) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    for m in &req.messages {
        match m.role {
            MessageRole::User => messages.push(
                json!({ "role": "user", "content": [{ "type": "text", "text": m.content }] }),
            ),
            MessageRole::Assistant => messages.push(assistant(m, thinking)),
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
    messages
}

/// Marks the last block of `message` as a cache breakpoint.
fn breakpoint(message: &mut Value) {
    if let Some(block) = message["content"]
        .as_array_mut()
        .and_then(|blocks| blocks.last_mut())
    {
        block["cache_control"] = ephemeral();
    }
}

/// The two moving breakpoints: the end of the conversation, and the end of the user turn
/// before the last assistant turn (where the previous request ended).
fn conversation_breakpoints(messages: &mut [Value]) {
    let Some(last) = messages.len().checked_sub(1) else {
        return;
    };
    let previous = messages[..last]
        .iter()
        .rposition(|m| m["role"] == "assistant")
        .and_then(|a| a.checked_sub(1))
        .filter(|&p| messages[p]["role"] == "user");
    breakpoint(&mut messages[last]);
    if let Some(p) = previous {
        breakpoint(&mut messages[p]);
    }
}

/// The request body for `req`.
pub fn body(req: &LlmRequest) -> Value {
    let budget = thinks(req);
    let mut messages = messages(req, budget.is_some());
    conversation_breakpoints(&mut messages);
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
        .collect();
    if let Some(last) = tools.last_mut() {
        last["cache_control"] = ephemeral();
    }
    let system = json!([{ "type": "text", "text": req.system, "cache_control": ephemeral() }]);
    let max_tokens = req.max_output_tokens + budget.unwrap_or(0);
    let mut b = json!({ "model": req.model, "max_tokens": max_tokens, "stream": true, "system": system, "messages": messages });
    if !tools.is_empty() {
        b["tools"] = json!(tools);
    }
    if let Some(budget) = budget {
        b["thinking"] = json!({ "type": "enabled", "budget_tokens": budget });
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{ToolDef, ToolUse};

    fn req(messages: Vec<Message>) -> LlmRequest {
        LlmRequest {
            model: "claude-sonnet-4-5".into(),
            system: "sys".into(),
            messages,
            tools: vec![
                ToolDef {
                    name: "a".into(),
                    description: "A".into(),
                    parameters: json!({"type": "object"}),
                },
                ToolDef {
                    name: "b".into(),
                    description: "B".into(),
                    parameters: json!({"type": "object"}),
                },
            ],
            max_output_tokens: 4096,
            ..LlmRequest::default()
        }
    }

    fn call(id: &str) -> ToolUse {
        ToolUse {
            id: id.into(),
            name: "a".into(),
            arguments: json!({}),
        }
    }

    fn count_breakpoints(v: &Value) -> usize {
        match v {
            Value::Object(o) => {
                usize::from(o.contains_key("cache_control"))
                    + o.values().map(count_breakpoints).sum::<usize>()
            }
            Value::Array(a) => a.iter().map(count_breakpoints).sum(),
            _ => 0,
        }
    }

    #[test]
    fn system_last_tool_and_two_moving_breakpoints_at_most_four() {
        let b = body(&req(vec![Message::user("task")]));
        assert_eq!(b["system"][0]["cache_control"]["type"], "ephemeral");
        assert!(b["tools"][0].get("cache_control").is_none());
        assert_eq!(b["tools"][1]["cache_control"]["type"], "ephemeral");
        assert_eq!(
            b["messages"][0]["content"][0]["cache_control"]["type"],
            "ephemeral"
        );
        assert_eq!(count_breakpoints(&b), 3);
        let b = body(&req(vec![
            Message::user("task"),
            Message::assistant("", vec![call("c1"), call("c2")]),
            Message::tool("c1", "one"),
            Message::tool("c2", "two"),
        ]));
        assert_eq!(count_breakpoints(&b), 4);
        assert_eq!(
            b["messages"][2]["content"][1]["cache_control"]["type"], "ephemeral",
            "the end of the conversation"
        );
        assert_eq!(
            b["messages"][0]["content"][0]["cache_control"]["type"], "ephemeral",
            "where the previous request ended"
        );
    }

    #[test]
    fn thinking_has_a_budget_below_max_tokens_and_blocks_go_back_first() {
        let mut turn = Message::assistant("Reading.", vec![call("c1")]);
        turn.thinking = vec![
            Thinking::Thinking {
                thinking: "hm".into(),
                signature: "sig".into(),
            },
            Thinking::RedactedThinking { data: "xyz".into() },
        ];
        let mut r = req(vec![Message::user("task"), turn, Message::tool("c1", "ok")]);
        r.reasoning = Some(Effort::Medium);
        let b = body(&r);
        assert_eq!(b["thinking"]["budget_tokens"], 8_192);
        assert!(b["max_tokens"].as_u64().unwrap() > 8_192);
        let blocks = &b["messages"][1]["content"];
        assert_eq!(blocks[0]["type"], "thinking");
        assert_eq!(blocks[0]["signature"], "sig");
        assert_eq!(blocks[1]["type"], "redacted_thinking");
        assert_eq!(blocks[2]["type"], "text");
        assert_eq!(blocks[3]["type"], "tool_use");
    }

    #[test]
    fn a_tool_loop_that_lost_its_thinking_asks_without_thinking() {
        let mut r = req(vec![
            Message::user("task"),
            Message::assistant("", vec![call("c1")]),
            Message::tool("c1", "ok"),
        ]);
        r.reasoning = Some(Effort::High);
        let b = body(&r);
        assert!(b.get("thinking").is_none());
        assert_eq!(b["max_tokens"], 4096);
    }
}
