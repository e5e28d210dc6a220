//! Folding a run's log into its state: 1M events in memory, and 1M events decoded from JSON
//! (what a replay without snapshots costs). Prints the peak memory too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use macrohard::domain::{EventRecord, RunId, RunState, SCHEMA_VERSION};

fn records(n: u64) -> Vec<EventRecord> {
    let run = RunId::from("bench");
    let mut out = common::preamble(&run);
    let start = out.len() as u64;
    out.extend((start..n).map(|i| EventRecord {
        v: SCHEMA_VERSION,
        run: run.clone(),
        seq: i + 1,
        ts_ms: 1_000 + i,
        event: common::mix(i),
    }));
    out
}

fn fold(c: &mut Criterion) {
    let recs = records(1_000_000);
    let before = common::peak_rss_mib();
    let state = RunState::fold(&recs);
    let snapshot = serde_json::to_vec(&state).unwrap();
    eprintln!(
        "1M events: state snapshot {} KiB; peak RSS {:.0} MiB with the 1M records in memory ({:.0} MiB before folding)",
        snapshot.len() / 1024,
        common::peak_rss_mib(),
        before
    );
    let mut group = c.benchmark_group("fold");
    group.sample_size(10);
    group.throughput(Throughput::Elements(recs.len() as u64));
    group.bench_function("apply_1m_in_memory", |b| b.iter(|| RunState::fold(&recs)));
    let encoded: Vec<Vec<u8>> = recs
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap())
        .collect();
    drop(recs);
    group.bench_function("decode_and_apply_1m_json", |b| {
        b.iter(|| {
            let mut s = RunState::default();
            for bytes in &encoded {
                let r: EventRecord = serde_json::from_slice(bytes).unwrap();
                s.apply(&r);
            }
            s
        })
    });
    group.finish();
}

criterion_group!(benches, fold);
criterion_main!(benches);
