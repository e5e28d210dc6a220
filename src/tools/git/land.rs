//! Landing a run: its branch merged into a branch of the person's repository.
//!
//! Into the branch checked out in the repository's main work tree: only from a clean work tree
//! (no staged, unstaged or untracked changes; `.macrohard/` aside), and only after the merge
//! was computed without touching anything (`git merge-tree` into a throwaway object directory)
//! and found free of conflicts and of files of the person's that git ignores and the merge
//! would overwrite. Then `git merge`: a fast-forward when it can, else a merge commit.
//!
//! Into another branch: its ref alone moves, compare-and-swap against the value it was read
//! at (`git update-ref NEW OLD`): a fast-forward, or a merge commit made from the tree
//! `git merge-tree` wrote. The work tree, the index and HEAD are never touched. A branch that
//! does not exist is created at the run branch's tip.
//!
//! A refusal changes nothing: no file, no index, no ref, no object.

use super::{as_engine, git, run, yes_no};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `land` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landed {
    /// `into` already contains the run branch: nothing to do.
    Already { into: String, current: bool },
    /// `into` moved forward from `from` to the run branch's tip `to`.
    FastForward {
        into: String,
        current: bool,
        from: String,
        to: String,
    },
    /// A merge commit of `into` (at `from`) and the run branch.
    Merged {
        into: String,
        current: bool,
        from: String,
        commit: String,
    },
    /// `into` did not exist: made at the run branch's tip.
    Created { into: String, at: String },
}

/// Why `land` changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The run branch is not in the repository (deleted, or the repository is another one).
    NoRunBranch,
    /// HEAD names no branch.
    Detached,
    /// The current branch has no commit yet.
    Unborn { branch: String },
    /// A merge, rebase, cherry-pick, revert or bisect is under way in the repository.
    Busy { what: &'static str },
    /// The work tree has changes: `(the two status letters, path)`, `.macrohard/` left out.
    Dirty { changes: Vec<(String, String)> },
    /// Files of the person's that git ignores, which the run branch would overwrite.
    WouldOverwrite { paths: Vec<String> },
    /// Merging the run branch into `into` conflicts in `files`.
    Conflict {
        into: String,
        current: bool,
        files: Vec<String>,
    },
    /// `branch` is checked out in the linked worktree `worktree`.
    CheckedOutElsewhere { branch: String, worktree: String },
    /// `--into` named the run branch itself.
    IsRunBranch,
    /// `--into` named no valid branch.
    BadBranchName { name: String },
    /// Git failed in a way none of the above says.
    Git(String),
}

impl From<String> for Refusal {
    fn from(e: String) -> Self {
        Refusal::Git(e)
    }
}

/// A git command for `repo` whose commits and reflog entries are macrohard-tui's.
fn cmd(repo: &Path) -> Command {
    let mut c = git(repo);
    as_engine(&mut c, true)
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .stdin(std::process::Stdio::null());
    c
}

