//! A suite of goals, read from the built-in suite or from a directory. A goal is a folder:
//!
//! - `goal.toml`: `goal` (the text the run is given, word for word), and optionally
//!   `description` (one line), `test_command` and `test_timeout_s`;
//! - `tests/`: the hidden acceptance tests, copied into the workspace (as `eval_tests/`) only
//!   after the run has ended;
//! - `seed/` (optional): files the workspace starts with (a repository with a bug to fix);
//! - `solution/` (optional): a reference solution, never copied anywhere; it shows that the
//!   tests can pass.
//!
//! A suite is a folder of goal folders (files beside them, a README, are ignored), or one goal
//! folder on its own. Every mistake in a suite is one line naming the file and the fix.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the hidden tests go in the workspace, once the run has ended.
pub const HIDDEN_DIR: &str = "eval_tests";
/// What runs the hidden tests unless the goal says otherwise. Isolated (`-I`): the standard
/// library comes before the workspace on `sys.path`, so a `unittest.py` (or any module named
/// like one of the standard library's) that the model left in the workspace cannot stand in
/// for the real one and fake a pass; the workspace is appended, so the tests still import the
/// model's modules.
pub const DEFAULT_TEST_COMMAND: &str = "python3 -I -c \"import sys, unittest; sys.path.append('.'); unittest.main(module=None, argv=['unittest', 'discover', '-s', 'eval_tests', '-v'])\"";
const DEFAULT_TEST_TIMEOUT_S: u64 = 120;
/// The most files one goal may hold (a guard against pointing SUITE at a home directory).
const MAX_FILES: usize = 500;

/// A file of a goal: its path relative to `seed/` or `tests/`, with `/` between parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Goal {
    pub name: String,
    pub description: String,
    /// The goal given to the run.
    pub text: String,
    pub test_command: String,
    pub test_timeout_s: u64,
    pub seed: Vec<GoalFile>,
    pub tests: Vec<GoalFile>,
}

#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    /// The directory it was read from; `None` for the built-in suite.
    pub dir: Option<PathBuf>,
    pub goals: Vec<Goal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoalToml {
    goal: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    test_command: Option<String>,
    #[serde(default)]
    test_timeout_s: Option<u64>,
}

const LAYOUT: &str =
    "a goal folder holds goal.toml, tests/ (the hidden tests), and optionally seed/ and solution/";

