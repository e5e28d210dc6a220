//! Choosing providers from flags, environment and config: `sim`, a named preset for an
//! OpenAI-compatible server or Anthropic, or a provider the config defines
//! (`[providers.NAME] kind = "openai"`). `--base-url` overrides any preset's address. Keys come
//! from the environment or the config file and are never written anywhere.

use super::config::{Api, Config, ConfigError, ProviderSection};
use crate::llm::anthropic::{Anthropic, DEFAULT_VERSION};
use crate::llm::openai::OpenAi;
use crate::llm::sim::{SimProvider, SimSpeed};
use crate::llm::{Endpoint, Provider, Providers, Secret};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OpenAi,
    Anthropic,
}

struct Preset {
    name: &'static str,
    kind: Kind,
    base_url: &'static str,
    key_var: Option<&'static str>,
    /// The official address refuses requests without a key.
    needs_key: bool,
    model: &'static str,
}

const PRESETS: [Preset; 8] = [
    Preset {
        name: "openai",
        kind: Kind::OpenAi,
        base_url: "https://api.openai.com/v1",
        key_var: Some("OPENAI_API_KEY"),
        needs_key: true,
        model: "gpt-4o-mini",
    },
    Preset {
        name: "xai",
        kind: Kind::OpenAi,
        base_url: "https://api.x.ai/v1",
        key_var: Some("XAI_API_KEY"),
        needs_key: true,
        model: "grok-3-mini",
    },
    Preset {
        name: "ollama",
        kind: Kind::OpenAi,
        base_url: "http://localhost:11434/v1",
        key_var: None,
        needs_key: false,
        model: "llama3.2",
    },
    Preset {
        name: "openrouter",
        kind: Kind::OpenAi,
        base_url: "https://openrouter.ai/api/v1",
        key_var: Some("OPENROUTER_API_KEY"),
        needs_key: true,
        model: "openai/gpt-4o-mini",
    },
    Preset {
        name: "vllm",
        kind: Kind::OpenAi,
        base_url: "http://localhost:8000/v1",
        key_var: Some("VLLM_API_KEY"),
        needs_key: false,
        model: "default",
    },
    Preset {
        name: "llamacpp",
        kind: Kind::OpenAi,
        base_url: "http://localhost:8080/v1",
        key_var: None,
        needs_key: false,
        model: "default",
    },
    Preset {
        name: "lmstudio",
        kind: Kind::OpenAi,
        base_url: "http://localhost:1234/v1",
        key_var: None,
        needs_key: false,
        model: "local-model",
    },
    Preset {
        name: "anthropic",
        kind: Kind::Anthropic,
        base_url: "https://api.anthropic.com/v1",
        key_var: Some("ANTHROPIC_API_KEY"),
        needs_key: true,
        model: "claude-sonnet-4-5",
    },
];

/// The names `--provider` accepts without a config section.
pub fn preset_names() -> Vec<&'static str> {
    std::iter::once("sim")
        .chain(PRESETS.iter().map(|p| p.name))
        .collect()
}

/// The simulated company's pace: `MACROHARD_SIM_SPEED` (`var`) over the config.
fn sim_speed(config: &Config, var: Option<String>) -> Result<SimSpeed, ConfigError> {
    match var {
        Some(v) => match v.trim().parse::<f64>() {
            Ok(s) if s >= 0.0 && s.is_finite() => Ok(SimSpeed(s)),
            _ => Err(ConfigError(format!(
                "MACROHARD_SIM_SPEED={v:?}: expected 0 (instant) or a positive number such as 1 or 10"
            ))),
        },
        None => Ok(SimSpeed(config.sim.speed)),
    }
}

/// What was asked for one provider: its name, and the model and address that override the
/// config's (from flags, the environment, or the run's record).
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub name: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Variables that override this process's environment: a client's, when a server starts
    /// a run for it (its keys are used for the run and kept nowhere).
    pub env: BTreeMap<String, String>,
}

impl Choice {
    fn var(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }
}

/// Where a key was found, or where it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env(String),
    ConfigFile,
    /// No key; `wanted` names the variable to set, `required` says the server needs one.
    Missing {
        wanted: Option<String>,
        required: bool,
    },
}

/// A remote provider resolved from presets, config and the choice, before it is built.
#[derive(Debug, Clone)]
pub struct Remote {
    pub kind: Kind,
    pub endpoint: Endpoint,
    pub anthropic_version: String,
    /// Chat Completions or the Responses API (OpenAI-compatible servers only).
    pub api: Api,
    pub key_source: KeySource,
}

