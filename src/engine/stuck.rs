//! Stuck and loop detection, per agent: the same call again and again, two calls in turn
//! (A-B-A-B), the same error again and again, steps that bring nothing new, and a supervisor
//! that plans the same task over and over. What it sees is said in words, for the person and
//! the supervisor.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};

/// When an agent counts as stuck. Every threshold can be set in the config (`[stuck]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckLimits {
    /// Recent tool calls looked at.
    pub window: usize,
    /// The same call (tool and arguments) this many times in the window.
    pub repeats: usize,
    /// This many A-B pairs in a row.
    pub alternations: usize,
    /// The same error this many times in a row.
    pub same_errors: usize,
    /// This many steps without a tool result not seen before.
    pub idle_steps: u32,
    /// The supervisor creates a task of the same title this many times.
    pub replans: usize,
}

impl Default for StuckLimits {
    fn default() -> Self {
        Self {
            window: 8,
            repeats: 3,
            alternations: 3,
            same_errors: 3,
            idle_steps: 10,
            replans: 3,
        }
    }
}

/// What one agent has done lately.
#[derive(Debug, Default, Clone)]
pub struct Watch {
    calls: VecDeque<(u64, String)>,
    errors: VecDeque<String>,
    results: HashSet<u64>,
    idle_steps: u32,
    planned: Vec<String>,
    /// Calls still to go before a loop may be flagged again (a fresh window after a person
    /// freed the agent).
    grace: usize,
    /// The latest call fell in the grace window: its result and step do too.
    graced: bool,
}