/// Whether `name` may name a goal (it names workspace folders too).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A goal from its files, keyed by their path in the goal folder (`goal.toml`,
/// `tests/test_x.py`, …). `place` names the folder in messages.
pub fn goal_from_files(
    name: &str,
    place: &str,
    files: BTreeMap<String, Vec<u8>>,
) -> Result<Goal, String> {
    if !valid_name(name) {
        return Err(format!(
            "{place}: {name:?} cannot name a goal: use letters, digits, `-`, `_` and `.` (at most 64)"
        ));
    }
    let mut toml_text = None;
    let (mut seed, mut tests) = (Vec::new(), Vec::new());
    for (path, bytes) in files {
        let (top, rest) = path.split_once('/').unwrap_or((path.as_str(), ""));
        let file = || GoalFile {
            path: rest.to_owned(),
            bytes: bytes.clone(),
        };
        match (top, rest.is_empty()) {
            ("goal.toml", true) => toml_text = Some(bytes.clone()),
            ("seed", false) => seed.push(file()),
            ("tests", false) => tests.push(file()),
            ("solution", false) => {}
            _ => return Err(format!("{place}/{path}: not part of a goal ({LAYOUT})")),
        }
    }
    let Some(toml_bytes) = toml_text else {
        return Err(format!("{place}: no goal.toml ({LAYOUT})"));
    };
    let text =
        String::from_utf8(toml_bytes).map_err(|_| format!("{place}/goal.toml: not UTF-8 text"))?;
    let parsed: GoalToml = toml::from_str(&text).map_err(|e| {
        format!(
            "{place}/goal.toml: {}",
            crate::fsread::describe_toml(&text, &e, 1)
        )
    })?;
    if parsed.goal.trim().is_empty() {
        return Err(format!(
            "{place}/goal.toml: `goal` is empty: say what the company should build"
        ));
    }
    let test_command = parsed
        .test_command
        .unwrap_or_else(|| DEFAULT_TEST_COMMAND.to_owned());
    if test_command.trim().is_empty() {
        return Err(format!(
            "{place}/goal.toml: `test_command` is empty (leave it out for `{DEFAULT_TEST_COMMAND}`)"
        ));
    }
    let test_timeout_s = parsed.test_timeout_s.unwrap_or(DEFAULT_TEST_TIMEOUT_S);
    if !(1..=1800).contains(&test_timeout_s) {
        return Err(format!(
            "{place}/goal.toml: `test_timeout_s` = {test_timeout_s}: give 1 to 1800 seconds"
        ));
    }
    if tests.is_empty() {
        return Err(format!(
            "{place}/tests: no hidden tests; put the acceptance tests (Python unittest files named test_*.py) there"
        ));
    }
    if let Some(f) = seed.iter().find(|f| {
        let top = f.path.split('/').next().unwrap_or("");
        top == HIDDEN_DIR || top == ".git"
    }) {
        return Err(format!(
            "{place}/seed/{}: the seed may not hold {HIDDEN_DIR}/ or .git/ (the hidden tests go to {HIDDEN_DIR}/ after the run)",
            f.path
        ));
    }
    Ok(Goal {
        name: name.to_owned(),
        description: parsed
            .description
            .map(|d| d.trim().to_owned())
            .unwrap_or_default(),
        text: parsed.goal.trim().to_owned(),
        test_command,
        test_timeout_s,
        seed,
        tests,
    })
}

/// Every file under `dir`, keyed by its path relative to `root`. Hidden entries and
/// `__pycache__` are skipped; a symlink is refused (a suite is copied, not followed).
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut entries: Vec<_> = entries
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        let path = entry.path();
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.file_type().is_symlink() {
            return Err(format!(
                "{}: a symlink; a suite holds plain files and folders (copy the file in)",
                path.display()
            ));
        }
        if meta.is_dir() {
            walk(root, &path, out)?;
            continue;
        }
        if out.len() >= MAX_FILES {
            return Err(format!(
                "{}: more than {MAX_FILES} files in one goal; is SUITE the right folder?",
                root.display()
            ));
        }
        let bytes = crate::fsread::read_bytes(&path, crate::fsread::TEXT_FILE_LIMIT)
            .map_err(|e| e.to_string())?;
        let rel = path
            .strip_prefix(root)
            .map_err(|_| format!("{}: outside the suite", path.display()))?;
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        out.insert(rel.join("/"), bytes);
    }
    Ok(())
}

fn goal_from_dir(dir: &Path) -> Result<Goal, String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files)?;
    goal_from_files(&name, &dir.display().to_string(), files)
}

/// The suite SUITE names: `default` (built in) or a directory.
pub fn load(spec: &str) -> Result<Suite, String> {
    if spec == "default" {
        return super::builtin::suite();
    }
    let dir = PathBuf::from(spec);
    let meta = std::fs::metadata(&dir).map_err(|e| {
        format!("suite {spec}: {e}; give `default` for the built-in suite, or a folder of goals ({LAYOUT})")
    })?;
    if !meta.is_dir() {
        return Err(format!(
            "suite {spec}: not a folder; give `default` for the built-in suite, or a folder of goals ({LAYOUT})"
        ));
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("suite {spec}: {e}"))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.to_owned());
    if dir.join("goal.toml").exists() {
        let goal = goal_from_dir(&dir)?;
        return Ok(Suite {
            name,
            dir: Some(dir),
            goals: vec![goal],
        });
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("suite {spec}: {e}"))?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    let goals = subdirs
        .iter()
        .map(|d| goal_from_dir(d))
        .collect::<Result<Vec<_>, _>>()?;
    if goals.is_empty() {
        return Err(format!("suite {spec}: no goals in it ({LAYOUT})"));
    }
    Ok(Suite {
        name,
        dir: Some(dir),
        goals,
    })
}

