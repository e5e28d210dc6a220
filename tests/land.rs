#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `land RUN [--into BRANCH]` against the built binary: a run written into a store with its
//! `run_branch` record (no engine), a person's repository with the run branch in a worktree.
//! A refusal leaves the repository byte for byte as it was: files, index, HEAD, refs, objects.

mod common;

use macrohard::domain::*;
use macrohard::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const RUN: &str = "01lnd0000000000000000000aa";
const BRANCH: &str = "macrohard/01lnd0000000000000000000aa";

use common::git::git as g;

fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    g(dir, &["add", "-A"]);
    g(dir, &["commit", "-q", "-m", &format!("write {file}")]);
    g(dir, &["rev-parse", "HEAD"])
}

struct World {
    _dir: tempfile::TempDir,
    data: PathBuf,
    repo: PathBuf,
    wt: PathBuf,
}

/// A data directory with one run on `status`, its branch recorded when `branch`; the person's
/// repository on `main` (a.txt) and the run branch with one commit more (run.txt).
fn world(status: RunStatus, branch: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (data, repo, wt) = (
        dir.path().join("data"),
        dir.path().join("repo"),
        dir.path().join("data/worktrees/run"),
    );
    std::fs::create_dir_all(&repo).unwrap();
    g(&repo, &["init", "-q"]);
    let base = commit(&repo, "a.txt", "a\n");
    g(
        &repo,
        &["worktree", "add", "-q", "-b", BRANCH, wt.to_str().unwrap()],
    );
    commit(&wt, "run.txt", "made by the run\n");
    let mut events = vec![Event::RunCreated {
        goal: "Land me".into(),
        workspace: wt.display().to_string(),
        provider: "sim".into(),
        model: "sim-1".into(),
        base_url: None,
        simulated: true,
        budget: Budget::default(),
        budgets: Budgets::default(),
        concurrency: 1,
        max_attempts: 1,
        autonomy: Autonomy::AskRisky,
        seed: 1,
        by: Actor::Human {
            user: "ada".into(),
            host: None,
            auto: false,
        },
    }];
    if branch {
        events.push(Event::RunBranch {
            repo: repo.display().to_string(),
            branch: BRANCH.into(),
            base,
            worktree: wt.display().to_string(),
            existing: true,
        });
    }
    events.push(Event::RunStatusChanged {
        status: RunStatus::Running,
        reason: "plan ready".into(),
    });
    if status != RunStatus::Running {
        events.push(Event::RunStatusChanged {
            status,
            reason: "done".into(),
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(&data.join("store")).unwrap();
        let mut journal = store.journal(&RunId::from(RUN)).unwrap();
        let records = journal
            .append(events.into_iter().map(|e| (1_795_000_000_000, e)).collect())
            .await
            .unwrap();
        journal.close(&RunState::fold(&records)).await.unwrap();
    });
    World {
        _dir: dir,
        data,
        repo,
        wt,
    }
}

/// Every file under `dir`, `.git` included, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().to_owned();
            if m.is_dir() {
                all.insert(rel, b"<dir>".to_vec());
                todo.push(p);
            } else if m.is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                all.insert(rel, t.to_string_lossy().as_bytes().to_vec());
            } else {
                all.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    all
}

/// What differs between two snapshots, by path.
fn differences(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = a.keys().chain(b.keys()).cloned().collect();
    paths.sort();
    paths.dedup();
    paths.retain(|p| a.get(p) != b.get(p));
    paths
}

