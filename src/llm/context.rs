//! Context windows, and condensing a conversation that nears one so a long task never fails
//! for context length. Condensing shortens older tool outputs (and the file contents older tool
//! calls carried) first, then drops the oldest exchanges whole, and says so in the conversation.

use super::{Message, MessageRole};
use serde_json::Value;

/// Model name prefixes and their context windows in tokens, most specific first.
const WINDOWS: &[(&str, u64)] = &[
    ("sim-", 32_768),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-5", 400_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("claude-", 200_000),
    ("grok-4", 256_000),
    ("grok-code", 256_000),
    ("grok-3", 131_072),
    ("openai/gpt-4o", 128_000),
    ("anthropic/claude-", 200_000),
];

/// The window assumed for a model the table does not know: small enough for most local servers.
/// `context_window` in a provider's config section says the real one.
pub const UNKNOWN_WINDOW: u64 = 32_768;

/// Condensing starts when a request would fill this share of the window…
pub const HIGH_WATER: f64 = 0.75;
/// …and aims for this share.
pub const TARGET: f64 = 0.5;

/// Messages at the end of the conversation that are kept whole while anything older can give.
const KEEP_RECENT: usize = 6;
/// Older outputs are cut to this many bytes.
const OLD_LIMIT: usize = 400;
/// Begins the note that tells the model what was condensed.
pub const NOTE_PREFIX: &str = "[Context note]";

pub fn window(model: &str) -> u64 {
    WINDOWS
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map_or(UNKNOWN_WINDOW, |(_, w)| *w)
}

/// A rough token count (4 bytes a token), for deciding when to condense.
pub fn tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

pub fn message_bytes(m: &Message) -> usize {
    m.content.len()
        + m.tool_calls
            .iter()
            .map(|t| t.name.len() + t.arguments.to_string().len())
            .sum::<usize>()
}

fn conversation_tokens(messages: &[Message]) -> u64 {
    tokens(messages.iter().map(message_bytes).sum())
}

/// What condensing did, for the log and the note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condensed {
    pub before: u64,
    pub after: u64,
    pub shortened: usize,
    pub dropped: usize,
}

/// Condenses `messages` until they fit `target` tokens, `fixed` tokens (system prompt, tool
/// definitions) already spent. The first message (the task) is kept. Returns `None` when
/// nothing needed doing.
pub fn condense(messages: &mut Vec<Message>, fixed: u64, target: u64) -> Option<Condensed> {
    // Bytes are counted once and kept up to date as messages shrink or go.
    let mut bytes: usize = messages.iter().map(message_bytes).sum();
    let before = fixed + tokens(bytes);
    if before <= target {
        return None;
    }
    let fits = |bytes: usize| fixed + tokens(bytes) <= target;
    let mut shortened = 0;
    let mut dropped = 0;
    let head = head_len(messages);
    let shrink = |m: &mut Message, limit: usize, bytes: &mut usize| {
        let was = message_bytes(m);
        let changed = shorten(m, limit);
        *bytes = *bytes - was + message_bytes(m);
        usize::from(changed)
    };

    // 1. Older outputs and arguments shrink to a few hundred bytes, oldest first.
    let tail = tail_start(messages, head);
    for m in &mut messages[head..tail] {
        if fits(bytes) {
            break;
        }
        shortened += shrink(m, OLD_LIMIT, &mut bytes);
    }
    // 2. The oldest exchanges go whole: an assistant turn together with its tool results.
    // Whole units are counted first and drained at once.
    let tail = tail_start(messages, head);
    let mut end = head;
    while !fits(bytes) {
        let next = unit_end(messages, end);
        if end >= tail || next > tail {
            break;
        }
        bytes -= messages[end..next].iter().map(message_bytes).sum::<usize>();
        end = next;
    }
    dropped += end - head;
    messages.drain(head..end);
    // 3. Still too long: recent outputs shrink too, to less and less.
    for limit in [8_000, 2_000, OLD_LIMIT] {
        let mut i = messages.len();
        while i > head && !fits(bytes) {
            i -= 1;
            shortened += shrink(&mut messages[i], limit, &mut bytes);
        }
    }
    if shortened == 0 && dropped == 0 {
        return None;
    }
    let note = note_text(shortened, dropped, previous_note(messages));
    match messages.get_mut(1) {
        Some(m) if m.role == MessageRole::User && m.content.starts_with(NOTE_PREFIX) => {
            m.content = note;
        }
        _ => messages.insert(1.min(messages.len()), Message::user(note)),
    }
    Some(Condensed {
        before,
        after: fixed + conversation_tokens(messages),
        shortened,
        dropped,
    })
}