impl Suite {
    /// Keeps only the goals `names` lists (all when it is empty); an unknown name is an error
    /// that lists the suite's goals.
    pub fn select(&mut self, names: &[String]) -> Result<(), String> {
        let names: Vec<&str> = names
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        if let Some(unknown) = names
            .iter()
            .find(|n| !self.goals.iter().any(|g| g.name == **n))
        {
            let known: Vec<&str> = self.goals.iter().map(|g| g.name.as_str()).collect();
            return Err(format!(
                "--goal {unknown}: suite {} has no such goal; its goals are {}",
                self.name,
                known.join(", ")
            ));
        }
        self.goals.retain(|g| names.contains(&g.name.as_str()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        list.iter()
            .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_goal_needs_its_toml_its_text_and_its_tests() {
        let ok = goal_from_files(
            "g",
            "s/g",
            files(&[
                ("goal.toml", "goal = \"Build it.\"\n"),
                ("tests/test_g.py", "import unittest\n"),
                ("seed/src/a.py", "x = 1\n"),
                ("solution/a.py", "x = 2\n"),
            ]),
        )
        .unwrap();
        assert_eq!(ok.text, "Build it.");
        assert_eq!(ok.test_command, DEFAULT_TEST_COMMAND);
        assert_eq!(ok.seed[0].path, "src/a.py");
        assert_eq!(ok.tests[0].path, "test_g.py");

        let err = |list: &[(&str, &str)]| goal_from_files("g", "s/g", files(list)).unwrap_err();
        assert!(err(&[("tests/t.py", "")]).contains("s/g: no goal.toml"));
        let e = err(&[("goal.toml", "goal = \"x\"\n"), ("notes.txt", "")]);
        assert!(e.contains("s/g/notes.txt: not part of a goal"), "{e}");
        let e = err(&[("goal.toml", "goal = \"x\"\n")]);
        assert!(e.contains("s/g/tests: no hidden tests"), "{e}");
        let e = err(&[("goal.toml", "gaol = \"x\"\n"), ("tests/t.py", "")]);
        assert!(e.contains("s/g/goal.toml") && e.contains("line 1"), "{e}");
        let e = err(&[("goal.toml", "goal = \"  \"\n"), ("tests/t.py", "")]);
        assert!(e.contains("`goal` is empty"), "{e}");
        let e = err(&[
            ("goal.toml", "goal = \"x\"\ntest_timeout_s = 0\n"),
            ("tests/t.py", ""),
        ]);
        assert!(e.contains("test_timeout_s"), "{e}");
        let e = err(&[
            ("goal.toml", "goal = \"x\"\n"),
            ("tests/t.py", ""),
            ("seed/eval_tests/t.py", ""),
        ]);
        assert!(e.contains("seed/eval_tests/t.py"), "{e}");
        let e = goal_from_files("bad name", "s", BTreeMap::new()).unwrap_err();
        assert!(e.contains("cannot name a goal"), "{e}");
    }

    #[test]
    fn select_keeps_the_named_goals_and_refuses_unknown_ones() {
        let mut suite = super::super::builtin::suite().unwrap();
        let all = suite.goals.len();
        assert!(all >= 8, "{all}");
        suite.select(&[]).unwrap();
        assert_eq!(suite.goals.len(), all);
        suite.select(&["roman".into(), " semver ".into()]).unwrap();
        let names: Vec<&str> = suite.goals.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["roman", "semver"]);
        let e = suite.select(&["nope".into()]).unwrap_err();
        assert!(
            e.contains("--goal nope") && e.contains("roman, semver"),
            "{e}"
        );
    }
}
