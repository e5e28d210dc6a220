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

use super::{git, run};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Who makes the merge commits `land` writes (author and committer).
pub const NAME: &str = "macrohard-tui";
pub const EMAIL: &str = "engine@macrohard.local";

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
    c.env("GIT_AUTHOR_NAME", NAME)
        .env("GIT_AUTHOR_EMAIL", EMAIL)
        .env("GIT_COMMITTER_NAME", NAME)
        .env("GIT_COMMITTER_EMAIL", EMAIL)
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .stdin(std::process::Stdio::null());
    c
}

/// Runs a yes/no git command: exit 0 is yes, 1 is no, anything else an error.
fn yes_no(mut c: Command, what: &str) -> Result<bool, String> {
    let out = c
        .output()
        .map_err(|e| format!("cannot run git ({what}): {e}; is git installed?"))?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "git {what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
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
mod tests {
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
        let Err(Refusal::Conflict { files, current, .. }) = land(&f.repo, RUN, Some("other"))
        else {
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
        let Landed::Merged { commit, from, .. } = land(&f.repo, RUN, Some("diverged")).unwrap()
        else {
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
}
