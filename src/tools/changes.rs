//! What a command did to the workspace's files: `git status` before and after it, each listed
//! file stamped with what its metadata says (size, inode, change and modification times), and
//! the difference reported as [`FileChange`]s, so that files a command created, changed or
//! deleted become the task's artifacts and are committed with it, like files the file tools
//! wrote.
//!
//! Bounded for big workspaces: git lists only what differs from the last commit and skips
//! ignored files (builds' and test runs' output is excluded by `ensure_repo`); each git call
//! has a time limit and an output cap, and past either the command's changes are not recorded
//! (the result says nothing wrong, the commit is only poorer). `.git` and `.macrohard/` never
//! count. Another agent's write during the command is seen as the command's too, but not a
//! commit made meanwhile (the engine's git worker committing another task's files): a file
//! counts only when its stamp changed, whatever git status says of it.

use super::FileChange;
use super::git;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long one git call may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most `git status` output read (about 100,000 paths).
const STATUS_CAP: usize = 8 << 20;
/// The most changes one command reports; past that they are counted, not recorded.
pub const CHANGES_CAP: usize = 500;
/// New files up to this size have their lines counted.
const COUNT_CAP: u64 = 1 << 20;

/// What a file's metadata says, enough to tell that it changed; `None` when it is gone.
type Stamp = Option<(u64, u64, i64, i64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((
        m.len(),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// The workspace's files that differ from the last commit, with their status and stamp.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    files: BTreeMap<String, (String, Stamp)>,
}

/// Whether a path is never a task's change.
fn own(path: &str) -> bool {
    path == ".macrohard" || path.starts_with(".macrohard/") || path.starts_with(".git/")
}

/// Runs a git command made off the runtime (making one reads the repository's config), with
/// a time limit and an output cap; `None` when it fails or passes either.
async fn git_output(
    make: impl FnOnce() -> std::process::Command + Send + 'static,
    cap: usize,
) -> Option<Vec<u8>> {
    let made = tokio::task::spawn_blocking(make).await.ok()?;
    let mut cmd = tokio::process::Command::from(made);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().ok()?;
    let mut out = child.stdout.take()?;
    let read = async {
        let mut buf = Vec::new();
        (&mut out)
            .take(cap as u64 + 1)
            .read_to_end(&mut buf)
            .await
            .ok()?;
        if buf.len() > cap {
            return None;
        }
        let status = child.wait().await.ok()?;
        status.success().then_some(buf)
    };
    tokio::time::timeout(GIT_TIMEOUT, read).await.ok().flatten()
}

/// The workspace's state now; `None` when git cannot say (no repository, too big, too slow).
pub async fn snapshot(root: &Path) -> Option<Snapshot> {
    let r = root.to_owned();
    let out = git_output(move || git::status_command(&r), STATUS_CAP).await?;
    let root: PathBuf = root.to_owned();
    tokio::task::spawn_blocking(move || {
        let files = git::parse_status(&out)
            .into_iter()
            .filter(|(_, p)| !own(p))
            .map(|(xy, p)| {
                let s = stamp(&root.join(&p));
                (p, (xy, s))
            })
            .collect();
        Snapshot { files }
    })
    .await
    .ok()
}

/// The paths listed before and no longer, which either the command brought back to their
/// committed content or a commit made meanwhile took in.
fn unlisted<'a>(before: &'a Snapshot, after: &'a Snapshot) -> impl Iterator<Item = &'a String> {
    before
        .files
        .keys()
        .filter(|p| !after.files.contains_key(*p))
}

/// What changed between two snapshots: paths in order, and how many more there were than
/// [`CHANGES_CAP`]. A path listed before changed only if its stamp did: a new status alone is
/// git's doing (a file staged or committed meanwhile). `unlisted_now` stamps the paths listed
/// before and no longer; one it misses counts as changed.
fn changed(
    before: &Snapshot,
    after: &Snapshot,
    unlisted_now: &BTreeMap<String, Stamp>,
) -> (Vec<String>, usize) {
    let mut paths: Vec<String> = after
        .files
        .iter()
        .filter(|(p, (_, now))| before.files.get(*p).is_none_or(|(_, was)| was != now))
        .map(|(p, _)| p.clone())
        .collect();
    // Back to the committed content: changed by the command too, when it wrote the file.
    paths.extend(
        unlisted(before, after)
            .filter(|p| unlisted_now.get(*p) != before.files.get(*p).map(|(_, s)| s))
            .cloned(),
    );
    paths.sort();
    let more = paths.len().saturating_sub(CHANGES_CAP);
    paths.truncate(CHANGES_CAP);
    (paths, more)
}

/// Lines of a new text file, when it is small.
fn count_lines(path: &Path) -> u32 {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Not through a symlink, and never blocking on a FIFO the command left.
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return 0;
    };
    if !file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() <= COUNT_CAP)
    {
        return 0;
    }
    let mut bytes = Vec::new();
    let read = file.take(COUNT_CAP).read_to_end(&mut bytes);
    if read.is_err() || memchr::memchr(0, &bytes).is_some() {
        return 0;
    }
    let newlines = memchr::memchr_iter(b'\n', &bytes).count();
    let last = usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"));
    u32::try_from(newlines + last).unwrap_or(u32::MAX)
}

