//! Policy decisions as pure functions: given the autonomy level and a tool call, allow it, ask a
//! person, or deny it.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Autonomy {
    /// Every side effect asks.
    Suggest,
    /// File writes inside the workspace are allowed; commands and anything unusual ask.
    #[default]
    AskRisky,
    /// Nothing asks.
    Full,
}

impl fmt::Display for Autonomy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Suggest => "suggest",
            Self::AskRisky => "ask-risky",
            Self::Full => "full",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Ask,
    Deny,
}

/// What a tool does to the world, as far as policy is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only, or bookkeeping inside the engine.
    None,
    /// Writes files inside the workspace.
    WorkspaceWrite,
    /// Runs a program.
    Command,
}

/// The decision for a call with `effect`, given the level and the kinds of call a person has
/// already said to always allow in this run (`always` holds tool names).
pub fn decide(level: Autonomy, effect: Effect, tool: &str, always: &[String]) -> Decision {
    if effect == Effect::None || level == Autonomy::Full || always.iter().any(|t| t == tool) {
        return Decision::Allow;
    }
    match (level, effect) {
        (Autonomy::AskRisky, Effect::WorkspaceWrite) => Decision::Allow,
        _ => Decision::Ask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_risky_asks_for_commands_only() {
        assert_eq!(
            decide(
                Autonomy::AskRisky,
                Effect::WorkspaceWrite,
                "write_file",
                &[]
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(Autonomy::AskRisky, Effect::Command, "run_command", &[]),
            Decision::Ask
        );
        assert_eq!(
            decide(Autonomy::AskRisky, Effect::None, "read_file", &[]),
            Decision::Allow
        );
    }

    #[test]
    fn suggest_asks_for_every_side_effect_and_full_never_asks() {
        assert_eq!(
            decide(Autonomy::Suggest, Effect::WorkspaceWrite, "write_file", &[]),
            Decision::Ask
        );
        assert_eq!(
            decide(Autonomy::Full, Effect::Command, "run_command", &[]),
            Decision::Allow
        );
    }

    #[test]
    fn always_rules_allow_that_tool() {
        let always = vec!["run_command".to_owned()];
        assert_eq!(
            decide(Autonomy::Suggest, Effect::Command, "run_command", &always),
            Decision::Allow
        );
        assert_eq!(
            decide(
                Autonomy::Suggest,
                Effect::WorkspaceWrite,
                "write_file",
                &always
            ),
            Decision::Ask
        );
    }
}
