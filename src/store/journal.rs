use super::bound::{self, MAX_EVENT_BYTES};
use super::{RunMeta, Store, StoreError, events_tree, snapshots_tree};
use crate::domain::{Event, EventRecord, RunId, RunState, SCHEMA_VERSION};

/// Snapshots are taken after this many events unless the caller says otherwise.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 2_000;
/// Older snapshots beyond this many are removed.
const SNAPSHOTS_KEPT: usize = 2;

/// The append side of one run's log. Only the engine that owns the run holds one.
pub struct Journal {
    store: Store,
    run: RunId,
    events: sled::Tree,
    snapshots: sled::Tree,
    next_seq: u64,
    last_snapshot: u64,
    snapshot_every: u64,
    /// Added to every flush, for measurements (a slow disk on purpose).
    slow_flush: Option<std::time::Duration>,
    meta: Option<RunMeta>,
}

pub(super) fn decode(run: &RunId, key: &[u8], value: &[u8]) -> Result<EventRecord, StoreError> {
    let seq = <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            what: format!("event key in {run}"),
            detail: format!("{} bytes, expected 8", key.len()),
        })?;
    let rec: EventRecord = serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
        what: format!("event {seq} of run {run}"),
        detail: e.to_string(),
    })?;
    if rec.seq != seq {
        return Err(StoreError::Corrupt {
            what: format!("event {seq} of run {run}"),
            detail: format!("it says it is event {}", rec.seq),
        });
    }
    Ok(rec)
}

impl Journal {
    pub(super) fn open(store: Store, run: RunId) -> Result<Self, StoreError> {
        let dir = store.dir.clone();
        Self::open_inner(store, run).map_err(|e| e.at(&dir))
    }

    fn open_inner(store: Store, run: RunId) -> Result<Self, StoreError> {
        let events = store.db.open_tree(events_tree(&run))?;
        let snapshots = store.db.open_tree(snapshots_tree(&run))?;
        let next_seq = match events.last()? {
            Some((k, v)) => decode(&run, &k, &v)?.seq + 1,
            None => 1,
        };
        let last_snapshot = match snapshots.last()? {
            Some((k, _)) => <[u8; 8]>::try_from(&*k)
                .map(u64::from_be_bytes)
                .unwrap_or(0),
            None => 0,
        };
        let meta = store.run_meta(&run)?;
        Ok(Self {
            store,
            run,
            events,
            snapshots,
            next_seq,
            last_snapshot,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            slow_flush: None,
            meta,
        })
    }

    pub fn run(&self) -> &RunId {
        &self.run
    }

    pub fn set_snapshot_every(&mut self, n: u64) {
        self.snapshot_every = n.max(1);
    }

    /// Makes every durable append this much slower, as on a slow disk (for measurements).
    pub fn set_slow_flush(&mut self, extra: Option<std::time::Duration>) {
        self.slow_flush = extra;
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The recorded events `from..=to` (for a subscriber catching up). Unreadable records are
    /// skipped with a warning; the log itself is untouched.
    pub fn read(&self, from: u64, to: u64) -> Vec<EventRecord> {
        if from > to {
            return Vec::new();
        }
        self.events
            .range(from.to_be_bytes()..=to.to_be_bytes())
            .filter_map(|kv| {
                match kv
                    .map_err(StoreError::from)
                    .and_then(|(k, v)| decode(&self.run, &k, &v))
                {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!("skipping an unreadable record: {e}");
                        None
                    }
                }
            })
            .collect()
    }

    /// Appends a batch of `(unix ms, event)` atomically and makes it durable with one flush.
    /// Returns the records with their sequence numbers; only then may they be acted on. An
    /// event over [`MAX_EVENT_BYTES`] is cut (see [`bound`]): the records say how it was kept.
    /// A failure names the store's path and, for a full disk, a read-only or a deleted
    /// directory, what to do.
    pub async fn append(
        &mut self,
        batch: Vec<(u64, Event)>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.append_inner(batch)
            .await
            .map_err(|e| e.at(&self.store.dir))
    }

    async fn append_inner(
        &mut self,
        batch: Vec<(u64, Event)>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // Nothing is acknowledged into a store whose directory has gone.
        self.store.check_still_there()?;
        let mut sled_batch = sled::Batch::default();
        let mut records = Vec::with_capacity(batch.len());
        for (i, (ts_ms, event)) in batch.into_iter().enumerate() {
            let rec = EventRecord {
                v: SCHEMA_VERSION,
                run: self.run.clone(),
                seq: self.next_seq + i as u64,
                ts_ms,
                event,
            };
            let bytes = serde_json::to_vec(&rec).map_err(|e| StoreError::Encode(e.to_string()))?;
            // Nothing larger than the bound reaches the log (or any reader of it).
            let (rec, bytes) = if bytes.len() > MAX_EVENT_BYTES {
                bound::fit(rec, bytes.len(), MAX_EVENT_BYTES).map_err(StoreError::Encode)?
            } else {
                (rec, bytes)
            };
            sled_batch.insert(&rec.seq.to_be_bytes(), bytes);
            records.push(rec);
        }
        self.events.apply_batch(sled_batch)?;
        self.store.db.flush_async().await?;
        if let Some(extra) = self.slow_flush {
            tokio::time::sleep(extra).await;
        }
        self.next_seq += records.len() as u64;
        Ok(records)
    }