fn land(w: &World, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["land", RUN];
    args.extend_from_slice(extra);
    let out = common::run(&w.data, &args);
    let (o, e) = common::text(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

#[test]
fn a_dirty_tree_is_refused_and_the_repository_is_left_byte_for_byte() {
    let w = world(RunStatus::Completed, true);
    std::fs::write(w.repo.join("a.txt"), "my edit\n").unwrap();
    std::fs::write(w.repo.join("notes.txt"), "mine\n").unwrap();
    let before = snapshot(&w.repo);
    let (code, out, err) = land(&w, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("uncommitted change"), "{err}");
    assert!(err.contains("a.txt") && err.contains("notes.txt"), "{err}");
    assert!(
        err.contains(&format!("git -C {} merge {BRANCH}", w.repo.display())),
        "the command to land it later: {err}"
    );
    assert!(err.contains("push"), "{err}");
    assert_eq!(
        differences(&before, &snapshot(&w.repo)),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_clean_tree_gets_the_run_branch_merged() {
    let w = world(RunStatus::Completed, true);
    let tip = g(&w.wt, &["rev-parse", "HEAD"]);
    let (code, out, err) = land(&w, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Landed run") && out.contains("fast-forward"),
        "{out}"
    );
    assert_eq!(g(&w.repo, &["rev-parse", "HEAD"]), tip);
    assert_eq!(g(&w.repo, &["symbolic-ref", "HEAD"]), "refs/heads/main");
    assert_eq!(
        std::fs::read_to_string(w.repo.join("run.txt")).unwrap(),
        "made by the run\n"
    );
    assert_eq!(g(&w.repo, &["status", "--porcelain"]), "");
    // Once more: nothing to do, and it says so.
    let (code, out, _) = land(&w, &[]);
    assert_eq!(code, 0);
    assert!(out.contains("already landed"), "{out}");
}

#[test]
fn diverged_work_gets_a_merge_commit() {
    let w = world(RunStatus::Completed, true);
    let mine = commit(&w.repo, "mine.txt", "mine\n");
    let tip = g(&w.wt, &["rev-parse", "HEAD"]);
    let (code, out, err) = land(&w, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        g(&w.repo, &["log", "-1", "--format=%P"]),
        format!("{mine} {tip}")
    );
    assert_eq!(
        g(&w.repo, &["log", "-1", "--format=%cn <%ce>"]),
        "macrohard-tui <engine@macrohard.local>"
    );
    assert!(w.repo.join("run.txt").exists() && w.repo.join("mine.txt").exists());
}

#[test]
fn into_another_branch_moves_only_that_ref() {
    let w = world(RunStatus::Completed, true);
    g(&w.repo, &["branch", "release"]);
    // A dirty tree does not matter: it is not touched.
    std::fs::write(w.repo.join("a.txt"), "my edit\n").unwrap();
    std::fs::write(w.repo.join("notes.txt"), "mine\n").unwrap();
    let head = g(&w.repo, &["rev-parse", "HEAD"]);
    let tip = g(&w.wt, &["rev-parse", "HEAD"]);
    let before = snapshot(&w.repo);
    let (code, out, err) = land(&w, &["--into", "release"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("not touched"), "{out}");
    assert_eq!(g(&w.repo, &["rev-parse", "release"]), tip);
    assert_eq!(g(&w.repo, &["rev-parse", "HEAD"]), head);
    let changed = differences(&before, &snapshot(&w.repo));
    assert_eq!(
        changed,
        [
            PathBuf::from(".git/logs/refs/heads/release"),
            PathBuf::from(".git/refs/heads/release")
        ],
        "only the branch and its reflog"
    );
    // A branch that does not exist is made at the run's tip.
    let (code, out, err) = land(&w, &["--into", "review/run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(g(&w.repo, &["rev-parse", "review/run"]), tip);
}

#[test]
fn a_conflict_changes_nothing_and_names_the_files() {
    let w = world(RunStatus::Completed, true);
    commit(&w.repo, "a.txt", "mine\n");
    commit(&w.wt, "a.txt", "the run's\n");
    g(&w.repo, &["branch", "release"]);
    for extra in [&[][..], &["--into", "release"][..]] {
        let before = snapshot(&w.repo);
        let (code, out, err) = land(&w, extra);
        assert_eq!(code, 1, "{extra:?}: {out}{err}");
        assert!(
            err.contains("conflicts in 1 file") && err.contains("a.txt"),
            "{err}"
        );
        assert!(err.contains("Nothing was changed"), "{err}");
        assert!(err.contains(&format!("merge {BRANCH}")), "{err}");
        assert_eq!(
            differences(&before, &snapshot(&w.repo)),
            Vec::<PathBuf>::new(),
            "{extra:?}"
        );
    }
}

#[test]
fn a_run_without_a_branch_or_still_running_is_refused() {
    let w = world(RunStatus::Completed, false);
    let (code, _, err) = land(&w, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("before runs worked on branches"), "{err}");

    let w = world(RunStatus::Running, true);
    let head = g(&w.repo, &["rev-parse", "HEAD"]);
    let (code, _, err) = land(&w, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("still running") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(g(&w.repo, &["rev-parse", "HEAD"]), head);
    let (code, out, err) = land(&w, &["--force"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        g(&w.repo, &["rev-parse", "HEAD"]),
        g(&w.wt, &["rev-parse", "HEAD"])
    );
}

#[test]
fn a_detached_head_is_refused_with_the_branch_to_merge() {
    let w = world(RunStatus::Completed, true);
    g(&w.repo, &["checkout", "-q", "--detach"]);
    let before = snapshot(&w.repo);
    let (code, _, err) = land(&w, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("detached") && err.contains(BRANCH), "{err}");
    assert_eq!(
        differences(&before, &snapshot(&w.repo)),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn what_your_global_excludes_file_ignores_is_no_change() {
    let w = world(RunStatus::Completed, true);
    let home = w.data.parent().unwrap();
    std::fs::write(home.join("global-ignore"), "*.swp\n").unwrap();
    std::fs::write(
        home.join("gitconfig"),
        format!(
            "[core]\n\texcludesFile = {}\n",
            home.join("global-ignore").display()
        ),
    )
    .unwrap();
    std::fs::write(w.repo.join("a.txt.swp"), "editor state").unwrap();
    let out = common::bin()
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .arg("--data-dir")
        .arg(&w.data)
        .args(["land", RUN])
        .output()
        .unwrap();
    let (o, e) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(w.repo.join("run.txt").exists());
    // Without that file, the same untracked file is a change.
    let w = world(RunStatus::Completed, true);
    std::fs::write(w.repo.join("a.txt.swp"), "editor state").unwrap();
    let out = common::bin()
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg("--data-dir")
        .arg(&w.data)
        .args(["land", RUN])
        .output()
        .unwrap();
    let (code, err) = (out.status.code(), common::text(&out).1);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a.txt.swp"), "{err}");
}
