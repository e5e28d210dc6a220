//! Pty harness of the live stream: a loopback OpenAI-compatible server streams one fixed
//! 30.7 KB Markdown answer to the supervisor at 2 KB/s in ~4-byte deltas
//! (`common/answer.rs`), and the real binary shows it in a pseudo-terminal. For each terminal
//! size, in-process (`--foreground`) and attached to its server, with the store as it is and
//! with every flush made 400 ms slower (`MACROHARD_SLOW_FLUSH_MS`), it prints: bytes written to
//! the terminal while the answer streams and per streamed character, frames per second
//! (synchronized-output begins), CPU of the control room (and the server), and the latency from
//! a marker's last byte leaving the provider to the marker's first appearance on the screen.
//!
//! `cargo bench --bench live_stream`. `LIVE_BIN=path` measures another build of the binary
//! (an older commit); `LIVE_SLOW_FLUSH_MS=0` leaves out the slow-store cases (an older build
//! has no such knob); `LIVE_SIZES=120x40` measures one size. `LIVE_JOIN=1` measures instead a
//! second control room that attaches (`attach last --read-only`) 3 s into the answer, while it
//! streams: its figures count from when it is on screen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/answer.rs"]
mod answer;
#[path = "common/proc.rs"]
mod proc;
#[path = "../tests/common/pty.rs"]
mod pty;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the harness reads the screen for markers.
const POLL: Duration = Duration::from_millis(1);

struct Case {
    cols: u16,
    rows: u16,
    foreground: bool,
    slow_flush_ms: u64,
    /// Measure a control room that attaches while the answer streams.
    join: bool,
}

struct Figures {
    bytes: usize,
    secs: f64,
    frames: usize,
    cpu_client: f64,
    cpu_server: Option<f64>,
    latency: Vec<Duration>,
    missing: usize,
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks; this harness only measures.
    }
    let bin = std::env::var_os("LIVE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_macrohard-tui")));
    let slow: u64 = std::env::var("LIVE_SLOW_FLUSH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let sizes = std::env::var("LIVE_SIZES").unwrap_or_else(|_| "120x40,80x24".into());
    let text = Arc::new(answer::answer());
    let chars = text.chars().count();
    println!(
        "answer: {} bytes, {chars} characters, {} markers, streamed at {} B/s in {}-byte deltas; binary {}",
        text.len(),
        answer::markers_in(&text).count(),
        answer::BYTES_PER_SEC,
        answer::DELTA_BYTES,
        bin.display()
    );
    println!(
        "| size | mode | store flush | to the terminal | per streamed char | fps | CPU control room | CPU server | delta → screen p50 / p95 / max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for size in sizes.split(',') {
        let Some((cols, rows)) = size
            .split_once('x')
            .and_then(|(c, r)| Some((c.trim().parse().ok()?, r.trim().parse().ok()?)))
        else {
            eprintln!("LIVE_SIZES: {size:?} is not COLSxROWS");
            continue;
        };
        if std::env::var_os("LIVE_JOIN").is_some() {
            let case = Case {
                cols,
                rows,
                foreground: false,
                slow_flush_ms: 0,
                join: true,
            };
            let f = measure(&bin, &case, text.clone());
            row(&case, &f, chars);
            continue;
        }
        let flushes: &[u64] = if slow > 0 { &[0, slow] } else { &[0] };
        for &slow_flush_ms in flushes {
            for foreground in [true, false] {
                let case = Case {
                    cols,
                    rows,
                    foreground,
                    slow_flush_ms,
                    join: false,
                };
                let f = measure(&bin, &case, text.clone());
                row(&case, &f, chars);
            }
        }
    }
}

fn row(case: &Case, f: &Figures, chars: usize) {
    let mut lat = f.latency.clone();
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let missing = if f.missing > 0 {
        format!(" ({} markers never seen)", f.missing)
    } else {
        String::new()
    };
    println!(
        "| {}x{} | {} | {} | {:.1} KB ({:.1} KB/s) | {:.2} B | {:.1} | {:.1} % | {} | {:.1} / {:.1} / {:.1} ms{missing} |",
        case.cols,
        case.rows,
        match (case.foreground, case.join) {
            (true, _) => "in-process",
            (false, false) => "attached",
            (false, true) => "attached mid-stream",
        },
        if case.slow_flush_ms > 0 {
            format!("+{} ms", case.slow_flush_ms)
        } else {
            "as is".into()
        },
        f.bytes as f64 / 1000.0,
        f.bytes as f64 / 1000.0 / f.secs,
        f.bytes as f64 / chars as f64,
        f.frames as f64 / f.secs,
        f.cpu_client,
        f.cpu_server.map_or("–".into(), |c| format!("{c:.1} %")),
        ms(proc::quantile(&lat, 0.5)),
        ms(proc::quantile(&lat, 0.95)),
        ms(lat.last().copied().unwrap_or_default()),
    );
}

