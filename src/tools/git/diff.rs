//! A task's changes as one unified diff, for a person to review in the control room.
//!
//! While the task's worktree exists, the diff is from the commit its branch started at to the
//! files in the worktree as they are now, untracked (not ignored) files included: a temporary
//! index in a private directory is filled from the worktree (`read-tree HEAD`, `add -A`) and
//! compared with the base. The worktree's own index, HEAD and branch are never touched. Once
//! the worktree is gone, the diff is `base..tip` in the repository.
//!
//! Everything runs through the hardened `git` of this module's parent: no hook, filter, diff
//! driver, pager or config of the repository's runs, and no colour or external diff is asked.

use super::{git, run};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The most diff text kept; past it the text is cut at a line end and a note says so.
pub const MAX_DIFF_BYTES: usize = 4 * 1024 * 1024;

/// The note that ends a diff cut at [`MAX_DIFF_BYTES`].
pub const CUT_NOTE: &str = "\\ macrohard: the diff is cut here: it is larger than 4 MiB";

/// The unified diff of a task's work: `base` against its worktree's files when `worktree`
/// exists, else `base..tip` in `repo`.
pub fn task_diff(
    repo: &Path,
    worktree: Option<&Path>,
    base: &str,
    tip: Option<&str>,
) -> Result<String, String> {
    let base = revision(base)?;
    match worktree.filter(|w| w.is_dir()) {
        Some(wt) => worktree_diff(wt, base),
        None => {
            let tip = tip.ok_or_else(|| {
                "its worktree is gone and its branch has no commit to compare".to_owned()
            })?;
            let tip = revision(tip)?;
            let mut c = git(repo);
            diff_args(&mut c).arg(format!("{base}..{tip}")).arg("--");
            capped(c)
        }
    }
}

/// `base` against the worktree's files, through a temporary index.
fn worktree_diff(wt: &Path, base: &str) -> Result<String, String> {
    let tmp = PrivateDir::new()?;
    let index = tmp.0.join("index");
    let with_index = |args: &[&str]| {
        let mut c = git(wt);
        c.env("GIT_INDEX_FILE", &index).args(args);
        c
    };
    run(with_index(&["read-tree", "HEAD"]), "read-tree")?;
    run(with_index(&["add", "-A"]), "add")?;
    let mut c = with_index(&[]);
    diff_args(&mut c).args(["--cached", base, "--"]);
    capped(c)
}

fn diff_args(c: &mut Command) -> &mut Command {
    // Paths with letters beyond ASCII stay readable; control characters are still quoted.
    c.args(["-c", "core.quotePath=false", "diff"]).args([
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "-M",
    ])
}

/// A commit or ref name as git's argument: never an option.
fn revision(r: &str) -> Result<&str, String> {
    let ok = !r.is_empty()
        && r.len() <= 256
        && !r.starts_with('-')
        && !r.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(r)
    } else {
        Err(format!(
            "{:?} is not a commit to compare with",
            crate::domain::sanitize::line(r)
        ))
    }
}

/// Runs `c` and keeps at most [`MAX_DIFF_BYTES`] of its output; a longer one is cut at a line
/// end, ends with [`CUT_NOTE`], and git is stopped.
fn capped(mut c: Command) -> Result<String, String> {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git (diff): {e}; is git installed?"))?;
    // Read stderr alongside, so a chatty git never blocks on a full pipe.
    let stderr = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = (&mut s).take(64 * 1024).read_to_string(&mut text);
            text
        })
    });
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_DIFF_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot read git's diff: {e}"))?;
    }
    let cut = out.len() > MAX_DIFF_BYTES;
    if cut {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| format!("git diff did not finish: {e}"))?;
    let err = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    if !cut && !status.success() {
        return Err(format!("git diff failed: {}", err.trim()));
    }
    if cut {
        let end = out[..MAX_DIFF_BYTES]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        out.truncate(end);
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if cut {
        text.push_str(CUT_NOTE);
        text.push('\n');
    }
    Ok(text)
}

