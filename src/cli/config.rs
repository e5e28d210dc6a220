//! The configuration file (`config.toml`), merged with environment variables and flags.
//! Unknown keys and wrong types are errors that name the file, the line and the key.

use crate::domain::{Autonomy, Budget};
use crate::llm::pricing::{Price, Prices};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = include_str!("default_config.toml");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub run: RunSection,
    #[serde(default)]
    pub budget: BudgetSection,
    #[serde(default)]
    pub sim: SimSection,
    #[serde(default)]
    pub tools: ToolsSection,
    /// When an agent counts as stuck.
    #[serde(default)]
    pub stuck: StuckSection,
    /// How `run_command` is confined.
    #[serde(default)]
    pub sandbox: crate::tools::sandbox::SandboxConfig,
    /// `[[policy]]` rules: allow, ask or deny by tool, command pattern or path, first match.
    #[serde(default)]
    pub policy: Vec<crate::domain::policy::Rule>,
    #[serde(default)]
    pub roles: BTreeMap<String, RoleSection>,
    /// Settings of named providers: the presets' or new ones.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSection>,
    /// USD per million tokens by model name (or prefix), over the built-in table.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    #[serde(default)]
    pub ui: UiSection,
    /// Key bindings: action name → key or keys.
    #[serde(default)]
    pub keys: BTreeMap<String, OneOrMany>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSection {
    pub theme: String,
    pub fps: u32,
}

impl Default for UiSection {
    fn default() -> Self {
        Self {
            theme: "dark".into(),
            fps: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    pub provider: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub concurrency: u32,
    pub max_attempts: u32,
    pub autonomy: Autonomy,
    pub snapshot_every: u64,
    pub goal: String,
    /// Run engines in the process that starts them, not in a server (`--foreground`).
    pub foreground: bool,
}

impl Default for RunSection {
    fn default() -> Self {
        Self {
            provider: "sim".into(),
            model: None,
            base_url: None,
            concurrency: 3,
            max_attempts: 2,
            autonomy: Autonomy::AskRisky,
            snapshot_every: 2_000,
            goal: DEMO_GOAL.into(),
            foreground: false,
        }
    }
}

pub const DEMO_GOAL: &str = "Build a command-line todo app";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    pub tokens: Option<u64>,
    pub usd: Option<f64>,
    pub turns: Option<u64>,
    pub wall_secs: Option<u64>,
    /// `[budget.task]`: what every task may spend.
    #[serde(default)]
    pub task: Limits,
    /// `[budget.roles.NAME]`: what all the agents of a role may spend together.
    #[serde(default)]
    pub roles: BTreeMap<String, Limits>,
}

/// The four limits of a budget, as the config writes them.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub tokens: Option<u64>,
    pub usd: Option<f64>,
    pub turns: Option<u64>,
    pub wall_secs: Option<u64>,
}

impl Limits {
    fn budget(self) -> Budget {
        Budget {
            tokens: self.tokens,
            usd: self.usd,
            turns: self.turns,
            wall_secs: self.wall_secs,
        }
    }
}

impl BudgetSection {
    pub fn budget(&self) -> Budget {
        Budget {
            tokens: self.tokens,
            usd: self.usd,
            turns: self.turns,
            wall_secs: self.wall_secs,
        }
    }

