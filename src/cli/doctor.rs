//! `doctor`: checks the config, the paths, every provider the config uses, and the terminal,
//! and prints one line per check with the fix when something is wrong.
//! Exit code 0 when nothing failed (warnings allowed), 1 when a check failed, 2 when the
//! config cannot be read.

use super::config::{Config, Paths};
use super::provider::{self, Choice, KeySource, Resolved};
use super::{Failure, control_room};
use crate::engine::Roster;
use crate::llm::LlmError;
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, level: Level, what: &str, text: impl AsRef<str>) {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        self.failed |= level == Level::Fail;
        // A closed stdout (`doctor | head`) is not worth a panic.
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{tag}  {what:<10} {}", text.as_ref());
    }
}

/// A warning when the config file holds a key and others may read it.
pub fn loose_key_file(path: &Path, config: &Config) -> Option<String> {
    if !config.holds_keys() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "{} holds an API key and others can read it (mode {:o}): chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    None
}

pub async fn run(
    paths: &Paths,
    provider: Option<String>,
    model: Option<String>,
    base_url: Option<String>,
) -> Result<u8, Failure> {
    let mut r = Report { failed: false };
    let config = match Config::load(&paths.config_file, paths.config_given) {
        Ok(c) => {
            let how = if paths.config_file.exists() {
                "read"
            } else {
                "not there: the defaults apply (`macrohard-tui init` writes one)"
            };
            r.line(
                Level::Ok,
                "config",
                format!("{} {how}", paths.config_file.display()),
            );
            c
        }
        Err(e) => {
            r.line(Level::Fail, "config", &e.0);
            return Err(Failure::usage(String::new()));
        }
    };
    if let Some(w) = loose_key_file(&paths.config_file, &config) {
        r.line(Level::Warn, "config", w);
    }
    check_paths(&mut r, paths);
    let roster = check_roles(&mut r, paths, &config);
    // The keymap exactly as the control room builds it (unknown actions, bad key names).
    match control_room::options(paths, &config, None) {
        Ok(_) => {}
        Err(e) => r.line(Level::Fail, "ui", e.message),
    }
    for w in key_conflicts(&config) {
        r.line(Level::Warn, "keys", w);
    }
    let run = Choice {
        name: provider.unwrap_or_else(|| config.run.provider.clone()),
        model: model.or_else(|| config.run.model.clone()),
        base_url: base_url.or_else(|| config.run.base_url.clone()),
        env: Default::default(),
    };
    for (users, resolved) in provider::all(&config, &run) {
        check_provider(&mut r, &config, roster.as_ref(), &users, resolved).await;
    }
    check_sandbox(&mut r, &config);
    check_terminal(&mut r);
    Ok(u8::from(r.failed))
}

fn check_sandbox(r: &mut Report, config: &Config) {
    use crate::tools::sandbox::{self, PartState, Unsupported};
    let s = sandbox::support();
    let cfg = &config.sandbox;
    if !cfg.enabled {
        r.line(
            Level::Warn,
            "sandbox",
            "off ([sandbox] enabled = false): agents' commands run unconfined. Remove the line to confine them",
        );
        return;
    }
    // SAFETY: geteuid cannot fail.
    let who = if unsafe { libc::geteuid() } == 0 {
        "as root"
    } else {
        "as an ordinary account"
    };
    if s.complete() {
        r.line(
            Level::Ok,
            "sandbox",
            format!("complete ({who}), part by part:"),
        );
    } else {
        let then = match cfg.unsupported {
            Unsupported::Continue => "commands run anyway ([sandbox] unsupported = \"continue\")",
            Unsupported::Ask => "every command asks a person first",
            Unsupported::Deny => "commands are refused",
        };
        r.line(
            Level::Warn,
            "sandbox",
            format!(
                "incomplete ({who}); {then}. Fix: a kernel with Landlock (5.13 or later, `lsm=landlock,…`), the new mount API (5.12) and user namespaces for ordinary accounts (sysctl kernel.unprivileged_userns_clone=1, or AppArmor's restrict_unprivileged_userns=0). Part by part:"
            ),
        );
    }
    for p in s.parts() {
        let level = match p.state {
            PartState::Ok => Level::Ok,
            PartState::Partial | PartState::Missing => Level::Warn,
        };
        let state = match p.state {
            PartState::Ok => "",
            PartState::Partial => "partial: ",
            PartState::Missing => "missing: ",
        };
        r.line(
            level,
            "sandbox",
            format!("  {:<12} {state}{}", p.name, p.detail),
        );
    }
}

