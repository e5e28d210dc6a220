//! The sled store: one database per data directory, owned by one process.
//!
//! Layout (DESIGN §5): tree `runs` (run id → [`RunMeta`]), `events/<run>` (big-endian u64
//! sequence → encoded [`EventRecord`]), `snapshots/<run>` (sequence → encoded [`RunState`]).
//! An append is durable (flushed) before [`Journal::append`] returns, and one flush covers a
//! whole batch: group commit.

mod bound;
mod error;
mod journal;

pub mod recovery;

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

/// A handle on the store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.to_owned(),
            source: e,
        })?;
        // A store that was just closed may still be held for a moment by sled's background
        // flush (in this process), so a lock is tried again for up to a second.
        let mut waited = std::time::Duration::ZERO;
        let db = loop {
            let opened = sled::Config::new()
                .path(dir)
                .cache_capacity(32 * 1024 * 1024)
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
        })
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
