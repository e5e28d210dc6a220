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
    #[error("cannot use {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store error: {0}")]
    Sled(#[from] sled::Error),
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
            _ => StoreError::Sled(e),
        }
    }
}