    /// The budgets per role and per task.
    pub fn budgets(&self) -> crate::domain::Budgets {
        crate::domain::Budgets {
            roles: self
                .roles
                .iter()
                .map(|(r, l)| (r.clone(), l.budget()))
                .filter(|(_, b)| !b.is_unlimited())
                .collect(),
            task: self.task.budget(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSection {
    pub speed: f64,
    pub seed: u64,
}

impl Default for SimSection {
    fn default() -> Self {
        Self {
            speed: 1.0,
            seed: 42,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsSection {
    pub command_timeout_s: u64,
    pub output_cap_bytes: usize,
}

impl Default for ToolsSection {
    fn default() -> Self {
        Self {
            command_timeout_s: 120,
            output_cap_bytes: 64 * 1024,
        }
    }
}

/// `[stuck]`: the thresholds of loop detection (see `engine::stuck`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StuckSection {
    pub window: Option<usize>,
    pub repeats: Option<usize>,
    pub alternations: Option<usize>,
    pub same_errors: Option<usize>,
    pub idle_steps: Option<u32>,
    pub replans: Option<usize>,
}

impl StuckSection {
    pub fn limits(&self) -> crate::engine::stuck::StuckLimits {
        let d = crate::engine::stuck::StuckLimits::default();
        crate::engine::stuck::StuckLimits {
            window: self.window.unwrap_or(d.window).max(2),
            repeats: self.repeats.unwrap_or(d.repeats).max(2),
            alternations: self.alternations.unwrap_or(d.alternations).max(2),
            same_errors: self.same_errors.unwrap_or(d.same_errors).max(2),
            idle_steps: self.idle_steps.unwrap_or(d.idle_steps).max(2),
            replans: self.replans.unwrap_or(d.replans).max(2),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSection {
    /// A provider of the role's own (a preset or a `[providers.NAME]`).
    pub provider: Option<String>,
    pub model: Option<String>,
    pub max_turns: Option<u32>,
}

/// `[providers.NAME]`: where a provider is, its key, and how patient to be with it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// `openai` or `anthropic`: the protocol (needed for names that are not presets).
    pub kind: Option<String>,
    pub base_url: Option<String>,
    /// The model used when neither the run nor the role names one.
    pub model: Option<String>,
    /// The environment variable holding the key.
    pub api_key_env: Option<String>,
    /// The key itself (keep the file private: chmod 600).
    pub api_key: Option<String>,
    pub anthropic_version: Option<String>,
    pub connect_timeout_s: Option<u64>,
    pub first_byte_timeout_s: Option<u64>,
    pub idle_timeout_s: Option<u64>,
    pub max_retries: Option<u32>,
    /// The longest `Retry-After` that is waited for; longer ones fail the step at once.
    pub max_retry_wait_s: Option<u64>,
    /// The model's context window in tokens, when the built-in table does not know it.
    pub context_window: Option<u64>,
}

/// A configuration problem, already phrased for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads `path`; a missing file is the default configuration unless `required`.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        // A FIFO or a device is refused at once, and a file over 1 MiB too: never a hang.
        let text = match crate::fsread::read_text(path, crate::fsread::TEXT_FILE_LIMIT) {
            Ok(t) => t,
            Err(e) if e.is_not_found() && !required => {
                return Ok(Self::default());
            }
            Err(e) => return Err(ConfigError(format!("cannot read the config file {e}"))),
        };
        let config =
            Self::parse(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        config
            .validate()
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        Ok(config)
    }

    /// Parses TOML text; errors say the line, the key and the fix.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| describe(text, &e))
    }

    fn validate(&self) -> Result<(), String> {
        if self.run.concurrency == 0 {
            return Err("key `run.concurrency` must be at least 1".into());
        }
        if self.run.max_attempts == 0 {
            return Err("key `run.max_attempts` must be at least 1".into());
        }
        if self.ui.fps == 0 || self.ui.fps > 240 {
            return Err("key `ui.fps` must be between 1 and 240".into());
        }
        if !(self.sim.speed >= 0.0 && self.sim.speed.is_finite()) {
            return Err("key `sim.speed` must be 0 (instant) or a positive number".into());
        }
        self.prices()?;
        for (name, p) in &self.providers {
            if p.context_window.is_some_and(|w| w < 1024) {
                return Err(format!(
                    "key `providers.{name}.context_window` must be at least 1024 tokens"
                ));
            }
        }
        Ok(())
    }

    /// The price table with this config's overrides.
    pub fn prices(&self) -> Result<Prices, String> {
        Prices::new(self.prices.clone())
    }

    /// True when a key sits in the config file itself.
    pub fn holds_keys(&self) -> bool {
        self.providers.values().any(|p| p.api_key.is_some())
    }
}

/// Turns a TOML error into `line N: key `a.b`: what is wrong. fix`.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_owned();
    let Some(span) = e.span() else { return msg };
    let start = span.start.min(text.len());
    let line_no = text.get(..start).unwrap_or("").matches('\n').count() + 1;
    let key = key_at(text, line_no);
    let fix = if msg.contains("unknown field") {
        "Remove it or fix its spelling; `macrohard-tui init` writes a commented config with every key."
    } else if msg.contains("invalid type")
        || msg.contains("invalid value")
        || msg.contains("unknown variant")
    {
        "Give it a value of the type shown; `macrohard-tui init` writes a commented config with every key."
    } else {
        "Fix the TOML syntax at that line."
    };
    match key {
        Some(k) => format!("line {line_no}: key `{k}`: {msg}. {fix}"),
        None => format!("line {line_no}: {msg}. {fix}"),
    }
}

/// The dotted key defined on a line, with the table it sits in.
fn key_at(text: &str, line_no: usize) -> Option<String> {
    let mut table = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') && !l.starts_with("[[") {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        }
        if i + 1 == line_no {
            if l.starts_with('[') {
                return Some(table);
            }
            let key = l.split('=').next()?.trim();
            if key.is_empty() || key.starts_with('#') {
                return None;
            }
            return Some(if table.is_empty() {
                key.to_owned()
            } else {
                format!("{table}.{key}")
            });
        }
    }
    None
}

/// Where the configuration and data live.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    /// True when the user named the config file (then it must exist).
    pub config_given: bool,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    /// `--foreground`: the engine runs in this process, not in a server.
    pub foreground: bool,
}

impl Paths {
    pub fn resolve(config: Option<PathBuf>, data: Option<PathBuf>) -> Result<Self, ConfigError> {
        let dirs = directories::ProjectDirs::from("", "", "macrohard");
        let default_config_dir = dirs.as_ref().map(|d| d.config_dir().to_owned());
        let config_given = config.is_some();
        let config_file =
            match config.or_else(|| default_config_dir.as_ref().map(|d| d.join("config.toml"))) {
                Some(p) => p,
                None => {
                    return Err(ConfigError(
                        "cannot find a home directory for the config; pass --config FILE".into(),
                    ));
                }
            };
        let config_dir = config_file
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let data_dir = match data.or_else(|| dirs.as_ref().map(|d| d.data_dir().to_owned())) {
            Some(p) => p,
            None => {
                return Err(ConfigError(
                    "cannot find a home directory for the data; pass --data-dir DIR".into(),
                ));
            }
        };
        Ok(Self {
            config_file,
            config_given,
            config_dir,
            data_dir,
            foreground: false,
        })
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    pub fn workspaces_dir(&self) -> PathBuf {
        self.data_dir.join("workspaces")
    }

    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("macrohard.log")
    }

    pub fn prompts_dir(&self) -> PathBuf {
        self.config_dir.join("prompts")
    }

    pub fn themes_dir(&self) -> PathBuf {
        self.config_dir.join("themes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_parses_and_matches_the_defaults() {
        let c = Config::parse(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.run.provider, "sim");
        assert_eq!(c.run.concurrency, RunSection::default().concurrency);
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_line_and_the_key() {
        let e = Config::parse("[run]\nconcurrency = 2\nprovdier = \"sim\"\n").unwrap_err();
        assert!(e.starts_with("line 3: key `run.provdier`"), "{e}");
        let e = Config::parse("[budget]\n\nusd = \"ten\"\n").unwrap_err();
        assert!(
            e.starts_with("line 3: key `budget.usd`") && e.contains("invalid type"),
            "{e}"
        );
        let e = Config::parse("[run]\nautonomy = \"yolo\"\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("run.autonomy"), "{e}");
        let e = Config::parse("[nope]\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("nope"), "{e}");
    }
}
