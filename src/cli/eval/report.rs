//! What an eval found: one record per goal × seed, sums per goal and in total, as JSON (the
//! stable form) and as a table for people. Text that came from a run (reasons, output) is
//! sanitised before it reaches a terminal.

use super::hidden::TestRun;
use crate::domain::Budget;
use crate::domain::sanitize::{self, line as safe};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// One goal, one seed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attempt {
    pub goal: String,
    pub seed: u64,
    /// The run's id (`macrohard-tui show RUN`, `export RUN`); none when it could not start.
    pub run: Option<String>,
    pub workspace: String,
    /// The hidden tests passed.
    pub passed: bool,
    /// How the run ended for eval: `completed`, `failed`, `cancelled`, `waiting` (it paused
    /// for a person and eval stopped it there), `timeout`, `interrupted` or `error`.
    pub outcome: String,
    /// The run's own status and its reason.
    pub status: String,
    pub reason: String,
    /// What the run waited for, when it paused for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_for: Option<String>,
    pub tests: TestRun,
    pub provider: String,
    pub model: String,
    pub simulated: bool,
    /// As recorded: the sum of the priced requests.
    pub cost_usd: f64,
    /// Requests whose model has no known price (their cost is not in `cost_usd`).
    pub unpriced_requests: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Wall time of the run, from its start to its end (the hidden tests' own time is
    /// `tests.secs`); `active_secs` is its active time as recorded.
    pub secs: f64,
    pub active_secs: f64,
    /// LLM requests.
    pub turns: u64,
    /// Approval requests (granted by the eval actor; each would stop an attended run).
    pub approvals: u64,
    /// Questions for a person (`ask_human`).
    pub questions: u64,
    /// Times the run paused for a person (a budget, a stuck supervisor, a provider).
    pub run_pauses: u64,
    /// Pauses for a person: questions plus run pauses.
    pub pauses: u64,
    /// Times an agent was marked stuck.
    pub stuck: u64,
    pub tasks_done: u64,
    pub tasks: u64,
}

impl Attempt {
    pub fn new(goal: &str, seed: u64, workspace: &Path) -> Self {
        Self {
            goal: goal.to_owned(),
            seed,
            workspace: workspace.display().to_string(),
            ..Self::default()
        }
    }
}

/// Sums over some attempts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub runs: u64,
    pub passed: u64,
    /// `passed / runs`, from 0 to 1.
    pub pass_rate: f64,
    /// Runs that completed on their own (whether or not their tests passed).
    pub completed: u64,
    pub cost_usd: f64,
    pub unpriced_requests: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub secs: f64,
    pub turns: u64,
    pub approvals: u64,
    pub pauses: u64,
    pub stuck: u64,
}

