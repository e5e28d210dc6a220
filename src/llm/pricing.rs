//! Prices in USD per million tokens. An unknown model's cost is unknown (`None`), never zero.

use crate::domain::Usage;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cached_input: f64,
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

pub fn price(model: &str) -> Option<Price> {
    TABLE
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map(|(_, p)| *p)
}

pub fn cost(model: &str, usage: &Usage) -> Option<f64> {
    let p = price(model)?;
    let cached = usage.cached_tokens.min(usage.input_tokens);
    let fresh = usage.input_tokens - cached;
    Some(
        (fresh as f64 * p.input
            + cached as f64 * p.cached_input
            + usage.output_tokens as f64 * p.output)
            / 1e6,
    )
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
}
