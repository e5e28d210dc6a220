//! Choosing the provider from flags, environment and config: `sim`, or a named preset for an
//! OpenAI-compatible server or Anthropic. `--base-url` overrides any preset's address. Keys come
//! from the environment and are never written anywhere.

use super::config::{ConfigError, SimSection};
use crate::llm::Provider;
use crate::llm::anthropic::{Anthropic, DEFAULT_VERSION};
use crate::llm::openai::OpenAi;
use crate::llm::retry::RetryPolicy;
use crate::llm::sim::{SimProvider, SimSpeed};
use std::sync::Arc;

/// name, base URL, key variable (required for the official address), default model.
const PRESETS: [(&str, &str, Option<&str>, &str); 8] = [
    (
        "openai",
        "https://api.openai.com/v1",
        Some("OPENAI_API_KEY"),
        "gpt-4o-mini",
    ),
    (
        "xai",
        "https://api.x.ai/v1",
        Some("XAI_API_KEY"),
        "grok-3-mini",
    ),
    ("ollama", "http://localhost:11434/v1", None, "llama3.2"),
    (
        "openrouter",
        "https://openrouter.ai/api/v1",
        Some("OPENROUTER_API_KEY"),
        "openai/gpt-4o-mini",
    ),
    (
        "vllm",
        "http://localhost:8000/v1",
        Some("VLLM_API_KEY"),
        "default",
    ),
    ("llamacpp", "http://localhost:8080/v1", None, "default"),
    ("lmstudio", "http://localhost:1234/v1", None, "local-model"),
    (
        "anthropic",
        "https://api.anthropic.com/v1",
        Some("ANTHROPIC_API_KEY"),
        "claude-sonnet-4-5",
    ),
];

/// The simulated company's pace: `MACROHARD_SIM_SPEED` over the config.
pub fn sim_speed(sim: &SimSection) -> Result<SimSpeed, ConfigError> {
    match std::env::var("MACROHARD_SIM_SPEED") {
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s >= 0.0 && s.is_finite() => Ok(SimSpeed(s)),
            _ => Err(ConfigError(format!(
                "MACROHARD_SIM_SPEED={v:?}: expected 0 (instant) or a positive number such as 1 or 10"
            ))),
        },
        Err(_) => Ok(SimSpeed(sim.speed)),
    }
}

pub fn build(
    name: &str,
    model: Option<String>,
    base_url: Option<String>,
    sim: &SimSection,
) -> Result<Arc<dyn Provider>, ConfigError> {
    if name == "sim" {
        return Ok(Arc::new(SimProvider::new(sim_speed(sim)?, model)));
    }
    let Some(&(_, default_url, key_var, default_model)) = PRESETS.iter().find(|p| p.0 == name)
    else {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
        return Err(ConfigError(format!(
            "unknown provider {name:?} (expected sim, {})",
            names.join(", ")
        )));
    };
    let custom = base_url.is_some();
    let url = base_url.unwrap_or_else(|| default_url.to_owned());
    let key = key_var
        .and_then(|v| std::env::var(v).ok())
        .filter(|k| !k.trim().is_empty());
    if let (Some(var), None, false) = (key_var, &key, custom) {
        if var != "VLLM_API_KEY" {
            return Err(ConfigError(format!(
                "provider {name} needs an API key: set {var} in the environment (or point --base-url at a server that needs none)"
            )));
        }
    }
    let model = model.unwrap_or_else(|| default_model.to_owned());
    let policy = RetryPolicy::default();
    let provider: Arc<dyn Provider> = if name == "anthropic" {
        let version = std::env::var("MACROHARD_ANTHROPIC_VERSION")
            .unwrap_or_else(|_| DEFAULT_VERSION.to_owned());
        Arc::new(
            Anthropic::new(&url, key, &model, &version, policy)
                .map_err(|e| ConfigError(e.to_string()))?,
        )
    } else {
        Arc::new(
            OpenAi::new(name, &url, key, &model, policy).map_err(|e| ConfigError(e.to_string()))?,
        )
    };
    Ok(provider)
}
