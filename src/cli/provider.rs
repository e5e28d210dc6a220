//! Choosing the provider from flags, environment and config.

use super::config::{ConfigError, SimSection};
use crate::llm::Provider;
use crate::llm::sim::{SimProvider, SimSpeed};
use std::sync::Arc;

const REMOTE: [&str; 8] = [
    "openai",
    "anthropic",
    "xai",
    "ollama",
    "openrouter",
    "vllm",
    "llamacpp",
    "lmstudio",
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
    sim: &SimSection,
) -> Result<Arc<dyn Provider>, ConfigError> {
    match name {
        "sim" => Ok(Arc::new(SimProvider::new(sim_speed(sim)?, model))),
        n if REMOTE.contains(&n) => Err(ConfigError(format!(
            "provider {n:?} is not available in this version yet; use --provider sim (the simulated company)"
        ))),
        other => Err(ConfigError(format!(
            "unknown provider {other:?} (expected sim, {})",
            REMOTE.join(", ")
        ))),
    }
}
