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
    /// How the store uses memory.
    #[serde(default)]
    pub store: StoreSection,
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

/// `[store]`: sled's page cache, the memory a process keeps for the store whatever the length
/// of the runs it reads or writes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    pub cache_mb: Option<u64>,
}

impl StoreSection {
    /// The store's options: `cache_mb` kept between 1 MiB and 64 GiB.
    pub fn options(&self) -> crate::store::StoreOptions {
        let d = crate::store::StoreOptions::default();
        crate::store::StoreOptions {
            cache_mb: self.cache_mb.unwrap_or(d.cache_mb).clamp(1, 64 << 10),
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
    /// The project's check, run on every merge into the run branch before it is accepted:
    /// a shell command, or "" for none. Unset: found from the project's layout.
    pub check: Option<String>,
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
            check: None,
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
    /// `low`, `medium` or `high`: OpenAI's reasoning effort, Anthropic's thinking budget.
    pub reasoning: Option<crate::domain::Effort>,
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
    /// OpenAI-compatible servers: `chat` (Chat Completions, the default) or `responses`
    /// (the Responses API, for models that need it).
    pub api: Option<Api>,
}

/// Which OpenAI API a provider speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    #[default]
    Chat,
    Responses,
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
        config.check().map_err(|(key, what)| {
            let at = key
                .as_deref()
                .and_then(|k| crate::fsread::toml_key_line(&text, k))
                .map(|n| format!(" line {n}"))
                .unwrap_or_default();
            let key = key.map(|k| format!(" key `{k}`")).unwrap_or_default();
            ConfigError(format!("{}{at}:{key} {what}", path.display()))
        })?;
        Ok(config)
    }

    /// Parses TOML text; errors say the line, the key and the fix.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| crate::fsread::describe_toml(text, &e, 1))
    }

    #[cfg(test)]
    fn validate(&self) -> Result<(), String> {
        self.check().map_err(|(key, what)| match key {
            Some(k) => format!("key `{k}` {what}"),
            None => what,
        })
    }

    /// Values the types allow but the program does not: the key (if one) and what is wrong.
    fn check(&self) -> Result<(), (Option<String>, String)> {
        let key = |k: &str, what: &str| Err((Some(k.to_owned()), what.to_owned()));
        if self.run.concurrency == 0 {
            return key("run.concurrency", "must be at least 1");
        }
        if self.run.max_attempts == 0 {
            return key("run.max_attempts", "must be at least 1");
        }
        if self.ui.fps == 0 || self.ui.fps > 240 {
            return key("ui.fps", "must be between 1 and 240");
        }
        if !(self.sim.speed >= 0.0 && self.sim.speed.is_finite()) {
            return key("sim.speed", "must be 0 (instant) or a positive number");
        }
        // Budgets: `usd: -1 is negative; …` becomes key `budget.usd`.
        let budget = |table: String, b: Budget| -> Result<(), (Option<String>, String)> {
            b.validate().map_err(|e| {
                let (field, what) = e.split_once(": ").unwrap_or(("", e.as_str()));
                (Some(format!("{table}.{field}")), what.to_owned())
            })
        };
        budget("budget".into(), self.budget.budget())?;
        budget("budget.task".into(), self.budget.task.budget())?;
        for (role, limits) in &self.budget.roles {
            budget(format!("budget.roles.{role}"), limits.budget())?;
        }
        self.prices().map_err(|e| (None, e))?;
        for (name, p) in &self.providers {
            if p.context_window.is_some_and(|w| w < 1024) {
                return Err((
                    Some(format!("providers.{name}.context_window")),
                    "must be at least 1024 tokens".into(),
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
    /// How the store is opened (`[store]` of the config).
    pub store: crate::store::StoreOptions,
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
            store: crate::store::StoreOptions::default(),
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

    #[test]
    fn negative_nan_and_absurd_budgets_name_the_file_the_line_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let cases = [
            (
                "[budget]\nusd = -1.0\n",
                "line 2: key `budget.usd`",
                "negative",
            ),
            (
                "[budget]\nusd = nan\n",
                "line 2: key `budget.usd`",
                "not a number",
            ),
            (
                "[budget]\nusd = inf\n",
                "line 2: key `budget.usd`",
                "largest",
            ),
            (
                "[run]\n\n[budget.task]\ntokens = 9000000000000\n",
                "line 4: key `budget.task.tokens`",
                "largest",
            ),
            (
                "[budget.roles.qa]\nturns = 3\nusd = 1e12\n",
                "line 3: key `budget.roles.qa.usd`",
                "largest",
            ),
        ];
        for (text, at, what) in cases {
            std::fs::write(&path, text).unwrap();
            let e = Config::load(&path, true).unwrap_err().0;
            assert!(e.contains("config.toml") && e.contains(at), "{text}: {e}");
            assert!(e.contains(what), "{text}: {e}");
        }
        std::fs::write(&path, "[run]\nconcurrency = 0\n").unwrap();
        let e = Config::load(&path, true).unwrap_err().0;
        assert!(e.contains("line 2: key `run.concurrency`"), "{e}");
        std::fs::write(&path, "[budget]\nusd = 2.5\n[budget.task]\ntokens = 1000\n").unwrap();
        Config::load(&path, true).unwrap();
    }

    #[test]
    fn a_config_that_is_not_utf8_or_has_a_bom_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, b"[run]\nprovider = \"s\xffm\"\n").unwrap();
        let e = Config::load(&path, true).unwrap_err().0;
        assert!(
            e.contains("config.toml line 2") && e.contains("UTF-8"),
            "{e}"
        );
        std::fs::write(&path, b"\xEF\xBB\xBF[run]\nconcurrency = 2\n").unwrap();
        assert_eq!(Config::load(&path, true).unwrap().run.concurrency, 2);
    }
}