impl Totals {
    pub fn of<'a>(attempts: impl IntoIterator<Item = &'a Attempt>) -> Self {
        let mut t = Totals::default();
        for a in attempts {
            t.runs += 1;
            t.passed += u64::from(a.passed);
            t.completed += u64::from(a.outcome == "completed");
            t.cost_usd += a.cost_usd;
            t.unpriced_requests += a.unpriced_requests;
            t.tokens_in += a.tokens_in;
            t.tokens_out += a.tokens_out;
            t.secs += a.secs;
            t.turns += a.turns;
            t.approvals += a.approvals;
            t.pauses += a.pauses;
            t.stuck += a.stuck;
        }
        if t.runs > 0 {
            t.pass_rate = t.passed as f64 / t.runs as f64;
        }
        t
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalTotals {
    pub goal: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// What the simulated company is, said wherever its numbers are shown.
pub const SIM_NOTE: &str = "simulated company: a stand-in, not a model (it builds its own small Python app whatever the goal, so most hidden tests fail; that is the honest result)";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: &'static str,
    pub suite: String,
    /// The suite's folder; `null` for the built-in suite.
    pub suite_dir: Option<String>,
    pub provider: String,
    pub model: String,
    pub simulated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    pub seeds: u64,
    /// Caps of each run (reaching one pauses the run, and eval stops it there).
    pub budget: Budget,
    pub started: String,
    /// Where the attempts' workspaces are.
    pub workspaces: String,
    /// Eval was stopped before every attempt ran.
    pub interrupted: bool,
    pub attempts: Vec<Attempt>,
    pub goals: Vec<GoalTotals>,
    pub total: Totals,
}

impl Report {
    /// Fills in the sums and what the runs say about the provider.
    pub fn finish(&mut self, goal_order: &[String]) {
        if let Some(first) = self.attempts.iter().find(|a| a.run.is_some()) {
            self.provider = first.provider.clone();
            self.model = first.model.clone();
            self.simulated = first.simulated;
        }
        self.note = self.simulated.then_some(SIM_NOTE);
        self.goals = goal_order
            .iter()
            .filter(|g| self.attempts.iter().any(|a| &a.goal == *g))
            .map(|g| GoalTotals {
                goal: g.clone(),
                totals: Totals::of(self.attempts.iter().filter(|a| &a.goal == g)),
            })
            .collect();
        self.total = Totals::of(&self.attempts);
    }

    /// The report as JSON, safe to print.
    pub fn json(&self) -> String {
        let raw = serde_json::to_string_pretty(self).unwrap_or_default();
        sanitize::json(&raw).into_owned()
    }

    /// The report as a table for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "macrohard-tui eval · suite {} · {}/{} · {} × {}",
            safe(&self.suite),
            safe(&self.provider),
            safe(&self.model),
            super::plural(self.goals.len() as u64, "goal"),
            super::plural(self.seeds, "seed"),
        );
        if let Some(note) = self.note {
            let _ = writeln!(out, "{note}");
        }
        let _ = writeln!(out, "workspaces: {}", safe(&self.workspaces));
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<16} {:>4}  {:<6} {:>7}  {:<11} {:>9} {:>8} {:>6} {:>9} {:>6} {:>5}  run",
            "goal",
            "seed",
            "result",
            "tests",
            "outcome",
            "cost",
            "time",
            "turns",
            "approvals",
            "pauses",
            "stuck"
        );
        for a in &self.attempts {
            let _ = writeln!(
                out,
                "{:<16} {:>4}  {:<6} {:>7}  {:<11} {:>9} {:>8} {:>6} {:>9} {:>6} {:>5}  {}",
                safe(&a.goal),
                a.seed,
                if a.passed { "PASS" } else { "FAIL" },
                tests_cell(&a.tests),
                safe(&a.outcome),
                usd(a.cost_usd, a.unpriced_requests),
                duration(a.secs),
                a.turns,
                a.approvals,
                a.pauses,
                a.stuck,
                safe(a.run.as_deref().unwrap_or("-")),
            );
        }
        if self.seeds > 1 {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{:<16} {:>9}  {:>9} {:>8} {:>6} {:>9} {:>6} {:>5}",
                "per goal", "passed", "cost", "time", "turns", "approvals", "pauses", "stuck"
            );
            for g in &self.goals {
                let t = &g.totals;
                let _ = writeln!(
                    out,
                    "{:<16} {:>9}  {:>9} {:>8} {:>6} {:>9} {:>6} {:>5}",
                    safe(&g.goal),
                    format!("{}/{}", t.passed, t.runs),
                    usd(t.cost_usd, t.unpriced_requests),
                    duration(t.secs),
                    t.turns,
                    t.approvals,
                    t.pauses,
                    t.stuck
                );
            }
        }
        self.notes(&mut out);
        out
    }

    /// The total, and the lines a reader needs to make sense of the rows.
    fn notes(&self, out: &mut String) {
        let t = &self.total;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "total: {} of {} passed ({:.0}%) · {} completed · {} · {} · {} turns · {} approvals · {} pauses · {} stuck",
            t.passed,
            t.runs,
            t.pass_rate * 100.0,
            t.completed,
            usd(t.cost_usd, t.unpriced_requests),
            duration(t.secs),
            t.turns,
            t.approvals,
            t.pauses,
            t.stuck
        );
        if t.unpriced_requests > 0 {
            let _ = writeln!(
                out,
                "cost: {} requests had no known price and are not counted (give the model a price under [prices] in the config)",
                t.unpriced_requests
            );
        }
        for a in self.attempts.iter().filter(|a| {
            matches!(
                a.outcome.as_str(),
                "waiting" | "timeout" | "error" | "interrupted"
            ) || !a.tests.ran
        }) {
            let why = a.waited_for.as_deref().unwrap_or(&a.reason);
            let tests = if a.tests.ran { "" } else { "; tests " };
            let status = if a.tests.ran {
                ""
            } else {
                a.tests.status.as_str()
            };
            let _ = writeln!(
                out,
                "{} seed {}: {}: {}{tests}{}",
                safe(&a.goal),
                a.seed,
                safe(&a.outcome),
                safe(why),
                safe(status)
            );
        }
        if self.interrupted {
            let _ = writeln!(
                out,
                "eval was interrupted: the goals after the last row did not run"
            );
        }
        let _ = writeln!(
            out,
            "a run's story: `macrohard-tui show RUN`, `macrohard-tui export RUN --format markdown`; its hidden tests' output is in the JSON report (--json FILE)"
        );
    }
}