    /// Called with the state after the appended records were applied: writes a snapshot every
    /// N events and keeps the run's listing current. Both are made durable by the next flush.
    pub fn checkpoint(&mut self, state: &RunState) -> Result<(), StoreError> {
        self.checkpoint_inner(state)
            .map_err(|e| e.at(&self.store.dir))
    }

    fn checkpoint_inner(&mut self, state: &RunState) -> Result<(), StoreError> {
        if state.last_seq >= self.last_snapshot + self.snapshot_every {
            self.snapshot(state)?;
        }
        if self.meta.as_ref().is_some_and(|m| m.lists(state)) {
            return Ok(());
        }
        if let Some(meta) = RunMeta::from_state(state) {
            self.store.put_meta(&meta)?;
            self.meta = Some(meta);
        }
        Ok(())
    }

    /// Writes a snapshot now and the full listing, and flushes (orderly shutdown).
    pub async fn close(&mut self, state: &RunState) -> Result<(), StoreError> {
        self.close_inner(state)
            .await
            .map_err(|e| e.at(&self.store.dir))
    }

    async fn close_inner(&mut self, state: &RunState) -> Result<(), StoreError> {
        self.store.check_still_there()?;
        if state.last_seq > self.last_snapshot {
            self.snapshot(state)?;
        }
        if let Some(meta) = RunMeta::from_state(state) {
            self.store.put_meta(&meta)?;
            self.meta = Some(meta);
        }
        self.store.db.flush_async().await?;
        Ok(())
    }

    fn snapshot(&mut self, state: &RunState) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Encode(e.to_string()))?;
        self.snapshots.insert(state.last_seq.to_be_bytes(), bytes)?;
        self.last_snapshot = state.last_seq;
        let keys: Vec<sled::IVec> = self.snapshots.iter().keys().collect::<Result<_, _>>()?;
        for k in keys.iter().take(keys.len().saturating_sub(SNAPSHOTS_KEPT)) {
            self.snapshots.remove(k)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, Autonomy, Budget, LogLevel};

    fn created() -> Event {
        Event::RunCreated {
            goal: "g".into(),
            workspace: "w".into(),
            provider: "sim".into(),
            model: "sim-1".into(),
            base_url: None,
            simulated: true,
            budget: Budget::default(),
            budgets: Default::default(),
            concurrency: 2,
            max_attempts: 2,
            autonomy: Autonomy::AskRisky,
            seed: 1,
            by: Actor::Engine,
        }
    }

    #[tokio::test]
    async fn appends_are_numbered_contiguously_across_reopen_and_snapshots_resume_the_fold() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunId::from("01test");
        {
            let store = Store::open(dir.path()).unwrap();
            let mut j = store.journal(&run).unwrap();
            j.set_snapshot_every(10);
            let mut state = RunState::default();
            let mut batch = vec![(1, created())];
            batch.extend((0..24).map(|i| {
                (
                    2 + i,
                    Event::log(LogLevel::Info, "test", format!("line {i}")),
                )
            }));
            for chunk in batch.chunks(7) {
                for r in j.append(chunk.to_vec()).await.unwrap() {
                    state.apply(&r);
                }
                j.checkpoint(&state).unwrap();
            }
            assert_eq!(state.last_seq, 25);
        }
        let store = Store::open(dir.path()).unwrap();
        let mut j = store.journal(&run).unwrap();
        assert_eq!(j.next_seq(), 26);
        let more = j
            .append(vec![(
                99,
                Event::log(LogLevel::Warn, "test", "after reopen"),
            )])
            .await
            .unwrap();
        assert_eq!(more[0].seq, 26);
        let seqs: Vec<u64> = store
            .events(&run, 1)
            .unwrap()
            .map(|r| r.unwrap().seq)
            .collect();
        assert_eq!(seqs, (1..=26).collect::<Vec<_>>());
        let full = RunState::fold(
            &store
                .events(&run, 1)
                .unwrap()
                .map(|r| r.unwrap())
                .collect::<Vec<_>>(),
        );
        let loaded = store.load_state(&run).unwrap();
        assert_eq!(loaded, full);
        assert_eq!(loaded.warnings, 1);
        assert_eq!(store.resolve_run("last").unwrap(), run);
        assert_eq!(store.resolve_run("01T").unwrap(), run);
        assert!(matches!(
            store.resolve_run("zz"),
            Err(StoreError::UnknownRun(_))
        ));
    }

    #[test]
    fn a_second_open_of_the_same_directory_says_the_store_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use"));
    }
}
