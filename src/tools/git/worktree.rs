//! Runs on branches. A run works on the branch `macrohard/<run>` of a repository: one made for
//! it (greenfield, or a plain folder), or the person's own, whose work tree, index, HEAD and
//! other branches are never touched. Each task attempt works in a worktree of its own, on a
//! branch made from the run branch when it starts; the merge queue merges finished branches
//! into the run branch one at a time, in the worktree that holds the run branch.
//!
//! Every step is a plain git command, safe to repeat or to undo after a crash: a worktree is
//! made again from scratch, a merge is committed (the branch moves atomically) or undone.

use super::{as_engine, commit_staged, git, run, yes_no};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The run branch of a run.
pub fn run_branch(run: &str) -> String {
    format!("macrohard/{run}")
}

/// The branch of one task attempt. Not under `macrohard/<run>/`: a ref cannot be both a
/// branch and a folder of branches.
pub fn task_branch(run: &str, task: &str, attempt: u32) -> String {
    format!("macrohard/{run}-{task}-{attempt}")
}

/// Where a run's repository and branch are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRepo {
    /// The repository's main work tree.
    pub repo: PathBuf,
    pub branch: String,
    /// The commit the run branch started from.
    pub base: String,
    /// The work tree that holds the run branch.
    pub worktree: PathBuf,
    /// The repository is the person's.
    pub existing: bool,
}

/// Whether `dir` is the top of a git work tree (a `.git` folder or file in it).
pub fn is_repository(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(".git")).is_ok()
}

fn rev(root: &Path, what: &str) -> Result<String, String> {
    let mut c = git(root);
    c.args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{what}^{{commit}}"));
    run(c, "rev-parse")
        .map(|s| s.trim().to_owned())
        .map_err(|_| format!("`{what}` names no commit"))
}

