//! Policy decisions as pure functions: given the autonomy level and a tool call, allow it, ask a
//! person, or deny it.

use super::remote_code::remote_code;
use super::workspace_path::{Case, normalize_path};
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
/// whether it reaches the network, whether it runs code fetched from the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub touches: String,
    pub reversible: bool,
    /// The call reaches (or tries to reach) the network. A command that runs remote code is
    /// said to, even where the sandbox takes the network away: the person sees what was tried.
    pub network: bool,
    /// The command downloads code and runs it, or installs or runs packages
    /// ([`remote_code`]). Logs written before this field read as `false`.
    #[serde(default)]
    pub remote_code: bool,
}

impl Risk {
    /// The short form for the approvals bar: `irreversible · network`, led by `remote code`
    /// when the command runs code fetched from the network.
    pub fn badges(&self) -> String {
        format!(
            "{}{} · {}",
            if self.remote_code {
                "remote code · "
            } else {
                ""
            },
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

/// The spelling a path is matched in: canonical ([`normalize_path`]) and folded for `case`. A
/// path that has no spelling inside the workspace (`../x`, `/etc`) is matched as written: the
/// file tools refuse it whatever the policy says.
fn path_key(path: &str, case: Case) -> String {
    let canonical = normalize_path(path).unwrap_or_else(|_| path.to_owned());
    case.fold(&canonical)
}

impl Rule {
    /// Whether the rule covers a call, paths compared case-sensitively.
    pub fn matches(&self, tool: &str, command: Option<&str>, path: Option<&str>) -> bool {
        self.matches_in(tool, command, path, Case::Sensitive)
    }

    /// Whether the rule covers a call, with paths (the rule's pattern and the call's path)
    /// normalised and compared under `case`, the rule of the workspace's file system.
    pub fn matches_in(
        &self,
        tool: &str,
        command: Option<&str>,
        path: Option<&str>,
        case: Case,
    ) -> bool {
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
            (Some(p), Some(x)) => glob(&path_key(p, case), &path_key(x, case)),
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
    /// anything; for a file tool, that tool in the file's directory (in its canonical
    /// spelling: `a/../src/x.rs` gives `src/*`).
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
            .map(|p| normalize_path(p).unwrap_or_else(|_| p.to_owned()))
            .and_then(|p| p.rsplit_once('/').map(|(dir, _)| format!("{dir}/*")));
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
    case: Case,
) -> Option<(&'a Rule, String)> {
    let named =
        |kind: &'static str| move |(i, r): (usize, &'a Rule)| (r, format!("{kind} {}", i + 1));
    rules
        .iter()
        .enumerate()
        .map(named("policy rule"))
        .chain(run_rules.iter().enumerate().map(named("run rule")))
        .find(|(r, _)| r.matches_in(tool, command, path, case))
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
/// people added during the run, else the autonomy level. Paths are matched in their canonical
/// spelling, under the `case` rule of the workspace's file system.
#[allow(clippy::too_many_arguments)] // each is one plain fact about the call
pub fn decide_with(
    rules: &[Rule],
    run_rules: &[Rule],
    level: Autonomy,
    effect: Effect,
    tool: &str,
    command: Option<&str>,
    path: Option<&str>,
    case: Case,
) -> (Decision, String) {
    if effect == Effect::None {
        return (Decision::Allow, "reads only".to_owned());
    }
    if let Some((r, name)) = first_match(rules, run_rules, tool, command, path, case) {
        return (r.decision, format!("{name}: {}", r.describe()));
    }
    (decide(level, effect), format!("autonomy {level}"))
}

/// What running remote code does to a command's decision (`decided`, from [`decide_with`]).
///
/// Such a command is decided by a person: a deny stands, an ask stands, and an allow becomes
/// an ask, whether it came from the autonomy level (`full` included), a run rule ("approve
/// always") or a broad config pattern (`curl*`, `*`). The one allow that stands is a config
/// `[[policy]]` rule whose own command pattern runs remote code (`curl -fsSL
/// https://sh.rustup.rs | sh*`): someone wrote that download-and-run into the config file,
/// knowing what it is, which is a person's decision made ahead of time. The `network` of
/// the approval's risk says the command reaches for the network either way.
pub fn guard_remote_code(
    rules: &[Rule],
    command: &str,
    decided: (Decision, String),
) -> (Decision, String) {
    let Some(kind) = remote_code(command) else {
        return decided;
    };
    let (decision, why) = decided;
    let tool = "run_command";
    let named_in_config = || {
        rules
            .iter()
            .find(|r| r.matches(tool, Some(command), None))
            .filter(|r| r.decision == Decision::Allow)
            .and_then(|r| r.command.as_deref())
            .is_some_and(|pattern| remote_code(pattern).is_some())
    };
    match decision {
        Decision::Deny => (decision, why),
        Decision::Allow if named_in_config() => {
            (decision, format!("{why} (it runs remote code: {kind})"))
        }
        Decision::Allow => (
            Decision::Ask,
            format!("{why}, but it runs remote code ({kind}), so a person decides"),
        ),
        Decision::Ask => (decision, format!("{why}; it runs remote code ({kind})")),
    }
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
mod tests;
