//! Why a model stopped answering, as one type for every protocol: Chat Completions'
//! `finish_reason`, Anthropic's `stop_reason`, the Responses API's status and Ollama's
//! `done_reason` (which its `/v1` endpoint reports as `finish_reason`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The model finished its answer (`stop`, `end_turn`, `stop_sequence`).
    EndTurn,
    /// The model called tools and waits for their results.
    ToolUse,
    /// The output hit the token limit (`length`, `max_tokens`, `max_output_tokens`): the answer,
    /// and perhaps its last tool call, is cut off.
    MaxTokens,
    /// The conversation filled the model's context window while it answered.
    ContextWindow,
    /// Anything else the server said, as it said it.
    Other(String),
}

impl StopReason {
    /// Reads a protocol's word for it.
    pub fn parse(word: &str) -> Self {
        match word {
            "stop" | "end_turn" | "stop_sequence" | "completed" => StopReason::EndTurn,
            "tool_use" | "tool_calls" | "function_call" => StopReason::ToolUse,
            "length" | "max_tokens" | "max_output_tokens" => StopReason::MaxTokens,
            "model_context_window_exceeded" => StopReason::ContextWindow,
            other => StopReason::Other(other.to_owned()),
        }
    }

    /// True when the output was cut off by the token limit.
    pub fn is_cut_off(&self) -> bool {
        *self == StopReason::MaxTokens
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ContextWindow => "model_context_window_exceeded",
            StopReason::Other(s) => s,
        })
    }
}

impl From<&str> for StopReason {
    fn from(word: &str) -> Self {
        Self::parse(word)
    }
}

impl From<String> for StopReason {
    fn from(word: String) -> Self {
        Self::parse(&word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocols_words_map_to_one_type() {
        assert_eq!(StopReason::parse("length"), StopReason::MaxTokens);
        assert_eq!(StopReason::parse("max_tokens"), StopReason::MaxTokens);
        assert_eq!(
            StopReason::parse("max_output_tokens"),
            StopReason::MaxTokens
        );
        assert_eq!(StopReason::parse("stop"), StopReason::EndTurn);
        assert_eq!(StopReason::parse("tool_calls"), StopReason::ToolUse);
        assert_eq!(
            StopReason::parse("pause_turn"),
            StopReason::Other("pause_turn".into())
        );
        assert_eq!(StopReason::parse("stop").to_string(), "end_turn");
        assert!(StopReason::parse("length").is_cut_off());
    }
}
