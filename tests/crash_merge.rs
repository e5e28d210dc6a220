#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash safety of the merge queue: kill -9 the real binary while it merges a task into the
//! run branch (in `git merge --no-commit`, in the run's check, the instant the merge commit
//! lands, or at a random moment), resume, and check that the run branch is never left
//! half-merged and that every merge is recorded exactly once. Also, in process, that the git
//! steps recovery relies on are rolled back or repeatable: a half-made merge is undone, a
//! merge that landed unrecorded is found, a worktree cut short is made again.

mod common;

use common::{bin, export_jsonl};
use macrohard::tools::git::worktree as wt;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::git::{git, git_output as git_out};

/// Whether a merge is under way in the work tree at `dir`.
fn merge_head(dir: &Path) -> bool {
    git_out(dir, &["rev-parse", "-q", "--verify", "MERGE_HEAD"])
        .status
        .success()
}

// --- The real binary, killed while it merges ------------------------------------------------

/// A run of the binary, its `--json` events read off its standard output as they come.
struct Proc {
    child: Child,
    events: mpsc::Receiver<Value>,
}

fn start(data: &Path, config: &Path, args: &[&str], stderr: &Path) -> Proc {
    use std::os::unix::process::CommandExt;
    let mut child = bin()
        .env("MACROHARD_SIM_SPEED", "10")
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .args(args)
        .args(["--headless", "--yes", "--json", "--foreground"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        // Its own process group, so that a kill can take the git it runs with it.
        .process_group(0)
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    Proc { child, events }
}

/// When to kill the process.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after a merge is recorded as started (`merge_started`): in `git merge`, in
    /// the run's check (a `sleep 0.4`), or committing.
    InMerge(Duration),
    /// The instant the run branch moves: the merge has landed, its event is not recorded yet.
    Landed,
    /// This long after the start, whatever it is doing (making a worktree, booting,
    /// recovering, an agent's turn, a merge).
    At(Duration),
}

/// Where the run's branch is.
#[derive(Debug, Clone)]
struct RunBranch {
    worktree: PathBuf,
    branch: String,
}

impl RunBranch {
    fn of(events: &[Value]) -> Option<Self> {
        let e = events.iter().find(|e| e["event"]["type"] == "run_branch")?;
        Some(Self {
            worktree: e["event"]["worktree"].as_str()?.into(),
            branch: e["event"]["branch"].as_str()?.to_owned(),
        })
    }

    /// The commit the run branch is at (read from the ref file, fast enough to catch the
    /// moment it moves; through git when the ref is not a loose file).
    fn tip(&self) -> String {
        let git_dir = macrohard::tools::git::git_dir_of(&self.worktree);
        match std::fs::read_to_string(git_dir.join("refs/heads").join(&self.branch)) {
            Ok(s) => s.trim().to_owned(),
            Err(_) => git(
                &self.worktree,
                &["rev-parse", &format!("refs/heads/{}", self.branch)],
            ),
        }
    }
}

/// What one kill hit.
#[derive(Debug)]
struct Kill {
    moment: Moment,
    group: bool,
    after: Duration,
    /// Tasks whose merge was recorded as started and not as ended, with their tips.
    in_flight: Vec<(String, String)>,
    /// The run's work tree held a merge under way (MERGE_HEAD) when the process died.
    half_merged: bool,
    /// In-flight tasks whose merge commit had landed on the run branch.
    landed: Vec<String>,
}

/// Follows `p` until `moment`, then kills it (its whole process group when `group`): how
/// long it ran; or, if it ends first, its exit code. Events numbered `seen` or lower are old
/// (a backlog).
fn drive(
    p: &mut Proc,
    moment: Moment,
    seen: u64,
    branch: &mut Option<RunBranch>,
    group: bool,
) -> Result<Duration, Option<i32>> {
    let start = Instant::now();
    let mut deadline = match moment {
        Moment::At(d) => Some(start + d),
        _ => None,
    };
    // Landed: the branch's commit when the merge started.
    let mut watching: Option<String> = None;
    loop {
        if let Some(before) = &watching {
            if let Some(b) = branch.as_ref() {
                if &b.tip() != before {
                    break;
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Some(status) = p.child.try_wait().unwrap() {
            return Err(status.code());
        }
        // No merge came (the run is at its end): kill it anyway.
        if deadline.is_none() && start.elapsed() > Duration::from_secs(30) {
            break;
        }
        while let Ok(v) = p.events.try_recv() {
            if v["seq"].as_u64().unwrap_or(0) <= seen {
                continue;
            }
            let e = &v["event"];
            match e["type"].as_str().unwrap_or("") {
                "run_branch" if branch.is_none() => {
                    *branch = RunBranch::of(std::slice::from_ref(&v));
                }
                "merge_started" => match moment {
                    Moment::InMerge(d) if deadline.is_none() => {
                        deadline = Some(Instant::now() + d);
                    }
                    Moment::Landed if watching.is_none() => {
                        watching = branch.as_ref().map(RunBranch::tip);
                    }
                    _ => {}
                },
                // Missed it (it landed between two looks): wait for the next one.
                "task_merged" => watching = None,
                _ => {}
            }
        }
        std::thread::sleep(if watching.is_some() {
            Duration::from_micros(300)
        } else {
            Duration::from_millis(3)
        });
    }
    let after = start.elapsed();
    let pid = p.child.id() as i32;
    if group {
        // SAFETY: a plain kill(2) of the process group the child leads.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    } else {
        let _ = p.child.kill(); // SIGKILL
    }
    p.child.wait().unwrap();
    Ok(after)
}

/// The tasks whose merge was started and had not ended (merged, failed its check, turned
/// back, made a new worktree, or been put back by a recovery), with their tips.
fn merges_in_flight(events: &[Value]) -> Vec<(String, String)> {
    let mut open: BTreeMap<String, String> = BTreeMap::new();
    for e in events {
        let e = &e["event"];
        let task = e["task"].as_str().unwrap_or("").to_owned();
        match e["type"].as_str().unwrap_or("") {
            "merge_started" => {
                open.insert(task, e["tip"].as_str().unwrap().to_owned());
            }
            "task_merged" | "worktree_created" | "task_status_changed" => {
                open.remove(&task);
            }
            "task_checked" if e["ok"] == false => {
                open.remove(&task);
            }
            "recovered" => {
                for t in e["tasks"].as_array().into_iter().flatten() {
                    open.remove(t.as_str().unwrap_or(""));
                }
            }
            _ => {}
        }
    }
    open.into_iter().collect()
}

fn of_type<'a>(events: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    events
        .iter()
        .filter(move |e| e["event"]["type"] == kind)
        .map(|e| &e["event"])
}

#[test]
fn killed_during_merges_a_resumed_run_leaves_a_consistent_branch_and_records_each_merge_once() {
    crash_merges(false);
}

/// The same, with the process's whole group killed (a closed terminal, a cgroup stopped, the
/// power cut): a git the engine runs dies with it, holding its lock files.
#[test]
fn killed_with_its_git_during_merges_a_resumed_run_leaves_a_consistent_branch() {
    crash_merges(true);
}

/// Kills a run at moments inside merges (its process, or its whole process group when
/// `group`), resumes it each time, lets the last resume finish, and checks the branch and
/// the log.
fn crash_merges(group: bool) {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("CRASH_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    // A slow check, so that a kill after `merge_started` lands inside the merge.
    std::fs::write(&config, "[run]\ncheck = \"sleep 0.4\"\n").unwrap();

    let mut ms = |lo: u64, hi: u64| Duration::from_millis(rng.u64(lo..hi));
    let moments = [
        Moment::InMerge(ms(0, 350)),
        Moment::Landed,
        Moment::InMerge(ms(50, 380)),
        Moment::At(ms(300, 2500)),
        Moment::Landed,
        Moment::InMerge(ms(0, 380)),
    ];
    let mut kills: Vec<Kill> = Vec::new();
    let mut branch: Option<RunBranch> = None;
    let mut seen = 0;
    let mut finished = false;
    for (i, moment) in moments.into_iter().enumerate() {
        let args: &[&str] = if i == 0 {
            &["run"]
        } else {
            &["resume", "last"]
        };
        let stderr = dir.path().join(format!("stderr-{i}.txt"));
        let mut p = start(&data, &config, args, &stderr);
        // Every other kill takes the process group: a git the engine runs dies with it.
        let group = group && i % 2 == 1;
        match drive(&mut p, moment, seen, &mut branch, group) {
            Err(Some(0)) => {
                finished = true;
                break;
            }
            Err(code) => panic!(
                "seed {seed}: process {i} ({args:?}) exited with {code:?}: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            ),
            Ok(after) => {
                let events = export_jsonl(&data, "last");
                seen = events.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
                if branch.is_none() {
                    branch = RunBranch::of(&events);
                }
                let b = branch.clone().expect("the run works on a branch");
                let in_flight = merges_in_flight(&events);
                let landed: Vec<String> = in_flight
                    .iter()
                    .filter(|(_, tip)| wt::merged_by(&b.worktree, tip).is_some())
                    .map(|(t, _)| t.clone())
                    .collect();
                // The branch is before or after each merge: a landed one is the merge commit
                // of exactly that tip, on top of the branch.
                for (task, tip) in &in_flight {
                    if landed.contains(task) {
                        let head = b.tip();
                        assert_eq!(
                            git(&b.worktree, &["rev-parse", &format!("{head}^2")]),
                            *tip,
                            "seed {seed}: the branch moved past {task}'s merge before it was recorded"
                        );
                    }
                }
                let kill = Kill {
                    moment,
                    group,
                    after,
                    in_flight,
                    half_merged: merge_head(&b.worktree),
                    landed,
                };
                eprintln!(
                    "kill {i}: {:?} after {:?}{}: in flight {:?}, half-merged on disk {}, landed unrecorded {:?}",
                    kill.moment,
                    kill.after,
                    if kill.group { " (process group)" } else { "" },
                    kill.in_flight,
                    kill.half_merged,
                    kill.landed
                );
                kills.push(kill);
            }
        }
    }
    if !finished {
        // The last resume runs to the end.
        let stderr = dir.path().join("stderr-last.txt");
        let mut p = start(&data, &config, &["resume", "last"], &stderr);
        let code = drive(
            &mut p,
            Moment::At(Duration::from_secs(90)),
            seen,
            &mut branch,
            false,
        );
        assert_eq!(
            code.err(),
            Some(Some(0)),
            "seed {seed}: the last resume did not complete the run: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
    }

    // Not vacuous: the process was killed with merges in flight.
    assert!(kills.len() >= 3, "seed {seed}: only {} kills", kills.len());
    assert!(
        kills.iter().any(|k| !k.in_flight.is_empty()),
        "seed {seed}: no kill landed inside a merge: {kills:?}"
    );
    assert!(
        kills.iter().any(|k| k.half_merged || !k.landed.is_empty()),
        "seed {seed}: no kill left a merge under way in the run's work tree or landed unrecorded: {kills:?}"
    );
    eprintln!(
        "seed {seed}: {} kills, {} inside a merge, {} with a half-made merge on disk, {} after a merge landed unrecorded",
        kills.len(),
        kills.iter().filter(|k| !k.in_flight.is_empty()).count(),
        kills.iter().filter(|k| k.half_merged).count(),
        kills.iter().filter(|k| !k.landed.is_empty()).count(),
    );

    let events = export_jsonl(&data, "last");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "seed {seed}: gap or duplicate"
    );
    let out = common::run(&data, &["runs", "--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "completed", "seed {seed}: {runs}");
    assert_eq!(runs[0]["tasks_done"], runs[0]["tasks_total"], "seed {seed}");
    let b = branch.expect("the run works on a branch");
    let root = &b.worktree;

    // Each merge recorded once.
    let mut merged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in of_type(&events, "task_merged") {
        merged
            .entry(e["task"].as_str().unwrap().to_owned())
            .or_default()
            .push(e["sha"].as_str().unwrap().to_owned());
    }
    for (task, shas) in &merged {
        assert_eq!(shas.len(), 1, "seed {seed}: {task} merged {shas:?}");
    }
    let committed: BTreeSet<String> = of_type(&events, "task_committed")
        .map(|e| e["task"].as_str().unwrap().to_owned())
        .collect();
    for task in &committed {
        assert!(
            merged.contains_key(task),
            "seed {seed}: {task} changed files and its merge is not recorded"
        );
    }
    // A landed merge the process did not record was recorded by the resume, once.
    for k in &kills {
        for task in &k.landed {
            assert!(
                merged.contains_key(task),
                "seed {seed}: {task}'s landed merge is lost"
            );
        }
    }

    // The branch: one merge commit per merged task, each of the tip the queue took, each
    // recorded; nothing half-made in the run's work tree.
    let first_parent: BTreeSet<String> = git(root, &["rev-list", "--first-parent", &b.branch])
        .lines()
        .map(str::to_owned)
        .collect();
    let mut by_task: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let merges = git(
        root,
        &[
            "log",
            "--first-parent",
            "--merges",
            "--format=%H %P",
            &b.branch,
        ],
    );
    for line in merges.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.len(), 3, "seed {seed}: {line}");
        let message = git(root, &["show", "-s", "--format=%B", parts[0]]);
        let task = message
            .lines()
            .find_map(|l| l.strip_prefix("Task: "))
            .unwrap_or_else(|| panic!("seed {seed}: a merge names no task: {message}"))
            .to_owned();
        let tips: Vec<&str> = of_type(&events, "merge_started")
            .filter(|e| e["task"] == task.as_str())
            .map(|e| e["tip"].as_str().unwrap())
            .collect();
        assert!(
            tips.contains(&parts[2]),
            "seed {seed}: {task}'s merge {} brought in {}, not a tip the queue took ({tips:?})",
            parts[0],
            parts[2]
        );
        by_task.entry(task).or_default().push(parts[0].to_owned());
    }
    for (task, commits) in &by_task {
        assert_eq!(
            commits.len(),
            1,
            "seed {seed}: {task} merged twice: {commits:?}"
        );
        assert_eq!(
            merged.get(task),
            Some(commits),
            "seed {seed}: {task}'s merge commit is not the one recorded"
        );
    }
    for (task, shas) in &merged {
        assert!(
            first_parent.contains(&shas[0]),
            "seed {seed}: {task}'s recorded merge {} is not on {}",
            shas[0],
            b.branch
        );
    }
    assert!(!merge_head(root), "seed {seed}: a merge is left under way");
    assert_eq!(
        git(root, &["status", "--porcelain"]),
        "",
        "seed {seed}: the run's work tree is not clean"
    );
    assert_eq!(git(root, &["rev-parse", "HEAD"]), b.tip(), "seed {seed}");
}

// --- The git steps, in process ---------------------------------------------------------------

fn task_commit(task: &str) -> macrohard::tools::git::TaskCommit {
    macrohard::tools::git::TaskCommit {
        task: task.into(),
        run: "R1".into(),
        title: format!("task {task}"),
        summary: "did it".into(),
        role: "engineer".into(),
        model: "m".into(),
        prompt_hash: "h".into(),
        approved_by: Vec::new(),
        cost_usd: 0.0,
        paths: Vec::new(),
    }
}

/// A run repository (made for run R1 in `dir/ws`) and a task's committed branch that adds
/// `file`: the run's work tree and the task's tip.
fn run_with_task(dir: &Path, task: &str, file: &str) -> (wt::RunRepo, String) {
    let ws = dir.join("ws");
    if !ws.exists() {
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("README.md"), "hello\n").unwrap();
    }
    let r = match wt::prepare_own(&ws, "R1") {
        Ok(r) => r,
        Err(_) => wt::RunRepo {
            repo: ws.clone(),
            branch: wt::run_branch("R1"),
            base: wt::head(&ws).unwrap(),
            worktree: ws.clone(),
            existing: false,
        },
    };
    let tw = dir.join("wt").join(format!("{task}-1"));
    wt::add_task_worktree(&r.repo, &tw, &wt::task_branch("R1", task, 1), &r.branch).unwrap();
    std::fs::write(tw.join(file), format!("{task}\n")).unwrap();
    let tip = wt::commit_worktree(&tw, &task_commit(task))
        .unwrap()
        .unwrap();
    (r, tip)
}

#[test]
fn a_half_made_merge_is_undone_on_recovery_and_the_branch_stays_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (r, tip) = run_with_task(dir.path(), "T1", "one.txt");
    let root = &r.worktree;
    let before = wt::head(root).unwrap();
    // The process died in the check: the merge is staged, not committed; the check left a
    // file; a git that died with it left the index locked.
    assert_eq!(wt::merge_begin(root, &tip).unwrap(), wt::Merge::Staged);
    assert!(merge_head(root));
    assert!(root.join("one.txt").exists());
    std::fs::write(root.join("check-output.txt"), "half\n").unwrap();
    let lock = macrohard::tools::git::git_dir_of(root).join("index.lock");
    std::fs::write(&lock, "").unwrap();

    wt::recover(root);
    assert_eq!(wt::head(root).unwrap(), before, "the branch moved");
    assert!(!merge_head(root), "the merge is still under way");
    assert!(!lock.exists());
    assert_eq!(git(root, &["status", "--porcelain"]), "");
    assert!(!root.join("one.txt").exists());
    assert!(!root.join("check-output.txt").exists());
    assert_eq!(wt::merged_by(root, &tip), None);
    // Recovering again changes nothing; the merge can be made again, once.
    wt::recover(root);
    assert_eq!(wt::head(root).unwrap(), before);
    assert_eq!(wt::merge_begin(root, &tip).unwrap(), wt::Merge::Staged);
    let m = wt::merge_finish(root, "Merge T1\n\nTask: T1\n").unwrap();
    assert_eq!(wt::merged_by(root, &tip), Some(m.clone()));
    assert_eq!(git(root, &["rev-parse", &format!("{m}^1")]), before);
    assert_eq!(git(root, &["rev-parse", &format!("{m}^2")]), tip);
}

#[test]
fn a_merge_that_landed_unrecorded_is_found_and_is_not_made_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (r, t1) = run_with_task(dir.path(), "T1", "one.txt");
    let root = r.worktree.clone();
    assert_eq!(wt::merge_begin(&root, &t1).unwrap(), wt::Merge::Staged);
    let m1 = wt::merge_finish(&root, "Merge T1\n\nTask: T1\n").unwrap();
    // The process died before `task_merged` was recorded (and before the task's worktree
    // and branch were removed). Recovery keeps the merge, and finds it.
    wt::recover(&root);
    assert_eq!(wt::head(&root).unwrap(), m1);
    assert_eq!(git(&root, &["status", "--porcelain"]), "");
    assert_eq!(wt::merged_by(&root, &t1), Some(m1.clone()));
    // Merging it again is a no-op: no second merge commit.
    assert_eq!(wt::merge_begin(&root, &t1).unwrap(), wt::Merge::UpToDate);
    assert_eq!(wt::head(&root).unwrap(), m1);
    // The removal of the task's worktree and branch is repeatable.
    let tw = dir.path().join("wt/T1-1");
    for _ in 0..2 {
        wt::remove_worktree(&r.repo, &tw);
        wt::delete_branch(&r.repo, &wt::task_branch("R1", "T1", 1));
    }
    assert!(!tw.exists());
    // Found behind later merges too; a tip that never landed is not.
    let (_, t2) = run_with_task(dir.path(), "T2", "two.txt");
    assert_eq!(wt::merged_by(&root, &t2), None);
    assert_eq!(wt::merge_begin(&root, &t2).unwrap(), wt::Merge::Staged);
    let m2 = wt::merge_finish(&root, "Merge T2\n\nTask: T2\n").unwrap();
    assert_eq!(wt::merged_by(&root, &t1), Some(m1));
    assert_eq!(wt::merged_by(&root, &t2), Some(m2));
    let merges = git(&root, &["rev-list", "--first-parent", "--merges", "HEAD"]);
    assert_eq!(merges.lines().count(), 2, "{merges}");
}

#[test]
fn a_worktree_creation_cut_short_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = run_with_task(dir.path(), "T1", "one.txt");
    let head = wt::head(&r.worktree).unwrap();
    let branch = wt::task_branch("R1", "T2", 1);
    let tw = dir.path().join("wt/T2-1");
    // Killed after the branch was made and the folder begun, before git registered it.
    git(&r.repo, &["branch", &branch, &head]);
    std::fs::create_dir_all(tw.join("sub")).unwrap();
    std::fs::write(tw.join("sub/partial.txt"), "x\n").unwrap();
    let base = wt::add_task_worktree(&r.repo, &tw, &branch, &r.branch).unwrap();
    assert_eq!(base, head);
    assert!(!tw.join("sub/partial.txt").exists());
    assert_eq!(wt::head(&tw).unwrap(), head);
    assert_eq!(git(&tw, &["status", "--porcelain"]), "");
    // Killed after git made it, before it was recorded: made again, as new.
    std::fs::write(tw.join("stray.txt"), "x\n").unwrap();
    let base = wt::add_task_worktree(&r.repo, &tw, &branch, &r.branch).unwrap();
    assert_eq!(base, head);
    assert!(!tw.join("stray.txt").exists());
    assert_eq!(
        git(&tw, &["rev-parse", "--abbrev-ref", "HEAD"]),
        branch,
        "the worktree is on its branch"
    );
    let listed = git(&r.repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(
        listed.matches(&format!("refs/heads/{branch}")).count(),
        1,
        "{listed}"
    );
}

#[test]
fn lock_files_of_a_git_killed_with_the_process_are_cleared_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (r, tip) = run_with_task(dir.path(), "T1", "one.txt");
    let root = &r.worktree;
    let git_dir = macrohard::tools::git::git_dir_of(root);
    // The worktree and branch of an attempt the crash interrupted, to be made again.
    let tw = dir.path().join("wt/T2-1");
    let branch = wt::task_branch("R1", "T2", 1);
    wt::add_task_worktree(&r.repo, &tw, &branch, &r.branch).unwrap();
    // Git died with the process: in `git merge` (AUTO_MERGE), in `git branch -D`
    // (packed-refs), committing the merge (the run branch's ref).
    for lock in [
        "AUTO_MERGE.lock".to_owned(),
        "packed-refs.lock".to_owned(),
        format!("refs/heads/{}.lock", r.branch),
    ] {
        std::fs::write(git_dir.join(lock), "").unwrap();
    }
    wt::recover(root);
    let made = wt::add_task_worktree(&r.repo, &tw, &branch, &r.branch);
    assert!(made.is_ok(), "the task's worktree: {made:?}");
    let begun = wt::merge_begin(root, &tip);
    assert_eq!(begun, Ok(wt::Merge::Staged));
    let finished = wt::merge_finish(root, "Merge T1\n\nTask: T1\n");
    assert!(finished.is_ok(), "the merge commit: {finished:?}");
    assert_eq!(wt::merged_by(root, &tip), finished.ok());
}

/// A git killed with the process in a task's worktree (an agent's command, the queue's
/// commit) leaves its index locked: the next attempt, which goes on from that worktree,
/// could not commit it until recovery clears the lock.
#[test]
fn an_attempts_worktree_locked_by_a_killed_git_is_cleared_for_the_next_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = run_with_task(dir.path(), "T1", "one.txt");
    let trees = dir.path().join("wt");
    let first = trees.join("T2-1");
    wt::add_task_worktree(&r.repo, &first, &wt::task_branch("R1", "T2", 1), &r.branch).unwrap();
    std::fs::write(first.join("half.txt"), "half\n").unwrap();
    let lock = macrohard::tools::git::git_dir_of(&first).join("index.lock");
    std::fs::write(&lock, "").unwrap();
    let commit = macrohard::tools::git::TaskCommit {
        task: "T2".into(),
        run: "R1".into(),
        title: "two".into(),
        summary: "attempt 1 (interrupted)".into(),
        role: "engineer".into(),
        model: "m".into(),
        prompt_hash: "h".into(),
        approved_by: Vec::new(),
        cost_usd: 0.0,
        paths: Vec::new(),
    };
    let second = trees.join("T2-2");
    let branch = wt::task_branch("R1", "T2", 2);
    let first_branch = wt::task_branch("R1", "T2", 1);
    let go_on = || {
        wt::continue_task_worktree(
            &r.repo,
            &second,
            &branch,
            Some(&first),
            &first_branch,
            &commit,
        )
    };
    let locked = go_on();
    assert!(locked.is_err(), "the lock stops it: {locked:?}");
    wt::recover_task_worktrees(&trees);
    assert!(!lock.exists());
    assert_eq!(go_on(), Ok(true));
    assert_eq!(
        std::fs::read_to_string(second.join("half.txt")).unwrap(),
        "half\n"
    );
}
