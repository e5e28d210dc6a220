//! One answer of the simulated company, and what it reads from the conversation.

use crate::llm::{LlmRequest, MessageRole, ToolUse};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    pub reasoning: String,
    pub text: String,
    pub calls: Vec<ToolUse>,
    /// How fast it streams at speed 1; `None`: [`Pace::DEFAULT`].
    pub pace: Option<Pace>,
}

/// How fast a turn streams at speed 1: the wait before its first word, then words a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub latency: Duration,
    pub words_per_sec: f64,
}

impl Pace {
    /// Every scenario's but the swarm's: 0.8 s to the first word, then 60 ms a word.
    pub const DEFAULT: Pace = Pace {
        latency: Duration::from_millis(800),
        words_per_sec: 1000.0 / 60.0,
    };

    /// The time `words` words take at this pace (none for a pace that is not a positive
    /// number).
    pub fn words(self, words: u64) -> Duration {
        Duration::try_from_secs_f64(words as f64 / self.words_per_sec).unwrap_or(Duration::ZERO)
    }
}

impl Turn {
    pub fn think(reasoning: impl Into<String>) -> Self {
        Self {
            reasoning: reasoning.into(),
            ..Self::default()
        }
    }

    pub fn paced(mut self, pace: Pace) -> Self {
        self.pace = Some(pace);
        self
    }

    pub fn say(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    pub fn call(mut self, name: &str, arguments: Value) -> Self {
        let n = self.calls.len() + 1;
        self.calls.push(ToolUse {
            id: format!("sim_{name}_{n}"),
            name: name.to_owned(),
            arguments,
        });
        self
    }
}

/// A tool result the model has seen, matched with the call it answers.
#[derive(Debug, Clone)]
pub struct Seen {
    pub tool: String,
    pub text: String,
}

impl Seen {
    /// Did the command behind this result exit 0?
    pub fn passed(&self) -> bool {
        self.text.starts_with("exit code 0")
    }
}

/// What the conversation so far tells the simulated agent.
pub struct Conversation<'a> {
    pub request: &'a LlmRequest,
}

impl<'a> Conversation<'a> {
    pub fn new(request: &'a LlmRequest) -> Self {
        Self { request }
    }

    /// How many answers the agent has given in this conversation: its step number.
    pub fn step(&self) -> usize {
        self.request
            .messages
            .iter()
            .filter(|m| m.role == MessageRole::Assistant)
            .count()
    }

    /// The tool results that came after the agent's latest answer.
    pub fn last_results(&self) -> Vec<Seen> {
        let msgs = &self.request.messages;
        let Some(last_answer) = msgs.iter().rposition(|m| m.role == MessageRole::Assistant) else {
            return Vec::new();
        };
        let calls = &msgs[last_answer].tool_calls;
        msgs[last_answer + 1..]
            .iter()
            .filter(|m| m.role == MessageRole::Tool)
            .map(|m| Seen {
                tool: calls
                    .iter()
                    .find(|c| Some(&c.id) == m.tool_call_id.as_ref())
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                text: m.content.clone(),
            })
            .collect()
    }

    /// The result of the latest `run_command`, if the latest answer ran one.
    pub fn last_command(&self) -> Option<Seen> {
        self.last_results()
            .into_iter()
            .find(|s| s.tool == "run_command")
    }

    /// Whether the agent has called `tool` on `task` (its `task` argument) in this
    /// conversation.
    pub fn called_on(&self, tool: &str, task: &str) -> bool {
        self.request
            .messages
            .iter()
            .filter(|m| m.role == MessageRole::Assistant)
            .flat_map(|m| &m.tool_calls)
            .any(|c| c.name == tool && c.arguments["task"] == task)
    }

    /// Whether a person has written to the agent at any point of this conversation.
    pub fn heard_anyone(&self) -> bool {
        self.request
            .messages
            .iter()
            .skip(1)
            .any(|m| m.role == MessageRole::User && m.content.starts_with("Message from "))
    }

    /// Messages a person injected since the agent's latest answer.
    pub fn new_human_messages(&self) -> Vec<String> {
        let msgs = &self.request.messages;
        let from = msgs
            .iter()
            .rposition(|m| m.role == MessageRole::Assistant)
            .map_or(1, |i| i + 1);
        msgs.iter()
            .skip(from)
            .filter(|m| m.role == MessageRole::User)
            .filter_map(|m| m.content.strip_prefix("Message from ").map(str::to_owned))
            .collect()
    }
}