fn check_paths(r: &mut Report, paths: &Paths) {
    let dir = &paths.data_dir;
    let probe = dir.join(".doctor-probe");
    let writable = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe));
    match writable {
        Ok(()) => r.line(Level::Ok, "data", format!("{} (writable)", dir.display())),
        Err(e) => {
            r.line(
                Level::Fail,
                "data",
                format!(
                    "{} is not writable ({e}): pass --data-dir DIR or set MACROHARD_DATA_DIR",
                    dir.display()
                ),
            );
            return;
        }
    }
    match crate::server::socket::socket_path(dir) {
        Ok(sock) => match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(_) => r.line(
                Level::Ok,
                "server",
                format!(
                    "running (pid {}) on {}",
                    crate::server::socket::server_pid(&sock).unwrap_or_else(|| "?".into()),
                    sock.display()
                ),
            ),
            Err(_) => r.line(
                Level::Ok,
                "server",
                format!(
                    "none running; `macrohard-tui` starts one on {}",
                    sock.display()
                ),
            ),
        },
        Err(e) => r.line(Level::Fail, "server", e.to_string()),
    }
    if !paths.store_dir().exists() {
        r.line(
            Level::Ok,
            "store",
            format!("{} (no runs yet)", paths.store_dir().display()),
        );
        return;
    }
    match crate::store::Store::open(&paths.store_dir()) {
        Ok(store) => {
            let n = store.runs().map(|v| v.len()).unwrap_or(0);
            r.line(
                Level::Ok,
                "store",
                format!("{} ({n} runs)", paths.store_dir().display()),
            );
        }
        Err(crate::store::StoreError::Locked { .. }) => r.line(
            Level::Ok,
            "store",
            format!(
                "{} is in use by a running macrohard-tui",
                paths.store_dir().display()
            ),
        ),
        Err(e) => r.line(Level::Fail, "store", e.to_string()),
    }
}

fn check_roles(r: &mut Report, paths: &Paths, config: &Config) -> Option<Roster> {
    let mut roster = match Roster::load(Some(&paths.prompts_dir())) {
        Ok(roster) => roster,
        Err(e) => {
            r.line(Level::Fail, "prompts", e.to_string());
            return None;
        }
    };
    for (name, role) in &config.roles {
        if let Err(e) = roster.configure(name, role.model.clone(), role.max_turns) {
            r.line(Level::Fail, "roles", format!("[roles.{name}]: {e}"));
        }
    }
    if let Err(e) = crate::engine::check_roster(&roster) {
        r.line(Level::Fail, "prompts", e.to_string());
    }
    let names: Vec<&str> = roster.names().collect();
    r.line(
        Level::Ok,
        "prompts",
        format!("{} roles: {}", names.len(), names.join(", ")),
    );
    let thinking: Vec<String> = config
        .roles
        .iter()
        .filter_map(|(name, role)| role.reasoning.map(|e| format!("{name} {}", e.as_str())))
        .collect();
    if !thinking.is_empty() {
        r.line(
            Level::Ok,
            "roles",
            format!("reasoning effort: {}", thinking.join(", ")),
        );
    }
    Some(roster)
}

/// The models a provider will be asked for: its own, and those of the roles it serves.
fn models_used(
    config: &Config,
    roster: Option<&Roster>,
    users: &[String],
    default: &str,
) -> BTreeSet<String> {
    let mut models = BTreeSet::from([default.to_owned()]);
    let Some(roster) = roster else { return models };
    let serves_run = users.iter().any(|u| u == "run");
    for name in roster.names() {
        let own = config.roles.get(name).and_then(|r| r.provider.as_ref());
        let served = match own {
            Some(_) => users.iter().any(|u| u == &format!("roles.{name}")),
            None => serves_run,
        };
        if served {
            if let Some(m) = roster.get(name).and_then(|r| r.model.clone()) {
                models.insert(m);
            }
        }
    }
    models
}

