//! Durable, batched appends to the sled store (DESIGN §10: ≥ 100k events/s), and opening a
//! long run from its snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod common;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use macrohard::domain::{Event, RunId, RunState};
use macrohard::store::Store;
use std::time::Instant;

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("store_append_durable");
    for batch in [1usize, 100, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut journal = store.journal(&RunId::from("bench")).unwrap();
        let mut i = 0u64;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || {
                    let events: Vec<(u64, Event)> = (0..batch as u64)
                        .map(|k| (i + k, common::mix(i + k)))
                        .collect();
                    i += batch as u64;
                    events
                },
                |events| rt.block_on(journal.append(events)).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Opening a run of 1M events with a snapshot near its end: what attach/resume costs.
fn open_long_run(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = RunId::from("long");
    let store = Store::open(dir.path()).unwrap();
    let t0 = Instant::now();
    {
        let mut journal = store.journal(&run).unwrap();
        journal.set_snapshot_every(2_000);
        let mut state = RunState::default();
        let pre: Vec<(u64, Event)> = common::preamble(&run)
            .into_iter()
            .map(|r| (r.ts_ms, r.event))
            .collect();
        let mut n = pre.len() as u64;
        for r in rt.block_on(journal.append(pre)).unwrap() {
            state.apply(&r);
        }
        while n < 1_000_000 {
            let batch: Vec<(u64, Event)> = (n..n + 5_000).map(|k| (k, common::mix(k))).collect();
            n += 5_000;
            for r in rt.block_on(journal.append(batch)).unwrap() {
                state.apply(&r);
            }
            journal.checkpoint(&state).unwrap();
        }
    }
    eprintln!(
        "wrote 1M events in {:.1}s ({:.0} events/s incl. fold and snapshots)",
        t0.elapsed().as_secs_f64(),
        1e6 / t0.elapsed().as_secs_f64()
    );
    let mut group = c.benchmark_group("open_run_1m_events");
    group.sample_size(20);
    group.bench_function("load_state_from_snapshot", |b| {
        b.iter(|| store.load_state(&run).unwrap())
    });
    group.finish();
    eprintln!("peak RSS after opening: {:.0} MiB", common::peak_rss_mib());
}

criterion_group!(benches, appends, open_long_run);
criterion_main!(benches);
