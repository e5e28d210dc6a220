//! Language-model providers behind one trait. `sim` is the built-in simulated company; the
//! remote providers (OpenAI-compatible, Anthropic) plug in here too.
//!
//! A provider turns an [`LlmRequest`] into a stream of [`StreamEvent`]s on a bounded channel.
//! Dropping the receiver cancels the request.

pub mod anthropic;
mod http;
pub mod openai;
pub mod pricing;
pub mod retry;
pub mod sim;
pub mod sse;

use crate::domain::{TaskId, TaskStatus, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    User,
    Assistant,
    Tool,
}

/// A tool call as a model made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: MessageRole,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolUse>,
    /// For `Tool` messages: the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: MessageRole::User,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolUse>) -> Self {
        Self {
            role: MessageRole::Assistant,
            content: text.into(),
            tool_calls,
            tool_call_id: None,
        }
    }

    pub fn tool(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            role: MessageRole::Tool,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(id.into()),
        }
    }
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// A task as the request describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskBrief {
    pub id: TaskId,
    pub title: String,
    pub role: String,
    pub status: TaskStatus,
    pub attempt: u32,
    pub failures: Vec<String>,
}

/// The facts the engine rendered into the prompt, in structured form. Remote models read the
/// prompt; the simulated company reads these (it is a stand-in, not a language model).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RequestContext {
    pub role: String,
    pub goal: String,
    pub task: Option<TaskBrief>,
    pub plan: Vec<TaskBrief>,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub max_output_tokens: u32,
    #[serde(skip)]
    pub context: RequestContext,
}

impl LlmRequest {
    /// A rough token count of the request (4 bytes a token), for providers that report none.
    pub fn estimated_input_tokens(&self) -> u64 {
        let bytes = self.system.len()
            + self
                .messages
                .iter()
                .map(|m| {
                    m.content.len()
                        + m.tool_calls
                            .iter()
                            .map(|t| t.arguments.to_string().len())
                            .sum::<usize>()
                })
                .sum::<usize>()
            + self
                .tools
                .iter()
                .map(|t| t.description.len() + t.parameters.to_string().len())
                .sum::<usize>();
        (bytes as u64).div_ceil(4)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Reasoning(String),
    Text(String),
    ToolCall(ToolUse),
    Usage(Usage),
    Done {
        stop_reason: String,
    },
    /// The provider waits before retrying a request (rate limit, server error).
    Retrying {
        wait_ms: u64,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("cannot reach the model: {0}")]
    Connect(String),
    #[error("the stream stopped early: {0}")]
    Cut(String),
    #[error("the model sent something unreadable: {0}")]
    Malformed(String),
    #[error("quota or spend limit reached: {0}")]
    Quota(String),
    #[error("timed out: {0}")]
    Timeout(String),
}

impl LlmError {
    /// Worth trying the same step again.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, LlmError::Quota(_) | LlmError::Http { status: 400..=407 | 410..=428, .. })
    }
}

pub type StreamItem = Result<StreamEvent, LlmError>;

/// What the UI and the audit trail say about a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    pub name: String,
    pub model: String,
    pub simulated: bool,
}

pub trait Provider: Send + Sync + 'static {
    fn info(&self) -> ProviderInfo;

    /// Starts the request. Events arrive on the returned channel, ending with `Done` or an
    /// error; dropping the receiver cancels the request.
    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem>;

    /// USD for `usage` on `model`, or `None` when the price is unknown.
    fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        pricing::cost(model, usage)
    }
}
