//! Stuck and loop detection, per agent: the same call with the same result again and again,
//! two calls in turn with the same results (A-B-A-B), the same error again and again, steps
//! that bring nothing new, and a supervisor that plans the same task over and over. What it
//! sees is said in words, for the person and the supervisor.
//!
//! A call alone is never a loop: test-driven work runs the same test command after every
//! edit, and each run says something new. Only a call whose result is also the same counts.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};

/// When an agent counts as stuck. Every threshold can be set in the config (`[stuck]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckLimits {
    /// Recent tool calls looked at.
    pub window: usize,
    /// The same call (tool and arguments) with the same result this many times in the window.
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
            repeats: 4,
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
    /// Recent calls with their results: (call and result, the call's label).
    calls: VecDeque<(u64, String)>,
    /// The call waiting for its result.
    pending: Option<(u64, String)>,
    errors: VecDeque<u64>,
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
        self.pending = Some((digest(&[name, &args.to_string()]), label(name, args)));
        None
    }

    /// The call just answered, with its result, against the recent ones.
    fn see_pair(&mut self, text: &str, limits: &StuckLimits) -> Option<String> {
        let (call, name) = self.pending.take()?;
        let key = digest(&[&call.to_string(), text]);
        self.calls.push_back((key, name.clone()));
        while self.calls.len() > limits.window.max(2) {
            self.calls.pop_front();
        }
        let same = self.calls.iter().filter(|(k, _)| *k == key).count();
        if same >= limits.repeats.max(2) {
            return Some(format!(
                "the same call with the same result {same} times in its last {} calls: {name}",
                self.calls.len(),
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
                    "alternating between two calls with the same results {} times: {} / {}",
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
        let call = self.pending.as_ref().map(|(_, name)| name.clone());
        let pair = self.see_pair(text, limits);
        if ok {
            self.errors.clear();
            return pair;
        }
        // The same error is the same output, not the same first line: every failing command
        // starts with "exit code 1".
        let whole = digest(&[text]);
        self.errors.push_back(whole);
        while self.errors.len() > limits.same_errors.max(2) {
            self.errors.pop_front();
        }
        let n = self.errors.len();
        if n >= limits.same_errors.max(2) && self.errors.iter().all(|e| *e == whole) {
            let first: String = text
                .lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with("exit code "))
                .unwrap_or_else(|| text.lines().next().unwrap_or(""))
                .chars()
                .take(160)
                .collect();
            let from = call.map(|c| format!(" from {c}")).unwrap_or_default();
            return Some(format!("the same error {n} times in a row{from}: {first}"));
        }
        pair
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

    /// One call and its result; the pattern either saw.
    fn act(
        w: &mut Watch,
        l: &StuckLimits,
        name: &str,
        args: &Value,
        ok: bool,
        out: &str,
    ) -> Option<String> {
        let a = w.call(name, args, l);
        let b = w.result(ok, out, l);
        a.or(b)
    }

    #[test]
    fn the_same_call_with_the_same_result_again_and_again() {
        let l = StuckLimits::default();
        let mut w = Watch::default();
        let args = json!({"path": "a.py"});
        assert_eq!(act(&mut w, &l, "read_file", &args, true, "x = 1"), None);
        assert_eq!(
            act(
                &mut w,
                &l,
                "list_files",
                &json!({"path": "."}),
                true,
                "a.py"
            ),
            None
        );
        assert_eq!(act(&mut w, &l, "read_file", &args, true, "x = 1"), None);
        assert_eq!(act(&mut w, &l, "read_file", &args, true, "x = 1"), None);
        let p = act(&mut w, &l, "read_file", &args, true, "x = 1").unwrap();
        assert!(
            p.contains("the same call with the same result 4 times") && p.contains("read_file"),
            "{p}"
        );
    }

    #[test]
    fn test_driven_work_runs_the_same_test_command_freely() {
        let l = StuckLimits::default();
        let mut w = Watch::default();
        let test = json!({"command": "pytest -q"});
        // Edit, test, edit, test: the test command again and again, its output new each time
        // (and twice the same failure, when an edit did not fix it).
        let runs = [
            (false, "exit code 1\nFAILED test_add - NameError: add"),
            (false, "exit code 1\nFAILED test_add - assert 3 == 4"),
            (false, "exit code 1\nFAILED test_add - assert 3 == 4"),
            (false, "exit code 1\nFAILED test_sub - NameError: sub"),
            (true, "exit code 0\n2 passed"),
            (false, "exit code 1\nFAILED test_mul - NameError: mul"),
            (true, "exit code 0\n3 passed"),
            (true, "exit code 0\n3 passed"),
        ];
        for (i, (ok, out)) in runs.iter().enumerate() {
            let edit =
                json!({"path": "calc.py", "old": format!("v{i}"), "new": format!("v{}", i + 1)});
            assert_eq!(
                act(
                    &mut w,
                    &l,
                    "edit_file",
                    &edit,
                    true,
                    &format!("edited calc.py ({i})")
                ),
                None,
                "edit {i}"
            );
            assert_eq!(
                act(&mut w, &l, "run_command", &test, *ok, out),
                None,
                "test {i}"
            );
            assert_eq!(w.step(&l), None, "step {i}");
        }
    }

    #[test]
    fn different_failing_commands_are_not_the_same_error() {
        let l = StuckLimits::default();
        let mut w = Watch::default();
        for (i, out) in [
            "exit code 1\nno module x",
            "exit code 1\nsyntax error",
            "exit code 1\n1 failed",
        ]
        .iter()
        .enumerate()
        {
            let c = json!({"command": format!("python3 t{i}.py")});
            assert_eq!(
                act(&mut w, &l, "run_command", &c, false, out),
                None,
                "{out}"
            );
        }
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
            seen = seen.or(act(&mut w, &l, "read_file", &a, true, "A"));
            seen = seen.or(act(&mut w, &l, "read_file", &b, true, "B"));
        }
        assert!(
            seen.unwrap()
                .contains("alternating between two calls with the same results 3 times")
        );
    }

    #[test]
    fn the_same_error_and_no_progress() {
        let l = StuckLimits::default();
        let mut w = Watch::default();
        assert_eq!(w.result(false, "error: no such file", &l), None);
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
        let p = act(&mut w, &l, "search_files", &args, false, "error: same").unwrap();
        assert!(p.contains("the same"), "{p}");
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
