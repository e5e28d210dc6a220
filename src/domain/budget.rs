//! Budget arithmetic: what a run, agent or task may spend, and what it has spent.

use super::ids::TaskId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Whose budget: the whole run, every agent of a role, or one task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BudgetTarget {
    #[default]
    Run,
    Role {
        role: String,
    },
    Task {
        task: TaskId,
    },
}

impl BudgetTarget {
    pub fn is_run(&self) -> bool {
        *self == BudgetTarget::Run
    }
}

impl fmt::Display for BudgetTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Run => f.write_str("run"),
            Self::Role { role } => write!(f, "role {role}"),
            Self::Task { task } => write!(f, "task {task}"),
        }
    }
}

/// The budgets below the run's: one per role, and one every task gets (unless a person set
/// that task its own).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Budgets {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, Budget>,
    #[serde(default, skip_serializing_if = "Budget::is_unlimited")]
    pub task: Budget,
}

/// Token usage of one or more LLM requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache (part of `input_tokens`).
    #[serde(default)]
    pub cached_tokens: u64,
    /// Input tokens written to the provider's prompt cache (part of `input_tokens`); Anthropic
    /// charges them above the input price.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
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

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = self.usd {
            parts.push(BudgetScope::Usd.amount(v));
        }
        if let Some(v) = self.tokens {
            parts.push(BudgetScope::Tokens.amount(v as f64));
        }
        if let Some(v) = self.turns {
            parts.push(BudgetScope::Turns.amount(v as f64));
        }
        if let Some(v) = self.wall_secs {
            parts.push(BudgetScope::WallTime.amount(v as f64));
        }
        if parts.is_empty() {
            f.write_str("unlimited")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
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
    /// The word `:budget` takes for this scope.
    pub fn word(self) -> &'static str {
        match self {
            Self::Usd => "usd",
            Self::Tokens => "tokens",
            Self::Turns => "turns",
            Self::WallTime => "secs",
        }
    }

    pub fn from_word(w: &str) -> Option<Self> {
        Some(match w {
            "usd" | "$" => Self::Usd,
            "tokens" => Self::Tokens,
            "turns" => Self::Turns,
            "secs" | "wall" => Self::WallTime,
            _ => return None,
        })
    }

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

/// The largest USD limit a budget may have: more is a typo, not a budget.
pub const MAX_USD: f64 = 1e9;
/// The largest token limit a budget may have.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;
/// The largest turn limit a budget may have.
pub const MAX_TURNS: u64 = 1_000_000_000;
/// The largest wall-time limit, in seconds (about 31 years).
pub const MAX_WALL_SECS: u64 = 1_000_000_000;

impl Budgets {
    /// Every role's budget and the task budget are [`Budget::validate`]d; the error names
    /// the scope (`role engineer: …`).
    pub fn validate(&self) -> Result<(), String> {
        for (role, b) in &self.roles {
            b.validate().map_err(|e| format!("role {role}: {e}"))?;
        }
        self.task.validate().map_err(|e| format!("task: {e}"))
    }
}