/// The messages never touched: the task, and the note if there is one.
fn head_len(messages: &[Message]) -> usize {
    match messages.get(1) {
        Some(m) if m.role == MessageRole::User && m.content.starts_with(NOTE_PREFIX) => 2,
        _ => 1.min(messages.len()),
    }
}

/// Where the recent messages begin; never in the middle of an assistant turn's tool results.
fn tail_start(messages: &[Message], head: usize) -> usize {
    let mut t = messages.len().saturating_sub(KEEP_RECENT).max(head);
    while t > head && messages[t].role == MessageRole::Tool {
        t -= 1;
    }
    t
}

/// The end of the exchange starting at `start`: the message and the tool results after it.
fn unit_end(messages: &[Message], start: usize) -> usize {
    let mut end = start + 1;
    while end < messages.len() && messages[end].role == MessageRole::Tool {
        end += 1;
    }
    end
}

/// Counts from an earlier note, so the note stays a running total.
fn previous_note(messages: &[Message]) -> (usize, usize) {
    let Some(m) = messages
        .get(1)
        .filter(|m| m.content.starts_with(NOTE_PREFIX))
    else {
        return (0, 0);
    };
    let num_before = |word: &str| {
        m.content
            .split(word)
            .next()
            .and_then(|s| s.split_whitespace().last())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    };
    (
        num_before(" older outputs shortened"),
        num_before(" earlier messages dropped"),
    )
}

fn note_text(shortened: usize, dropped: usize, (s0, d0): (usize, usize)) -> String {
    format!(
        "{NOTE_PREFIX} This conversation was condensed to fit the model's context window: {} older outputs shortened, {} earlier messages dropped. Read files again if you need their current contents.",
        s0 + shortened,
        d0 + dropped
    )
}

/// Cuts a message's text and its tool calls' string arguments to `limit` bytes each. True when
/// anything changed.
fn shorten(m: &mut Message, limit: usize) -> bool {
    let mut changed = cut(&mut m.content, limit);
    for call in &mut m.tool_calls {
        changed |= cut_value(&mut call.arguments, limit);
    }
    changed
}

fn cut_value(v: &mut Value, limit: usize) -> bool {
    match v {
        Value::String(s) => cut(s, limit),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |acc, v| cut_value(v, limit) | acc),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, v| cut_value(v, limit) | acc),
        _ => false,
    }
}

const CUT_MARK: &str = "\n[… condensed: ";