/// The commit `rev` names, or `None` when it names none.
fn commit_of(repo: &Path, rev: &str) -> Result<Option<String>, String> {
    let mut c = cmd(repo);
    c.args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"));
    let out = c
        .output()
        .map_err(|e| format!("cannot run git (rev-parse): {e}; is git installed?"))?;
    match out.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())),
        Some(1) => Ok(None),
        _ => Err(format!(
            "git rev-parse failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Whether `name` may be a local branch's name (and is not an option or `HEAD`).
pub fn valid_branch(repo: &Path, name: &str) -> bool {
    if name.is_empty() || name.starts_with('-') || name == "HEAD" {
        return false;
    }
    let mut c = cmd(repo);
    c.args(["check-ref-format", &format!("refs/heads/{name}")]);
    yes_no(c, "check-ref-format").unwrap_or(false)
}

/// The tip of the run branch `branch`.
pub fn run_tip(repo: &Path, branch: &str) -> Result<String, Refusal> {
    if !valid_branch(repo, branch) {
        return Err(Refusal::NoRunBranch);
    }
    commit_of(repo, &format!("refs/heads/{branch}"))?.ok_or(Refusal::NoRunBranch)
}

/// The branch checked out in the main work tree, `None` when HEAD is detached.
pub fn current_branch(repo: &Path) -> Result<Option<String>, String> {
    let mut c = cmd(repo);
    c.args(["symbolic-ref", "-q", "HEAD"]);
    let out = c
        .output()
        .map_err(|e| format!("cannot run git (symbolic-ref): {e}; is git installed?"))?;
    match out.status.code() {
        Some(0) => {
            let full = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            Ok(full.strip_prefix("refs/heads/").map(str::to_owned))
        }
        Some(1) => Ok(None),
        _ => Err(format!(
            "cannot read the repository: git symbolic-ref failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The work tree's changes, as `git status` sees them with the person's own ignore files
/// (their global excludes file too), `.macrohard/` left out.
pub fn changes(repo: &Path) -> Result<Vec<(String, String)>, String> {
    let mut c = cmd(repo);
    if let Some(file) = personal_excludes_file() {
        c.arg("-c").arg(format!("core.excludesFile={file}"));
    }
    c.args([
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--ignore-submodules=dirty",
    ]);
    let out = c
        .output()
        .map_err(|e| format!("cannot run git (status): {e}; is git installed?"))?;
    if !out.status.success() {
        return Err(format!(
            "git status failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(super::parse_status(&out.stdout)
        .into_iter()
        .filter(|(_, p)| p != ".macrohard" && !p.starts_with(".macrohard/"))
        .collect())
}

/// The excludes file the person's global git config names (`core.excludesFile`), so that
/// what they ignore everywhere does not count as a change. Reading config runs nothing.
fn personal_excludes_file() -> Option<String> {
    let out = Command::new("git")
        .args(["config", "--global", "--path", "--get", "core.excludesFile"])
        .current_dir("/")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_CONFIG_COUNT")
        .env_remove("GIT_CONFIG_PARAMETERS")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !file.is_empty() && Path::new(&file).is_file()).then_some(file)
}

/// The operation under way in the repository, if any: git's own state files for it.
fn busy(repo: &Path) -> Result<Option<&'static str>, String> {
    let mut c = cmd(repo);
    c.args(["rev-parse", "--path-format=absolute", "--git-dir"]);
    let dir = PathBuf::from(run(c, "rev-parse")?.trim());
    let states = [
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase or `git am`"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
        ("BISECT_LOG", "a bisect"),
    ];
    Ok(states
        .into_iter()
        .find(|(f, _)| std::fs::symlink_metadata(dir.join(f)).is_ok())
        .map(|(_, what)| what))
}

/// Whether a rebase under way in any work tree of the repository will set `refname` when it
/// ends (and so would undo a move of it now).
fn being_rebased(repo: &Path, refname: &str) -> Result<bool, String> {
    let mut c = cmd(repo);
    c.args(["rev-parse", "--path-format=absolute", "--git-common-dir"]);
    let common = PathBuf::from(run(c, "rev-parse")?.trim());
    let mut dirs = vec![common.clone()];
    if let Ok(entries) = std::fs::read_dir(common.join("worktrees")) {
        dirs.extend(entries.flatten().map(|e| e.path()));
    }
    Ok(dirs.iter().any(|d| {
        ["rebase-merge", "rebase-apply"].iter().any(|r| {
            crate::fsread::read_text_no_follow(&d.join(r).join("head-name"), 4096)
                .is_ok_and(|t| t.trim() == refname)
        })
    }))
}

/// The linked worktrees (not the main one) and the branch each has checked out.
fn linked_worktrees(repo: &Path) -> Result<Vec<(String, Option<String>)>, String> {
    let mut c = cmd(repo);
    c.args(["worktree", "list", "--porcelain", "-z"]);
    let out = run(c, "worktree list")?;
    let mut found = Vec::new();
    let mut current: Option<(String, Option<String>)> = None;
    for field in out.split('\0') {
        if let Some(path) = field.strip_prefix("worktree ") {
            found.extend(current.take());
            current = Some((path.to_owned(), None));
        } else if let Some(branch) = field.strip_prefix("branch refs/heads/") {
            if let Some(c) = current.as_mut() {
                c.1 = Some(branch.to_owned());
            }
        }
    }
    found.extend(current);
    // The first is the main work tree.
    Ok(found.into_iter().skip(1).collect())
}

/// What merging `theirs` into `ours` gives: the tree, or the conflicting files.
enum Probe {
    Clean(String),
    Conflicts(Vec<String>),
}

/// `git merge-tree --write-tree`. With `keep` false its objects go to a throwaway directory
/// (the repository's own objects read through it as an alternate), so that asking leaves the
/// repository exactly as it was.
fn probe(repo: &Path, ours: &str, theirs: &str, keep: bool) -> Result<Probe, String> {
    let mut c = cmd(repo);
    let scratch = if keep {
        None
    } else {
        let mut objects = cmd(repo);
        objects.args([
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "objects",
        ]);
        let objects = run(objects, "rev-parse")?.trim().to_owned();
        let dir = Scratch::new()?;
        c.env("GIT_OBJECT_DIRECTORY", &dir.0)
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", objects);
        Some(dir)
    };
    c.args([
        "merge-tree",
        "--write-tree",
        "--no-messages",
        "--name-only",
        "-z",
        ours,
        theirs,
    ]);
    let out = c
        .output()
        .map_err(|e| format!("cannot run git (merge-tree): {e}; is git installed?"))?;
    drop(scratch);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split('\0');
    let tree = fields.next().unwrap_or_default().trim().to_owned();
    match out.status.code() {
        Some(0) if !tree.is_empty() => Ok(Probe::Clean(tree)),
        Some(1) => {
            let mut files: Vec<String> = fields
                .take_while(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            files.dedup();
            Ok(Probe::Conflicts(files))
        }
        _ => Err(format!(
            "git merge-tree failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// A private temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for attempt in 0..16u32 {
            let dir = std::env::temp_dir().join(format!(
                "macrohard-land-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot make a temporary directory: {e}")),
            }
        }
        Err("cannot make a temporary directory".into())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Paths the run branch has and `ours` has not that exist in the work tree all the same: in a
/// clean work tree, files git ignores, which a merge would overwrite without a word.
fn ignored_in_the_way(repo: &Path, ours: &str, theirs: &str) -> Result<Vec<String>, String> {
    let mut c = cmd(repo);
    c.args([
        "diff",
        "--name-only",
        "-z",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        "--diff-filter=A",
        ours,
        theirs,
        "--",
    ]);
    let out = run(c, "diff")?;
    let mut found = Vec::new();
    for path in out.split('\0').filter(|p| !p.is_empty()) {
        // The path itself, or a file where the run has a folder.
        let mut at = PathBuf::new();
        for part in Path::new(path).components() {
            at.push(part);
            if let Ok(m) = std::fs::symlink_metadata(repo.join(&at)) {
                if !m.is_dir() || at == Path::new(path) {
                    found.push(at.to_string_lossy().into_owned());
                }
                if !m.is_dir() {
                    break;
                }
            } else {
                break;
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn message(run_branch: &str, into: &str) -> String {
    format!("Merge branch '{run_branch}' into {into}\n\nLanded by `macrohard-tui land`.\n")
}

/// Lands the run branch `run_branch` of the repository whose main work tree is `repo` into
/// `into` (default: the branch checked out there).
pub fn land(repo: &Path, run_branch: &str, into: Option<&str>) -> Result<Landed, Refusal> {
    let tip = run_tip(repo, run_branch)?;
    let current = current_branch(repo)?;
    match into {
        Some(b) if b == run_branch => Err(Refusal::IsRunBranch),
        Some(b) if !valid_branch(repo, b) => Err(Refusal::BadBranchName { name: b.to_owned() }),
        Some(b) if current.as_deref() != Some(b) => into_other(repo, run_branch, &tip, b),
        _ => {
            let Some(branch) = current else {
                return Err(Refusal::Detached);
            };
            into_current(repo, run_branch, &tip, &branch)
        }
    }
}

fn into_current(repo: &Path, run_branch: &str, tip: &str, branch: &str) -> Result<Landed, Refusal> {
    let Some(head) = commit_of(repo, "HEAD")? else {
        return Err(Refusal::Unborn {
            branch: branch.to_owned(),
        });
    };
    let mut contained = cmd(repo);
    contained.args(["merge-base", "--is-ancestor", tip, &head]);
    if yes_no(contained, "merge-base")? {
        return Ok(Landed::Already {
            into: branch.to_owned(),
            current: true,
        });
    }
    if let Some(what) = busy(repo)? {
        return Err(Refusal::Busy { what });
    }
    let changes = changes(repo)?;
    if !changes.is_empty() {
        return Err(Refusal::Dirty { changes });
    }
    if let Probe::Conflicts(files) = probe(repo, &head, tip, false)? {
        return Err(Refusal::Conflict {
            into: branch.to_owned(),
            current: true,
            files,
        });
    }
    let paths = ignored_in_the_way(repo, &head, tip)?;
    if !paths.is_empty() {
        return Err(Refusal::WouldOverwrite { paths });
    }
    let mut merge = cmd(repo);
    merge
        .args(["-c", "rerere.enabled=false", "-c", "merge.autoStash=false"])
        .args(["-c", "submodule.recurse=false"])
        .args([
            "merge",
            "--ff",
            "--no-edit",
            "--no-stat",
            "--no-squash",
            "--no-verify-signatures",
            "--no-autostash",
            "-m",
            &message(run_branch, branch),
            tip,
        ]);
    let out = merge
        .output()
        .map_err(|e| format!("cannot run git (merge): {e}; is git installed?"))?;
    if !out.status.success() {
        return Err(undo_merge(repo, branch, &head, &out.stderr));
    }
    let now = commit_of(repo, "HEAD")?.unwrap_or_default();
    Ok(if now == tip {
        Landed::FastForward {
            into: branch.to_owned(),
            current: true,
            from: head,
            to: now,
        }
    } else {
        Landed::Merged {
            into: branch.to_owned(),
            current: true,
            from: head,
            commit: now,
        }
    })
}

/// After a failed `git merge` (the repository changed between the probe and the merge):
/// the conflicting files, and the merge aborted so that the repository is as it was.
fn undo_merge(repo: &Path, branch: &str, head: &str, stderr: &[u8]) -> Refusal {
    let said = String::from_utf8_lossy(stderr).trim().to_owned();
    if !busy(repo).is_ok_and(|b| b == Some("a merge")) {
        // Git refused before it began (it leaves everything as it was).
        return Refusal::Git(format!("git merge failed: {said}"));
    }
    let mut unmerged = cmd(repo);
    unmerged.args(["diff", "--name-only", "-z", "--diff-filter=U"]);
    let mut files: Vec<String> = run(unmerged, "diff")
        .unwrap_or_default()
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    files.dedup();
    let mut abort = cmd(repo);
    abort.args(["merge", "--abort"]);
    if let Err(e) = run(abort, "merge --abort") {
        return Refusal::Git(format!(
            "the merge failed ({said}) and could not be undone ({e}): \
             the repository is mid-merge; `git merge --abort` undoes it"
        ));
    }
    if commit_of(repo, "HEAD").ok().flatten().as_deref() != Some(head) {
        return Refusal::Git(format!("the merge failed ({said}) and HEAD moved"));
    }
    Refusal::Conflict {
        into: branch.to_owned(),
        current: true,
        files,
    }
}

fn into_other(repo: &Path, run_branch: &str, tip: &str, branch: &str) -> Result<Landed, Refusal> {
    let refname = format!("refs/heads/{branch}");
    let Some(old) = commit_of(repo, &refname)? else {
        let mut create = cmd(repo);
        create.args([
            "update-ref",
            "-m",
            &format!("macrohard-tui land: created at {run_branch}"),
            &refname,
            tip,
            "",
        ]);
        run(create, "update-ref")?;
        return Ok(Landed::Created {
            into: branch.to_owned(),
            at: tip.to_owned(),
        });
    };
    let ancestor = |a: &str, b: &str| {
        let mut c = cmd(repo);
        c.args(["merge-base", "--is-ancestor", a, b]);
        yes_no(c, "merge-base")
    };
    if ancestor(tip, &old)? {
        return Ok(Landed::Already {
            into: branch.to_owned(),
            current: false,
        });
    }
    if let Some((path, _)) = linked_worktrees(repo)?
        .into_iter()
        .find(|(_, b)| b.as_deref() == Some(branch))
    {
        return Err(Refusal::CheckedOutElsewhere {
            branch: branch.to_owned(),
            worktree: path,
        });
    }
    if being_rebased(repo, &refname)? {
        return Err(Refusal::Busy {
            what: "a rebase of that branch",
        });
    }
    let new = if ancestor(&old, tip)? {
        tip.to_owned()
    } else {
        let tree = match probe(repo, &old, tip, false)? {
            Probe::Conflicts(files) => {
                return Err(Refusal::Conflict {
                    into: branch.to_owned(),
                    current: false,
                    files,
                });
            }
            Probe::Clean(_) => match probe(repo, &old, tip, true)? {
                Probe::Clean(tree) => tree,
                Probe::Conflicts(files) => {
                    return Err(Refusal::Conflict {
                        into: branch.to_owned(),
                        current: false,
                        files,
                    });
                }
            },
        };
        let mut commit = cmd(repo);
        commit.args([
            "commit-tree",
            &tree,
            "-p",
            &old,
            "-p",
            tip,
            "-m",
            &message(run_branch, branch),
        ]);
        run(commit, "commit-tree")?.trim().to_owned()
    };
    let mut update = cmd(repo);
    update.args([
        "update-ref",
        "-m",
        &format!("macrohard-tui land: {run_branch}"),
        &refname,
        &new,
        &old,
    ]);
    run(update, "update-ref")?;
    Ok(if new == tip {
        Landed::FastForward {
            into: branch.to_owned(),
            current: false,
            from: old,
            to: new,
        }
    } else {
        Landed::Merged {
            into: branch.to_owned(),
            current: false,
            from: old,
            commit: new,
        }
    })
}

#[cfg(test)]
mod tests;