impl Budget {
    /// Refuses limits no one means: negative, not a number, infinite, or absurdly large
    /// (over [`MAX_USD`], [`MAX_TOKENS`], [`MAX_TURNS`], [`MAX_WALL_SECS`]). Every place a
    /// budget is set (config, flags, `:budget`, the socket) calls this.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(usd) = self.usd {
            if usd.is_nan() {
                return Err("usd: not a number; give an amount such as 2.50".into());
            }
            if usd < 0.0 {
                return Err(format!("usd: {usd} is negative; give 0 or more"));
            }
            if usd > MAX_USD {
                return Err(format!(
                    "usd: {usd} is more than the largest budget (1e9 USD); give a smaller amount"
                ));
            }
        }
        let whole = |name: &str, v: Option<u64>, max: u64| match v {
            Some(v) if v > max => Err(format!(
                "{name}: {v} is more than the largest budget ({max}); give a smaller amount"
            )),
            _ => Ok(()),
        };
        whole("tokens", self.tokens, MAX_TOKENS)?;
        whole("turns", self.turns, MAX_TURNS)?;
        whole("wall_secs", self.wall_secs, MAX_WALL_SECS)
    }

    pub fn is_unlimited(&self) -> bool {
        *self == Budget::default()
    }

    /// Each limit raised by the same limit of `initial` (the amount it started with); limits
    /// `initial` does not set are raised by their own amount.
    pub fn extended(&self, initial: &Budget) -> Budget {
        let add_u = |cur: Option<u64>, by: Option<u64>| cur.map(|c| c + by.unwrap_or(c).max(1));
        Budget {
            tokens: add_u(self.tokens, initial.tokens),
            usd: self
                .usd
                .map(|c| c + initial.usd.unwrap_or(c).max(0.000_001)),
            turns: add_u(self.turns, initial.turns),
            wall_secs: add_u(self.wall_secs, initial.wall_secs),
        }
    }

    /// `used of limit` for every limit set, e.g. `$0.12/$0.50 · 3/10 turns`.
    pub fn against(&self, spend: &Spend) -> String {
        let mut parts = Vec::new();
        if let Some(l) = self.usd {
            parts.push(format!("${:.2}/${l:.2}", spend.usd));
        }
        if let Some(l) = self.tokens {
            parts.push(format!("{}k/{}k tok", spend.tokens / 1000, l / 1000));
        }
        if let Some(l) = self.turns {
            parts.push(format!("{}/{l} turns", spend.turns));
        }
        if let Some(l) = self.wall_secs {
            parts.push(format!("{}/{l}s", spend.wall_secs));
        }
        parts.join(" · ")
    }

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
        // Turns are counted as a request starts: a limit of N lets N requests run, and the
        // next one is stopped. The others are reached as they are used up.
        checks.into_iter().find_map(|(scope, limit, used)| {
            limit
                .filter(|l| match scope {
                    BudgetScope::Turns => used > *l,
                    _ => used >= *l,
                })
                .map(|limit| Exceeded { scope, limit, used })
        })
    }

    /// Set one limit to `value`.
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
    fn negative_nan_infinite_and_absurd_budgets_are_refused() {
        let usd = |v: f64| Budget {
            usd: Some(v),
            ..Budget::default()
        };
        for bad in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2e9] {
            let e = usd(bad).validate().unwrap_err();
            assert!(e.starts_with("usd: "), "{e}");
        }
        assert!(usd(0.0).validate().is_ok());
        assert!(usd(1e9).validate().is_ok());
        let tokens = Budget {
            tokens: Some(MAX_TOKENS + 1),
            ..Budget::default()
        };
        assert!(tokens.validate().unwrap_err().starts_with("tokens: "));
        // `with` saturates a huge amount; validation still sees it.
        let huge = Budget::default().with(BudgetScope::Tokens, 1e30);
        assert!(huge.validate().is_err());
        let turns = Budget::default().with(BudgetScope::Turns, 1e10);
        assert!(turns.validate().unwrap_err().starts_with("turns: "));
        let mut budgets = Budgets::default();
        budgets.roles.insert("engineer".into(), usd(-2.0));
        let e = budgets.validate().unwrap_err();
        assert!(e.starts_with("role engineer: usd: "), "{e}");
        assert!(Budget::default().validate().is_ok());
    }

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
        let turns = Budget {
            turns: Some(3),
            ..Budget::default()
        };
        let third = Spend {
            turns: 3,
            ..Spend::default()
        };
        assert_eq!(
            turns.exceeded(&third),
            None,
            "the third of three turns runs"
        );
        let fourth = Spend {
            turns: 4,
            ..Spend::default()
        };
        assert!(turns.exceeded(&fourth).is_some());
    }

    #[test]
    fn extending_adds_the_initial_amount() {
        let initial = Budget {
            usd: Some(0.5),
            turns: Some(10),
            ..Budget::default()
        };
        let now = Budget {
            usd: Some(0.75),
            turns: Some(10),
            ..Budget::default()
        };
        let e = now.extended(&initial);
        assert_eq!((e.usd, e.turns, e.tokens), (Some(1.25), Some(20), None));
        let spend = Spend {
            usd: 0.3,
            turns: 4,
            ..Spend::default()
        };
        assert_eq!(e.against(&spend), "$0.30/$1.25 · 4/20 turns");
        assert_eq!(
            BudgetTarget::Task {
                task: TaskId::numbered(3)
            }
            .to_string(),
            "task T3"
        );
    }

    #[test]
    fn with_raises_one_limit() {
        let b = Budget::default().with(BudgetScope::Usd, 2.5);
        assert_eq!(b.usd, Some(2.5));
        assert_eq!(b.tokens, None);
    }
}