/// The files a command changed, from the snapshots taken around it, with added and removed
/// lines where they are cheap to know: a new file's lines, and `git diff --numstat` for a
/// committed file that was clean before. Also how many changes were left unrecorded.
pub async fn changes(root: &Path, before: &Snapshot, after: &Snapshot) -> (Vec<FileChange>, usize) {
    let gone: Vec<String> = unlisted(before, after).cloned().collect();
    let r = root.to_owned();
    let unlisted_now: BTreeMap<String, Stamp> = tokio::task::spawn_blocking(move || {
        gone.into_iter()
            .map(|p| {
                let s = stamp(&r.join(&p));
                (p, s)
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    let (paths, more) = changed(before, after, &unlisted_now);
    let was_clean: Vec<String> = paths
        .iter()
        .filter(|p| !before.files.contains_key(*p))
        .filter(|p| after.files.get(*p).is_some_and(|(xy, _)| xy != "??"))
        .cloned()
        .collect();
    let mut counts = BTreeMap::new();
    if !was_clean.is_empty() {
        let r = root.to_owned();
        let out = git_output(move || git::numstat_command(&r, &was_clean), STATUS_CAP).await;
        counts = out.map(|o| git::parse_numstat(&o)).unwrap_or_default();
    }
    let root = root.to_owned();
    let untracked: Vec<String> = paths
        .iter()
        .filter(|p| !before.files.contains_key(*p))
        .filter(|p| after.files.get(*p).is_some_and(|(xy, _)| xy == "??"))
        .cloned()
        .collect();
    let new_lines: BTreeMap<String, u32> = tokio::task::spawn_blocking(move || {
        untracked
            .into_iter()
            .map(|p| {
                let n = count_lines(&root.join(&p));
                (p, n)
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    let list = paths
        .into_iter()
        .map(|path| {
            let (added, removed) = counts
                .get(&path)
                .copied()
                .or_else(|| new_lines.get(&path).map(|n| (*n, 0)))
                .unwrap_or((0, 0));
            FileChange {
                path,
                added,
                removed,
            }
        })
        .collect();
    (list, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn repo() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        std::fs::write(root.join("kept.txt"), "a\nb\nc\n").unwrap();
        std::fs::write(root.join("gone.txt"), "x\n").unwrap();
        git::ensure_repo(&root).unwrap();
        let t = git::TaskCommit {
            task: "T1".into(),
            run: "r".into(),
            title: "t".into(),
            summary: "s".into(),
            role: "engineer".into(),
            model: "m".into(),
            prompt_hash: "h".into(),
            approved_by: Vec::new(),
            cost_usd: 0.0,
            paths: vec!["kept.txt".into(), "gone.txt".into()],
        };
        git::commit_task(&root, &t).unwrap();
        (dir, root)
    }

    #[tokio::test]
    async fn created_changed_and_deleted_files_are_changes_and_own_files_are_not() {
        let (_d, root) = repo().await;
        std::fs::write(root.join("dirty.txt"), "1\n").unwrap();
        let before = snapshot(&root).await.unwrap();
        std::fs::write(root.join("new.txt"), "1\n2\n").unwrap();
        std::fs::write(root.join("kept.txt"), "a\nB\nc\nd\n").unwrap();
        std::fs::remove_file(root.join("gone.txt")).unwrap();
        std::fs::write(root.join("dirty.txt"), "1\n2 and longer\n").unwrap();
        std::fs::create_dir_all(root.join(".macrohard/output")).unwrap();
        std::fs::write(root.join(".macrohard/output/x.log"), "log").unwrap();
        std::fs::create_dir_all(root.join("pkg/__pycache__")).unwrap();
        std::fs::write(root.join("pkg/__pycache__/m.cpython-311.pyc"), "\0").unwrap();
        let after = snapshot(&root).await.unwrap();
        let (list, more) = changes(&root, &before, &after).await;
        let got: Vec<(&str, u32, u32)> = list
            .iter()
            .map(|c| (c.path.as_str(), c.added, c.removed))
            .collect();
        assert_eq!(
            got,
            [
                ("dirty.txt", 0, 0),
                ("gone.txt", 0, 1),
                ("kept.txt", 2, 1),
                ("new.txt", 2, 0)
            ]
        );
        assert_eq!(more, 0);
        // Nothing happened: nothing changed.
        let again = snapshot(&root).await.unwrap();
        assert!(changes(&root, &after, &again).await.0.is_empty());
    }

    /// Plain git in `root`, as the engine's git worker runs it.
    fn git_in(root: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .current_dir(root)
            .args([
                "-c",
                "user.name=worker",
                "-c",
                "user.email=worker@example.com",
            ])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    fn paths(list: &[FileChange]) -> Vec<&str> {
        list.iter().map(|c| c.path.as_str()).collect()
    }

    #[tokio::test]
    async fn a_commit_made_while_a_command_runs_is_not_the_commands_change() {
        let (_d, root) = repo().await;
        // Another task's files, dirty when the command starts.
        std::fs::write(root.join("kept.txt"), "a\nB\nc\n").unwrap();
        std::fs::write(root.join("t1.txt"), "1\n").unwrap();
        std::fs::remove_file(root.join("gone.txt")).unwrap();
        std::fs::write(root.join("staged.txt"), "s\n").unwrap();
        let before = snapshot(&root).await.unwrap();
        // The git worker commits that task meanwhile (and stages a file of another); the
        // command itself touches nothing.
        git_in(
            &root,
            &["add", "-A", "--", "kept.txt", "t1.txt", "gone.txt"],
        );
        git_in(&root, &["commit", "-q", "-m", "T1: done"]);
        git_in(&root, &["add", "--", "staged.txt"]);
        let after = snapshot(&root).await.unwrap();
        assert_eq!(after.files.keys().collect::<Vec<_>>(), ["staged.txt"]);
        let (list, more) = changes(&root, &before, &after).await;
        assert_eq!(paths(&list), Vec::<&str>::new());
        assert_eq!(more, 0);
    }

    #[tokio::test]
    async fn a_file_the_command_restores_to_its_committed_content_is_its_change() {
        let (_d, root) = repo().await;
        // The committed content, kept aside.
        let saved = tempfile::tempdir().unwrap();
        for f in ["kept.txt", "gone.txt"] {
            std::fs::copy(root.join(f), saved.path().join(f)).unwrap();
        }
        // Same size as the committed content: only the times tell.
        std::fs::write(root.join("kept.txt"), "a\nB\nc\n").unwrap();
        std::fs::remove_file(root.join("gone.txt")).unwrap();
        let before = snapshot(&root).await.unwrap();
        // File times come from a coarse clock: let it tick.
        std::thread::sleep(Duration::from_millis(50));
        for f in ["kept.txt", "gone.txt"] {
            let status = std::process::Command::new("cp")
                .arg(saved.path().join(f))
                .arg(root.join(f))
                .status()
                .unwrap();
            assert!(status.success());
        }
        let after = snapshot(&root).await.unwrap();
        assert!(after.files.is_empty(), "{:?}", after.files);
        let (list, _) = changes(&root, &before, &after).await;
        assert_eq!(paths(&list), ["gone.txt", "kept.txt"]);
    }

    #[tokio::test]
    async fn no_repository_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        assert!(snapshot(dir.path()).await.is_none());
    }
}
