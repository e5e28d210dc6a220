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
