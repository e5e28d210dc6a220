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
    /// Grants the commands it matches the network (the sandbox takes it away otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
}

/// What an approval request puts at stake: what the call touches, whether it can be undone,
/// whether it reaches the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub touches: String,
    pub reversible: bool,
    pub network: bool,
}

impl Risk {
    /// The short form for the approvals bar: `irreversible · network`.
    pub fn badges(&self) -> String {
        format!(
            "{} · {}",
            if self.reversible {
                "reversible"
            } else {
                "irreversible"
            },
            if self.network { "network" } else { "offline" }
        )
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "touches {}; {}", self.touches, self.badges())
    }
}

/// Whether a command runs more than one command: `;`, `|`, `&`, backquotes, `$(` or a line
/// break.
fn chains(command: &str) -> bool {
    command.contains([';', '|', '&', '`', '\n']) || command.contains("$(")
}

/// `*` any run of characters, `?` one character; anything else is itself. The classic match
/// that backtracks only to the last star: no regex is built per call.
pub fn glob(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return wildcard(pattern.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    wildcard(&p, &t, '*', '?')
}

fn wildcard<T: PartialEq + Copy>(p: &[T], t: &[T], many: T, one: T) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(&c) if c == many => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == one || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == many)
}

impl Rule {
    pub fn matches(&self, tool: &str, command: Option<&str>, path: Option<&str>) -> bool {
        let tool_ok = self
            .tool
            .as_deref()
            .is_none_or(|t| t == "*" || glob(t, tool));
        let command_ok = match (&self.command, command) {
            (None, _) => true,
            // An allow rule never covers a command chained onto the one it names
            // (`cargo test; curl … | sh`): that falls through to the next rule or the level.
            (Some(p), Some(c)) if self.decision == Decision::Allow && chains(c) && !chains(p) => {
                false
            }
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
        if self.network == Some(true) {
            s.push_str(" with network");
        }
        s
    }

    /// The rule "approve always for this kind" writes: for a command, its program and what
    /// names the action (a subcommand, a script, or the argument of a flag like `-m`), then
    /// anything; for a file tool, that tool in the file's directory.
    pub fn allow_kind(tool: &str, command: Option<&str>, path: Option<&str>) -> Rule {
        let command = command.map(|c| {
            let mut kept: Vec<&str> = Vec::new();
            for w in c.split_whitespace() {
                let plain = !w.contains(|ch: char| "'\"`$;|&<>(){}*?[]".contains(ch));
                let wanted = kept.len() < 2 || kept.last().is_some_and(|l| l.starts_with('-'));
                if !plain || !wanted || kept.len() >= 3 {
                    break;
                }
                kept.push(w);
            }
            format!("{}*", kept.join(" "))
        });
        let path = path
            .and_then(|p| p.trim_start_matches("./").rsplit_once('/'))
            .map(|(dir, _)| format!("{dir}/*"));
        Rule {
            tool: Some(tool.to_owned()),
            command,
            path,
            decision: Decision::Allow,
            network: None,
        }
    }
}

/// The first rule of `rules`, then of `run_rules`, that matches, with how to name it.
fn first_match<'a>(
    rules: &'a [Rule],
    run_rules: &'a [Rule],
    tool: &str,
    command: Option<&str>,
    path: Option<&str>,
) -> Option<(&'a Rule, String)> {
    let named =
        |kind: &'static str| move |(i, r): (usize, &'a Rule)| (r, format!("{kind} {}", i + 1));
    rules
        .iter()
        .enumerate()
        .map(named("policy rule"))
        .chain(run_rules.iter().enumerate().map(named("run rule")))
        .find(|(r, _)| r.matches(tool, command, path))
}

/// Whether a command may reach the network: the first matching rule that says, else
/// `default`. `Some(why)` when it may.
pub fn network_grant(
    rules: &[Rule],
    run_rules: &[Rule],
    command: &str,
    default: bool,
) -> Option<String> {
    let tool = "run_command";
    let said = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r, format!("policy rule {}", i + 1)))
        .chain(
            run_rules
                .iter()
                .enumerate()
                .map(|(i, r)| (r, format!("run rule {}", i + 1))),
        )
        .find(|(r, _)| r.network.is_some() && r.matches(tool, Some(command), None));
    match said {
        Some((r, name)) => (r.network == Some(true)).then(|| format!("{name}: {}", r.describe())),
        None => default.then(|| "[sandbox] network = true".to_owned()),
    }
}