/// Whether a git command exits 0, its output kept off the terminal.
fn succeeds(mut c: std::process::Command) -> bool {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A repository made for the run in `dir` (a new folder, or a plain folder whose files become
/// the base commit): its main work tree holds the run branch.
pub fn prepare_own(dir: &Path, run_id: &str) -> Result<RunRepo, String> {
    super::ensure_repo(dir)?;
    let branch = run_branch(run_id);
    let base = match rev(dir, "HEAD") {
        Ok(head) => head,
        Err(_) => {
            let mut c = git(dir);
            c.args(["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")]);
            run(c, "symbolic-ref")?;
            let mut c = git(dir);
            c.args(["add", "-A"]);
            run(c, "add")?;
            let mut c = git(dir);
            as_engine(&mut c, true)
                .args(["commit", "-q", "--allow-empty", "--no-verify", "-m"])
                .arg(format!("Run {run_id} starts"));
            run(c, "commit")?;
            rev(dir, "HEAD")?
        }
    };
    if rev(dir, &format!("refs/heads/{branch}")).is_err() {
        return Err(format!(
            "{} is a repository already: run it with --repo to work on a branch of it",
            dir.display()
        ));
    }
    Ok(RunRepo {
        repo: dir.to_owned(),
        branch,
        base,
        worktree: dir.to_owned(),
        existing: false,
    })
}

/// The person's repository at `repo`: the run branch is made at `base` (their HEAD commit by
/// default) and checked out in a worktree at `worktree`, outside their work tree. Their work
/// tree, index, HEAD and branches stay as they are.
pub fn prepare_existing(
    repo: &Path,
    run_id: &str,
    base: Option<&str>,
    worktree: &Path,
) -> Result<RunRepo, String> {
    if !is_repository(repo) {
        return Err(format!(
            "{} is not the top of a git repository",
            repo.display()
        ));
    }
    let base = match base {
        Some(b) => rev(repo, b)?,
        // A repository with no commit yet: the run starts from an empty commit of its own
        // (an object, no ref of the person's moves).
        None => rev(repo, "HEAD").or_else(|_| empty_commit(repo, run_id))?,
    };
    let branch = run_branch(run_id);
    let mut c = git(repo);
    c.args(["branch", "--no-track", "--end-of-options", &branch, &base]);
    run(c, "branch")?;
    add_worktree(repo, worktree, &branch, None)?;
    Ok(RunRepo {
        repo: repo.to_owned(),
        branch,
        base,
        worktree: worktree.to_owned(),
        existing: true,
    })
}

/// A commit of the empty tree with no parent, made as the engine; its id.
fn empty_commit(repo: &Path, run_id: &str) -> Result<String, String> {
    let mut c = git(repo);
    c.args(["hash-object", "-t", "tree", "-w", "--stdin"])
        .stdin(Stdio::null());
    let tree = run(c, "hash-object")?.trim().to_owned();
    let mut c = git(repo);
    as_engine(&mut c, true)
        .args(["commit-tree", &tree, "-m"])
        .arg(format!("Run {run_id} starts"));
    Ok(run(c, "commit-tree")?.trim().to_owned())
}

/// Checks `branch` out in a new worktree at `path` (made with `-b new` from `branch` when a
/// new branch is named). Leftovers of an earlier try (a half-made worktree, the branch) are
/// removed first, so this can be repeated after a crash.
fn add_worktree(repo: &Path, path: &Path, branch: &str, new: Option<&str>) -> Result<(), String> {
    let _one_at_a_time = worktree_lock();
    add_worktree_now(repo, path, branch, new)
}

fn add_worktree_now(
    repo: &Path,
    path: &Path,
    branch: &str,
    new: Option<&str>,
) -> Result<(), String> {
    remove_worktree_now(repo, path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot make {}: {e}", parent.display()))?;
    }
    let mut c = git(repo);
    // Parallel checkout (one worker per core): a 200 MB checkout is CPU-bound in git.
    c.args(["-c", "checkout.workers=0", "worktree", "add", "-q"]);
    match new {
        Some(new) => {
            delete_branch(repo, new);
            c.args(["-b", new]).arg(path).arg(branch);
        }
        None => {
            c.arg(path).arg(branch);
        }
    }
    run(c, "worktree add").map(|_| ())
}

/// A worktree for a task attempt at `path`, on the new branch `branch` made from the run
/// branch as it is now; the commit it starts from.
pub fn add_task_worktree(
    repo: &Path,
    path: &Path,
    branch: &str,
    run_branch: &str,
) -> Result<String, String> {
    let base = rev(repo, &format!("refs/heads/{run_branch}"))?;
    add_worktree(repo, path, &base, Some(branch))?;
    Ok(base)
}

/// A worktree for a later attempt at `path`, on the new branch `branch`, going on from the
/// previous attempt: what it left in its worktree `previous` is committed there first (as
/// `commit` says) and that worktree is removed, or, when it is already gone, the attempt goes
/// on from the tip of its branch `previous_branch`. Either way nothing of it is lost: its
/// branch keeps it. `Ok(false)` when neither is there (the new attempt starts afresh).
pub fn continue_task_worktree(
    repo: &Path,
    path: &Path,
    branch: &str,
    previous: Option<&Path>,
    previous_branch: &str,
    commit: &super::TaskCommit,
) -> Result<bool, String> {
    // One lock for all of it: the previous worktree may be being retired at the same time.
    let _one_at_a_time = worktree_lock();
    let previous = previous.filter(|p| p.is_dir());
    let tip = if let Some(previous) = previous {
        commit_worktree(previous, commit)?;
        head(previous)?
    } else {
        match rev(repo, &format!("refs/heads/{previous_branch}")) {
            Ok(tip) => tip,
            Err(_) => return Ok(false),
        }
    };
    add_worktree_now(repo, path, &tip, Some(branch))?;
    // Every worktree of a repository costs each later git command a look: a long run would
    // otherwise keep one per attempt (thousands) until it ends.
    // (A resumed run's interrupted attempt goes on in a worktree at the same path.)
    if let Some(previous) = previous.filter(|p| *p != path) {
        remove_worktree_now(repo, previous);
    }
    Ok(true)
}

/// Retires the worktree of a task that ended without being merged (cancelled, replaced):
/// what it holds is committed to its branch (as `commit` says), which stays, so a retry goes
/// on from there; then the worktree is removed. The new commit, if any. A worktree that
/// cannot be committed is kept, so nothing is lost.
pub fn retire_worktree(
    repo: &Path,
    path: &Path,
    commit: &super::TaskCommit,
) -> Result<Option<String>, String> {
    let _one_at_a_time = worktree_lock();
    let sha = if path.is_dir() {
        commit_worktree(path, commit)?
    } else {
        None
    };
    remove_worktree_now(repo, path);
    Ok(sha)
}

/// Held while a worktree is added or removed. git reads every worktree's files when it adds
/// one and prunes those it finds half-made, so two at once in a repository fail or undo each
/// other ("failed to read .git/worktrees/T4-1/commondir" when two tasks started together).
/// One lock for the process: these take milliseconds.
fn worktree_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes the worktree at `path` (and what git keeps for it), if there is one. Its branch
/// stays.
pub fn remove_worktree(repo: &Path, path: &Path) {
    let _one_at_a_time = worktree_lock();
    remove_worktree_now(repo, path);
}

fn remove_worktree_now(repo: &Path, path: &Path) {
    if std::fs::symlink_metadata(path).is_ok() {
        let mut c = git(repo);
        c.args(["worktree", "remove", "--force", "--force"])
            .arg(path);
        if !succeeds(c) {
            let _ = std::fs::remove_dir_all(path);
        }
    }
    let mut c = git(repo);
    c.args(["worktree", "prune"]);
    let _ = succeeds(c);
}

/// Deletes a branch of the run, if it exists.
pub fn delete_branch(repo: &Path, branch: &str) {
    if !branch.starts_with("macrohard/") {
        return;
    }
    let mut c = git(repo);
    c.args(["branch", "-q", "-D", "--end-of-options", branch]);
    let _ = succeeds(c);
}

/// The commit checked out in the work tree at `root`.
pub fn head(root: &Path) -> Result<String, String> {
    rev(root, "HEAD")
}

/// Whether a merge is under way in the work tree at `root`.
fn merging(root: &Path) -> bool {
    let mut c = git(root);
    c.args(["rev-parse", "-q", "--verify", "MERGE_HEAD"]);
    succeeds(c)
}

/// Commits everything in a task's worktree (it is the task's alone), authored by its role:
/// the new commit, or `None` when nothing changed. A merge the agent resolved is committed
/// as that merge.
pub fn commit_worktree(root: &Path, t: &super::TaskCommit) -> Result<Option<String>, String> {
    let mut c = git(root);
    c.args(["add", "-A"]);
    run(c, "add")?;
    if !super::staged(root)? && !merging(root) {
        return Ok(None);
    }
    commit_staged(root, &t.role, &super::commit_message(t))
}

/// The files changed between `base` and `tip`.
pub fn changed_files(root: &Path, base: &str, tip: &str) -> Result<Vec<String>, String> {
    let mut c = git(root);
    c.args([
        "diff",
        "--name-only",
        "-z",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        base,
        tip,
        "--",
    ]);
    Ok(run(c, "diff")?
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

/// How merging a task's branch into the run branch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The merge is in the run's work tree, not committed yet (the check runs on it).
    Staged,
    /// The branch has nothing the run branch lacks.
    UpToDate,
    /// These files conflict; nothing changed.
    Conflict(Vec<String>),
}

/// The files with conflicts in the work tree at `root`.
fn conflicted(root: &Path) -> Vec<String> {
    let mut c = git(root);
    c.args([
        "diff",
        "--name-only",
        "-z",
        "--diff-filter=U",
        "--no-ext-diff",
    ]);
    run(c, "diff")
        .unwrap_or_default()
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The files of a merge under way in the work tree at `root` that still hold a conflict
/// marker line.
pub fn with_markers(root: &Path) -> Vec<String> {
    conflicted(root)
        .into_iter()
        .filter(|f| {
            crate::fsread::read_text_no_follow(&root.join(f), 64 << 20).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.starts_with("<<<<<<< ") || l == "=======" || l.starts_with(">>>>>>> ")
                })
            })
        })
        .collect()
}

