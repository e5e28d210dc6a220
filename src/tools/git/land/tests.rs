use super::*;
use std::collections::BTreeMap;

const RUN: &str = "macrohard/01run";

/// A plain git for setting up, with a fixed identity and no config of this machine's.
fn g(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn commit(dir: &Path, file: &str, text: &str) -> String {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    g(dir, &["add", "-A"]);
    g(dir, &["commit", "-q", "-m", &format!("write {file}")]);
    g(dir, &["rev-parse", "HEAD"])
}

/// The person's repository on `main` with one commit, and the run branch checked out in
/// a worktree of its own with one commit more (`run.txt`).
struct Fixture {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    wt: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let wt = dir.path().join("wt");
    std::fs::create_dir(&repo).unwrap();
    g(&repo, &["init", "-q"]);
    commit(&repo, "a.txt", "a\n");
    g(
        &repo,
        &["worktree", "add", "-q", "-b", RUN, wt.to_str().unwrap()],
    );
    commit(&wt, "run.txt", "made by the run\n");
    Fixture {
        _dir: dir,
        repo,
        wt,
    }
}

/// Every file under `dir`, `.git` included, with its bytes (a symlink: its target).
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

#[test]
fn a_clean_tree_is_fast_forwarded() {
    let f = fixture();
    let tip = g(&f.wt, &["rev-parse", "HEAD"]);
    let head = g(&f.repo, &["rev-parse", "HEAD"]);
    let landed = land(&f.repo, RUN, None).unwrap();
    assert_eq!(
        landed,
        Landed::FastForward {
            into: "main".into(),
            current: true,
            from: head,
            to: tip.clone()
        }
    );
    assert_eq!(g(&f.repo, &["rev-parse", "HEAD"]), tip);
    assert_eq!(
        std::fs::read_to_string(f.repo.join("run.txt")).unwrap(),
        "made by the run\n"
    );
    assert_eq!(g(&f.repo, &["status", "--porcelain"]), "");
    // Again: nothing to do.
    assert_eq!(
        land(&f.repo, RUN, None).unwrap(),
        Landed::Already {
            into: "main".into(),
            current: true
        }
    );
}

#[test]
fn diverged_branches_get_a_merge_commit_by_macrohard() {
    let f = fixture();
    let mine = commit(&f.repo, "mine.txt", "mine\n");
    let tip = g(&f.wt, &["rev-parse", "HEAD"]);
    let Landed::Merged { commit, from, .. } = land(&f.repo, RUN, None).unwrap() else {
        panic!("a merge commit")
    };
    assert_eq!(from, mine);
    assert_eq!(g(&f.repo, &["rev-parse", "HEAD"]), commit);
    assert_eq!(
        g(&f.repo, &["log", "-1", "--format=%P"]),
        format!("{mine} {tip}")
    );
    assert_eq!(
        g(&f.repo, &["log", "-1", "--format=%an <%ae> / %cn <%ce>"]),
        "macrohard-tui <engine@macrohard.local> / macrohard-tui <engine@macrohard.local>"
    );
    assert!(g(&f.repo, &["log", "-1", "--format=%s"]).contains(RUN));
    assert!(f.repo.join("run.txt").exists() && f.repo.join("mine.txt").exists());
    assert_eq!(g(&f.repo, &["status", "--porcelain"]), "");
}

#[test]
fn a_dirty_tree_is_refused_and_left_byte_for_byte() {
    for dirt in ["modified", "staged", "untracked"] {
        let f = fixture();
        match dirt {
            "modified" => std::fs::write(f.repo.join("a.txt"), "changed\n").unwrap(),
            "staged" => {
                std::fs::write(f.repo.join("b.txt"), "b\n").unwrap();
                g(&f.repo, &["add", "b.txt"]);
            }
            _ => std::fs::write(f.repo.join("notes.txt"), "n\n").unwrap(),
        }
        let before = snapshot(&f.repo);
        let Err(Refusal::Dirty { changes }) = land(&f.repo, RUN, None) else {
            panic!("{dirt}: refused")
        };
        assert_eq!(changes.len(), 1, "{dirt}: {changes:?}");
        assert!(
            snapshot(&f.repo) == before,
            "{dirt}: the repository changed"
        );
    }
}

#[test]
fn the_macrohard_folder_and_ignored_files_are_no_changes() {
    let f = fixture();
    std::fs::create_dir(f.repo.join(".macrohard")).unwrap();
    std::fs::write(f.repo.join(".macrohard/notes"), "x").unwrap();
    std::fs::write(f.repo.join(".git/info/exclude"), "*.log\n").unwrap();
    std::fs::write(f.repo.join("build.log"), "x").unwrap();
    assert!(matches!(
        land(&f.repo, RUN, None),
        Ok(Landed::FastForward { .. })
    ));
}

#[test]
fn an_ignored_file_of_the_persons_is_never_overwritten() {
    let f = fixture();
    std::fs::write(f.repo.join(".git/info/exclude"), "secret.env\n").unwrap();
    std::fs::write(f.repo.join("secret.env"), "mine").unwrap();
    // The run tracks a file of that name (force-added past its own ignore rules).
    std::fs::write(f.wt.join("secret.env"), "the run's").unwrap();
    g(&f.wt, &["add", "-f", "secret.env"]);
    g(&f.wt, &["commit", "-q", "-m", "env"]);
    let before = snapshot(&f.repo);
    let Err(Refusal::WouldOverwrite { paths }) = land(&f.repo, RUN, None) else {
        panic!("refused")
    };
    assert_eq!(paths, ["secret.env"]);
    assert!(snapshot(&f.repo) == before);
}

#[test]
fn a_conflict_is_refused_and_changes_nothing_not_even_objects() {
    let f = fixture();
    commit(&f.repo, "a.txt", "mine\n");
    commit(&f.wt, "a.txt", "the run's\n");
    let before = snapshot(&f.repo);
    let Err(Refusal::Conflict { files, current, .. }) = land(&f.repo, RUN, None) else {
        panic!("a conflict")
    };
    assert!(current);
    assert_eq!(files, ["a.txt"]);
    assert!(snapshot(&f.repo) == before, "the repository changed");
    // Into another branch: refused the same way.
    g(&f.repo, &["branch", "other"]);
    let before = snapshot(&f.repo);
    let Err(Refusal::Conflict { files, current, .. }) = land(&f.repo, RUN, Some("other")) else {
        panic!("a conflict")
    };
    assert!(!current);
    assert_eq!(files, ["a.txt"]);
    assert!(snapshot(&f.repo) == before, "the repository changed");
}

#[test]
fn a_detached_head_is_refused() {
    let f = fixture();
    g(&f.repo, &["checkout", "-q", "--detach"]);
    assert_eq!(land(&f.repo, RUN, None), Err(Refusal::Detached));
    // Into a branch it is fine: the work tree is not involved.
    assert!(matches!(
        land(&f.repo, RUN, Some("main")),
        Ok(Landed::FastForward { current: false, .. })
    ));
}

#[test]
fn another_branch_moves_alone() {
    let f = fixture();
    let base = g(&f.repo, &["rev-parse", "HEAD"]);
    g(&f.repo, &["branch", "release"]);
    // The person's tree is dirty: it does not matter.
    std::fs::write(f.repo.join("a.txt"), "changed\n").unwrap();
    std::fs::write(f.repo.join("untracked.txt"), "u\n").unwrap();
    let tip = g(&f.wt, &["rev-parse", "HEAD"]);
    let tree_before = snapshot(&f.repo)
        .into_iter()
        .filter(|(p, _)| {
            !p.starts_with(".git/refs/heads/release")
                && !p.starts_with(".git/logs/refs/heads/release")
        })
        .collect::<BTreeMap<_, _>>();
    assert_eq!(
        land(&f.repo, RUN, Some("release")).unwrap(),
        Landed::FastForward {
            into: "release".into(),
            current: false,
            from: base.clone(),
            to: tip.clone()
        }
    );
    assert_eq!(g(&f.repo, &["rev-parse", "release"]), tip);
    let after = snapshot(&f.repo)
        .into_iter()
        .filter(|(p, _)| {
            !p.starts_with(".git/refs/heads/release")
                && !p.starts_with(".git/logs/refs/heads/release")
        })
        .collect::<BTreeMap<_, _>>();
    assert!(after == tree_before, "only the branch moved");

    // Diverged: a merge commit, made without a work tree.
    let other = g(&f.repo, &["rev-parse", "HEAD"]);
    g(&f.repo, &["branch", "diverged", &other]);
    let side = {
        g(&f.repo, &["stash", "-u", "-q"]);
        g(&f.repo, &["checkout", "-q", "diverged"]);
        let c = commit(&f.repo, "side.txt", "side\n");
        g(&f.repo, &["checkout", "-q", "main"]);
        g(&f.repo, &["stash", "pop", "-q"]);
        c
    };
    let Landed::Merged { commit, from, .. } = land(&f.repo, RUN, Some("diverged")).unwrap() else {
        panic!("a merge")
    };
    assert_eq!(from, side);
    assert_eq!(
        g(&f.repo, &["log", "-1", "--format=%P", &commit]),
        format!("{side} {tip}")
    );
    assert_eq!(
        g(&f.repo, &["ls-tree", "--name-only", "diverged"]),
        "a.txt\nrun.txt\nside.txt"
    );
    assert_eq!(g(&f.repo, &["rev-parse", "HEAD"]), base, "HEAD stays");
    // A branch that does not exist is made at the run's tip.
    assert_eq!(
        land(&f.repo, RUN, Some("fresh/one")).unwrap(),
        Landed::Created {
            into: "fresh/one".into(),
            at: tip.clone()
        }
    );
    assert_eq!(g(&f.repo, &["rev-parse", "fresh/one"]), tip);
}

#[test]
fn branches_that_cannot_be_landed_into_are_refused() {
    let f = fixture();
    assert_eq!(land(&f.repo, RUN, Some(RUN)), Err(Refusal::IsRunBranch));
    for bad in ["-x", "a..b", "HEAD", "", "x y"] {
        assert!(
            matches!(
                land(&f.repo, RUN, Some(bad)),
                Err(Refusal::BadBranchName { .. })
            ),
            "{bad:?}"
        );
    }
    let elsewhere = f.wt.parent().unwrap().join("wt2");
    g(
        &f.repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "busy",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert!(matches!(
        land(&f.repo, RUN, Some("busy")),
        Err(Refusal::CheckedOutElsewhere { .. })
    ));
    assert_eq!(
        land(&f.repo, "macrohard/gone", None),
        Err(Refusal::NoRunBranch)
    );
}

#[test]
fn an_operation_under_way_is_refused() {
    let f = fixture();
    std::fs::write(f.repo.join(".git/CHERRY_PICK_HEAD"), "x\n").unwrap();
    assert!(matches!(
        land(&f.repo, RUN, None),
        Err(Refusal::Busy { .. })
    ));
    std::fs::remove_file(f.repo.join(".git/CHERRY_PICK_HEAD")).unwrap();
    // A branch being rebased (HEAD detached meanwhile) is not moved under the rebase.
    g(&f.repo, &["branch", "topic"]);
    std::fs::create_dir(f.repo.join(".git/rebase-merge")).unwrap();
    std::fs::write(
        f.repo.join(".git/rebase-merge/head-name"),
        "refs/heads/topic\n",
    )
    .unwrap();
    assert_eq!(
        land(&f.repo, RUN, Some("topic")),
        Err(Refusal::Busy {
            what: "a rebase of that branch"
        })
    );
}