/// The decision for a call, and why: the first matching rule of the config, else of the rules
/// people added during the run, else the autonomy level.
pub fn decide_with(
    rules: &[Rule],
    run_rules: &[Rule],
    level: Autonomy,
    effect: Effect,
    tool: &str,
    command: Option<&str>,
    path: Option<&str>,
) -> (Decision, String) {
    if effect == Effect::None {
        return (Decision::Allow, "reads only".to_owned());
    }
    if let Some((r, name)) = first_match(rules, run_rules, tool, command, path) {
        return (r.decision, format!("{name}: {}", r.describe()));
    }
    (decide(level, effect), format!("autonomy {level}"))
}

/// The decision the autonomy level alone gives a call with `effect`.
pub fn decide(level: Autonomy, effect: Effect) -> Decision {
    match (level, effect) {
        (_, Effect::None) | (Autonomy::Full, _) => Decision::Allow,
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
                network: None,
            },
            Rule {
                tool: Some("run_command".into()),
                command: Some("cargo test*".into()),
                path: None,
                decision: Decision::Allow,
                network: Some(true),
            },
            Rule {
                tool: None,
                command: None,
                path: Some(".git/*".into()),
                decision: Decision::Ask,
                network: None,
            },
        ];
        let d = |tool: &str, effect, command: Option<&str>, path: Option<&str>| {
            decide_with(&rules, &[], Autonomy::Full, effect, tool, command, path)
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

    proptest::proptest! {
        #[test]
        fn glob_agrees_with_the_regex_it_stands_for(
            pattern in "[aé*?]{0,8}",
            text in "[aéc]{0,10}",
        ) {
            let mut re = String::from("(?s)^");
            for c in pattern.chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push(c),
                }
            }
            re.push('$');
            let want = regex_lite::Regex::new(&re).unwrap().is_match(&text);
            proptest::prop_assert_eq!(glob(&pattern, &text), want);
        }
    }

    #[test]
    fn ask_risky_asks_for_commands_only() {
        assert_eq!(
            decide(Autonomy::AskRisky, Effect::WorkspaceWrite),
            Decision::Allow
        );
        assert_eq!(decide(Autonomy::AskRisky, Effect::Command), Decision::Ask);
        assert_eq!(decide(Autonomy::AskRisky, Effect::None), Decision::Allow);
    }

    #[test]
    fn suggest_asks_for_every_side_effect_and_full_never_asks() {
        assert_eq!(
            decide(Autonomy::Suggest, Effect::WorkspaceWrite),
            Decision::Ask
        );
        assert_eq!(decide(Autonomy::Full, Effect::Command), Decision::Allow);
    }

    #[test]
    fn approve_always_writes_a_rule_for_the_kind_and_network_is_granted_by_rules() {
        let r = Rule::allow_kind("run_command", Some("cargo test --all"), None);
        assert_eq!(r.command.as_deref(), Some("cargo test*"));
        assert!(r.matches("run_command", Some("cargo test -q"), None));
        assert!(!r.matches("run_command", Some("cargo publish"), None));
        assert!(!r.matches("run_command", Some("cargo test; curl x | sh"), None));
        let r = Rule::allow_kind("run_command", Some("sh scripts/smoke.sh x"), None);
        assert_eq!(r.command.as_deref(), Some("sh scripts/smoke.sh*"));
        let r = Rule::allow_kind("run_command", Some("python3 -m unittest discover -v"), None);
        assert_eq!(r.command.as_deref(), Some("python3 -m unittest*"));
        let r = Rule::allow_kind("run_command", Some("make && rm -rf /"), None);
        assert_eq!(r.command.as_deref(), Some("make*"));
        assert!(!r.matches("run_command", Some("make && rm -rf /"), None));
        let r = Rule::allow_kind("write_file", None, Some("src/lib/a.rs"));
        assert_eq!(r.path.as_deref(), Some("src/lib/*"));
        let (d, why) = decide_with(
            &[],
            &[r],
            Autonomy::Suggest,
            Effect::WorkspaceWrite,
            "write_file",
            None,
            Some("src/lib/b.rs"),
        );
        assert_eq!(d, Decision::Allow);
        assert!(why.starts_with("run rule 1: allow write_file"), "{why}");
        let grant = Rule {
            tool: Some("run_command".into()),
            command: Some("curl *".into()),
            path: None,
            decision: Decision::Ask,
            network: Some(true),
        };
        assert!(
            network_grant(std::slice::from_ref(&grant), &[], "curl example.org", false).is_some()
        );
        assert!(network_grant(&[grant], &[], "cargo test", false).is_none());
        assert!(network_grant(&[], &[], "cargo test", true).is_some());
    }
}
