//! The sled store: one database per data directory, owned by one process.
//!
//! Layout (DESIGN §5): tree `runs` (run id → [`RunMeta`]), `events/<run>` (big-endian u64
//! sequence → encoded [`EventRecord`]), `snapshots/<run>` (sequence → encoded [`RunState`]).
//! An append is durable (flushed) before [`Journal::append`] returns, and one flush covers a
//! whole batch: group commit.
//!
//! Memory: sled keeps recently used pages in a cache of [`StoreOptions::cache_mb`] (the
//! `[store] cache_mb` setting); reading a whole run (an export, a fold) goes through that
//! cache, so what a process keeps for the store does not grow with the run's length.

mod bound;
mod error;
mod journal;

pub mod recovery;
#[doc(hidden)]
pub mod synthetic;

pub use crate::domain::RunMeta;
pub use bound::MAX_EVENT_BYTES;
pub use error::StoreError;
pub use journal::Journal;

use crate::domain::{EventRecord, RunId, RunState};
use std::path::{Path, PathBuf};

const RUNS: &str = "runs";
/// A file in the store's directory naming the process that holds it.
const HOLDER: &str = "holder";

fn events_tree(run: &RunId) -> String {
    format!("events/{run}")
}

fn snapshots_tree(run: &RunId) -> String {
    format!("snapshots/{run}")
}

/// sled's page cache, in MiB, unless `[store] cache_mb` says otherwise: enough for the pages a
/// live run writes and its recent events; measured in BENCHMARKS.md.
pub const DEFAULT_CACHE_MB: u64 = 32;

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// sled's page cache, in MiB (at least 1).
    pub cache_mb: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_mb: DEFAULT_CACHE_MB,
        }
    }
}

/// A handle on the store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
    /// The directory's identity (device, inode) when it was opened: a store whose directory
    /// was deleted or replaced while open is noticed before an append is acknowledged.
    identity: Option<(u64, u64)>,
    /// For a store opened read-only: the private copy the database was opened on, removed
    /// when the last handle goes (after `db`, which is declared first).
    _copy: Option<std::sync::Arc<TempCopy>>,
}

