//! Language-model providers behind one trait. `sim` is the built-in simulated company; the
//! remote providers (OpenAI-compatible, Anthropic) plug in here too.
//!
//! A provider turns an [`LlmRequest`] into a stream of [`StreamEvent`]s on a bounded channel.
//! Dropping the receiver cancels the request.

pub mod anthropic;
pub(crate) mod anthropic_body;
pub mod context;
pub mod cut_off;
mod http;
pub mod masking;
pub mod openai;
pub mod pricing;
pub mod responses;
pub mod retry;
pub mod sim;
pub mod sse;
mod stop_reason;

pub use crate::domain::Effort;
pub use stop_reason::StopReason;

use crate::domain::{TaskId, TaskStatus, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub use http::Timeouts;
pub use retry::RetryPolicy;

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
    /// For `Assistant` messages: the thinking that came before the text and calls, given back
    /// as it came (Anthropic refuses a tool result whose call lost its thinking).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thinking: Vec<Thinking>,
}

/// A block of extended thinking, with what the server needs to accept it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Thinking {
        thinking: String,
        signature: String,
    },
    /// Thinking the server keeps encrypted; only `data` goes back.
    RedactedThinking {
        data: String,
    },
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: MessageRole::User,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            thinking: Vec::new(),
        }
    }

    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolUse>) -> Self {
        Self {
            role: MessageRole::Assistant,
            content: text.into(),
            tool_calls,
            tool_call_id: None,
            thinking: Vec::new(),
        }
    }

    pub fn tool(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            role: MessageRole::Tool,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(id.into()),
            thinking: Vec::new(),
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
    /// Worker agents the run allows at once (`--concurrency`).
    pub concurrency: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LlmRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub max_output_tokens: u32,
    /// The role's reasoning effort, for models that take one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Effort>,
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
    /// A whole thinking block, sent when it ends, to be given back with the answer.
    Thinking(Thinking),
    Usage(Usage),
    Done {
        stop_reason: StopReason,
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
    /// The request is longer than the model's context window.
    #[error("the conversation is too long for the model: {0}")]
    ContextLength(String),
}

impl LlmError {
    /// Worth trying the same step again.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            LlmError::Quota(_)
                | LlmError::ContextLength(_)
                | LlmError::Http {
                    status: 400..=407 | 410..=428,
                    ..
                }
        )
    }
}

impl LlmError {
    /// Only a person can fix it: trying again, or another task, meets the same refusal.
    pub fn needs_person(&self) -> bool {
        matches!(
            self,
            LlmError::Quota(_)
                | LlmError::Connect(_)
                | LlmError::Http {
                    status: 401..=404,
                    ..
                }
        )
    }
}

/// An API key. It is sent to the server it belongs to and shown nowhere else: its `Debug`
/// says only that there is one.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// How to reach a remote model server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The provider's name as the audit trail records it (`openai`, `xai`, `ollama`, …).
    pub name: String,
    /// Up to and including the version segment: `https://api.openai.com/v1`.
    pub base_url: String,
    pub key: Option<Secret>,
    /// The model used when a role names none.
    pub model: String,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    /// Overrides the built-in table of context windows.
    pub context_window: Option<u64>,
}

impl Endpoint {
    /// An endpoint with the default retry policy and timeouts.
    pub fn new(name: &str, base_url: &str, key: Option<Secret>, model: &str) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.trim_end_matches('/').into(),
            key,
            model: model.into(),
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            context_window: None,
        }
    }

    pub fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: self.name.clone(),
            model: self.model.clone(),
            base_url: Some(self.base_url.clone()),
            simulated: false,
        }
    }

    pub fn window(&self, model: &str) -> u64 {
        self.context_window
            .unwrap_or_else(|| context::window(model))
    }
}

/// How long to wait for a quick answer to a check such as `doctor`'s.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

pub type StreamItem = Result<StreamEvent, LlmError>;

/// What the UI and the audit trail say about a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    pub name: String,
    pub model: String,
    /// Where a remote provider is reached; recorded with the run so a resume goes there too.
    pub base_url: Option<String>,
    pub simulated: bool,
}

pub trait Provider: Send + Sync + 'static {
    fn info(&self) -> ProviderInfo;

    /// Starts the request. Events arrive on the returned channel, ending with `Done` or an
    /// error; dropping the receiver cancels the request.
    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem>;

    /// The context window of `model` in tokens.
    fn context_window(&self, model: &str) -> u64 {
        context::window(model)
    }

    /// The models the server offers (for `doctor`); `Ok(None)` when it cannot list them.
    fn models(&self) -> futures_util::future::BoxFuture<'_, Result<Option<Vec<String>>, LlmError>> {
        Box::pin(async { Ok(None) })
    }
}

/// The providers of a run: one for every role, unless a role has its own
/// (`[roles.engineer] provider = "anthropic"`).
#[derive(Clone)]
pub struct Providers {
    default: Arc<dyn Provider>,
    by_role: BTreeMap<String, Arc<dyn Provider>>,
}

impl Providers {
    pub fn new(default: Arc<dyn Provider>) -> Self {
        Self {
            default,
            by_role: Default::default(),
        }
    }

    /// Routes `role`'s requests to `provider`.
    pub fn with_role(mut self, role: &str, provider: Arc<dyn Provider>) -> Self {
        self.by_role.insert(role.to_owned(), provider);
        self
    }

    /// The run's own provider, which the run is recorded with.
    pub fn default_provider(&self) -> &Arc<dyn Provider> {
        &self.default
    }

    pub fn for_role(&self, role: &str) -> &Arc<dyn Provider> {
        self.by_role.get(role).unwrap_or(&self.default)
    }

    /// Roles with a provider of their own.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &Arc<dyn Provider>)> {
        self.by_role.iter().map(|(r, p)| (r.as_str(), p))
    }
}

impl<P: Provider> From<Arc<P>> for Providers {
    fn from(p: Arc<P>) -> Self {
        Self::new(p)
    }
}

impl From<Arc<dyn Provider>> for Providers {
    fn from(p: Arc<dyn Provider>) -> Self {
        Self::new(p)
    }
}
