//! Budget arithmetic: what a run, agent or task may spend, and what it has spent.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Token usage of one or more LLM requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cached_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
    }
}

/// Limits. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Budget {
    pub tokens: Option<u64>,
    pub usd: Option<f64>,
    pub turns: Option<u64>,
    pub wall_secs: Option<u64>,
}

/// What has been spent against a budget.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Spend {
    pub tokens: u64,
    pub usd: f64,
    pub turns: u64,
    pub wall_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    Tokens,
    Usd,
    Turns,
    WallTime,
}

impl fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tokens => "tokens",
            Self::Usd => "USD",
            Self::Turns => "turns",
            Self::WallTime => "wall time (s)",
        })
    }
}

impl BudgetScope {
    /// An amount in this scope's unit: `$0.0023`, `12000 tokens`, `40 turns`, `600 s`.
    pub fn amount(self, v: f64) -> String {
        match self {
            Self::Usd if v < 1.0 => format!("${v:.4}"),
            Self::Usd => format!("${v:.2}"),
            Self::Tokens => format!("{v:.0} tokens"),
            Self::Turns => format!("{v:.0} turns"),
            Self::WallTime => format!("{v:.0} s of wall time"),
        }
    }
}

/// One limit that has been reached: which, the limit and the amount used (as f64 so USD fits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exceeded {
    pub scope: BudgetScope,
    pub limit: f64,
    pub used: f64,
}

impl Budget {
    /// The first limit that `spend` has reached, if any.
    pub fn exceeded(&self, spend: &Spend) -> Option<Exceeded> {
        let checks = [
            (
                BudgetScope::Tokens,
                self.tokens.map(|l| l as f64),
                spend.tokens as f64,
            ),
            (BudgetScope::Usd, self.usd, spend.usd),
            (
                BudgetScope::Turns,
                self.turns.map(|l| l as f64),
                spend.turns as f64,
            ),
            (
                BudgetScope::WallTime,
                self.wall_secs.map(|l| l as f64),
                spend.wall_secs as f64,
            ),
        ];
        checks.into_iter().find_map(|(scope, limit, used)| {
            limit
                .filter(|l| used >= *l)
                .map(|limit| Exceeded { scope, limit, used })
        })
    }

    /// Raise one limit to `value`.
    pub fn with(mut self, scope: BudgetScope, value: f64) -> Self {
        let v = value.max(0.0);
        match scope {
            BudgetScope::Tokens => self.tokens = Some(v as u64),
            BudgetScope::Usd => self.usd = Some(v),
            BudgetScope::Turns => self.turns = Some(v as u64),
            BudgetScope::WallTime => self.wall_secs = Some(v as u64),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_budget_is_never_exceeded() {
        let spend = Spend {
            tokens: u64::MAX,
            usd: 1e9,
            turns: 1 << 40,
            wall_secs: 1 << 40,
        };
        assert_eq!(Budget::default().exceeded(&spend), None);
    }

    #[test]
    fn reports_the_first_limit_reached() {
        let budget = Budget {
            tokens: Some(100),
            usd: Some(1.0),
            ..Budget::default()
        };
        let under = Spend {
            tokens: 99,
            usd: 0.5,
            ..Spend::default()
        };
        assert_eq!(budget.exceeded(&under), None);
        let over = Spend {
            tokens: 10,
            usd: 1.25,
            ..Spend::default()
        };
        let e = budget.exceeded(&over).map(|e| (e.scope, e.used));
        assert_eq!(e, Some((BudgetScope::Usd, 1.25)));
    }

    #[test]
    fn with_raises_one_limit() {
        let b = Budget::default().with(BudgetScope::Usd, 2.5);
        assert_eq!(b.usd, Some(2.5));
        assert_eq!(b.tokens, None);
    }
}
