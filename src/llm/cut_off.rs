//! An answer cut off by the output token limit: which of its tool calls may run, what the
//! model is told about the ones that may not, and the note that asks it to go on in smaller
//! pieces. The last call of a cut-off answer is never run (its arguments may be cut short even
//! when they parse), nor is any call whose arguments are not a whole JSON object.

use super::{Message, ToolUse};
use serde_json::json;

/// What the model is told after an answer the token limit cut off.
pub const NOTE: &str = "Your last answer was cut off by the output token limit, so its end is missing. Continue from where it stopped, in smaller pieces: write big files as several smaller files or in parts (write_file for the first part, then edit_file to add the rest), make smaller edits, and keep your text short. A tool call that was cut off was not run.";

/// A cut-off answer's calls, sorted.
#[derive(Debug, Default, PartialEq)]
pub struct Split {
    /// The calls that are whole and run as usual.
    pub run: Vec<ToolUse>,
    /// The calls that were cut off, with their arguments emptied (the conversation keeps the
    /// call, which the APIs require before its result, but not the broken text).
    pub cut: Vec<ToolUse>,
    /// A result for each cut call, saying it was not run.
    pub results: Vec<Message>,
}

impl Split {
    /// The log line for a cut-off answer.
    pub fn describe(&self) -> String {
        let cut: Vec<&str> = self.cut.iter().map(|c| c.name.as_str()).collect();
        let not_run = if cut.is_empty() {
            String::new()
        } else {
            format!(" (not run: {})", cut.join(", "))
        };
        format!(
            "the model's answer was cut off by the output token limit{not_run}; it is told to go on in smaller pieces"
        )
    }
}

/// Sorts `calls` of an answer; `cut_off` says the token limit stopped it.
pub fn split(calls: Vec<ToolUse>, cut_off: bool) -> Split {
    if !cut_off {
        return Split {
            run: calls,
            ..Split::default()
        };
    }
    let last = calls.len().saturating_sub(1);
    let mut s = Split::default();
    for (i, call) in calls.into_iter().enumerate() {
        if i < last && call.arguments.is_object() {
            s.run.push(call);
            continue;
        }
        let bytes = match &call.arguments {
            serde_json::Value::String(text) => text.len(),
            other => other.to_string().len(),
        };
        s.results.push(Message::tool(
            call.id.clone(),
            format!(
                "error: this {} call was cut off by the output token limit after {bytes} bytes of arguments, so it was not run. Make it again in smaller pieces.",
                call.name
            ),
        ));
        s.cut.push(ToolUse {
            arguments: json!({}),
            ..call
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, arguments: serde_json::Value) -> ToolUse {
        ToolUse {
            id: id.into(),
            name: "write_file".into(),
            arguments,
        }
    }

    #[test]
    fn whole_calls_run_and_the_cut_one_is_reported_not_run() {
        let calls = vec![
            call("a", json!({"path": "a.py", "content": "x"})),
            call("b", json!("{\"path\": \"b.py\", \"content\": \"def f(")),
        ];
        let s = split(calls.clone(), false);
        assert_eq!(s.run, calls);
        let s = split(calls, true);
        assert_eq!(s.run.len(), 1);
        assert_eq!(s.run[0].id, "a");
        assert_eq!(s.cut, vec![call("b", json!({}))]);
        assert_eq!(s.results[0].tool_call_id.as_deref(), Some("b"));
        assert!(
            s.results[0]
                .content
                .contains("cut off by the output token limit")
        );
        assert!(s.results[0].content.contains("not run"));
    }

    #[test]
    fn the_last_call_of_a_cut_answer_never_runs_even_when_it_parses() {
        let s = split(vec![call("a", json!({"path": "a.py"}))], true);
        assert!(s.run.is_empty());
        assert_eq!(s.cut.len(), 1);
    }
}
