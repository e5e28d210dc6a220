//! An agent's conversation rebuilt from the run's log, so that a resumed supervisor goes on
//! from what it said and was told instead of starting over (and planning the run twice).
//!
//! What the log holds for each step: the messages the agent was given (`AgentInput`), the
//! text it streamed (`AgentDelta` of kind text), the calls it made (`ToolCallRequested`) and
//! their results (`ToolCallFinished`). A step's assistant message gathers its text and every
//! call of the step; the results follow it, then whatever the agent was told next.

use crate::domain::{AgentId, DeltaKind, Event, EventRecord};
use crate::llm::{Message, ToolUse};

#[derive(Default)]
struct Step {
    text: String,
    calls: Vec<ToolUse>,
    results: Vec<Message>,
    open: bool,
}

impl Step {
    fn flush(&mut self, into: &mut Vec<Message>) {
        if self.open && (!self.text.is_empty() || !self.calls.is_empty()) {
            into.push(Message::assistant(
                std::mem::take(&mut self.text),
                std::mem::take(&mut self.calls),
            ));
            into.append(&mut self.results);
        }
        *self = Step::default();
    }
}

/// `agent`'s conversation, in order, from `records`.
pub fn rebuild(agent: &AgentId, records: impl IntoIterator<Item = EventRecord>) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut step = Step::default();
    for rec in records {
        match rec.event {
            Event::AgentInput { agent: a, text } if a == *agent => {
                step.flush(&mut messages);
                messages.push(Message::user(text));
            }
            Event::LlmRequestStarted { agent: a, .. } if a == *agent => {
                step.flush(&mut messages);
                step.open = true;
            }
            Event::AgentDelta {
                agent: a,
                kind: DeltaKind::Text,
                text,
            } if a == *agent => step.text.push_str(&text),
            Event::ToolCallRequested {
                agent: a,
                call,
                tool,
                args,
                ..
            } if a == *agent => step.calls.push(ToolUse {
                id: call.to_string(),
                name: tool,
                arguments: args,
            }),
            Event::ToolCallFinished {
                agent: a,
                call,
                output,
                ..
            } if a == *agent => step.results.push(Message::tool(call.to_string(), output)),
            _ => {}
        }
    }
    step.flush(&mut messages);
    // A call whose result never came (the process stopped) cannot stay in the conversation:
    // the APIs refuse a call without its result.
    drop_unanswered(&mut messages);
    messages
}

fn drop_unanswered(messages: &mut [Message]) {
    let answered: std::collections::HashSet<String> = messages
        .iter()
        .filter_map(|m| m.tool_call_id.clone())
        .collect();
    for m in messages.iter_mut() {
        m.tool_calls.retain(|c| answered.contains(&c.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallId, RunId};
    use crate::llm::MessageRole;

    fn rec(seq: u64, event: Event) -> EventRecord {
        EventRecord {
            v: crate::domain::SCHEMA_VERSION,
            run: RunId::from("r"),
            seq,
            ts_ms: seq,
            event,
        }
    }

    #[test]
    fn a_conversation_comes_back_in_order_with_calls_and_results() {
        let sup = AgentId::from("supervisor");
        let other = AgentId::from("engineer-1");
        let events = vec![
            Event::AgentInput {
                agent: sup.clone(),
                text: "Run goal: x".into(),
            },
            Event::LlmRequestStarted {
                agent: sup.clone(),
                task: None,
                model: "m".into(),
                prompt_hash: "h".into(),
                step: 0,
                context_window: 1000,
            },
            Event::AgentDelta {
                agent: sup.clone(),
                kind: DeltaKind::Reasoning,
                text: "thinking".into(),
            },
            Event::AgentDelta {
                agent: sup.clone(),
                kind: DeltaKind::Text,
                text: "Planning.".into(),
            },
            Event::AgentDelta {
                agent: other.clone(),
                kind: DeltaKind::Text,
                text: "not mine".into(),
            },
            Event::ToolCallRequested {
                agent: sup.clone(),
                task: None,
                call: CallId::from("c1"),
                tool: "create_task".into(),
                args: serde_json::json!({"title": "a"}),
                policy: None,
            },
            Event::ToolCallFinished {
                agent: sup.clone(),
                call: CallId::from("c1"),
                ok: true,
                output: "created T1".into(),
                duration_ms: 1,
            },
            Event::ToolCallRequested {
                agent: sup.clone(),
                task: None,
                call: CallId::from("c2"),
                tool: "create_task".into(),
                args: serde_json::json!({"title": "b"}),
                policy: None,
            },
            Event::AgentInput {
                agent: sup.clone(),
                text: "Update: T1 done".into(),
            },
        ];
        let records = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| rec(i as u64 + 1, e));
        let m = rebuild(&sup, records);
        let roles: Vec<MessageRole> = m.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                MessageRole::User,
                MessageRole::Assistant,
                MessageRole::Tool,
                MessageRole::User
            ]
        );
        assert_eq!(m[1].content, "Planning.");
        // c2 never got its result: it is dropped, c1 stays.
        assert_eq!(m[1].tool_calls.len(), 1);
        assert_eq!(m[1].tool_calls[0].id, "c1");
        assert_eq!(m[2].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(m[3].content, "Update: T1 done");
    }
}