/// A directory only this user can enter, removed with everything in it when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt;
        let tmp = std::env::temp_dir();
        let mut last = String::new();
        for _ in 0..8 {
            let dir = tmp.join(format!(
                "macrohard-review-{}-{:016x}",
                std::process::id(),
                fastrand::u64(..)
            ));
            // `create` fails on a name that exists: never a directory someone else made.
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("cannot make a temporary directory: {last}"))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sh(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A repository with one commit, and a linked worktree on a branch of its own.
    fn repo_with_worktree(dir: &Path) -> (PathBuf, PathBuf, String) {
        let repo = dir.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        sh(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(repo.join("gone.txt"), "bye\n").unwrap();
        std::fs::write(repo.join(".gitignore"), "*.log\n").unwrap();
        sh(&repo, &["add", "-A"]);
        sh(&repo, &["commit", "-q", "-m", "base"]);
        let base = sh(&repo, &["rev-parse", "HEAD"]);
        let wt = dir.join("wt");
        sh(
            &repo,
            &["worktree", "add", "-q", "-b", "task", wt.to_str().unwrap()],
        );
        (repo, wt, base)
    }

    #[test]
    fn a_worktree_diff_shows_untracked_files_and_leaves_the_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, wt, base) = repo_with_worktree(dir.path());
        std::fs::write(wt.join("a.txt"), "one\nTWO\nthree\n").unwrap();
        std::fs::write(wt.join("new.txt"), "fresh\n").unwrap();
        std::fs::write(wt.join("noise.log"), "ignored\n").unwrap();
        std::fs::remove_file(wt.join("gone.txt")).unwrap();
        let status_before = sh(&wt, &["status", "--porcelain"]);
        let text = task_diff(&repo, Some(&wt), &base, None).unwrap();
        assert!(text.contains("diff --git a/a.txt b/a.txt"), "{text}");
        assert!(text.contains("-two\n+TWO\n"), "{text}");
        assert!(text.contains("b/new.txt\nnew file mode"), "{text}");
        assert!(text.contains("+fresh\n"), "{text}");
        assert!(text.contains("deleted file mode"), "{text}");
        assert!(
            !text.contains("noise.log"),
            "ignored files stay out: {text}"
        );
        assert!(!text.contains("\u{1b}["), "no colour: {text}");
        // Nothing was staged in the worktree's own index.
        assert_eq!(sh(&wt, &["status", "--porcelain"]), status_before);
        assert_eq!(sh(&wt, &["diff", "--cached", "--name-only"]), "");
    }

    #[test]
    fn without_a_worktree_the_diff_is_base_to_tip() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, wt, base) = repo_with_worktree(dir.path());
        std::fs::write(wt.join("a.txt"), "one\ntwo\nthree\nfour\n").unwrap();
        sh(&wt, &["commit", "-q", "-am", "four"]);
        let tip = sh(&wt, &["rev-parse", "HEAD"]);
        // Uncommitted work in the worktree is not in a `base..tip` diff.
        std::fs::write(wt.join("later.txt"), "later\n").unwrap();
        let gone = dir.path().join("removed-worktree");
        let text = task_diff(&repo, Some(&gone), &base, Some(&tip)).unwrap();
        assert!(text.contains("+four\n"), "{text}");
        assert!(!text.contains("later.txt"), "{text}");
        let none = task_diff(&repo, None, &base, None).unwrap_err();
        assert!(none.contains("no commit"), "{none}");
        let evil = task_diff(&repo, None, "--output=/tmp/x", Some(&tip)).unwrap_err();
        assert!(evil.contains("not a commit"), "{evil}");
    }

    #[test]
    fn programs_the_repository_names_never_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (repo, wt, base) = repo_with_worktree(dir.path());
        let marks = dir.path().join("marks");
        std::fs::create_dir_all(&marks).unwrap();
        let evil = dir.path().join("evil.sh");
        std::fs::write(
            &evil,
            format!("#!/bin/sh\ntouch '{}/ran'\ncat\n", marks.display()),
        )
        .unwrap();
        std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
        let evil = evil.display().to_string();
        for (key, value) in [
            ("diff.evil.textconv", evil.as_str()),
            ("diff.evil.command", evil.as_str()),
            ("diff.external", evil.as_str()),
            ("filter.evil.clean", evil.as_str()),
            ("filter.evil.process", evil.as_str()),
            ("filter.evil.required", "true"),
            ("core.fsmonitor", evil.as_str()),
            ("core.pager", evil.as_str()),
        ] {
            sh(&repo, &["config", key, value]);
        }
        std::fs::write(wt.join(".gitattributes"), "* diff=evil filter=evil\n").unwrap();
        std::fs::write(wt.join("a.txt"), "one\nTWO\nthree\n").unwrap();
        let text = task_diff(&repo, Some(&wt), &base, None).unwrap();
        assert!(text.contains("+TWO"), "{text}");
        assert!(
            std::fs::read_dir(&marks).unwrap().next().is_none(),
            "a program of the repository ran"
        );
    }

    #[test]
    fn a_huge_diff_is_cut_at_a_line_end_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, wt, base) = repo_with_worktree(dir.path());
        let line = "x".repeat(99) + "\n";
        std::fs::write(wt.join("big.txt"), line.repeat(50_000)).unwrap();
        let text = task_diff(&repo, Some(&wt), &base, None).unwrap();
        assert!(text.len() <= MAX_DIFF_BYTES + CUT_NOTE.len() + 1);
        assert!(
            text.ends_with(&format!("\n{CUT_NOTE}\n")),
            "cut at a line end"
        );
    }
}
