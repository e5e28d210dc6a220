use super::*;

fn sh(dir: &Path, script: &str) {
    let ok = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "person")
        .env("GIT_AUTHOR_EMAIL", "p@example.com")
        .env("GIT_COMMITTER_NAME", "person")
        .env("GIT_COMMITTER_EMAIL", "p@example.com")
        .status()
        .unwrap()
        .success();
    assert!(ok, "{script}");
}

fn commit(t: &str, role: &str) -> super::super::TaskCommit {
    super::super::TaskCommit {
        task: t.into(),
        run: "R1".into(),
        title: format!("task {t}"),
        summary: "did it".into(),
        role: role.into(),
        model: "m".into(),
        prompt_hash: "h".into(),
        approved_by: Vec::new(),
        cost_usd: 0.0,
        paths: Vec::new(),
    }
}

#[test]
fn a_task_branch_merges_into_the_run_branch_and_a_conflict_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("ws");
    std::fs::create_dir(&repo).unwrap();
    let r = prepare_own(&repo, "R1").unwrap();
    assert_eq!(r.branch, "macrohard/R1");
    let wt = |n: &str| dir.path().join("wt").join(n);
    let b1 = task_branch("R1", "T1", 1);
    let b2 = task_branch("R1", "T2", 1);
    add_task_worktree(&repo, &wt("a"), &b1, &r.branch).unwrap();
    add_task_worktree(&repo, &wt("b"), &b2, &r.branch).unwrap();
    std::fs::write(wt("a").join("f.txt"), "one\n").unwrap();
    std::fs::write(wt("b").join("f.txt"), "two\n").unwrap();
    let t1 = commit_worktree(&wt("a"), &commit("T1", "engineer"))
        .unwrap()
        .unwrap();
    let t2 = commit_worktree(&wt("b"), &commit("T2", "qa"))
        .unwrap()
        .unwrap();
    assert_eq!(merge_begin(&repo, &t1).unwrap(), Merge::Staged);
    let m1 = merge_finish(&repo, "merge T1").unwrap();
    assert_eq!(merged_by(&repo, &t1), Some(m1));
    assert_eq!(
        std::fs::read_to_string(repo.join("f.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(
        merge_begin(&repo, &t2).unwrap(),
        Merge::Conflict(vec!["f.txt".into()])
    );
    // Nothing changed in the run's work tree.
    assert_eq!(
        std::fs::read_to_string(repo.join("f.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(merged_by(&repo, &t2), None);
    // The task's worktree gets the markers; resolved and committed, it merges.
    assert_eq!(conflict_into(&wt("b"), &r.branch).unwrap(), vec!["f.txt"]);
    let text = std::fs::read_to_string(wt("b").join("f.txt")).unwrap();
    assert!(
        text.contains("<<<<<<<") && text.contains(">>>>>>>"),
        "{text}"
    );
    std::fs::write(wt("b").join("f.txt"), "one\ntwo\n").unwrap();
    let t2 = commit_worktree(&wt("b"), &commit("T2", "qa"))
        .unwrap()
        .unwrap();
    assert_eq!(merge_begin(&repo, &t2).unwrap(), Merge::Staged);
    merge_finish(&repo, "merge T2").unwrap();
    assert_eq!(
        std::fs::read_to_string(repo.join("f.txt")).unwrap(),
        "one\ntwo\n"
    );
    assert_eq!(merge_begin(&repo, &t2).unwrap(), Merge::UpToDate);
    remove_worktree(&repo, &wt("a"));
    assert!(!wt("a").exists());
}

#[test]
fn an_existing_repository_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("user");
    std::fs::create_dir(&repo).unwrap();
    sh(
        &repo,
        "git init -q -b master && echo a > a.txt && git add a.txt && git commit -qm one && echo dirty >> a.txt && echo new > untracked.txt && git add -N untracked.txt",
    );
    let before = |p: &str| std::fs::read(repo.join(p)).unwrap();
    let (a, idx, head) = (before("a.txt"), before(".git/index"), before(".git/HEAD"));
    let wt = dir.path().join("data/run");
    let r = prepare_existing(&repo, "R2", None, &wt).unwrap();
    assert!(r.existing);
    assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "a\n");
    assert!(!wt.join("untracked.txt").exists());
    let tw = dir.path().join("data/T1");
    add_task_worktree(&repo, &tw, &task_branch("R2", "T1", 1), &r.branch).unwrap();
    std::fs::write(tw.join("b.txt"), "b\n").unwrap();
    let tip = commit_worktree(&tw, &commit("T1", "engineer"))
        .unwrap()
        .unwrap();
    assert_eq!(merge_begin(&wt, &tip).unwrap(), Merge::Staged);
    merge_finish(&wt, "merge").unwrap();
    assert!(wt.join("b.txt").exists());
    assert_eq!(before("a.txt"), a);
    assert_eq!(before(".git/index"), idx);
    assert_eq!(before(".git/HEAD"), head);
    assert!(!repo.join("b.txt").exists());
    assert!(prepare_existing(&repo, "R3", Some("no-such-ref"), &dir.path().join("x")).is_err());
}

#[test]
fn tasks_that_start_and_end_together_all_get_their_worktrees() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("ws");
    std::fs::create_dir(&repo).unwrap();
    let r = prepare_own(&repo, "R1").unwrap();
    let (repo, dir_path, run_branch) = (
        std::sync::Arc::new(repo),
        std::sync::Arc::new(dir.path().to_owned()),
        std::sync::Arc::new(r.branch),
    );
    // Sixteen tasks at once, each made, removed and made again: git reads every worktree's
    // files when it adds one, so unserialised adds and prunes failed now and then.
    let threads: Vec<_> = (1..=16)
        .map(|t| {
            let (repo, dir_path, run_branch) = (repo.clone(), dir_path.clone(), run_branch.clone());
            std::thread::spawn(move || {
                for attempt in 1..=8 {
                    let path = dir_path.join("wt").join(format!("T{t}-{attempt}"));
                    let branch = task_branch("R1", &format!("T{t}"), attempt);
                    add_task_worktree(&repo, &path, &branch, &run_branch)
                        .map_err(|e| format!("T{t}-{attempt}: {e}"))?;
                    if !path.join(".git").exists() {
                        return Err(format!("T{t}-{attempt}: no worktree"));
                    }
                    remove_worktree(&repo, &path);
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
}

/// The names of the worktrees git knows of in `repo`, beside its own.
fn listed(repo: &Path) -> Vec<String> {
    let mut c = git(repo);
    c.args(["worktree", "list", "--porcelain"]);
    run(c, "worktree list")
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .filter_map(|p| Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != "ws")
        .collect()
}

#[test]
fn a_later_attempt_goes_on_from_the_last_and_only_its_own_worktree_stays() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("ws");
    std::fs::create_dir(&repo).unwrap();
    let r = prepare_own(&repo, "R1").unwrap();
    let wt = |n: &str| dir.path().join("wt").join(n);
    let b = |a: u32| task_branch("R1", "T1", a);
    add_task_worktree(&repo, &wt("T1-1"), &b(1), &r.branch).unwrap();
    std::fs::write(wt("T1-1").join("half.txt"), "half\n").unwrap();
    let went_on = continue_task_worktree(
        &repo,
        &wt("T1-2"),
        &b(2),
        Some(&wt("T1-1")),
        &b(1),
        &commit("T1", "engineer"),
    );
    assert_eq!(went_on, Ok(true));
    assert_eq!(
        std::fs::read_to_string(wt("T1-2").join("half.txt")).unwrap(),
        "half\n"
    );
    // The first attempt's worktree is gone; its branch keeps what it left.
    assert!(!wt("T1-1").exists());
    assert_eq!(listed(&repo), vec!["T1-2"]);
    let mut c = git(&repo);
    c.args(["show", &format!("{}:half.txt", b(1))]);
    assert_eq!(run(c, "show").unwrap(), "half\n");

    // Cancelled: what it left is committed to its branch and the worktree goes.
    std::fs::write(wt("T1-2").join("more.txt"), "more\n").unwrap();
    let sha = retire_worktree(&repo, &wt("T1-2"), &commit("T1", "engineer")).unwrap();
    assert_eq!(sha.as_deref().map(str::len), Some(40));
    assert!(!wt("T1-2").exists());
    assert!(listed(&repo).is_empty());
    assert_eq!(rev(&repo, &format!("refs/heads/{}", b(2))).ok(), sha);
    // Retired twice (the engine asked again after a crash): nothing to do.
    assert_eq!(
        retire_worktree(&repo, &wt("T1-2"), &commit("T1", "engineer")),
        Ok(None)
    );

    // Retried: the third attempt goes on from the second's branch, the worktree being gone.
    let went_on = continue_task_worktree(
        &repo,
        &wt("T1-3"),
        &b(3),
        Some(&wt("T1-2")),
        &b(2),
        &commit("T1", "engineer"),
    );
    assert_eq!(went_on, Ok(true));
    for (f, text) in [("half.txt", "half\n"), ("more.txt", "more\n")] {
        assert_eq!(std::fs::read_to_string(wt("T1-3").join(f)).unwrap(), text);
    }
    // A resumed run's interrupted attempt goes on at the same path: its worktree stays.
    std::fs::write(wt("T1-3").join("d.txt"), "d\n").unwrap();
    let went_on = continue_task_worktree(
        &repo,
        &wt("T1-3"),
        &b(3),
        Some(&wt("T1-3")),
        &b(3),
        &commit("T1", "engineer"),
    );
    assert_eq!(went_on, Ok(true));
    assert_eq!(
        std::fs::read_to_string(wt("T1-3").join("d.txt")).unwrap(),
        "d\n"
    );
    assert_eq!(listed(&repo), vec!["T1-3"]);
    // With neither a worktree nor a branch there is nothing to go on from.
    let went_on = continue_task_worktree(
        &repo,
        &wt("T9-2"),
        &task_branch("R1", "T9", 2),
        None,
        &task_branch("R1", "T9", 1),
        &commit("T9", "engineer"),
    );
    assert_eq!(went_on, Ok(false));
    assert!(!wt("T9-2").exists());
}

#[test]
fn a_worktree_that_cannot_be_committed_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("ws");
    std::fs::create_dir(&repo).unwrap();
    let r = prepare_own(&repo, "R1").unwrap();
    let path = dir.path().join("wt").join("T1-1");
    add_task_worktree(&repo, &path, &task_branch("R1", "T1", 1), &r.branch).unwrap();
    std::fs::write(path.join("work.txt"), "work\n").unwrap();
    std::fs::write(super::super::git_dir_of(&path).join("index.lock"), "").unwrap();
    let retired = retire_worktree(&repo, &path, &commit("T1", "engineer"));
    assert!(retired.is_err(), "{retired:?}");
    assert_eq!(
        std::fs::read_to_string(path.join("work.txt")).unwrap(),
        "work\n"
    );
    assert_eq!(listed(&repo), vec!["T1-1"]);
}