/// `passed/run` of the hidden tests, `-` when they did not run, `?` when the output had no
/// summary.
fn tests_cell(t: &TestRun) -> String {
    match (t.ran, t.tests, t.failed) {
        (false, ..) => "-".into(),
        (true, Some(n), Some(f)) => format!("{}/{n}", n.saturating_sub(f)),
        (true, ..) => "?".into(),
    }
}

fn usd(cost: f64, unpriced: u64) -> String {
    let more = if unpriced > 0 { "+?" } else { "" };
    format!("${cost:.4}{more}")
}

fn duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let s = secs.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(goal: &str, passed: bool, cost: f64) -> Attempt {
        Attempt {
            goal: goal.into(),
            seed: 1,
            run: Some("01RUN".into()),
            passed,
            outcome: "completed".into(),
            cost_usd: cost,
            turns: 3,
            secs: 2.0,
            simulated: true,
            provider: "sim".into(),
            model: "sim-company".into(),
            tests: TestRun {
                ran: true,
                passed,
                tests: Some(4),
                failed: Some(if passed { 0 } else { 3 }),
                ..TestRun::default()
            },
            ..Attempt::default()
        }
    }

    fn report(attempts: Vec<Attempt>) -> Report {
        let mut r = Report {
            version: "0",
            suite: "default".into(),
            suite_dir: None,
            provider: String::new(),
            model: String::new(),
            simulated: false,
            note: None,
            seeds: 1,
            budget: Budget::default(),
            started: "now".into(),
            workspaces: "/w".into(),
            interrupted: false,
            attempts,
            goals: Vec::new(),
            total: Totals::default(),
        };
        r.finish(&["a".into(), "b".into()]);
        r
    }

    #[test]
    fn totals_add_up_and_the_table_says_so() {
        let r = report(vec![attempt("a", true, 0.5), attempt("b", false, 0.25)]);
        assert_eq!(r.total.runs, 2);
        assert_eq!(r.total.passed, 1);
        assert!((r.total.pass_rate - 0.5).abs() < 1e-9);
        assert!((r.total.cost_usd - 0.75).abs() < 1e-9);
        assert_eq!(r.goals.len(), 2);
        let t = r.table();
        assert!(t.contains(SIM_NOTE), "{t}");
        assert!(t.contains("total: 1 of 2 passed (50%)"), "{t}");
        assert!(t.contains("4/4") && t.contains("1/4"), "{t}");
        assert!(t.contains("$0.7500"), "{t}");
    }

    #[test]
    fn text_from_a_run_cannot_forge_lines_or_colours() {
        let mut a = attempt("a", false, 0.0);
        a.outcome = "waiting".into();
        a.waited_for = Some("budget\n\x1b[31mreached".into());
        let t = report(vec![a]).table();
        assert!(!t.contains('\x1b'), "{t:?}");
        assert!(
            t.lines()
                .any(|l| l.starts_with("a seed 1: waiting: budget")),
            "{t}"
        );
    }
}
