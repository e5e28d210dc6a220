//! The whole output of a command, saved in the workspace under `.macrohard/output/` as it
//! comes, so that a model can read what the result left out with `read_file`. Written
//! streaming and capped ([`LOG_CAP`]); named after what it holds, so the same output of the
//! same command has the same name (and the same result text, which loop detection compares);
//! the oldest are pruned. Git never sees the folder (`ensure_repo` excludes it).
//!
//! The workspace is hostile, and other agents' commands run in it at the same time: every
//! step from the workspace root down is opened relative to the folder above it, following no
//! symlink, so a planted link never makes the engine write or delete outside the workspace.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;

/// The folder, relative to the workspace root.
pub const DIR: &str = ".macrohard/output";
/// The most bytes of one output saved.
pub const LOG_CAP: u64 = 64 << 20;
/// Saved outputs kept: this many at most, and no more bytes than [`KEEP_BYTES`] together.
const KEEP: usize = 32;
const KEEP_BYTES: u64 = 256 << 20;

static NEXT: AtomicU64 = AtomicU64::new(0);

fn c(name: &str) -> std::io::Result<CString> {
    CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput.into())
}

fn check(ret: libc::c_int) -> std::io::Result<libc::c_int> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The folder `name` under `parent`, made if missing, never through a symlink.
fn open_dir(parent: RawFd, name: &str) -> std::io::Result<OwnedFd> {
    let n = c(name)?;
    // SAFETY: `parent` is an open directory descriptor and `n` a valid C string.
    let made = unsafe { libc::mkdirat(parent, n.as_ptr(), 0o755) };
    if made < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: as above; the descriptor returned is owned by the `OwnedFd`.
    let fd = check(unsafe { libc::openat(parent, n.as_ptr(), flags) })?;
    // SAFETY: `fd` was just opened and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One command's output file, being written.
pub struct Log {
    dir: OwnedFd,
    tmp: String,
    file: tokio::fs::File,
    written: u64,
    failed: bool,
    kept: bool,
}

impl Log {
    /// A new, empty output file in the workspace at `root`; `None` when it cannot be made (the
    /// result then says the output was not saved).
    pub fn create(root: &Path) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt;
        let root_c = CString::new(root.as_os_str().as_bytes()).ok()?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: a valid C string; the descriptor is owned by the `OwnedFd` at once.
        let root_fd =
            unsafe { OwnedFd::from_raw_fd(check(libc::open(root_c.as_ptr(), flags)).ok()?) };
        let top = open_dir(root_fd.as_raw_fd(), ".macrohard").ok()?;
        let dir = open_dir(top.as_raw_fd(), "output").ok()?;
        let tmp = format!(
            ".partial-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let n = c(&tmp).ok()?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `dir` is an open directory and `n` a valid C string.
        let fd = check(unsafe { libc::openat(dir.as_raw_fd(), n.as_ptr(), flags, 0o644) }).ok()?;
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        Some(Self {
            dir,
            tmp,
            file: tokio::fs::File::from_std(file),
            written: 0,
            failed: false,
            kept: false,
        })
    }

    /// Appends output, up to [`LOG_CAP`] bytes.
    pub async fn write(&mut self, bytes: &[u8]) {
        let room = LOG_CAP.saturating_sub(self.written);
        let n = (bytes.len() as u64).min(room) as usize;
        if self.failed || n == 0 {
            return;
        }
        match self.file.write_all(&bytes[..n]).await {
            Ok(()) => self.written += n as u64,
            Err(_) => self.failed = true,
        }
    }

    /// Keeps the file as `<name>.log`, with a last line saying where it was cut when the output
    /// was longer than [`LOG_CAP`]; its workspace-relative path, or `None` if it could not be
    /// saved whole up to the cap.
    pub async fn keep(mut self, name: &str, total: u64) -> Option<String> {
        if total > self.written && !self.failed {
            let note = format!(
                "\n[… saved up to here: {} more bytes were printed]\n",
                total - self.written
            );
            self.failed = self.file.write_all(note.as_bytes()).await.is_err();
        }
        if self.failed || self.file.flush().await.is_err() {
            return None;
        }
        let file = format!("{name}.log");
        let (from, to) = (c(&self.tmp).ok()?, c(&file).ok()?);
        let dir = self.dir.as_raw_fd();
        // SAFETY: `dir` is an open directory and both names are valid C strings.
        check(unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) }).ok()?;
        self.kept = true;
        prune(dir, &file);
        Some(format!("{DIR}/{file}"))
    }
}

impl Drop for Log {
    /// An output not kept (whole in the result, or the command cancelled) leaves no file.
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if let Ok(n) = c(&self.tmp) {
            // SAFETY: `dir` is an open directory and `n` a valid C string.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), n.as_ptr(), 0) };
        }
    }
}

/// Removes the oldest saved outputs past [`KEEP`] files or [`KEEP_BYTES`], never `newest`.
fn prune(dir: RawFd, newest: &str) {
    // The descriptor's own folder, wherever a symlink might point the path now.
    let Ok(entries) = std::fs::read_dir(format!("/proc/self/fd/{dir}")) else {
        return;
    };
    let mut logs: Vec<(i64, i64, u64, String)> = Vec::new();
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !name.ends_with(".log") {
            continue;
        }
        let Ok(n) = c(&name) else { continue };
        // SAFETY: a zeroed `stat` is a valid value for fstatat to fill.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `dir` is open, `n` a valid C string and `st` writable.
        let ok = unsafe { libc::fstatat(dir, n.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        if ok == 0 {
            logs.push((st.st_mtime, st.st_mtime_nsec, st.st_size as u64, name));
        }
    }
    // Newest first, the one just saved before all.
    logs.sort_by(|a, b| (b.3 == newest, b.0, b.1, &b.3).cmp(&(a.3 == newest, a.0, a.1, &a.3)));
    let (mut count, mut bytes) = (0usize, 0u64);
    for (_, _, size, name) in logs {
        count += 1;
        bytes += size;
        if name == newest || (count <= KEEP && bytes <= KEEP_BYTES) {
            continue;
        }
        if let Ok(n) = c(&name) {
            // SAFETY: `dir` is open and `n` a valid C string.
            unsafe { libc::unlinkat(dir, n.as_ptr(), 0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_output_is_saved_whole_under_its_name_and_a_dropped_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::create(dir.path()).unwrap();
        log.write(b"one\ntwo\n").await;
        let path = log.keep("abc", 8).await.unwrap();
        assert_eq!(path, ".macrohard/output/abc.log");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&path)).unwrap(),
            "one\ntwo\n"
        );
        let mut log = Log::create(dir.path()).unwrap();
        log.write(b"x").await;
        drop(log);
        let names: Vec<_> = std::fs::read_dir(dir.path().join(DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["abc.log"]);
    }

    #[tokio::test]
    async fn a_planted_symlink_never_leads_the_log_outside() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join(".macrohard")).unwrap();
        assert!(Log::create(&ws).is_none());
        std::fs::remove_file(ws.join(".macrohard")).unwrap();
        std::fs::create_dir_all(ws.join(".macrohard")).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join(DIR)).unwrap();
        assert!(Log::create(&ws).is_none());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn the_oldest_outputs_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..KEEP + 5 {
            let mut log = Log::create(dir.path()).unwrap();
            log.write(b"x\n").await;
            log.keep(&format!("out{i:03}"), 2).await.unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join(DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), KEEP);
        assert_eq!(names.last().unwrap(), &format!("out{:03}.log", KEEP + 4));
    }
}