fn digest(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// A short description of a call for the reason.
fn label(name: &str, args: &Value) -> String {
    let a = args.to_string();
    let a: String = a.chars().take(60).collect();
    format!("{name} {a}")
}

impl Watch {
    /// The watch of an agent a person has just freed: nothing it did before counts, and no
    /// loop is flagged until it has filled a whole new window of calls.
    pub fn fresh(limits: &StuckLimits) -> Self {
        Self {
            grace: limits.window.max(2),
            ..Self::default()
        }
    }

    /// A tool call the agent asks for; `Some(pattern)` when it completes a loop.
    pub fn call(&mut self, name: &str, args: &Value, limits: &StuckLimits) -> Option<String> {
        let pattern = self.see_call(name, args, limits);
        self.graced = self.grace > 0;
        if self.graced {
            self.grace -= 1;
            return None;
        }
        pattern
    }

    fn see_call(&mut self, name: &str, args: &Value, limits: &StuckLimits) -> Option<String> {
        if name == "create_task" {
            let title = args["title"].as_str().unwrap_or("").trim().to_lowercase();
            if !title.is_empty() {
                self.planned.push(title.clone());
                let n = self.planned.iter().filter(|t| **t == title).count();
                if n >= limits.replans.max(2) {
                    return Some(format!(
                        "planned the task {:?} {n} times",
                        args["title"].as_str().unwrap_or("")
                    ));
                }
            }
        }
        let key = digest(&[name, &args.to_string()]);
        self.calls.push_back((key, label(name, args)));
        while self.calls.len() > limits.window.max(2) {
            self.calls.pop_front();
        }
        let same = self.calls.iter().filter(|(k, _)| *k == key).count();
        if same >= limits.repeats.max(2) {
            return Some(format!(
                "the same call {same} times in its last {} calls: {}",
                self.calls.len(),
                label(name, args)
            ));
        }
        let n = limits.alternations.max(2) * 2;
        if self.calls.len() >= n {
            let tail: Vec<&(u64, String)> = self.calls.iter().skip(self.calls.len() - n).collect();
            let (a, b) = (tail[0].0, tail[1].0);
            let alternating = a != b
                && tail
                    .iter()
                    .enumerate()
                    .all(|(i, (k, _))| *k == if i % 2 == 0 { a } else { b });
            if alternating {
                return Some(format!(
                    "alternating between two calls {} times: {} / {}",
                    n / 2,
                    tail[0].1,
                    tail[1].1
                ));
            }
        }
        None
    }

    /// A tool result; `Some(pattern)` when the same error keeps coming back.
    pub fn result(&mut self, ok: bool, text: &str, limits: &StuckLimits) -> Option<String> {
        let pattern = self.see_result(ok, text, limits);
        if self.graced { None } else { pattern }
    }

    fn see_result(&mut self, ok: bool, text: &str, limits: &StuckLimits) -> Option<String> {
        if self.results.insert(digest(&[text])) {
            self.idle_steps = 0;
        }
        if ok {
            self.errors.clear();
            return None;
        }
        let first: String = text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(160)
            .collect();
        self.errors.push_back(first.clone());
        while self.errors.len() > limits.same_errors.max(2) {
            self.errors.pop_front();
        }
        let n = self.errors.len();
        if n >= limits.same_errors.max(2) && self.errors.iter().all(|e| *e == first) {
            return Some(format!("the same error {n} times in a row: {first}"));
        }
        None
    }

    /// A step (one model turn) ended; `Some(pattern)` after too many without anything new.
    pub fn step(&mut self, limits: &StuckLimits) -> Option<String> {
        self.idle_steps += 1;
        if self.graced || self.grace > 0 {
            return None;
        }
        (self.idle_steps >= limits.idle_steps.max(2)).then(|| {
            format!(
                "{} steps without a tool result it had not seen before",
                self.idle_steps
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_call_again_and_again() {
        let l = StuckLimits::default();
        let mut w = Watch::default();
        let args = json!({"path": "a.py"});
        assert_eq!(w.call("read_file", &args, &l), None);
        assert_eq!(w.call("list_files", &json!({"path": "."}), &l), None);
        assert_eq!(w.call("read_file", &args, &l), None);
        let p = w.call("read_file", &args, &l).unwrap();
        assert!(
            p.contains("the same call 3 times") && p.contains("read_file"),
            "{p}"
        );
    }

    #[test]
    fn alternating_calls() {
        let l = StuckLimits {
            repeats: 99,
            ..StuckLimits::default()
        };
        let mut w = Watch::default();
        let (a, b) = (json!({"path": "a"}), json!({"path": "b"}));
        let mut seen = None;
        for _ in 0..3 {
            seen = seen.or(w.call("read_file", &a, &l));
            seen = seen.or(w.call("read_file", &b, &l));
        }
        assert!(
            seen.unwrap()
                .contains("alternating between two calls 3 times")
        );
    }

    #[test]
    fn the_same_error_and_no_progress() {
        let l = StuckLimits::default();
        let mut w = Watch::default();
        assert_eq!(w.result(false, "error: no such file\nmore", &l), None);
        assert_eq!(w.result(false, "error: no such file", &l), None);
        let p = w.result(false, "error: no such file", &l).unwrap();
        assert!(p.contains("the same error 3 times"), "{p}");
        assert_eq!(
            w.result(true, "fine", &l),
            None,
            "a success breaks the streak"
        );

        let mut idle = Watch::default();
        for _ in 0..9 {
            assert_eq!(idle.step(&l), None);
        }
        assert!(idle.step(&l).unwrap().contains("10 steps"));
        let mut busy = Watch::default();
        for i in 0..30 {
            busy.result(true, &format!("new output {i}"), &l);
            assert_eq!(busy.step(&l), None, "new results are progress");
        }
    }

    #[test]
    fn a_supervisor_that_plans_the_same_task_again() {
        let l = StuckLimits::default();
        let mut w = Watch::default();
        let t = |d: &str| json!({"title": "Write the tests", "description": d, "role": "qa"});
        assert_eq!(w.call("create_task", &t("one"), &l), None);
        assert_eq!(w.call("create_task", &t("two"), &l), None);
        let p = w.call("create_task", &t("three"), &l).unwrap();
        assert!(
            p.contains("planned the task \"Write the tests\" 3 times"),
            "{p}"
        );
    }

    #[test]
    fn a_freed_agent_gets_a_whole_new_window_before_the_same_loop_is_flagged() {
        let l = StuckLimits::default();
        let args = json!({"pattern": "TODO", "path": "app"});
        let mut w = Watch::fresh(&l);
        for i in 0..l.window {
            assert_eq!(w.call("search_files", &args, &l), None, "call {i}");
            assert_eq!(w.result(false, "error: same", &l), None, "result {i}");
            assert_eq!(w.step(&l), None, "step {i}");
        }
        let p = w.call("search_files", &args, &l).unwrap();
        assert!(p.contains("the same call"), "{p}");
    }

    #[test]
    fn ordinary_work_is_not_stuck() {
        let l = StuckLimits::default();
        let mut w = Watch::default();
        for i in 0..40 {
            let args = json!({"path": format!("f{i}.py"), "content": "x"});
            assert_eq!(w.call("write_file", &args, &l), None);
            assert_eq!(w.result(true, &format!("wrote f{i}.py"), &l), None);
            assert_eq!(w.step(&l), None);
        }
    }
}
