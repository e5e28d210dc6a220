//! Memory that does not grow with a run's length (issue 15): an export of every format reads
//! the run from the store in one pass and holds what the report prints, not the records; the
//! control room's view model keeps a bounded number of lines and transcripts. Each is measured
//! at two lengths, ten times apart, with a counting allocator (this test binary's own), and the
//! longer one may not hold materially more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use macrohard::domain::{EventRecord, RunId, RunState, SCHEMA_VERSION};
use macrohard::export::{Report, jsonl_line};
use macrohard::store::{Store, StoreOptions, synthetic};
use macrohard::tui::transcript::MAX_LINES;
use macrohard::tui::view::{MAX_LOG_LINES, MAX_TRANSCRIPTS, View};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Counts the bytes allocated now and the most allocated at once since the last reset.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = NOW.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is passed on to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        NOW.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            NOW.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests of this binary measure one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The most bytes `f` held at once beyond what was allocated when it started.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = NOW.load(Relaxed);
    PEAK.store(base, Relaxed);
    f();
    PEAK.load(Relaxed).saturating_sub(base)
}

const MIB: usize = 1 << 20;

/// The longer run may hold at most half as much again as the shorter, plus `slack`.
fn assert_flat(what: &str, short: usize, long: usize, slack: usize) {
    eprintln!(
        "{what}: {:.1} MiB at the shorter length, {:.1} MiB at the longer",
        short as f64 / MIB as f64,
        long as f64 / MIB as f64
    );
    assert!(
        long <= short + short / 2 + slack,
        "{what} grows with the run: {short} bytes, then {long} bytes for ten times the events"
    );
}

/// A store holding a synthetic run of `events`, closed and opened again as `export` opens it,
/// with a page cache that holds either run whole once read, so that what is measured is the
/// export and not sled re-reading pages.
fn stored_run(dir: &std::path::Path, events: u64) -> (Store, RunId) {
    let run = RunId::from("01MEMORYTEST");
    let options = StoreOptions { cache_mb: 256 };
    {
        let store = Store::open_with(dir, &options).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let state = rt
            .block_on(synthetic::write_run(&store, &run, events))
            .unwrap();
        assert_eq!(state.last_seq, events);
    }
    (Store::open_with(dir, &options).unwrap(), run)
}

/// What each export of the run held at most, and how many bytes it wrote. sled reads a page
/// table entry for every page of the run the first time it is read, and keeps it as long as
/// the store is open: that is sled's cost (BENCHMARKS.md), paid by a first pass not measured
/// here; what the export itself holds is measured.
fn export_peaks(store: &Store, run: &RunId) -> [(usize, u64); 3] {
    let sled = peak_of(|| {
        for rec in store.events(run, 1).unwrap() {
            rec.unwrap();
        }
    });
    eprintln!("sled's first pass: {:.1} MiB", sled as f64 / MIB as f64);
    let measure = |write: &dyn Fn(&mut Counted)| {
        let mut out = Counted(0);
        let peak = peak_of(|| write(&mut out));
        (peak, out.0)
    };
    let report = |out: &mut Counted, html: bool| {
        let mut report = Report::new();
        for rec in store.events(run, 1).unwrap() {
            report.feed(&rec.unwrap());
        }
        if html {
            report.write_html(out).unwrap();
        } else {
            report.write_markdown(out).unwrap();
        }
    };
    [
        measure(&|out| {
            for rec in store.events(run, 1).unwrap() {
                writeln!(out, "{}", jsonl_line(&rec.unwrap()).unwrap()).unwrap();
            }
        }),
        measure(&|out| report(out, false)),
        measure(&|out| report(out, true)),
    ]
}

/// A sink that only counts what it is given.
struct Counted(u64);

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_export_of_every_format_holds_memory_that_does_not_grow_with_the_run() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (short_dir, long_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (store, run) = stored_run(short_dir.path(), 10_000);
    let short = export_peaks(&store, &run);
    drop(store);
    let (store, run) = stored_run(long_dir.path(), 100_000);
    let long = export_peaks(&store, &run);
    for (i, format) in ["jsonl", "markdown", "html"].iter().enumerate() {
        // The exports are real: the longer run's JSON lines are ten times as many bytes.
        assert!(long[i].1 > 0 && short[i].1 > 0, "{format} wrote nothing");
        if i == 0 {
            assert!(long[0].1 > 9 * short[0].1, "{long:?} {short:?}");
        }
        assert_flat(&format!("export {format}"), short[i].0, long[i].0, 8 * MIB);
    }
}

fn records(events: u64, agents: u64) -> impl Iterator<Item = EventRecord> {
    let run = RunId::from("01MEMORYVIEW");
    let mut pre = synthetic::preamble();
    // More agents than the view keeps transcripts of, each of whom speaks.
    for a in 4..=agents {
        pre.push(macrohard::domain::Event::AgentSpawned {
            agent: format!("engineer-{a}").into(),
            role: "engineer".into(),
            model: "gpt-4o-mini".into(),
            provider: "openai".into(),
        });
    }
    let n = pre.len() as u64;
    pre.into_iter()
        .chain((n..events).map(move |i| {
            let mut e = synthetic::mix(i);
            if let macrohard::domain::Event::AgentDelta { agent, .. } = &mut e {
                *agent = format!("engineer-{}", i % agents + 1).into();
            }
            e
        }))
        .enumerate()
        .map(move |(i, event)| EventRecord {
            v: SCHEMA_VERSION,
            run: run.clone(),
            seq: i as u64 + 1,
            ts_ms: 1_700_000_000_000 + i as u64,
            event,
        })
}

/// The view after `events` live events.
fn view_of(events: u64) -> View {
    let mut view = View::new(RunState::default(), &[]);
    for rec in records(events, 2 * MAX_TRANSCRIPTS as u64) {
        view.ingest(&rec);
    }
    view
}

#[test]
fn the_control_rooms_view_keeps_a_bounded_number_of_lines_whatever_the_run_length() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let view = view_of(200_000);
    assert_eq!(view.state.last_seq, 200_000);
    // The bounds are reached, and held.
    assert_eq!(
        view.logs.len(),
        MAX_LOG_LINES,
        "the log keeps its newest lines"
    );
    assert_eq!(view.transcripts.len(), MAX_TRANSCRIPTS);
    let longest = view.transcripts.values().map(|t| t.len()).max().unwrap();
    assert!(longest <= MAX_LINES, "{longest} lines in one transcript");
    let newest = view.logs.back().map_or(0, |l| l.seq);
    assert!(
        newest > 190_000,
        "the log keeps the newest lines, not the first: {newest}"
    );
}

#[test]
fn the_run_state_a_view_folds_does_not_grow_with_the_run() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let held = |events| {
        let base = NOW.load(Relaxed);
        let state = RunState::fold(&records(events, 8).collect::<Vec<_>>());
        let records_gone = NOW.load(Relaxed).saturating_sub(base);
        drop(state);
        records_gone
    };
    assert_flat("the folded state", held(20_000), held(200_000), MIB);
}
