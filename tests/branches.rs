#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runs on branches: a run on a person's repository never touches their work tree, index,
//! HEAD or branches; each task works in its own worktree and branch, and the merge queue
//! merges them into the run branch; two parallel tasks editing one file produce a recorded
//! conflict that the agent resolves, and `blame` names the right task for lines from both
//! sides; a failing run check blocks a merge; a review with two comments reaches the agent as
//! one message and the task is redone.

mod common;

use common::scripted::{all_done, finish, run, start, step};
use macrohard::domain::{Event, TaskStatus};
use macrohard::llm::sim::Turn;
use macrohard::llm::{LlmRequest, MessageRole};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

use common::git::{git, git_output};

/// A file of a commit, byte for byte.
fn show(dir: &Path, rev_path: &str) -> String {
    String::from_utf8_lossy(&git_output(dir, &["show", rev_path]).stdout).into_owned()
}

/// Every file of a repository's work tree and what the person's git keeps (index, HEAD,
/// refs other than the run's), byte for byte.
fn fingerprint(repo: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![repo.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(repo).unwrap().display().to_string();
            if rel == ".git" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    for f in [".git/index", ".git/HEAD", ".git/config"] {
        out.insert(f.into(), std::fs::read(repo.join(f)).unwrap());
    }
    let refs: String = git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"])
        .lines()
        .filter(|l| !l.starts_with("refs/heads/macrohard/"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.insert("refs".into(), refs.into_bytes());
    out.insert(
        "status".into(),
        git(repo, &["status", "--porcelain"]).into_bytes(),
    );
    out
}

/// Architect and engineer each write their own file, in parallel, then finish.
fn two_files(req: &LlmRequest) -> Turn {
    match req.context.role.as_str() {
        "supervisor" if step(req) == 0 => Turn::think("plan")
            .call(
                "create_task",
                json!({"title": "Design", "description": "Write DESIGN.md", "role": "architect"}),
            )
            .call(
                "create_task",
                json!({"title": "Build", "description": "Write app.py", "role": "engineer"}),
            ),
        "supervisor" if all_done(req) => {
            Turn::think("done").call("finish_run", json!({"summary": "ok"}))
        }
        "supervisor" => Turn::think("waiting"),
        role => match step(req) {
            0 => {
                let (path, content) = if role == "architect" {
                    ("DESIGN.md", "# Design\n")
                } else {
                    ("app.py", "print('hi')\n")
                };
                Turn::think("write").call("write_file", json!({"path": path, "content": content}))
            }
            _ => Turn::think("done").call(
                "complete_task",
                json!({"summary": "wrote it", "evidence": "the file is there"}),
            ),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_persons_repository_leaves_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("project");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    std::fs::write(repo.join("lib.py"), "x = 1\n").unwrap();
    git(&repo, &["init", "-q", "-b", "master"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "start"]);
    git(&repo, &["branch", "feature"]);
    // Uncommitted work of every kind: a staged change, an unstaged one, an untracked file.
    std::fs::write(repo.join("README.md"), "hello\nstaged\n").unwrap();
    git(&repo, &["add", "README.md"]);
    std::fs::write(repo.join("lib.py"), "x = 2  # half-edited\n").unwrap();
    std::fs::write(repo.join("notes.txt"), "mine\n").unwrap();
    let before = fingerprint(&repo);
    let head = git(&repo, &["rev-parse", "HEAD"]);

    let done = run(dir.path(), repo.clone(), "two files", two_files, |_| {}).await;
    done.assert_completed();

    assert_eq!(
        fingerprint(&repo),
        before,
        "the person's repository changed"
    );
    let b = done
        .state
        .branch
        .clone()
        .expect("the run works on a branch");
    assert!(b.existing);
    assert_eq!(b.base.trim(), head.trim());
    let branch = format!("macrohard/{}", done.state.id().unwrap());
    assert_eq!(b.branch, branch);
    // The run branch has both tasks' work, merged, on top of the person's last commit (their
    // uncommitted changes are not part of it).
    assert_eq!(show(&repo, &format!("{branch}:DESIGN.md")), "# Design\n");
    assert_eq!(show(&repo, &format!("{branch}:app.py")), "print('hi')\n");
    assert_eq!(show(&repo, &format!("{branch}:lib.py")), "x = 1\n");
    let merges = git(&repo, &["log", "--merges", "--format=%s", &branch]);
    assert_eq!(merges.lines().count(), 2, "{merges}");
    for t in &done.state.tasks {
        assert_eq!(t.status, TaskStatus::Done);
        assert!(t.merge.is_some(), "{} has no merge", t.id);
        assert!(t.worktree.is_none(), "{}'s worktree is left", t.id);
    }
    // Each task worked in its own worktree, on its own branch, under the data directory.
    let made: Vec<(String, String)> = done
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::WorktreeCreated { path, branch, .. } => Some((path.clone(), branch.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(made.len(), 2);
    for (path, task_branch) in &made {
        assert!(!Path::new(path).starts_with(&repo), "{path}");
        assert!(
            task_branch.starts_with(&format!("{branch}-")),
            "{task_branch}"
        );
        assert!(!Path::new(path).exists(), "{path} was not removed");
    }
    let report = macrohard::export::report(&done.state, &done.records);
    assert!(
        report.contains(&format!("- Result: branch `{branch}`"))
            && report.contains("`land` merges it"),
        "the report says where the result is"
    );
    let left = git(&repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(left.matches("worktree ").count(), 2, "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_run_works_on_a_branch_of_its_own_repository() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let done = run(dir.path(), ws.clone(), "two files", two_files, |_| {}).await;
    done.assert_completed();
    let b = done.state.branch.clone().unwrap();
    assert!(!b.existing);
    // The folder holds the merged result: the run branch, checked out.
    assert_eq!(
        std::fs::read_to_string(ws.join("DESIGN.md")).unwrap(),
        "# Design\n"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("app.py")).unwrap(),
        "print('hi')\n"
    );
    assert_eq!(
        git(&ws, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        b.branch
    );
    assert_eq!(git(&ws, &["status", "--porcelain"]), "");
    // Each task's commit is authored by its role, under a merge commit of the engine.
    let authors = git(&ws, &["log", "--no-merges", "--format=%an %s", &b.branch]);
    assert!(authors.contains("architect T1: Design"), "{authors}");
    assert!(authors.contains("engineer T2: Build"), "{authors}");
}

/// The text of the tool results an agent has seen, newest last.
fn results(req: &LlmRequest) -> Vec<&str> {
    req.messages
        .iter()
        .filter(|m| m.role == MessageRole::Tool)
        .map(|m| m.content.as_str())
        .collect()
}

/// Two engineers edit `shared.txt` at once; whoever merges second meets the conflict and
/// resolves it keeping both lines (the first task's line first).
fn conflicting(req: &LlmRequest) -> Turn {
    let task = req.context.task.as_ref().map(|t| t.id.to_string());
    match (req.context.role.as_str(), task) {
        ("supervisor", _) if step(req) == 0 => Turn::think("plan")
            .call(
                "create_task",
                json!({"title": "One", "description": "Write shared.txt", "role": "engineer"}),
            )
            .call(
                "create_task",
                json!({"title": "Two", "description": "Write shared.txt", "role": "architect"}),
            ),
        ("supervisor", _) if all_done(req) => {
            Turn::think("done").call("finish_run", json!({"summary": "ok"}))
        }
        ("supervisor", _) => Turn::think("waiting"),
        (_, Some(task)) => {
            let said = results(req);
            let last = said.last().copied().unwrap_or_default();
            if last.contains("conflict markers") {
                assert!(last.contains("shared.txt"), "{last}");
                return Turn::think("resolve").call("read_file", json!({"path": "shared.txt"}));
            }
            if said.len() >= 2 && said[said.len() - 2].contains("conflict markers") {
                assert!(last.contains("<<<<<<<"), "{last}");
                return Turn::think("resolved").call(
                    "write_file",
                    json!({"path": "shared.txt", "content": "line of T1\nline of T2\n"}),
                );
            }
            match step(req) {
                0 => Turn::think("write").call(
                    "write_file",
                    json!({"path": "shared.txt", "content": format!("line of {task}\n")}),
                ),
                // Both are in their worktrees before either finishes.
                1 => Turn::think("wait").call("run_command", json!({"command": "sleep 1"})),
                _ => Turn::think("done").call(
                    "complete_task",
                    json!({"summary": format!("{task} wrote its line"), "evidence": "written"}),
                ),
            }
        }
        _ => Turn::think("?"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_edits_of_one_file_conflict_and_the_resolution_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let done = run(dir.path(), ws.clone(), "conflict", conflicting, |_| {}).await;
    done.assert_completed();
    let conflicts: Vec<&str> = done
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::TaskStatusChanged {
                task,
                status: TaskStatus::Conflict,
                reason,
            } => {
                assert!(reason.contains("shared.txt"), "{reason}");
                Some(task.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(conflicts.len(), 1, "one task met the conflict");
    assert_eq!(
        std::fs::read_to_string(ws.join("shared.txt")).unwrap(),
        "line of T1\nline of T2\n"
    );
    // Whoever merged second resolved it; blame names each task for its own line.
    let origin = |line| macrohard::tools::git::blame(&ws, "shared.txt", line).unwrap();
    let task_of = |line| {
        origin(line)
            .trailers
            .get("Task")
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(task_of(1), vec!["T1".to_owned()]);
    assert_eq!(task_of(2), vec!["T2".to_owned()]);
    assert_eq!(origin(1).author, "engineer");
    assert_eq!(origin(2).author, "architect");
    assert!(
        done.state
            .tasks
            .iter()
            .all(|t| t.status == TaskStatus::Done)
    );
}

/// The engineer writes a file and finishes; the run's check wants `ready.txt`, which the
/// engineer adds once the check's failure tells it so.
fn checked(req: &LlmRequest) -> Turn {
    match req.context.role.as_str() {
        "supervisor" if step(req) == 0 => Turn::think("plan").call(
            "create_task",
            json!({"title": "Build", "description": "Write app.py", "role": "engineer"}),
        ),
        "supervisor" if all_done(req) => {
            Turn::think("done").call("finish_run", json!({"summary": "ok"}))
        }
        "supervisor" => Turn::think("waiting"),
        _ => {
            let said = results(req);
            let last = said.last().copied().unwrap_or_default();
            if last.contains("the run's check") {
                assert!(last.contains("not ready"), "{last}");
                return Turn::think("fix").call(
                    "write_file",
                    json!({"path": "ready.txt", "content": "yes\n"}),
                );
            }
            if step(req) == 0 {
                return Turn::think("write").call(
                    "write_file",
                    json!({"path": "app.py", "content": "x = 1\n"}),
                );
            }
            Turn::think("done").call(
                "complete_task",
                json!({"summary": "built", "evidence": "app.py"}),
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_check_blocks_the_merge_until_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let done = run(dir.path(), ws.clone(), "checked", checked, |c| {
        c.check = Some("test -f ready.txt || { echo not ready; exit 1; }".into());
    })
    .await;
    done.assert_completed();
    let checks: Vec<bool> = done
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::TaskChecked { ok, .. } => Some(*ok),
            _ => None,
        })
        .collect();
    assert_eq!(checks, vec![false, true]);
    let b = done.state.branch.clone().unwrap();
    let merges = git(&ws, &["log", "--merges", "--format=%s", &b.branch]);
    assert_eq!(
        merges.lines().count(),
        1,
        "merged once, after the fix: {merges}"
    );
    assert!(ws.join("ready.txt").exists() && ws.join("app.py").exists());
}

/// The engineer writes `src/auth/login.py` and finishes; a review asked for changes comes back
/// as the complete_task result, the engineer rewrites the file and finishes again.
fn reviewed(req: &LlmRequest) -> Turn {
    match req.context.role.as_str() {
        "supervisor" if step(req) == 0 => Turn::think("plan").call(
            "create_task",
            json!({"title": "Login", "description": "Write src/auth/login.py", "role": "engineer"}),
        ),
        "supervisor" if all_done(req) => {
            Turn::think("done").call("finish_run", json!({"summary": "ok"}))
        }
        "supervisor" => Turn::think("waiting"),
        _ => {
            let said = results(req);
            let last = said.last().copied().unwrap_or_default();
            if last.contains("asked for changes") {
                REVIEWS.lock().unwrap().push(last.to_owned());
                return Turn::think("fix").call(
                    "write_file",
                    json!({"path": "src/auth/login.py", "content": "TOKEN_TTL = 3600\n\ndef login(user):\n    return user.strip()\n"}),
                );
            }
            if step(req) == 0 {
                return Turn::think("write").call(
                    "write_file",
                    json!({"path": "src/auth/login.py", "content": "def login(user):\n    return user\n"}),
                );
            }
            Turn::think("done").call(
                "complete_task",
                json!({"summary": "login", "evidence": "src/auth/login.py"}),
            )
        }
    }
}

/// What the reviewed engineer was told when changes were asked for.
static REVIEWS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_with_two_comments_reaches_the_agent_as_one_message_and_the_task_is_redone() {
    use macrohard::domain::{Decision, Rule};
    use macrohard::protocol::Command as Steer;
    let dir = tempfile::tempdir().unwrap();
    let rules = vec![
        Rule {
            tool: Some("merge".into()),
            command: None,
            path: Some("src/auth/*".into()),
            decision: Decision::Ask,
            network: None,
        },
        Rule {
            tool: Some("*".into()),
            command: None,
            path: None,
            decision: Decision::Allow,
            network: None,
        },
    ];
    let ws = dir.path().join("ws");
    let (_store, engine) = start(dir.path(), ws, "reviewed login", reviewed, |c| {
        // At ask-risky, merges wait only where a merge rule says so; a person answers.
        c.autonomy = macrohard::domain::Autonomy::AskRisky;
        c.rules = rules;
        c.auto_approve = None;
    })
    .await;
    let h = engine.handle.clone();
    let (_, mut rx) = h.subscribe().await.unwrap();
    let comments = "Review of T1 by a person: please change the following.\n- src/auth/login.py:1: the session needs a TTL constant\n- src/auth/login.py:2: strip the user name";
    let mut reviews = 0;
    let person = tokio::spawn(async move {
        while let Ok(rec) = rx.recv().await {
            if let Event::ApprovalRequested { approval, tool, .. } = rec.event {
                assert_eq!(tool, "merge");
                reviews += 1;
                let c = if reviews == 1 {
                    Steer::Deny {
                        approval,
                        reason: comments.into(),
                    }
                } else {
                    Steer::Approve {
                        approval,
                        always: false,
                    }
                };
                h.command(common::scripted::tester(), c).await.unwrap();
            }
        }
        reviews
    });
    let state = tokio::time::timeout(std::time::Duration::from_secs(60), engine.join)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        state.status,
        macrohard::domain::RunStatus::Completed,
        "{}",
        state.status_reason
    );
    assert_eq!(
        person.await.unwrap(),
        2,
        "asked twice: before and after the changes"
    );
    let told = REVIEWS.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("tester@lab reviewed your changes"),
        "{}",
        told[0]
    );
    assert!(told[0].contains("TTL constant") && told[0].contains("strip the user name"));
    // Merged once, after the approval, with the changes.
    let b = state.branch.clone().unwrap();
    let ws = dir.path().join("ws");
    assert_eq!(
        git(&ws, &["log", "--merges", "--format=%s", &b.branch])
            .lines()
            .count(),
        1
    );
    assert!(
        std::fs::read_to_string(ws.join("src/auth/login.py"))
            .unwrap()
            .contains("TOKEN_TTL")
    );
    // Both answers are recorded with who gave them.
    let resolved: Vec<String> = state
        .approvals
        .iter()
        .filter(|a| a.tool == "merge")
        .map(|a| format!("{:?}", a.resolution))
        .collect();
    assert_eq!(resolved.len(), 2);
    assert!(
        resolved.iter().all(|r| r.contains("tester")),
        "{resolved:?}"
    );
}

/// As `conflicting`, but the agent that meets the conflict leaves it to a person: it waits.
fn conflicting_waits(req: &LlmRequest) -> Turn {
    let said = results(req);
    let waiting = said.iter().any(|r| r.contains("conflict markers"));
    if req.context.role != "supervisor" && waiting {
        return Turn::think("a person resolves it")
            .call("run_command", json!({"command": "sleep 1"}));
    }
    conflicting(req)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_resolves_a_conflict_in_the_worktree_and_it_merges_as_theirs() {
    use macrohard::protocol::Command as Steer;
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let (store, engine) = start(
        dir.path(),
        ws.clone(),
        "conflict by hand",
        conflicting_waits,
        |_| {},
    )
    .await;
    let h = engine.handle.clone();
    let (_, mut rx) = h.subscribe().await.unwrap();
    let person = tokio::spawn(async move {
        while let Ok(rec) = rx.recv().await {
            if let Event::TaskStatusChanged {
                task,
                status: TaskStatus::Conflict,
                ..
            } = rec.event
            {
                let (state, _) = h.subscribe().await.unwrap();
                let wt = state.task(&task).unwrap().worktree.clone().unwrap();
                let wt = Path::new(&wt);
                // Marking it resolved with the markers still in is refused (said in the log).
                h.command(
                    common::scripted::tester(),
                    Steer::RetryTask { task: task.clone() },
                )
                .await
                .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                std::fs::write(wt.join("shared.txt"), "line of T1\nline of T2\n").unwrap();
                h.command(common::scripted::tester(), Steer::RetryTask { task })
                    .await
                    .unwrap();
                // The refused try left the run waiting for a person: go on.
                let _ = h
                    .command(common::scripted::tester(), Steer::ResumeRun)
                    .await;
                return;
            }
        }
    });
    let state = tokio::time::timeout(std::time::Duration::from_secs(60), engine.join)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    person.await.unwrap();
    assert_eq!(
        state.status,
        macrohard::domain::RunStatus::Completed,
        "{}",
        state.status_reason
    );
    let records: Vec<_> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::Log { text, .. } if text.contains("conflict markers are still in shared.txt"))));
    assert_eq!(
        std::fs::read_to_string(ws.join("shared.txt")).unwrap(),
        "line of T1\nline of T2\n"
    );
    // The person's resolution is a commit of theirs on the task's branch, merged.
    let b = state.branch.clone().unwrap();
    let authors = git(&ws, &["log", "--format=%an", &b.branch]);
    assert!(authors.lines().any(|a| a == "tester@lab"), "{authors}");
    assert!(state.tasks.iter().all(|t| t.status == TaskStatus::Done));
}

/// The simulated company on a person's repository given by a relative path, with a relative
/// data directory: the run works on its branch (git is given absolute paths), and the
/// repository's own branch does not move.
#[test]
fn the_demo_runs_on_an_existing_repository_from_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("mine");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("NOTES.md"), "mine\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "start"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let out = common::bin()
        .current_dir(dir.path())
        .args([
            "--data-dir",
            "data",
            "--foreground",
            "run",
            "--headless",
            "--yes",
        ])
        .args(["--repo", "mine", "Build a command-line todo app"])
        .output()
        .unwrap();
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("result:    branch macrohard/"), "{stderr}");
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    let branches = git(
        &repo,
        &[
            "branch",
            "--list",
            "macrohard/*",
            "--format=%(refname:short)",
        ],
    );
    let branch = branches
        .lines()
        .find(|b| !b.contains("-T"))
        .expect("the run branch");
    let files = git(&repo, &["ls-tree", "-r", "--name-only", branch]);
    for f in [
        "NOTES.md",
        "DESIGN.md",
        "README.md",
        "todo/core.py",
        "tests/test_cli.py",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} not in {files}");
    }
}

/// An engineer task and a check after it. The engineer's first attempt writes a.txt and gives
/// up, the second writes b.txt and keeps busy until a person cancels it, the third (a
/// person's retry) writes c.txt and completes.
fn three_attempts(req: &LlmRequest) -> Turn {
    let attempt = req.context.task.as_ref().map_or(0, |t| t.attempt);
    match (req.context.role.as_str(), attempt, step(req)) {
        ("supervisor", _, 0) => Turn::think("plan")
            .call(
                "create_task",
                json!({"title": "Build", "description": "d", "role": "engineer"}),
            )
            .call(
                "create_task",
                json!({"title": "Check", "description": "d", "role": "qa", "depends_on": ["T1"]}),
            ),
        ("qa", _, _) => Turn::think("fine").call(
            "complete_task",
            json!({"summary": "checked", "evidence": "looked"}),
        ),
        ("supervisor", _, _) if all_done(req) => {
            Turn::think("done").call("finish_run", json!({"summary": "ok"}))
        }
        ("supervisor", _, _) => Turn::think("waiting"),
        (_, a, 0) => {
            let file = ["a.txt", "b.txt", "c.txt"][(a.clamp(1, 3) - 1) as usize];
            Turn::think("write").call("write_file", json!({"path": file, "content": "x\n"}))
        }
        (_, 1, _) => Turn::think("stuck").call("fail_task", json!({"reason": "try again"})),
        (_, 2, _) => Turn::think("busy").call("run_command", json!({"command": "sleep 1"})),
        _ => Turn::think("done").call(
            "complete_task",
            json!({"summary": "built", "evidence": "the files are there"}),
        ),
    }
}

/// A long run keeps only live tasks' worktrees: a later attempt goes on from the last one's
/// work and removes its worktree, and a cancelled task's worktree is committed to its branch
/// and removed once its agent has stopped, so a retry goes on from that branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worktrees_of_earlier_attempts_and_cancelled_tasks_go_and_their_work_stays() {
    use macrohard::protocol::Command as Steer;
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let (store, engine) = start(dir.path(), ws.clone(), "retire", three_attempts, |_| {}).await;
    let h = engine.handle.clone();
    let (_, mut rx) = h.subscribe().await.unwrap();
    let person = tokio::spawn(async move {
        let mut made: Vec<String> = Vec::new();
        while let Ok(rec) = rx.recv().await {
            match rec.event {
                Event::WorktreeCreated {
                    task,
                    attempt,
                    path,
                    ..
                } if task.as_str() == "T1" => {
                    // The attempt before it has no worktree any more.
                    if let Some(before) = made.last() {
                        assert!(!Path::new(before).exists(), "{before} is still there");
                    }
                    made.push(path);
                    assert_eq!(made.len(), attempt as usize);
                }
                Event::ToolCallRequested { ref tool, .. }
                    if tool == "run_command" && made.len() == 2 =>
                {
                    // The second attempt is busy: cancel it while its agent works.
                    let _ = h
                        .command(
                            common::scripted::tester(),
                            Steer::CancelTask {
                                task: "T1".into(),
                                reason: Some("not this way".into()),
                            },
                        )
                        .await;
                }
                Event::WorktreeRemoved { path, .. } if made.len() == 2 && path == made[1] => {
                    assert!(!Path::new(&path).exists(), "{path} is still there");
                    h.command(
                        common::scripted::tester(),
                        Steer::RetryTask { task: "T1".into() },
                    )
                    .await
                    .expect("retry");
                    let _ = h
                        .command(common::scripted::tester(), Steer::ResumeRun)
                        .await;
                }
                _ => {}
            }
        }
        made
    });
    let done = finish(store, engine.join, ws.clone()).await;
    let made = person.await.unwrap();
    done.assert_completed();
    let (state, records) = (&done.state, &done.records);
    assert_eq!(made.len(), 3, "{made:?}");
    // The third attempt went on from the second's branch, which went on from the first.
    for f in ["a.txt", "b.txt", "c.txt"] {
        assert_eq!(
            std::fs::read_to_string(ws.join(f)).unwrap(),
            "x\n",
            "{f} is missing"
        );
    }
    let kept = records.iter().any(|r| {
        matches!(&r.event, Event::Log { text, .. } if text.contains("what it left is kept on") && text.contains("-T1-2"))
    });
    assert!(kept, "the cancelled attempt's commit is logged");
    let branch = wt_branch(state, 2);
    assert_eq!(show(&ws, &format!("{branch}:b.txt")), "x\n");
    let log = git(&ws, &["log", "--format=%an %B", &branch]);
    assert!(
        log.contains("attempt 2 (cancelled by tester@lab: not this way)"),
        "{log}"
    );
}

/// The branch of a task attempt of this run.
fn wt_branch(state: &macrohard::domain::RunState, attempt: u32) -> String {
    macrohard::tools::git::worktree::task_branch(state.id().unwrap().as_str(), "T1", attempt)
}

/// An engineer task whose first call needs a person's approval, and a check after it.
fn asks_then_waits(req: &LlmRequest) -> Turn {
    match (req.context.role.as_str(), step(req)) {
        ("supervisor", 0) => Turn::think("plan")
            .call(
                "create_task",
                json!({"title": "Build", "description": "d", "role": "engineer"}),
            )
            .call(
                "create_task",
                json!({"title": "Check", "description": "d", "role": "qa", "depends_on": ["T1"]}),
            ),
        ("supervisor", _) => Turn::think("waiting"),
        (_, 0) => {
            Turn::think("run it").call("run_command", json!({"command": "echo ran > ran.txt"}))
        }
        _ => Turn::think("done").call(
            "complete_task",
            json!({"summary": "built", "evidence": "ran"}),
        ),
    }
}

/// Cancelling a task takes its waiting approvals with it: nobody is left to act on an answer,
/// so the approvals bar does not keep a request that leads nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_tasks_waiting_approval_expires_with_it() {
    use macrohard::protocol::Command as Steer;
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let (store, engine) = start(dir.path(), ws, "cancel", asks_then_waits, |c| {
        c.auto_approve = None;
    })
    .await;
    let h = engine.handle.clone();
    let (_, mut rx) = h.subscribe().await.unwrap();
    let person = tokio::spawn(async move {
        while let Ok(rec) = rx.recv().await {
            if let Event::ApprovalRequested { approval, call, .. } = rec.event {
                h.command(
                    common::scripted::tester(),
                    Steer::CancelTask {
                        task: "T1".into(),
                        reason: None,
                    },
                )
                .await
                .unwrap();
                // Answered late, it is refused: the request has gone.
                let late = h
                    .command(
                        common::scripted::tester(),
                        Steer::Approve {
                            approval: approval.clone(),
                            always: false,
                        },
                    )
                    .await;
                // The check waits for the cancelled task: cancelling it too ends the run.
                h.command(
                    common::scripted::tester(),
                    Steer::CancelTask {
                        task: "T2".into(),
                        reason: None,
                    },
                )
                .await
                .unwrap();
                // (The run paused for a person when nothing could go on.)
                let _ = h
                    .command(common::scripted::tester(), Steer::ResumeRun)
                    .await;
                return (approval, call, late);
            }
        }
        panic!("nothing was asked")
    });
    let done = finish(store, engine.join, dir.path().join("ws")).await;
    let (approval, call, late) = person.await.unwrap();
    let (state, records) = (&done.state, &done.records);
    assert_eq!(late, Err(format!("{approval} expired: T1 was cancelled")));
    let expired = records.iter().find_map(|r| match &r.event {
        Event::ApprovalExpired {
            approval: a,
            reason,
            by,
        } if *a == approval => Some((reason.clone(), by.to_string())),
        _ => None,
    });
    assert_eq!(
        expired,
        Some(("T1 was cancelled".to_owned(), "tester@lab".to_owned()))
    );
    assert_eq!(state.pending_approvals().count(), 0);
    let ran = records.iter().any(
        |r| matches!(&r.event, Event::ToolCallFinished { call: c, ok: true, .. } if *c == call),
    );
    assert!(!ran, "the command never ran");
    assert!(
        !records
            .iter()
            .any(|r| matches!(&r.event, Event::ApprovalResolved { .. }))
    );
}