/// Starts merging `tip` into the branch checked out at `root`, without committing. On a
/// conflict the merge is undone and the conflicting files are named.
pub fn merge_begin(root: &Path, tip: &str) -> Result<Merge, String> {
    if contains(root, tip)? {
        return Ok(Merge::UpToDate);
    }
    let out = merge_no_commit(root, tip)?;
    if out.status.success() {
        return Ok(Merge::Staged);
    }
    let files = conflicted(root);
    merge_undo(root);
    if files.is_empty() {
        return Err(format!(
            "git merge failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Merge::Conflict(files))
}

/// Whether the branch checked out at `root` contains `tip`.
fn contains(root: &Path, tip: &str) -> Result<bool, String> {
    let mut c = git(root);
    c.args(["merge-base", "--is-ancestor", tip, "HEAD"]);
    yes_no(c, "merge-base")
}

/// `git merge --no-ff --no-commit` of `rev` into the branch checked out at `root`, as the
/// engine: the merge is left under way (or in conflict) for the caller.
fn merge_no_commit(root: &Path, rev: &str) -> Result<std::process::Output, String> {
    let mut c = git(root);
    as_engine(&mut c, false)
        .args([
            "merge",
            "-q",
            "--no-ff",
            "--no-commit",
            "--no-edit",
            "--end-of-options",
            rev,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git (merge): {e}"))
}

/// Commits the merge staged by [`merge_begin`]; the merge commit.
pub fn merge_finish(root: &Path, message: &str) -> Result<String, String> {
    commit_staged(root, super::ENGINE_NAME, message)?.ok_or_else(|| "nothing to commit".into())
}

/// Undoes a merge under way (or anything else left in the work tree at `root`): back to the
/// checked-out commit, files no commit knows removed (ignored ones stay).
pub fn merge_undo(root: &Path) {
    let mut c = git(root);
    c.args(["merge", "--abort"]);
    let _ = succeeds(c);
    let mut c = git(root);
    c.args(["reset", "-q", "--hard", "HEAD"]);
    let _ = succeeds(c);
    let mut c = git(root);
    c.args(["clean", "-q", "-f", "-d"]);
    let _ = succeeds(c);
}

/// After a crash: waits (briefly) for a git that outlived the process to let go of the
/// index, takes the lock away if it does not, and undoes a half-made merge in the run's work
/// tree. The branch itself is always before or after a merge: git moves it atomically.
pub fn recover(root: &Path) {
    let git_dir = super::git_dir_of(root);
    let lock = git_dir.join("index.lock");
    for _ in 0..20 {
        if std::fs::symlink_metadata(&lock).is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A git killed with the process leaves its locks: the work tree's own, and the shared
    // ones of the run's refs (a worktree's git directory is `<common>/worktrees/<name>`).
    for name in WORKTREE_LOCKS {
        let _ = std::fs::remove_file(git_dir.join(name));
    }
    let common = match git_dir.parent() {
        Some(p) if p.file_name().is_some_and(|n| n == "worktrees") => {
            p.parent().map(Path::to_path_buf)
        }
        _ => Some(git_dir.clone()),
    };
    if let Some(common) = common {
        let _ = std::fs::remove_file(common.join("packed-refs.lock"));
        remove_locks(&common.join("refs/heads/macrohard"));
    }
    merge_undo(root);
}

/// After a crash: the locks a git killed with the process left in the task worktrees under
/// `dir` (the run's worktrees folder; the run's own worktree `run` is [`recover`]'s), so that
/// a later attempt can go on from them. Only worktrees whose git directory names them back are
/// touched (see [`super::git_dir_of`]).
pub fn recover_task_worktrees(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name() == "run" {
            continue;
        }
        let git_dir = super::git_dir_of(&e.path());
        for name in WORKTREE_LOCKS {
            let _ = std::fs::remove_file(git_dir.join(name));
        }
    }
}

/// The lock files git keeps in a work tree's own git directory.
const WORKTREE_LOCKS: [&str; 6] = [
    "index.lock",
    "HEAD.lock",
    "AUTO_MERGE.lock",
    "MERGE_HEAD.lock",
    "ORIG_HEAD.lock",
    "MERGE_MSG.lock",
];

/// Removes every `*.lock` file under `dir` (git's lock files of the run's branches).
fn remove_locks(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            remove_locks(&e.path());
        } else if kind.is_file() && e.file_name().to_string_lossy().ends_with(".lock") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether `tip` is part of the branch checked out at `root`, and the merge commit that
/// brought it in (a first-parent merge whose second parent is `tip`).
pub fn merged_by(root: &Path, tip: &str) -> Option<String> {
    if !contains(root, tip).ok()? {
        return None;
    }
    let mut c = git(root);
    c.args([
        "rev-list",
        "--first-parent",
        "--merges",
        "--parents",
        "-n",
        "200",
        "HEAD",
    ]);
    let list = run(c, "rev-list").ok()?;
    let found = list.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        let (sha, _, second) = (parts.next()?, parts.next()?, parts.next()?);
        (tip.starts_with(second) || second.starts_with(tip)).then(|| sha.to_owned())
    });
    Some(found.unwrap_or_else(|| tip.to_owned()))
}

/// Brings the run branch into a task's worktree so that its agent can resolve the conflict
/// there: the merge is left under way, with conflict markers in the files named.
pub fn conflict_into(root: &Path, run_branch: &str) -> Result<Vec<String>, String> {
    merge_no_commit(root, run_branch)?;
    Ok(conflicted(root))
}

#[cfg(test)]
mod tests;