fn measure(bin: &std::path::Path, case: &Case, text: Arc<String>) -> Figures {
    let server = answer::start(text.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "run",
        "--yes",
        "--provider",
        "vllm",
        "--base-url",
        &server.url,
        "--model",
        "bench-1",
        "Explain how the run keeps its record",
    ];
    if case.foreground {
        args.insert(0, "--foreground");
    }
    let slow = case.slow_flush_ms.to_string();
    let env = [("MACROHARD_SLOW_FLUSH_MS", slow.as_str())];
    let mut p = pty::Pty::spawn_bin(bin, dir.path(), &args, &env, case.cols, case.rows);
    let pid = p.child.process_id().unwrap();
    p.wait_for("the control room", Duration::from_secs(30), |s| {
        s.contains("supervisor")
    });
    let start = Instant::now();
    while server.requests.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no request reached the server; the screen shows:\n{}",
            p.screen()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the first frames settle, then let the supervisor's first step go; the answer is
    // its second.
    std::thread::sleep(Duration::from_millis(1000));
    server.go.store(true, Ordering::SeqCst);
    while server.requests.load(Ordering::SeqCst) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the answer was never asked for; the screen shows:\n{}",
            p.screen()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let server_pid = (!case.foreground)
        .then(|| pty::server_pid(dir.path()))
        .flatten()
        .map(|s| s as u32);
    // A second control room that attaches while the answer streams is the one measured.
    let mut first_room = None;
    let mut joined_at = None;
    if case.join {
        while first_elapsed(&server) < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let joiner = pty::Pty::spawn_bin(
            bin,
            dir.path(),
            &["attach", "last", "--read-only"],
            &env,
            case.cols,
            case.rows,
        );
        joiner.wait_for("the second control room", Duration::from_secs(30), |s| {
            s.contains("supervisor")
        });
        joined_at = Some(Instant::now());
        first_room = Some(std::mem::replace(&mut p, joiner));
    }
    let pid = p.child.process_id().unwrap_or(pid);
    let (b0, f0) = (
        p.bytes.load(Ordering::Relaxed),
        p.frames.load(Ordering::Relaxed),
    );
    let (c0, s0) = (proc::cpu_ticks(pid), server_pid.map(proc::cpu_ticks));
    let markers = server.sent.lock().unwrap().len();
    let mut seen: Vec<Option<Instant>> = vec![None; markers];
    let stream_secs = text.len() as f64 / answer::BYTES_PER_SEC;
    let deadline = Instant::now() + Duration::from_secs_f64(stream_secs + 30.0);
    // The answer has streamed when its last marker is on screen (or the time is up).
    let debug = std::env::var_os("LIVE_DEBUG").is_some();
    let mut dumped = 0;
    while seen[markers - 1].is_none() && Instant::now() < deadline {
        if debug && dumped < 3 && first_elapsed(&server) > Duration::from_secs(4 + 3 * dumped) {
            dumped += 1;
            let sent = server
                .sent
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.is_some())
                .count();
            eprintln!("-- {sent} markers sent; the screen:\n{}", p.screen());
        }
        let screen = p.screen();
        let now = Instant::now();
        for n in answer::markers_in(&screen) {
            if let Some(slot) = seen.get_mut(n) {
                slot.get_or_insert(now);
            }
        }
        std::thread::sleep(POLL);
    }
    let end = Instant::now();
    let (b1, f1) = (
        p.bytes.load(Ordering::Relaxed),
        p.frames.load(Ordering::Relaxed),
    );
    let (c1, s1) = (proc::cpu_ticks(pid), server_pid.map(proc::cpu_ticks));
    let first = server.span.lock().unwrap().0.unwrap_or(end);
    let first = joined_at.unwrap_or(first);
    let secs = end.duration_since(first).as_secs_f64();
    let sent = server.sent.lock().unwrap().clone();
    // Joined: only the markers sent once the second control room was on screen.
    let counted = |s: &Option<Instant>| s.is_some_and(|s| joined_at.is_none_or(|j| s > j));
    let latency: Vec<Duration> = sent
        .iter()
        .zip(&seen)
        .filter(|(s, _)| counted(s))
        .filter_map(|(s, v)| Some(v.as_ref()?.saturating_duration_since((*s)?)))
        .collect();
    let missing = sent.iter().filter(|s| counted(s)).count() - latency.len();
    p.send("q");
    p.wait_exit(Duration::from_secs(5));
    if let Some(mut room) = first_room {
        room.send("q");
        room.wait_exit(Duration::from_secs(5));
    }
    Figures {
        bytes: b1 - b0,
        secs,
        frames: f1 - f0,
        cpu_client: proc::cpu_percent(c1 - c0, secs),
        cpu_server: s0.zip(s1).map(|(a, b)| proc::cpu_percent(b - a, secs)),
        latency,
        missing,
    }
}

fn first_elapsed(server: &answer::Server) -> Duration {
    server
        .span
        .lock()
        .unwrap()
        .0
        .map_or(Duration::ZERO, |t| t.elapsed())
}
