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
    /// Cached input tokens; the input price when not given.
    #[serde(default = "nan")]
    pub cached_input: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// Model name prefixes and their prices, most specific first.
const TABLE: &[(&str, Price)] = &[
    // The simulated company's nominal price, so budgets and gauges can be tried without a bill.
    (
        "sim-",
        Price {
            input: 1.0,
            output: 4.0,
            cached_input: 0.1,
        },
    ),
    (
        "gpt-4o-mini",
        Price {
            input: 0.15,
            output: 0.6,
            cached_input: 0.075,
        },
    ),
    (
        "gpt-4o",
        Price {
            input: 2.5,
            output: 10.0,
            cached_input: 1.25,
        },
    ),
    (
        "gpt-4.1-mini",
        Price {
            input: 0.4,
            output: 1.6,
            cached_input: 0.1,
        },
    ),
    (
        "gpt-4.1",
        Price {
            input: 2.0,
            output: 8.0,
            cached_input: 0.5,
        },
    ),
    (
        "claude-3-5-haiku",
        Price {
            input: 0.8,
            output: 4.0,
            cached_input: 0.08,
        },
    ),
    (
        "claude-sonnet-4",
        Price {
            input: 3.0,
            output: 15.0,
            cached_input: 0.3,
        },
    ),
    (
        "claude-opus-4",
        Price {
            input: 15.0,
            output: 75.0,
            cached_input: 1.5,
        },
    ),
    (
        "grok-3-mini",
        Price {
            input: 0.3,
            output: 0.5,
            cached_input: 0.075,
        },
    ),
    (
        "grok-3",
        Price {
            input: 3.0,
            output: 15.0,
            cached_input: 0.75,
        },
    ),
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
            for (what, v) in [
                ("input", p.input),
                ("output", p.output),
                ("cached_input", p.cached_input),
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
    let fresh = usage.input_tokens - cached;
    (fresh as f64 * p.input
        + cached as f64 * p.cached_input
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
            cached_tokens: 0,
        };
        assert_eq!(cost("gpt-4o-mini-2024-07-18", &u), Some(0.75));
        assert_eq!(cost("my-local-llama", &u), None);
        let cached = Usage {
            input_tokens: 1_000_000,
            output_tokens: 0,
            cached_tokens: 1_000_000,
        };
        assert_eq!(cost("sim-1", &cached), Some(0.1));
    }

    #[test]
    fn config_overrides_win_by_exact_name_then_longest_prefix() {
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            cached_tokens: 500_000,
        };
        let p = |input, output| Price {
            input,
            output,
            cached_input: f64::NAN,
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
