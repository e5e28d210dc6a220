//! Prices in USD per million tokens. An unknown model's cost is unknown (`None`), never zero.

use crate::domain::Usage;
use serde::Deserialize;
use std::collections::BTreeMap;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cached input tokens (cache reads); the input price when not given.
    #[serde(default = "nan")]
    pub cached_input: f64,
    /// Input tokens written to the cache (Anthropic: 1.25 times the input price); the input
    /// price when not given.
    #[serde(default = "nan")]
    pub cache_write: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// A price: input, output, cache reads, cache writes.
const fn p(input: f64, output: f64, cached_input: f64, cache_write: f64) -> Price {
    Price {
        input,
        output,
        cached_input,
        cache_write,
    }
}

/// Anthropic's prices: cache reads at a tenth of the input price, cache writes (5 minutes)
/// at 1.25 times.
const fn claude(input: f64, output: f64) -> Price {
    p(input, output, input / 10.0, input * 1.25)
}

/// OpenAI's (and xAI's) prices: caching is automatic and writes cost the input price.
const fn auto(input: f64, output: f64, cached_input: f64) -> Price {
    p(input, output, cached_input, input)
}

/// Model name prefixes and their prices, most specific first.
const TABLE: &[(&str, Price)] = &[
    // The simulated company's nominal price, so budgets and gauges can be tried without a bill.
    ("sim-", auto(1.0, 4.0, 0.1)),
    ("gpt-4o-mini", auto(0.15, 0.6, 0.075)),
    ("gpt-4o", auto(2.5, 10.0, 1.25)),
    ("gpt-4.1-mini", auto(0.4, 1.6, 0.1)),
    ("gpt-4.1", auto(2.0, 8.0, 0.5)),
    ("gpt-5-nano", auto(0.05, 0.4, 0.005)),
    ("gpt-5-mini", auto(0.25, 2.0, 0.025)),
    ("gpt-5", auto(1.25, 10.0, 0.125)),
    ("o4-mini", auto(1.1, 4.4, 0.275)),
    ("o3-mini", auto(1.1, 4.4, 0.55)),
    ("o3", auto(2.0, 8.0, 0.5)),
    ("claude-3-5-haiku", claude(0.8, 4.0)),
    ("claude-haiku-4", claude(1.0, 5.0)),
    ("claude-sonnet-4", claude(3.0, 15.0)),
    ("claude-opus-4-5", claude(5.0, 25.0)),
    ("claude-opus-4", claude(15.0, 75.0)),
    ("grok-3-mini", auto(0.3, 0.5, 0.075)),
    ("grok-3", auto(3.0, 15.0, 0.75)),
];

/// The built-in table with the config's overrides on top (`[prices."model"]`). An override
/// names a model exactly or, failing that, the longest prefix of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices {
    overrides: BTreeMap<String, Price>,
}

impl Prices {
    pub fn new(overrides: BTreeMap<String, Price>) -> Result<Self, String> {
        let mut checked = BTreeMap::new();
        for (model, mut p) in overrides {
            if p.cached_input.is_nan() {
                p.cached_input = p.input;
            }
            if p.cache_write.is_nan() {
                p.cache_write = p.input;
            }
            for (what, v) in [
                ("input", p.input),
                ("output", p.output),
                ("cached_input", p.cached_input),
                ("cache_write", p.cache_write),
            ] {
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(format!(
                        "prices.\"{model}\".{what} must be a number of USD per million tokens, 0 or more"
                    ));
                }
            }
            checked.insert(model, p);
        }
        Ok(Self { overrides: checked })
    }

    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.overrides.get(model) {
            return Some(*p);
        }
        let configured = self
            .overrides
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, p)| *p);
        configured.or_else(|| price(model))
    }

    /// USD for `usage` on `model`, or `None` when the price is unknown.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        Some(charge(self.price(model)?, usage))
    }
}

/// The built-in price of `model`.
pub fn price(model: &str) -> Option<Price> {
    TABLE
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map(|(_, p)| *p)
}

/// USD for `usage` at the built-in price of `model`, or `None` when it is unknown.
pub fn cost(model: &str, usage: &Usage) -> Option<f64> {
    Some(charge(price(model)?, usage))
}

fn charge(p: Price, usage: &Usage) -> f64 {
    let cached = usage.cached_tokens.min(usage.input_tokens);
    let written = usage.cache_write_tokens.min(usage.input_tokens - cached);
    let fresh = usage.input_tokens - cached - written;
    (fresh as f64 * p.input
        + cached as f64 * p.cached_input
        + written as f64 * p.cache_write
        + usage.output_tokens as f64 * p.output)
        / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_are_priced_and_unknown_ones_are_not() {
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            ..Usage::default()
        };
        assert_eq!(cost("gpt-4o-mini-2024-07-18", &u), Some(0.75));
        assert_eq!(cost("my-local-llama", &u), None);
        let cached = Usage {
            input_tokens: 1_000_000,
            output_tokens: 0,
            cached_tokens: 1_000_000,
            ..Usage::default()
        };
        assert_eq!(cost("sim-1", &cached), Some(0.1));
    }

    #[test]
    fn anthropic_cache_reads_are_cheaper_and_writes_dearer_than_input() {
        let mix = Usage {
            input_tokens: 3_000_000,
            output_tokens: 0,
            cached_tokens: 1_000_000,
            cache_write_tokens: 1_000_000,
        };
        // 1M fresh at 3, 1M read at 0.3, 1M written at 3.75.
        let c = cost("claude-sonnet-4-5", &mix).unwrap();
        assert!((c - 7.05).abs() < 1e-9, "{c}");
        // More writes than the input leaves are never charged twice.
        let odd = Usage {
            input_tokens: 100,
            output_tokens: 0,
            cached_tokens: 80,
            cache_write_tokens: 500,
        };
        assert!(cost("claude-sonnet-4-5", &odd).unwrap() > 0.0);
        assert_eq!(price("claude-opus-4-5-20251101").unwrap().input, 5.0);
        assert_eq!(price("claude-opus-4-1").unwrap().input, 15.0);
        assert_eq!(price("o3-mini").unwrap().input, 1.1);
    }

    #[test]
    fn config_overrides_win_by_exact_name_then_longest_prefix() {
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            cached_tokens: 500_000,
            ..Usage::default()
        };
        let p = |input, output| Price {
            input,
            output,
            cached_input: f64::NAN,
            cache_write: f64::NAN,
        };
        let prices = Prices::new(BTreeMap::from([
            ("my-local".to_owned(), p(0.0, 0.0)),
            ("gpt-4o".to_owned(), p(1.0, 1.0)),
            ("gpt-4o-mini".to_owned(), p(2.0, 2.0)),
        ]))
        .unwrap();
        assert_eq!(
            prices.cost("my-local-llama", &u),
            Some(0.0),
            "free, not unknown"
        );
        assert_eq!(
            prices.cost("gpt-4o-mini-2024", &u),
            Some(4.0),
            "longest prefix"
        );
        assert_eq!(prices.cost("gpt-4o-2024", &u), Some(2.0));
        assert_eq!(
            prices.cost("claude-opus-4-1", &u),
            cost("claude-opus-4-1", &u)
        );
        assert_eq!(prices.cost("unknown", &u), None);
        let bad = Prices::new(BTreeMap::from([("m".to_owned(), p(-1.0, 0.0))]));
        assert!(bad.unwrap_err().contains("prices.\"m\".input"));
    }
}