fn cut(s: &mut String, limit: usize) -> bool {
    if s.len() <= limit + 80 {
        return false;
    }
    // Already cut: keep the original count and cut the kept part further.
    let (kept, removed_before) = match s.find(CUT_MARK) {
        Some(at) => {
            let n = s[at + CUT_MARK.len()..]
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            (&s[..at], n)
        }
        None => (s.as_str(), 0),
    };
    let mut end = limit.min(kept.len());
    while !kept.is_char_boundary(end) {
        end -= 1;
    }
    let removed = removed_before + (kept.len() - end);
    *s = format!(
        "{}{CUT_MARK}{removed} bytes removed to fit the context window]",
        &kept[..end]
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolUse;
    use serde_json::json;

    fn convo(turns: usize, output: usize) -> Vec<Message> {
        let mut m = vec![Message::user("Task T1: build it")];
        for i in 0..turns {
            m.push(Message::assistant(
                format!("step {i}"),
                vec![ToolUse {
                    id: format!("c{i}"),
                    name: "write_file".into(),
                    arguments: json!({"path": "a.py", "content": "x".repeat(output)}),
                }],
            ));
            m.push(Message::tool(format!("c{i}"), "é".repeat(output / 2)));
        }
        m
    }

    /// Every tool result follows the assistant turn that asked for it.
    fn paired(m: &[Message]) -> bool {
        m.iter().enumerate().all(|(i, msg)| {
            msg.role != MessageRole::Tool
                || m[..i]
                    .iter()
                    .rev()
                    .find(|p| p.role != MessageRole::Tool)
                    .is_some_and(|p| {
                        p.tool_calls
                            .iter()
                            .any(|c| Some(&c.id) == msg.tool_call_id.as_ref())
                    })
        })
    }

    #[test]
    fn windows_come_from_the_table_and_unknown_models_get_a_small_one() {
        assert_eq!(window("gpt-4o-mini"), 128_000);
        assert_eq!(window("claude-sonnet-4-5"), 200_000);
        assert_eq!(window("my-llama"), UNKNOWN_WINDOW);
    }

    #[test]
    fn a_short_conversation_is_left_alone() {
        let mut m = convo(3, 100);
        let before = m.clone();
        assert_eq!(condense(&mut m, 500, 10_000), None);
        assert_eq!(m, before);
    }

    #[test]
    fn older_outputs_shrink_first_and_the_note_says_so() {
        let mut m = convo(20, 4_000);
        let len = m.len();
        let c = condense(&mut m, 1_000, 20_000).unwrap();
        assert!(c.after <= 20_000, "{c:?}");
        assert_eq!(c.dropped, 0);
        assert!(c.shortened > 0);
        assert_eq!(m.len(), len + 1, "only the note was added");
        assert!(m[1].content.starts_with(NOTE_PREFIX));
        assert!(
            m[1].content
                .contains(&format!("{} older outputs", c.shortened))
        );
        assert_eq!(m[0].content, "Task T1: build it");
        // The recent messages are whole; the old ones say what was removed.
        assert_eq!(m.last().unwrap().content.len(), 4_000);
        assert!(
            m[3].content
                .contains("bytes removed to fit the context window")
        );
        assert!(
            m[2].tool_calls[0].arguments["content"]
                .as_str()
                .unwrap()
                .contains("condensed")
        );
        assert!(paired(&m));
    }

    #[test]
    fn whole_exchanges_go_when_shortening_is_not_enough_and_pairs_stay_intact() {
        let mut m = convo(200, 1_000);
        let c = condense(&mut m, 1_000, 8_000).unwrap();
        assert!(c.after <= 8_000, "{c:?}");
        assert!(c.dropped > 0);
        assert!(paired(&m), "{m:#?}");
        assert_eq!(m[0].content, "Task T1: build it");
        // A second pass keeps a running total in the one note.
        m.extend(convo(30, 3_000).into_iter().skip(1));
        let c2 = condense(&mut m, 1_000, 8_000).unwrap();
        assert_eq!(
            m.iter()
                .filter(|x| x.content.starts_with(NOTE_PREFIX))
                .count(),
            1
        );
        assert!(m[1].content.contains(&format!(
            "{} earlier messages dropped",
            c.dropped + c2.dropped
        )));
        assert!(paired(&m));
    }

    #[test]
    fn a_single_huge_recent_output_is_cut_too() {
        let mut m = vec![
            Message::user("Task"),
            Message::assistant(
                "",
                vec![ToolUse {
                    id: "c".into(),
                    name: "read_file".into(),
                    arguments: json!({"path": "big.log"}),
                }],
            ),
            Message::tool("c", "line\n".repeat(100_000)),
        ];
        let c = condense(&mut m, 500, 4_000).unwrap();
        assert!(c.after <= 4_000, "{c:?}");
        assert!(paired(&m));
        assert!(m[3].content.contains("bytes removed"));
    }

    #[test]
    fn cutting_twice_keeps_the_count_and_respects_char_boundaries() {
        let mut s = "ü".repeat(5_000);
        assert!(cut(&mut s, 1_001));
        assert!(s.contains("9000 bytes removed"), "{s}");
        assert!(cut(&mut s, 100));
        assert!(s.contains("9900 bytes removed"), "{s}");
    }
}
