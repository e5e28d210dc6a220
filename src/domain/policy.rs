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

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Ask => "ask",
            Self::Deny => "deny",
        })
    }
}

/// A rule of the config's `[[policy]]`: a tool (or `*`), and optionally a glob on the command
/// or on the path, with its decision. The first rule that matches a call decides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    pub decision: Decision,
}

/// `*` any run of characters, `?` one character; anything else is itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut re = String::from("(?s)^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex_lite::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex_lite::Regex::new(&re).is_ok_and(|r| r.is_match(text))
}

impl Rule {
    pub fn matches(&self, tool: &str, command: Option<&str>, path: Option<&str>) -> bool {
        let tool_ok = self
            .tool
            .as_deref()
            .is_none_or(|t| t == "*" || glob(t, tool));
        let command_ok = match (&self.command, command) {
            (None, _) => true,
            (Some(p), Some(c)) => glob(p, c.trim()),
            (Some(_), None) => false,
        };
        let path_ok = match (&self.path, path) {
            (None, _) => true,
            (Some(p), Some(x)) => glob(p, x.trim_start_matches("./")),
            (Some(_), None) => false,
        };
        tool_ok && command_ok && path_ok
    }

    /// How the rule reads in the audit trail.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.decision, self.tool.as_deref().unwrap_or("*"));
        if let Some(c) = &self.command {
            s.push_str(&format!(" `{c}`"));
        }
        if let Some(p) = &self.path {
            s.push_str(&format!(" path `{p}`"));
        }
        s
    }
}

/// The decision for a call, and why: the first matching rule, else what a person allowed for
/// this run, else the autonomy level.
pub fn decide_with(
    rules: &[Rule],
    level: Autonomy,
    effect: Effect,
    tool: &str,
    command: Option<&str>,
    path: Option<&str>,
    always: &[String],
) -> (Decision, String) {
    if effect != Effect::None {
        if let Some((i, r)) = rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(tool, command, path))
        {
            return (
                r.decision,
                format!("policy rule {}: {}", i + 1, r.describe()),
            );
        }
    }
    let d = decide(level, effect, tool, always);
    let why = if effect == Effect::None {
        "reads only".to_owned()
    } else if always.iter().any(|t| t == tool) && level != Autonomy::Full {
        format!("{tool} always allowed by a person in this run")
    } else {
        format!("autonomy {level}")
    };
    (d, why)
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
    fn the_first_matching_rule_decides_and_says_so() {
        let rules = vec![
            Rule {
                tool: Some("run_command".into()),
                command: Some("rm -rf *".into()),
                path: None,
                decision: Decision::Deny,
            },
            Rule {
                tool: Some("run_command".into()),
                command: Some("cargo test*".into()),
                path: None,
                decision: Decision::Allow,
            },
            Rule {
                tool: None,
                command: None,
                path: Some(".git/*".into()),
                decision: Decision::Ask,
            },
        ];
        let d = |tool: &str, effect, command: Option<&str>, path: Option<&str>| {
            decide_with(&rules, Autonomy::Full, effect, tool, command, path, &[])
        };
        let (dec, why) = d("run_command", Effect::Command, Some("rm -rf /tmp/x"), None);
        assert_eq!(dec, Decision::Deny);
        assert_eq!(why, "policy rule 1: deny run_command `rm -rf *`");
        let (dec, _) = d(
            "run_command",
            Effect::Command,
            Some("cargo test --all"),
            None,
        );
        assert_eq!(dec, Decision::Allow);
        let (dec, why) = d(
            "write_file",
            Effect::WorkspaceWrite,
            None,
            Some(".git/config"),
        );
        assert_eq!(
            (dec, why.as_str()),
            (Decision::Ask, "policy rule 3: ask * path `.git/*`")
        );
        let (dec, why) = d("write_file", Effect::WorkspaceWrite, None, Some("src/a.rs"));
        assert_eq!((dec, why.as_str()), (Decision::Allow, "autonomy full"));
        assert!(glob("a?c*", "abcdef") && !glob("a?c", "abcd") && glob("x.(y)", "x.(y)"));
    }

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
