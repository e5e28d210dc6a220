use std::io::ErrorKind;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {} is in use by another macrohard-tui process{}; stop that process, or pass a different --data-dir",
        dir.display(),
        holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Locked {
        dir: PathBuf,
        /// Which process holds it, as it said when it opened the store.
        holder: Option<String>,
    },
    /// The data directory cannot be written: permissions, or a read-only file system.
    #[error(
        "cannot write to the store at {}: it is read-only; make it writable (chmod u+w), or pass --data-dir with a writable directory",
        path.display()
    )]
    NotWritable { path: PathBuf },
    /// The disk (or this process's file size limit) is full.
    #[error(
        "cannot write to the store at {}: the disk is full; free some space (or pass --data-dir on another disk), then continue with `macrohard-tui resume last`",
        path.display()
    )]
    Full { path: PathBuf },
    /// The data directory was deleted or moved while the store was open.
    #[error(
        "the store at {} was deleted or moved while in use; nothing more can be saved there: put it back, or start again with --data-dir",
        path.display()
    )]
    Gone { path: PathBuf },
    #[error("cannot use {}: {}", path.display(), io_text(source))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the store failed: {}", sled_text(.0))]
    Sled(#[from] sled::Error),
    #[error("the store at {} failed: {}; see the log file", path.display(), sled_text(source))]
    Failed { path: PathBuf, source: sled::Error },
    #[error("{what} is damaged: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("could not encode: {0}")]
    Encode(String),
    #[error("no runs yet: start one with `macrohard-tui run`")]
    NoRuns,
    #[error("no run matches {0:?}: see `macrohard-tui runs`")]
    UnknownRun(String),
    #[error("{spec:?} matches several runs ({}); give more of the id", candidates.join(", "))]
    AmbiguousRun {
        spec: String,
        candidates: Vec<String>,
    },
}

/// An I/O error as a person reads it: the kind's words, never `Os { code: … }`.
fn io_text(e: &std::io::Error) -> String {
    e.to_string()
}

/// sled's own text, except its `Corruption`, which prints a debug dump.
fn sled_text(e: &sled::Error) -> String {
    match e {
        sled::Error::Io(io) => io_text(io),
        sled::Error::Corruption { .. } => "its files are damaged".into(),
        sled::Error::CollectionNotFound(_) => "a part of it is missing".into(),
        other => other.to_string(),
    }
}

/// What an I/O error means for a store at `path`, if it is one a person can fix.
fn classify(path: &Path, e: &std::io::Error) -> Option<StoreError> {
    let path = path.to_owned();
    match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            Some(StoreError::NotWritable { path })
        }
        ErrorKind::StorageFull | ErrorKind::FileTooLarge | ErrorKind::QuotaExceeded => {
            Some(StoreError::Full { path })
        }
        ErrorKind::NotFound => Some(StoreError::Gone { path }),
        _ => match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EFBIG | libc::EDQUOT) => Some(StoreError::Full { path }),
            Some(libc::EROFS | libc::EACCES | libc::EPERM) => {
                Some(StoreError::NotWritable { path })
            }
            _ => None,
        },
    }
}

impl StoreError {
    pub(super) fn from_open(dir: &Path, e: sled::Error) -> Self {
        match &e {
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("lock") =>
            {
                StoreError::Locked {
                    dir: dir.to_owned(),
                    holder: std::fs::read_to_string(dir.join(super::HOLDER))
                        .ok()
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty()),
                }
            }
            sled::Error::Io(io) if io.kind() == ErrorKind::NotFound => StoreError::Io {
                path: dir.to_owned(),
                source: std::io::Error::new(ErrorKind::NotFound, "it does not exist"),
            },
            _ => StoreError::Sled(e).at(dir),
        }
    }

    /// An error of the store at `dir`: the ones a person can fix (read-only, full, deleted)
    /// become their own variants, and every other sled error names the path.
    pub fn at(self, dir: &Path) -> Self {
        match self {
            StoreError::Sled(sled::Error::Io(io)) => classify(dir, &io).unwrap_or(StoreError::Io {
                path: dir.to_owned(),
                source: io,
            }),
            StoreError::Sled(source) => StoreError::Failed {
                path: dir.to_owned(),
                source,
            },
            StoreError::Io { path, source } => {
                classify(&path, &source).unwrap_or(StoreError::Io { path, source })
            }
            other => other,
        }
    }

    /// The store cannot go on until a person fixes its directory (space, permissions, a
    /// deleted directory): a run stopped by it waits for a person.
    pub fn needs_a_person(&self) -> bool {
        matches!(
            self,
            StoreError::NotWritable { .. }
                | StoreError::Full { .. }
                | StoreError::Gone { .. }
                | StoreError::Locked { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: ErrorKind) -> StoreError {
        StoreError::Sled(sled::Error::Io(std::io::Error::from(kind)))
    }

    #[test]
    fn a_full_disk_a_read_only_directory_and_a_deleted_one_say_the_path_and_the_fix() {
        let dir = Path::new("/data/mh");
        let full = io(ErrorKind::StorageFull).at(dir);
        assert!(matches!(full, StoreError::Full { .. }), "{full}");
        let full = StoreError::Sled(sled::Error::Io(std::io::Error::from_raw_os_error(
            libc::ENOSPC,
        )))
        .at(dir)
        .to_string();
        assert!(
            full.contains("/data/mh") && full.contains("disk is full"),
            "{full}"
        );
        assert!(full.contains("free some space"), "{full}");
        let ro = io(ErrorKind::PermissionDenied).at(dir).to_string();
        assert!(ro.contains("/data/mh") && ro.contains("read-only"), "{ro}");
        let ro = StoreError::Sled(sled::Error::Io(std::io::Error::from_raw_os_error(
            libc::EROFS,
        )))
        .at(dir);
        assert!(ro.needs_a_person(), "{ro}");
        let gone = io(ErrorKind::NotFound).at(dir).to_string();
        assert!(
            gone.contains("/data/mh") && gone.contains("deleted"),
            "{gone}"
        );
        for e in [full, ro.to_string(), gone] {
            assert!(!e.contains("Os {") && !e.contains("code:"), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn sled_corruption_is_not_a_debug_dump() {
        let e = StoreError::Sled(sled::Error::Unsupported("x".into())).at(Path::new("/d"));
        assert!(e.to_string().starts_with("the store at /d failed"), "{e}");
        let e = StoreError::Sled(sled::Error::ReportableBug("y".into()));
        assert!(!e.to_string().contains("store error"), "{e}");
    }
}
