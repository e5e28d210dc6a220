//! The hidden tests of a goal: copied into the workspace only after its run has ended, and run
//! there through the same sandboxed `run_command` the engine gives agents. The workspace is
//! hostile (a model wrote it): the tests' folder is made anew whatever stands in its place, no
//! file is written through a symlink, and the tests' command never runs outside the sandbox.

use super::goals::{Goal, GoalFile, HIDDEN_DIR};
use crate::tools::{CommandLimits, ToolCall, Tools, Workspace, sandbox};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// The lines of the tests' output a report keeps, at most.
const TAIL_LINES: usize = 30;
const TAIL_BYTES: usize = 4000;

/// What running the hidden tests gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestRun {
    /// The tests ran (they do unless the sandbox refuses commands here or they could not be
    /// put in place).
    pub ran: bool,
    /// They ran and the command exited 0.
    pub passed: bool,
    /// The command's first line: `exit code 0`, `exit code 1`, `timed out …`; or why the
    /// tests did not run.
    pub status: String,
    /// Tests run and tests that failed or errored, when the output says (unittest's summary).
    pub tests: Option<u64>,
    pub failed: Option<u64>,
    /// The end of the output.
    pub output_tail: String,
    pub secs: f64,
}

/// Removes whatever stands at `path` without following a symlink.
fn clear(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `files` under `dir`, creating each file anew (never through a symlink).
pub fn write_files(dir: &Path, files: &[GoalFile]) -> Result<(), String> {
    use std::io::Write;
    for f in files {
        let mut target = dir.to_owned();
        let parts: Vec<&str> = f.path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() || *part == "." || *part == ".." {
                return Err(format!("{}: not a plain relative path", f.path));
            }
            target.push(part);
            if i + 1 < parts.len() {
                match std::fs::symlink_metadata(&target) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(format!("{}: something is in the way", target.display())),
                    Err(_) => std::fs::create_dir(&target)
                        .map_err(|e| format!("cannot create {}: {e}", target.display()))?,
                }
            }
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        out.write_all(&f.bytes)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(())
}

/// Puts the hidden tests in `HIDDEN_DIR` of the workspace, replacing anything there.
fn place(root: &Path, tests: &[GoalFile]) -> Result<(), String> {
    let dir = root.join(HIDDEN_DIR);
    clear(&dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_files(&dir, tests)
}

/// The last lines of `text`, at most `TAIL_BYTES`.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    let mut t = lines[from..].join("\n");
    if t.len() > TAIL_BYTES {
        let mut cut = t.len() - TAIL_BYTES;
        while !t.is_char_boundary(cut) {
            cut += 1;
        }
        t = format!("…{}", &t[cut..]);
    }
    t
}

/// unittest's summary: (tests run, tests that failed or errored).
pub fn counts(output: &str) -> (Option<u64>, Option<u64>) {
    let ran = regex_lite::Regex::new(r"(?m)^Ran (\d+) tests? in ").ok();
    let tests = ran
        .and_then(|re| re.captures_iter(output).last())
        .and_then(|c| c[1].parse().ok());
    let Some(tests) = tests else {
        return (None, None);
    };
    let mut failed = 0;
    let summary = output
        .lines()
        .rev()
        .find(|l| l.starts_with("OK") || l.starts_with("FAILED"));
    match summary {
        Some(l) if l.starts_with("FAILED") => {
            if let Ok(re) = regex_lite::Regex::new(r"(failures|errors|unexpected successes)=(\d+)")
            {
                for c in re.captures_iter(l) {
                    failed += c[2].parse::<u64>().unwrap_or(0);
                }
            }
        }
        Some(_) => {}
        None => return (Some(tests), None),
    }
    (Some(tests), Some(failed))
}

/// Why commands cannot run here, when the sandbox is incomplete and `[sandbox] unsupported`
/// says to refuse them.
fn refused(limits: &CommandLimits) -> Option<String> {
    let s = sandbox::support();
    (limits.sandbox.enabled
        && !s.complete()
        && limits.sandbox.unsupported == sandbox::Unsupported::Deny)
        .then(|| {
            "not run: the sandbox is incomplete here and [sandbox] unsupported = \"deny\"".into()
        })
}

/// Copies the goal's hidden tests into the workspace at `root` and runs its test command in
/// the sandbox.
pub async fn run(
    root: &Path,
    goal: &Goal,
    limits: CommandLimits,
    stop: &CancellationToken,
) -> TestRun {
    let started = Instant::now();
    let not_run = |status: String| TestRun {
        status,
        ..TestRun::default()
    };
    if let Some(why) = refused(&limits) {
        return not_run(why);
    }
    let ws = match Workspace::open(root) {
        Ok(ws) => ws,
        Err(e) => return not_run(format!("not run: cannot open the workspace: {e}")),
    };
    if let Err(e) = place(ws.root(), &goal.tests) {
        return not_run(format!("not run: {e}"));
    }
    let args = serde_json::json!({"command": goal.test_command, "timeout_s": goal.test_timeout_s});
    let call = match ToolCall::parse("run_command", &args) {
        Ok(c) => c,
        Err(e) => return not_run(format!("not run: {e}")),
    };
    let tools = Tools::new(ws, limits);
    let result = tools.execute(&call, false, stop).await;
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(out) => {
            let (status, body) = out.text.split_once('\n').unwrap_or((&out.text, ""));
            let (tests, failed) = counts(body);
            TestRun {
                ran: true,
                passed: out.ok,
                status: status.trim().to_owned(),
                tests,
                failed,
                output_tail: tail(body),
                secs,
            }
        }
        Err(e) => TestRun {
            secs,
            ..not_run(format!("not run: {e}"))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unittest_summaries_are_read() {
        let ok = "test_a ... ok\n\n----\nRan 3 tests in 0.01s\n\nOK\n";
        assert_eq!(counts(ok), (Some(3), Some(0)));
        let bad = "----\nRan 8 tests in 0.001s\n\nFAILED (failures=2, errors=1)\n";
        assert_eq!(counts(bad), (Some(8), Some(3)));
        let one = "Ran 1 test in 0.000s\n\nOK (skipped=1)\n";
        assert_eq!(counts(one), (Some(1), Some(0)));
        assert_eq!(counts("ImportError: no module named x\n"), (None, None));
    }

    #[test]
    fn the_tail_keeps_the_end() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("line 70") && t.ends_with("line 99"), "{t}");
        let long = "é".repeat(5000);
        assert!(tail(&long).len() <= TAIL_BYTES + 3);
    }

    #[test]
    fn tests_replace_whatever_the_workspace_put_in_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        // A model made the tests' folder a symlink out of the workspace.
        std::os::unix::fs::symlink(outside.path(), root.join(HIDDEN_DIR)).unwrap();
        let tests = vec![GoalFile {
            path: "sub/test_x.py".into(),
            bytes: b"x".to_vec(),
        }];
        place(root, &tests).unwrap();
        assert!(root.join(HIDDEN_DIR).join("sub/test_x.py").is_file());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // And a file in the way, a second time.
        std::fs::remove_dir_all(root.join(HIDDEN_DIR)).unwrap();
        std::fs::write(root.join(HIDDEN_DIR), "fake").unwrap();
        place(root, &tests).unwrap();
        assert!(root.join(HIDDEN_DIR).is_dir());
    }
}
