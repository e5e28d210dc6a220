//! The size bound of one recorded event. Whatever a model or a command produced, no event in
//! the log is larger than [`MAX_EVENT_BYTES`] of JSON: a longer one has its longest texts cut,
//! each with a note saying so and how long it was; an event that still does not fit (one made
//! of many small pieces) is replaced by an error entry that names it. Either way the log says
//! what happened, and every reader (the fold, viewers, exports) gets events of bounded size.

use crate::domain::{Event, EventRecord, LogLevel};
use serde_json::Value;

/// The largest encoded event record kept in the log.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// Strings shorter than this are never cut (ids, names, tags).
const MIN_CUT: usize = 1024;
/// Room left for the note and for escapes when a text is cut.
const SLACK: usize = 512;

/// `rec` bounded to `limit` bytes of JSON, and its encoding; `size` is its encoded size now.
pub(super) fn fit(
    mut rec: EventRecord,
    size: usize,
    limit: usize,
) -> Result<(EventRecord, Vec<u8>), String> {
    let kind = rec.event.kind();
    tracing::warn!(
        seq = rec.seq,
        kind,
        size,
        limit,
        "an event over the size limit is cut"
    );
    rec.event = match shrink(&rec, size, limit) {
        Some(e) => e,
        None => Event::log(
            LogLevel::Error,
            "engine",
            format!(
                "an event `{kind}` of {size} bytes was not recorded: one event holds at most {} MiB",
                limit >> 20
            ),
        ),
    };
    let bytes = serde_json::to_vec(&rec).map_err(|e| e.to_string())?;
    Ok((rec, bytes))
}

/// The event with its longest strings cut until the record fits, or `None` when cutting
/// texts cannot make it fit.
fn shrink(rec: &EventRecord, size: usize, limit: usize) -> Option<Event> {
    let mut value = serde_json::to_value(&rec.event).ok()?;
    // The record's envelope (run, seq, time) around the event.
    let envelope = size.saturating_sub(crate::domain::json_len(&value));
    for _ in 0..64 {
        let size = envelope + crate::domain::json_len(&value);
        if size <= limit {
            return serde_json::from_value(value).ok();
        }
        let over = size - limit;
        let (len, pointer) = longest_string(&value)?;
        if len < MIN_CUT + SLACK {
            return None;
        }
        let Some(Value::String(s)) = value.pointer_mut(&pointer) else {
            return None;
        };
        // Escapes make a text longer as JSON than it is: cut in proportion.
        let as_json = crate::domain::json_len(&*s).max(1);
        let keep_json = as_json.saturating_sub(over + SLACK);
        let keep = ((len as u128 * keep_json as u128) / as_json as u128) as usize;
        cut(s, keep.max(MIN_CUT), limit);
    }
    None
}

/// Cuts `s` to at most `keep` bytes (between characters) and says so at the end.
fn cut(s: &mut String, keep: usize, limit: usize) {
    let was = s.len();
    let mut end = keep.min(was);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(&format!(
        "\n[… cut by the engine: this text was {was} bytes; one event holds at most {} MiB]",
        limit >> 20
    ));
}

/// The length of the longest string in `v` and its JSON pointer.
fn longest_string(v: &Value) -> Option<(usize, String)> {
    fn walk(v: &Value, at: &mut String, best: &mut Option<(usize, String)>) {
        match v {
            Value::String(s) if best.as_ref().is_none_or(|(n, _)| s.len() > *n) => {
                *best = Some((s.len(), at.clone()));
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("/{i}"));
                    walk(item, at, best);
                    at.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(item, at, best);
                    at.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(v, &mut String::new(), &mut best);
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, CallId, RunId};

    fn record(event: Event) -> EventRecord {
        EventRecord {
            v: crate::domain::SCHEMA_VERSION,
            run: RunId::from("01run"),
            seq: 7,
            ts_ms: 1,
            event,
        }
    }

    #[test]
    fn a_small_event_is_kept_as_it_is() {
        let rec = record(Event::log(LogLevel::Info, "a", "hello"));
        let size = serde_json::to_vec(&rec).unwrap().len();
        let (out, bytes) = fit(rec.clone(), size, 1 << 20).unwrap();
        assert_eq!(out, rec);
        assert_eq!(bytes, serde_json::to_vec(&rec).unwrap());
    }

    #[test]
    fn huge_tool_arguments_are_cut_with_a_note_and_the_rest_is_kept() {
        let content = "x\"y".repeat(2 << 20);
        let rec = record(Event::ToolCallRequested {
            agent: AgentId::from("engineer-1"),
            task: None,
            call: CallId::from("c1"),
            tool: "write_file".into(),
            args: serde_json::json!({"path": "big.txt", "content": content}),
            policy: None,
        });
        let limit = 1 << 20;
        let size = serde_json::to_vec(&rec).unwrap().len();
        let (out, bytes) = fit(rec, size, limit).unwrap();
        assert!(bytes.len() <= limit, "{} bytes", bytes.len());
        let Event::ToolCallRequested {
            args, tool, call, ..
        } = &out.event
        else {
            panic!("still a tool call: {:?}", out.event)
        };
        assert_eq!((tool.as_str(), call.as_str()), ("write_file", "c1"));
        assert_eq!(args["path"], "big.txt");
        let kept = args["content"].as_str().unwrap();
        assert!(kept.starts_with("x\"yx\"y"));
        assert!(
            kept.ends_with("this text was 6291456 bytes; one event holds at most 1 MiB]"),
            "{}",
            &kept[kept.len() - 100..]
        );
        assert!(kept.len() > limit / 2, "not cut more than needed");
        assert_eq!(out.seq, 7);
    }

    #[test]
    fn an_event_of_many_small_pieces_becomes_an_error_entry_naming_it() {
        let pieces: Vec<String> = (0..200_000).map(|i| format!("p{i}")).collect();
        let rec = record(Event::ToolCallRequested {
            agent: AgentId::from("engineer-1"),
            task: None,
            call: CallId::from("c1"),
            tool: "write_file".into(),
            args: serde_json::json!({ "pieces": pieces }),
            policy: None,
        });
        let size = serde_json::to_vec(&rec).unwrap().len();
        let (out, bytes) = fit(rec, size, 1 << 20).unwrap();
        assert!(bytes.len() < 1 << 20);
        let Event::Log { level, text, .. } = &out.event else {
            panic!("{:?}", out.event)
        };
        assert_eq!(*level, LogLevel::Error);
        assert!(text.contains("tool_call_requested"), "{text}");
        assert!(text.contains("at most 1 MiB"), "{text}");
    }
}
