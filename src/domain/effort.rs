//! How hard a role's model thinks before it answers.

use serde::{Deserialize, Serialize};

/// Reasoning effort (OpenAI's `reasoning_effort`, the Responses API's `reasoning.effort`) or
/// extended thinking (Anthropic's thinking budget), set per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    Low,
    Medium,
    High,
}

impl Effort {
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }
}