/// A private copy of a store that cannot be written in place; removed on drop.
struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// Copies the regular files of `from` (recursively) into `to`, except the holder file.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() && entry.file_name() != HOLDER {
            std::fs::copy(entry.path(), &target)?;
            // The copy is this process's to write (the original's mode came with it).
            std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the store in `dir` with the default options.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, &StoreOptions::default())
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open_with(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Io {
                path: dir.to_owned(),
                source: e,
            }
            .at(dir)
        })?;
        // A store that was just closed may still be held for a moment by sled's background
        // flush (in this process), so a lock is tried again for up to a second.
        let mut waited = std::time::Duration::ZERO;
        let db = loop {
            let opened = sled::Config::new()
                .path(dir)
                .cache_capacity(options.cache_mb.max(1) << 20)
                .mode(sled::Mode::HighThroughput)
                .open()
                .map_err(|e| StoreError::from_open(dir, e));
            match opened {
                Err(StoreError::Locked { .. }) if waited < std::time::Duration::from_secs(1) => {
                    let pause = std::time::Duration::from_millis(50);
                    std::thread::sleep(pause);
                    waited += pause;
                }
                other => break other?,
            }
        };
        // Only the pid: arguments may carry a URL with credentials in it.
        let _ = std::fs::write(dir.join(HOLDER), format!("pid {}\n", std::process::id()));
        Ok(Self {
            db,
            dir: dir.to_owned(),
            identity: identity(dir),
            _copy: None,
        })
    }

    /// Opens the store in `dir` for reading (`runs`, `show`, `export`): a store that cannot
    /// be written in place (a read-only directory or file system) is read from a private
    /// copy, so it can still be listed and exported. The store itself is never changed.
    pub fn open_for_reading(dir: &Path) -> Result<Self, StoreError> {
        Self::open_for_reading_with(dir, &StoreOptions::default())
    }

    /// [`Store::open_for_reading`] with these options.
    pub fn open_for_reading_with(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        match Self::open_with(dir, options) {
            Err(StoreError::NotWritable { path }) if dir.is_dir() => {
                let copy = std::env::temp_dir().join(format!(
                    "macrohard-read-{}-{:08x}",
                    std::process::id(),
                    fastrand::u32(..)
                ));
                tracing::info!(
                    "{} is read-only: reading a copy in {}",
                    path.display(),
                    copy.display()
                );
                let guard = TempCopy(copy.clone());
                if let Err(e) = copy_tree(dir, &copy) {
                    tracing::warn!("cannot copy {}: {e}", dir.display());
                    return Err(StoreError::NotWritable { path });
                }
                let mut store = Self::open_with(&copy, options)?;
                store.dir = dir.to_owned();
                store.identity = identity(dir);
                store._copy = Some(std::sync::Arc::new(guard));
                Ok(store)
            }
            other => other,
        }
    }

    /// Whether the store's directory is still the one that was opened (not deleted, moved
    /// or replaced): sled would go on writing to files nobody can open again.
    pub(crate) fn check_still_there(&self) -> Result<(), StoreError> {
        if self._copy.is_none() && identity(&self.dir) != self.identity {
            return Err(StoreError::Gone {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn runs_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(RUNS)?)
    }

    /// Every run, oldest first (run ids sort by creation time).
    pub fn runs(&self) -> Result<Vec<RunMeta>, StoreError> {
        self.runs_tree()?
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                    what: format!("run metadata {}", String::from_utf8_lossy(&k)),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    pub fn run_meta(&self, run: &RunId) -> Result<Option<RunMeta>, StoreError> {
        match self.runs_tree()?.get(run.as_str())? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    what: format!("run metadata {run}"),
                    detail: e.to_string(),
                }),
        }
    }

    pub(crate) fn put_meta(&self, meta: &RunMeta) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(meta).map_err(|e| StoreError::Encode(e.to_string()))?;
        self.runs_tree()?.insert(meta.id.as_str(), bytes)?;
        Ok(())
    }

    /// Resolves `last`, a full run id or a unique prefix of one.
    pub fn resolve_run(&self, spec: &str) -> Result<RunId, StoreError> {
        let runs = self.runs()?;
        if spec == "last" {
            return runs.last().map(|m| m.id.clone()).ok_or(StoreError::NoRuns);
        }
        if let Some(exact) = runs.iter().find(|m| m.id.as_str() == spec) {
            return Ok(exact.id.clone());
        }
        let spec_lc = spec.to_lowercase();
        let matches: Vec<&RunMeta> = runs
            .iter()
            .filter(|m| m.id.as_str().starts_with(&spec_lc))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(StoreError::UnknownRun(spec.to_owned())),
            many => Err(StoreError::AmbiguousRun {
                spec: spec.to_owned(),
                candidates: many.iter().map(|m| m.id.to_string()).collect(),
            }),
        }
    }

    /// The run's events with `seq >= from`, in order.
    pub fn events(
        &self,
        run: &RunId,
        from: u64,
    ) -> Result<impl Iterator<Item = Result<EventRecord, StoreError>> + use<>, StoreError> {
        let tree = self.db.open_tree(events_tree(run))?;
        let run = run.clone();
        Ok(tree.range(from.to_be_bytes()..).map(move |kv| {
            let (k, v) = kv?;
            journal::decode(&run, &k, &v)
        }))
    }

    /// The run's events, newest first.
    pub fn events_newest_first(
        &self,
        run: &RunId,
    ) -> Result<impl Iterator<Item = Result<EventRecord, StoreError>> + use<>, StoreError> {
        let tree = self.db.open_tree(events_tree(run))?;
        let run = run.clone();
        Ok(tree.iter().rev().map(move |kv| {
            let (k, v) = kv?;
            journal::decode(&run, &k, &v)
        }))
    }

    /// The run's events with `from <= seq <= to`, in order.
    pub fn events_between(
        &self,
        run: &RunId,
        from: u64,
        to: u64,
    ) -> Result<impl Iterator<Item = Result<EventRecord, StoreError>> + use<>, StoreError> {
        let tree = self.db.open_tree(events_tree(run))?;
        let run = run.clone();
        // A reversed range is never handed to sled: `from > to` reads nothing.
        let hi = to.max(from);
        Ok(tree
            .range(from.to_be_bytes()..=hi.to_be_bytes())
            .filter(move |_| from <= to)
            .map(move |kv| {
                let (k, v) = kv?;
                journal::decode(&run, &k, &v)
            }))
    }

    /// The run's state: the newest snapshot plus the events after it.
    pub fn load_state(&self, run: &RunId) -> Result<RunState, StoreError> {
        let snapshots = self.db.open_tree(snapshots_tree(run))?;
        let mut state = match snapshots.last()? {
            Some((_, v)) => serde_json::from_slice(&v).unwrap_or_else(|e| {
                tracing::warn!("snapshot of {run} unreadable ({e}); folding from the start");
                RunState::default()
            }),
            None => RunState::default(),
        };
        for rec in self.events(run, state.last_seq + 1)? {
            state.apply(&rec?);
        }
        Ok(state)
    }

    /// Opens the run's journal for appending. The caller must be the only writer of the run.
    pub fn journal(&self, run: &RunId) -> Result<Journal, StoreError> {
        Journal::open(self.clone(), run.clone())
    }
}
