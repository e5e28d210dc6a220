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

/// What a resumed agent gets back of its conversation at most, in bytes of text: more than the
/// largest context window holds (about a million tokens); the agent loop condenses the rest.
pub const RESUMED_BYTES: usize = 4 << 20;

/// Steps a resumed agent gets back at most (the agent loop condenses what does not fit).
pub const RESUMED_STEPS: usize = 100;

/// Records looked at, at most, for them: an agent silent for longer starts afresh, told where
/// the run is.
pub const RESUME_SCAN: usize = 200_000;

/// The records of `agent`'s latest steps, oldest first, taken from `newest_first` (a run's
/// records, newest first): up to [`RESUMED_STEPS`] steps or [`RESUMED_BYTES`] of text, from a
/// step's start, among the latest [`RESUME_SCAN`] records. A resumed run thus reads back what
/// its agent can use, not the whole log.
pub fn latest_steps(
    agent: &AgentId,
    newest_first: impl IntoIterator<Item = EventRecord>,
) -> Vec<EventRecord> {
    let mut kept = Vec::new();
    let (mut bytes, mut steps) = (0, 0);
    for rec in newest_first.into_iter().take(RESUME_SCAN) {
        let (size, starts_a_step) = match &rec.event {
            Event::AgentInput { agent: a, text } if a == agent => (text.len(), true),
            Event::LlmRequestStarted { agent: a, .. } if a == agent => (0, true),
            Event::AgentDelta {
                agent: a,
                kind: DeltaKind::Text,
                text,
            } if a == agent => (text.len(), false),
            Event::ToolCallRequested { agent: a, args, .. } if a == agent => {
                (args.to_string().len(), false)
            }
            Event::ToolCallFinished {
                agent: a, output, ..
            } if a == agent => (output.len(), false),
            _ => continue,
        };
        bytes += size;
        steps += usize::from(starts_a_step);
        kept.push(rec);
        if starts_a_step && (bytes >= RESUMED_BYTES || steps >= RESUMED_STEPS) {
            break;
        }
    }
    // The scan may have stopped inside a step: what comes before the earliest start goes.
    let starts = |r: &EventRecord| matches!(&r.event, Event::AgentInput { agent: a, .. } | Event::LlmRequestStarted { agent: a, .. } if a == agent);
    let first_start = kept.iter().rposition(starts).map_or(0, |i| i + 1);
    kept.truncate(first_start);
    kept.reverse();
    kept
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

    #[test]
    fn a_resumed_agent_reads_back_only_its_latest_steps_from_a_step_start() {
        let sup = AgentId::from("supervisor");
        let other = AgentId::from("engineer-1");
        let mut events = vec![Event::AgentInput {
            agent: sup.clone(),
            text: "Run goal: x".into(),
        }];
        // 12 steps of about 1 MB of text each, with another agent's records in between.
        for i in 0..12 {
            events.push(Event::LlmRequestStarted {
                agent: sup.clone(),
                task: None,
                model: "m".into(),
                prompt_hash: "h".into(),
                step: i,
                context_window: 1000,
            });
            for _ in 0..4 {
                events.push(Event::AgentDelta {
                    agent: sup.clone(),
                    kind: DeltaKind::Text,
                    text: format!("{i}").repeat(256 << 10),
                });
                events.push(Event::AgentDelta {
                    agent: other.clone(),
                    kind: DeltaKind::Text,
                    text: "noise".into(),
                });
            }
            events.push(Event::ToolCallRequested {
                agent: sup.clone(),
                task: None,
                call: CallId::from(format!("c{i}").as_str()),
                tool: "plan".into(),
                args: serde_json::json!({}),
                policy: None,
            });
            events.push(Event::ToolCallFinished {
                agent: sup.clone(),
                call: CallId::from(format!("c{i}").as_str()),
                ok: true,
                output: format!("planned {i}"),
                duration_ms: 1,
            });
        }
        let records: Vec<EventRecord> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| rec(i as u64 + 1, e))
            .collect();
        let kept = latest_steps(&sup, records.iter().rev().cloned());
        // It starts at a step, holds at least RESUMED_BYTES, and no more than a step beyond.
        assert!(matches!(kept[0].event, Event::LlmRequestStarted { .. }));
        let text: usize = kept
            .iter()
            .map(|r| match &r.event {
                Event::AgentDelta { text, .. } => text.len(),
                _ => 0,
            })
            .sum();
        assert!(
            (RESUMED_BYTES..RESUMED_BYTES + (1 << 20) + 1).contains(&text),
            "{text}"
        );
        assert!(
            kept.iter()
                .all(|r| !matches!(&r.event, Event::AgentDelta { agent, .. } if *agent == other))
        );
        // The conversation it makes is the end of the whole one.
        let all = rebuild(&sup, records.clone());
        let latest = rebuild(&sup, kept);
        assert!(latest.len() < all.len());
        assert_eq!(latest[..], all[all.len() - latest.len()..]);
        // A scan cut inside a step keeps whole steps only.
        let cut: Vec<EventRecord> = records.iter().rev().take(5).cloned().collect();
        assert!(
            latest_steps(&sup, cut).is_empty(),
            "no step start among the last 5"
        );
    }
}
