//! Continuous masking of old tool outputs. A file read twenty turns ago, or the output of an
//! old test run, costs tokens on every request and is usually stale; it is replaced by a short
//! placeholder that says what it was and how to get it again.
//!
//! Masking happens in batches: only once [`BATCH`] large outputs older than the last
//! [`KEEP_TURNS`] turns are unmasked are they all masked together. Between batches the
//! conversation only grows at its end, so every request repeats the previous one's prefix byte
//! for byte and the providers' prompt caches keep hitting; a batch changes the prefix once.
//! A masked output stays masked, so it never changes again.

use super::{Message, MessageRole, ToolUse};

/// The outputs of this many most recent assistant turns are never masked.
pub const KEEP_TURNS: usize = 6;
/// Masking waits until this many old outputs can be masked at once.
pub const BATCH: usize = 6;
/// Outputs shorter than this stay: the placeholder would save little.
pub const MIN_BYTES: usize = 600;
/// Begins every placeholder.
pub const MASK_PREFIX: &str = "[output of ";

/// Masks old tool outputs in `messages` when a batch is due. Returns how many were masked.
pub fn mask_old_outputs(messages: &mut [Message]) -> usize {
    let Some(boundary) = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == MessageRole::Assistant)
        .map(|(i, _)| i)
        .rev()
        .nth(KEEP_TURNS - 1)
    else {
        return 0;
    };
    let due: Vec<usize> = (0..boundary).filter(|&i| maskable(&messages[i])).collect();
    if due.len() < BATCH {
        return 0;
    }
    for &i in &due {
        let call = find_call(&messages[..i], messages[i].tool_call_id.as_deref());
        let placeholder = placeholder(call, &messages[i].content);
        messages[i].content = placeholder;
    }
    due.len()
}

fn maskable(m: &Message) -> bool {
    m.role == MessageRole::Tool && m.content.len() >= MIN_BYTES && !is_masked(m)
}

pub fn is_masked(m: &Message) -> bool {
    m.role == MessageRole::Tool && m.content.starts_with(MASK_PREFIX)
}

/// The call a tool result answers, from the assistant turns before it.
fn find_call<'a>(before: &'a [Message], id: Option<&str>) -> Option<&'a ToolUse> {
    let id = id?;
    before
        .iter()
        .rev()
        .flat_map(|m| m.tool_calls.iter())
        .find(|c| c.id == id)
}

/// `[output of read_file src/x.py, 120 lines, masked; read it again if needed]`
fn placeholder(call: Option<&ToolUse>, output: &str) -> String {
    let name = call.map_or("a tool", |c| c.name.as_str());
    let subject = call
        .and_then(|c| {
            ["path", "command", "pattern"]
                .iter()
                .find_map(|k| c.arguments[*k].as_str())
        })
        .map(|s| {
            let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
            match one_line.char_indices().nth(80) {
                Some((at, _)) => format!(" {}…", &one_line[..at]),
                None => format!(" {one_line}"),
            }
        })
        .unwrap_or_default();
    let again = match name {
        "read_file" => "read it again",
        "run_command" => "run it again",
        _ => "call it again",
    };
    format!(
        "{MASK_PREFIX}{name}{subject}, {} lines, masked; {again} if needed]",
        output.lines().count()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{LlmRequest, anthropic, openai};
    use serde_json::json;

    fn turn(i: usize, output_bytes: usize) -> [Message; 2] {
        let id = format!("call_{i}");
        [
            Message::assistant(
                "",
                vec![ToolUse {
                    id: id.clone(),
                    name: "read_file".into(),
                    arguments: json!({"path": format!("src/m{i}.py")}),
                }],
            ),
            Message::tool(id, "line of code\n".repeat(output_bytes / 13)),
        ]
    }

    #[test]
    fn the_placeholder_says_what_it_was_and_how_to_get_it_back() {
        let mut m = vec![Message::user("task")];
        for i in 0..(KEEP_TURNS + BATCH) {
            m.extend(turn(i, 1_560));
        }
        assert_eq!(mask_old_outputs(&mut m), BATCH);
        assert_eq!(
            m[2].content,
            "[output of read_file src/m0.py, 120 lines, masked; read it again if needed]"
        );
        // The last turns are whole.
        assert!(!is_masked(m.last().unwrap()));
        assert_eq!(mask_old_outputs(&mut m), 0, "nothing new to mask");
    }

    #[test]
    fn small_outputs_and_recent_turns_are_never_masked() {
        let mut m = vec![Message::user("task")];
        for i in 0..30 {
            m.extend(turn(i, 100));
        }
        assert_eq!(mask_old_outputs(&mut m), 0);
    }

    /// The part of a body up to the end of its conversation (keys are sorted: `messages`
    /// comes before `model`).
    fn conversation_prefix(body: &str) -> &str {
        &body[..body.find("],\"model\"").unwrap()]
    }

    #[test]
    fn consecutive_requests_share_their_prefix_byte_for_byte_between_batches() {
        let mut messages = vec![Message::user("Your task T1: build it")];
        let mut previous: Option<(String, String)> = None;
        let mut batches = 0;
        for i in 0..40 {
            messages.extend(turn(i, 2_000));
            if mask_old_outputs(&mut messages) > 0 {
                batches += 1;
                previous = None; // the prefix changes once, here
            }
            let req = LlmRequest {
                model: "m".into(),
                system: "sys".into(),
                messages: messages.clone(),
                max_output_tokens: 1000,
                ..LlmRequest::default()
            };
            let oa = openai::body(&req).to_string();
            let an = anthropic::body(&req)["messages"].to_string();
            if let Some((prev_oa, prev_an)) = &previous {
                assert!(
                    oa.starts_with(conversation_prefix(prev_oa)),
                    "request {i} changed the OpenAI prefix"
                );
                // Anthropic's breakpoints move with the conversation (their markers are not
                // part of the cached prefix); the content before them is the same bytes.
                let unmarked = |s: &str| {
                    s.replace(r#""cache_control":{"type":"ephemeral"},"#, "")
                        .replace(r#","cache_control":{"type":"ephemeral"}"#, "")
                };
                let (prev_an, an) = (unmarked(prev_an), unmarked(&an));
                assert!(
                    an.starts_with(prev_an.trim_end_matches(']')),
                    "request {i} changed the Anthropic prefix"
                );
            }
            previous = Some((oa, an));
        }
        assert!(batches >= 4, "{batches} batches");
        let masked = messages.iter().filter(|m| is_masked(m)).count();
        assert!(masked >= 4 * BATCH, "{masked}");
        // Far less is sent than without masking.
        let bytes: usize = messages.iter().map(|m| m.content.len()).sum();
        assert!(bytes < 40 * 2_000 / 2, "{bytes}");
    }
}