/// A model is known when the server lists it, under a tag (`llama3.2:latest`) or a dated
/// name (`claude-sonnet-4-5-20250929`).
fn known<'a>(listed: &'a [String], model: &str) -> Option<&'a str> {
    listed
        .iter()
        .find(|id| *id == model)
        .or_else(|| {
            listed.iter().find(|id| {
                id.strip_prefix(model).is_some_and(|rest| {
                    rest.starts_with(':')
                        || rest
                            .strip_prefix('-')
                            .is_some_and(|d| d.starts_with(|c: char| c.is_ascii_digit()))
                })
            })
        })
        .map(String::as_str)
}

async fn check_provider(
    r: &mut Report,
    config: &Config,
    roster: Option<&Roster>,
    users: &[String],
    resolved: Result<Resolved, super::config::ConfigError>,
) {
    let for_whom = users.join(", ");
    let resolved = match resolved {
        Ok(res) => res,
        Err(e) => {
            r.line(Level::Fail, "provider", format!("{e} (used by {for_whom})"));
            return;
        }
    };
    let (label, url, default_model) = match &resolved {
        Resolved::Sim { .. } => {
            r.line(
                Level::Ok,
                "sim",
                format!("the built-in simulated company (no network, no key), used by {for_whom}"),
            );
            return;
        }
        Resolved::Remote(remote) => {
            match &remote.key_source {
                KeySource::Env(var) => {
                    r.line(Level::Ok, &remote.endpoint.name, format!("key from ${var}"))
                }
                KeySource::ConfigFile => {
                    r.line(Level::Ok, &remote.endpoint.name, "key from the config file")
                }
                KeySource::Missing {
                    wanted,
                    required: true,
                } => {
                    let var = wanted.as_deref().unwrap_or("its key variable");
                    r.line(
                        Level::Fail,
                        &remote.endpoint.name,
                        format!(
                            "no API key: set {var} in the environment or api_key under [providers.{}]",
                            remote.endpoint.name
                        ),
                    );
                    return;
                }
                KeySource::Missing { .. } => r.line(
                    Level::Ok,
                    &remote.endpoint.name,
                    "no key (this server needs none)",
                ),
            }
            if remote.api == crate::cli::config::Api::Responses {
                r.line(
                    Level::Ok,
                    &remote.endpoint.name,
                    "speaks the Responses API (api = \"responses\")",
                );
            }
            (
                remote.endpoint.name.clone(),
                remote.endpoint.base_url.clone(),
                remote.endpoint.model.clone(),
            )
        }
    };
    let models = models_used(config, roster, users, &default_model);
    let built = match provider::build(config, resolved) {
        Ok(p) => p,
        Err(e) => {
            r.line(Level::Fail, &label, e.0);
            return;
        }
    };
    match built.models().await {
        Ok(Some(listed)) => {
            r.line(
                Level::Ok,
                &label,
                format!("{url} answers and accepts the key ({} models)", listed.len()),
            );
            for m in &models {
                match known(&listed, m) {
                    Some(id) if id == m => r.line(Level::Ok, &label, format!("model {m} is known")),
                    Some(id) => r.line(Level::Ok, &label, format!("model {m} is known as {id}")),
                    None => {
                        let some: Vec<&str> = listed.iter().take(5).map(String::as_str).collect();
                        r.line(
                            Level::Fail,
                            &label,
                            format!(
                                "model {m} is not among the {} models {url} serves (such as {}): fix --model, [run] model or [roles.NAME] model",
                                listed.len(),
                                some.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        Ok(None) => r.line(
            Level::Warn,
            &label,
            format!("{url} answers but does not list its models, so the model names were not checked"),
        ),
        Err(LlmError::Http {
            status: 401 | 403,
            message,
        }) => r.line(
            Level::Fail,
            &label,
            format!("{url} refused the key ({message}): check the key's variable or api_key under [providers.{label}]"),
        ),
        Err(LlmError::Connect(why) | LlmError::Timeout(why)) => {
            // The innermost cause says it best: "Connection refused (os error 111)".
            let why = why.rsplit(": ").next().unwrap_or(&why).to_owned();
            r.line(
                Level::Fail,
                &label,
                format!("cannot reach {url} ({why}). Is the server running? Fix the address with --base-url or [providers.{label}] base_url"),
            )
        }
        Err(e) => r.line(Level::Fail, &label, format!("{url}: {e}")),
    }
}

/// Bindings in `[keys]` that take a key another action had: by default (the other action
/// loses it) or from another `[keys]` entry (one of the two loses it).
fn key_conflicts(config: &Config) -> Vec<String> {
    use crate::tui::action::Action;
    use crate::tui::keymap::Keymap;
    use std::collections::BTreeMap;
    let keys: BTreeMap<String, Vec<String>> = config
        .keys
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect();
    let Ok(bound) = Keymap::with_overrides(&keys) else {
        // The control room's own check above has said what is wrong.
        return Vec::new();
    };
    let defaults = Keymap::default();
    let mut warnings = Vec::new();
    for action in Action::ALL {
        let now = bound.keys_for(action);
        let rebound = keys.contains_key(action.name());
        let lost: Vec<String> = if rebound {
            // Its own keys that another entry took.
            let own: Vec<String> = keys[action.name()]
                .iter()
                .filter_map(|k| crate::tui::keymap::Key::parse(k).ok())
                .map(|k| k.label())
                .collect();
            own.into_iter().filter(|k| !now.contains(k)).collect()
        } else {
            defaults
                .keys_for(action)
                .into_iter()
                .filter(|k| !now.contains(k))
                .collect()
        };
        for key in lost {
            let taker = Action::ALL
                .iter()
                .find(|a| **a != action && bound.keys_for(**a).contains(&key))
                .map(|a| a.name())
                .unwrap_or("another action");
            warnings.push(format!(
                "[keys] {taker} takes {key:?} from {}: {} is left with {}; bind it another key in [keys]",
                action.name(),
                action.name(),
                if now.is_empty() {
                    format!("no key (only :{})", action.name())
                } else {
                    now.join(", ")
                }
            ));
        }
    }
    warnings
}

fn check_terminal(r: &mut Report) {
    use crate::tui::theme::ColorDepth;
    use std::io::IsTerminal;
    let term = std::env::var("TERM").unwrap_or_else(|_| "(unset)".into());
    let depth = match ColorDepth::detect() {
        ColorDepth::TrueColor => "24-bit colour",
        ColorDepth::Ansi256 => "256 colours",
        ColorDepth::Ansi16 => "16 colours",
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let tty = if std::io::stdout().is_terminal() {
        "a terminal"
    } else {
        "not a terminal: run and resume print lines instead of the control room"
    };
    let colours = if no_color {
        "NO_COLOR is set: the mono theme".to_owned()
    } else {
        depth.to_owned()
    };
    r.line(
        Level::Ok,
        "terminal",
        format!("TERM={term}, {colours}; standard output is {tty}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_known_by_tag_and_by_date() {
        let listed = vec![
            "llama3.2:latest".to_owned(),
            "claude-sonnet-4-5-20250929".to_owned(),
            "gpt-4o".to_owned(),
        ];
        assert_eq!(known(&listed, "gpt-4o"), Some("gpt-4o"));
        assert_eq!(known(&listed, "llama3.2"), Some("llama3.2:latest"));
        assert_eq!(
            known(&listed, "claude-sonnet-4-5"),
            Some("claude-sonnet-4-5-20250929")
        );
        assert_eq!(known(&listed, "gpt-4"), None);
        assert_eq!(known(&listed, "llama3"), None);
        let minis = vec!["gpt-4o-mini".to_owned()];
        assert_eq!(
            known(&minis, "gpt-4o"),
            None,
            "a different model, not a date"
        );
    }
}