/// A provider resolved and ready to build.
#[derive(Debug, Clone)]
pub enum Resolved {
    Sim {
        model: Option<String>,
        /// `MACROHARD_SIM_SPEED`, when set.
        speed: Option<String>,
    },
    Remote(Box<Remote>),
}

fn secs(s: Option<u64>, default: Duration) -> Duration {
    s.map_or(default, |s| Duration::from_secs(s.max(1)))
}

/// Resolves `choice` against the presets and `[providers.NAME]`.
pub fn resolve(config: &Config, choice: &Choice) -> Result<Resolved, ConfigError> {
    let name = choice.name.trim();
    let section = config.providers.get(name);
    if name == "sim" {
        return Ok(Resolved::Sim {
            model: choice.model.clone(),
            speed: choice.var("MACROHARD_SIM_SPEED"),
        });
    }
    let preset = PRESETS.iter().find(|p| p.name == name);
    let default = ProviderSection::default();
    let s = section.unwrap_or(&default);
    let kind = match (s.kind.as_deref(), preset) {
        (Some("openai"), _) => Kind::OpenAi,
        (Some("anthropic"), _) => Kind::Anthropic,
        (Some(other), _) => {
            return Err(ConfigError(format!(
                "[providers.{name}]: kind = {other:?} is not a protocol I speak; use \"openai\" (any OpenAI-compatible server) or \"anthropic\""
            )));
        }
        (None, Some(p)) => p.kind,
        (None, None) if section.is_some() => {
            return Err(ConfigError(format!(
                "[providers.{name}]: say which protocol it speaks with kind = \"openai\" or kind = \"anthropic\""
            )));
        }
        (None, None) => {
            return Err(ConfigError(format!(
                "unknown provider {name:?}: use one of {}, or define it in the config under [providers.{name}] with kind and base_url",
                preset_names().join(", ")
            )));
        }
    };
    let Some(base_url) = choice
        .base_url
        .clone()
        .or_else(|| s.base_url.clone())
        .or_else(|| preset.map(|p| p.base_url.to_owned()))
    else {
        return Err(ConfigError(format!(
            "[providers.{name}]: base_url is missing: where is the server? (for example \"http://localhost:8000/v1\")"
        )));
    };
    let url = reqwest::Url::parse(&base_url).map_err(|e| {
        ConfigError(format!(
            "provider {name}: base URL {base_url:?} is not a URL ({e}); write it like http://127.0.0.1:8000/v1"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError(format!(
            "provider {name}: base URL {base_url:?} must start with http:// or https://"
        )));
    }
    let official = preset.is_some_and(|p| p.base_url == base_url.trim_end_matches('/'));
    let var = s
        .api_key_env
        .clone()
        .or_else(|| preset.and_then(|p| p.key_var.map(str::to_owned)));
    let from_env = var
        .as_ref()
        .and_then(|v| choice.var(v))
        .filter(|k| !k.trim().is_empty());
    let (key, key_source) = match (from_env, &s.api_key) {
        (Some(k), _) => (
            Some(Secret::new(k.trim())),
            KeySource::Env(var.unwrap_or_default()),
        ),
        (None, Some(k)) if !k.trim().is_empty() => {
            (Some(Secret::new(k.trim())), KeySource::ConfigFile)
        }
        _ => (
            None,
            KeySource::Missing {
                wanted: var,
                required: official && preset.is_some_and(|p| p.needs_key),
            },
        ),
    };
    let model = choice
        .model
        .clone()
        .or_else(|| s.model.clone())
        .or_else(|| preset.map(|p| p.model.to_owned()))
        .ok_or_else(|| {
            ConfigError(format!(
                "provider {name}: which model? set model under [providers.{name}], [run] or --model"
            ))
        })?;
    let mut endpoint = Endpoint::new(name, &base_url, key, &model);
    let t = &mut endpoint.timeouts;
    t.connect = secs(s.connect_timeout_s, t.connect);
    t.first_byte = secs(s.first_byte_timeout_s, t.first_byte);
    t.idle = secs(s.idle_timeout_s, t.idle);
    if let Some(n) = s.max_retries {
        endpoint.retry.max_retries = n;
    }
    if let Some(w) = s.max_retry_wait_s {
        endpoint.retry.max_retry_after = Duration::from_secs(w);
    }
    endpoint.context_window = s.context_window;
    let api = s.api.unwrap_or_default();
    if api == Api::Responses && kind == Kind::Anthropic {
        return Err(ConfigError(format!(
            "[providers.{name}]: api = \"responses\" is an OpenAI API; an anthropic provider speaks the Messages API"
        )));
    }
    let anthropic_version = choice
        .var("MACROHARD_ANTHROPIC_VERSION")
        .or_else(|| s.anthropic_version.clone())
        .unwrap_or_else(|| DEFAULT_VERSION.to_owned());
    Ok(Resolved::Remote(Box::new(Remote {
        kind,
        endpoint,
        anthropic_version,
        api,
        key_source,
    })))
}

/// Builds a resolved provider; a required key that is missing is an error here.
pub fn build(config: &Config, resolved: Resolved) -> Result<Arc<dyn Provider>, ConfigError> {
    let r = match resolved {
        Resolved::Sim { model, speed } => {
            return Ok(Arc::new(SimProvider::new(sim_speed(config, speed)?, model)));
        }
        Resolved::Remote(r) => r,
    };
    if let KeySource::Missing {
        wanted,
        required: true,
    } = &r.key_source
    {
        let name = &r.endpoint.name;
        let set = wanted
            .as_deref()
            .map(|v| format!("set {v} in the environment, or "))
            .unwrap_or_default();
        return Err(ConfigError(format!(
            "provider {name} needs an API key: {set}put api_key under [providers.{name}] in the config (or point --base-url at a server that needs none)"
        )));
    }
    let built: Arc<dyn Provider> = match r.kind {
        Kind::OpenAi if r.api == Api::Responses => {
            Arc::new(OpenAi::responses(r.endpoint).map_err(|e| ConfigError(e.to_string()))?)
        }
        Kind::OpenAi => Arc::new(OpenAi::new(r.endpoint).map_err(|e| ConfigError(e.to_string()))?),
        Kind::Anthropic => Arc::new(
            Anthropic::new(r.endpoint, &r.anthropic_version)
                .map_err(|e| ConfigError(e.to_string()))?,
        ),
    };
    Ok(built)
}

/// Every provider a run uses: the run's own (`run`), and those the roles name. A role on the
/// run's provider shares it (and so its address and key).
pub fn providers(config: &Config, run: &Choice) -> Result<Providers, ConfigError> {
    let main = build(config, resolve(config, run)?)?;
    let mut built: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    built.insert(run.name.clone(), main.clone());
    let mut providers = Providers::new(main);
    for (role, section) in &config.roles {
        let Some(name) = section.provider.as_ref().filter(|n| **n != run.name) else {
            continue;
        };
        let p = match built.get(name) {
            Some(p) => p.clone(),
            None => {
                let choice = Choice {
                    name: name.clone(),
                    model: section.model.clone(),
                    base_url: None,
                    env: run.env.clone(),
                };
                let p = build(config, resolve(config, &choice)?)
                    .map_err(|e| ConfigError(format!("[roles.{role}]: {e}")))?;
                built.insert(name.clone(), p.clone());
                p
            }
        };
        providers = providers.with_role(role, p);
    }
    Ok(providers)
}

/// Every distinct provider the config and `run` would use, resolved but not built, with the
/// roles that use each: what `doctor` checks.
pub fn all(config: &Config, run: &Choice) -> Vec<(Vec<String>, Result<Resolved, ConfigError>)> {
    let mut out: Vec<(String, Vec<String>, Result<Resolved, ConfigError>)> =
        vec![(run.name.clone(), vec!["run".into()], resolve(config, run))];
    for (role, section) in &config.roles {
        let Some(name) = &section.provider else {
            continue;
        };
        if let Some(entry) = out.iter_mut().find(|e| &e.0 == name) {
            entry.1.push(format!("roles.{role}"));
            continue;
        }
        let choice = Choice {
            name: name.clone(),
            model: section.model.clone(),
            base_url: None,
            env: run.env.clone(),
        };
        out.push((
            name.clone(),
            vec![format!("roles.{role}")],
            resolve(config, &choice),
        ));
    }
    out.into_iter().map(|(_, who, r)| (who, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text).unwrap()
    }

    fn remote(r: Resolved) -> Remote {
        match r {
            Resolved::Remote(r) => *r,
            Resolved::Sim { .. } => panic!("sim"),
        }
    }

    #[test]
    fn presets_flags_and_sections_combine_in_order() {
        let c = config(
            "[providers.ollama]\nbase_url = \"http://gpu:11434/v1\"\nmodel = \"qwen3\"\nidle_timeout_s = 5\ncontext_window = 8192\nmax_retries = 1\n",
        );
        let r = remote(
            resolve(
                &c,
                &Choice {
                    name: "ollama".into(),
                    ..Choice::default()
                },
            )
            .unwrap(),
        );
        assert_eq!(r.kind, Kind::OpenAi);
        assert_eq!(r.endpoint.base_url, "http://gpu:11434/v1");
        assert_eq!(r.endpoint.model, "qwen3");
        assert_eq!(r.endpoint.timeouts.idle, Duration::from_secs(5));
        assert_eq!(r.endpoint.context_window, Some(8192));
        assert_eq!(r.endpoint.retry.max_retries, 1);
        assert_eq!(r.api, Api::Chat, "Chat Completions unless asked");
        let flagged = remote(
            resolve(
                &c,
                &Choice {
                    name: "ollama".into(),
                    model: Some("llama3.3".into()),
                    base_url: Some("http://127.0.0.1:9/v1".into()),
                    env: BTreeMap::new(),
                },
            )
            .unwrap(),
        );
        assert_eq!(flagged.endpoint.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(flagged.endpoint.model, "llama3.3");
    }

    #[test]
    fn custom_providers_need_a_kind_and_an_address() {
        let choice = |n: &str| Choice {
            name: n.into(),
            ..Choice::default()
        };
        let c = config(
            "[providers.groq]\nkind = \"openai\"\nbase_url = \"https://api.groq.com/openai/v1\"\napi_key = \"gsk-from-config\"\nmodel = \"llama-3.3-70b\"\n",
        );
        let r = remote(resolve(&c, &choice("groq")).unwrap());
        assert_eq!(r.key_source, KeySource::ConfigFile);
        assert_eq!(
            r.endpoint.key.as_ref().map(Secret::expose),
            Some("gsk-from-config")
        );
        assert!(
            !format!("{r:?}").contains("gsk-from-config"),
            "Debug hides the key"
        );
        let e = resolve(
            &config("[providers.x]\nbase_url = \"http://h/v1\"\n"),
            &choice("x"),
        )
        .unwrap_err();
        assert!(e.0.contains("kind = \"openai\""), "{e}");
        let e = resolve(&config("[providers.x]\nkind = \"grpc\"\n"), &choice("x")).unwrap_err();
        assert!(e.0.contains("not a protocol"), "{e}");
        let e = resolve(&config("[providers.x]\nkind = \"openai\"\n"), &choice("x")).unwrap_err();
        assert!(e.0.contains("base_url is missing"), "{e}");
        let c = config("[providers.openai]\napi = \"responses\"\n");
        assert_eq!(
            remote(resolve(&c, &choice("openai")).unwrap()).api,
            Api::Responses
        );
        let e = resolve(
            &config("[providers.anthropic]\napi = \"responses\"\n"),
            &choice("anthropic"),
        )
        .unwrap_err();
        assert!(e.0.contains("Messages API"), "{e}");
        assert!(Config::parse("[providers.openai]\napi = \"completions\"\n").is_err());
        let e = resolve(&Config::default(), &choice("nope")).unwrap_err();
        assert!(e.0.contains("unknown provider \"nope\""), "{e}");
        let bad = Choice {
            base_url: Some("localhost:8000".into()),
            ..choice("openai")
        };
        assert!(resolve(&Config::default(), &bad).is_err());
    }

    #[test]
    fn roles_may_route_to_their_own_provider() {
        let c = config(
            "[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n[roles.engineer]\nprovider = \"local\"\nmodel = \"coder\"\n[roles.qa]\nprovider = \"local\"\n",
        );
        let run = Choice {
            name: "sim".into(),
            ..Choice::default()
        };
        let p = providers(&c, &run).unwrap();
        assert!(p.default_provider().info().simulated);
        assert_eq!(p.for_role("engineer").info().name, "local");
        assert!(
            Arc::ptr_eq(p.for_role("engineer"), p.for_role("qa")),
            "one client"
        );
        assert!(p.for_role("architect").info().simulated);
        let checked = all(&c, &run);
        assert_eq!(checked.len(), 2);
        assert_eq!(checked[1].0, vec!["roles.engineer", "roles.qa"]);
    }
}
