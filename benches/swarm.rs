//! Pty harness of the swarm: the release binary in a pseudo-terminal at 120x40, attached to its
//! server, runs `#swarm` with [`AGENTS`] agents streaming at `MACROHARD_SIM_SPEED=1` (~100
//! tokens/s each) until its time budget ends it. Once every agent streams, it measures:
//! key-press-to-frame latency (the help overlay toggled every [`KEY_EVERY`], the screen read
//! every [`POLL`]), bytes to the terminal per second and per agent, CPU of the control room and
//! of the server per agent (`/proc/PID/stat`), the server's peak RSS (VmHWM), and the lag from
//! a live delta to its durable event, seen by a second viewer this process attaches with the
//! library: per agent request, the live text's byte offsets are matched to the bytes of the
//! recorded `AgentDelta`s since the request's `LlmRequestStarted`.
//!
//! `cargo bench --bench swarm` runs the budget's 10 minutes; `SWARM_SECS=60` a short run,
//! `SWARM_AGENTS=N` another concurrency, `SWARM_BIN=path` another build of the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/durable_lag.rs"]
mod durable_lag;
#[path = "common/proc.rs"]
mod proc;
#[path = "../tests/common/pty.rs"]
mod pty;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const AGENTS: u32 = 20;
const KEY_EVERY: Duration = Duration::from_millis(1000);
const POLL: Duration = Duration::from_micros(500);
/// The help overlay's title ends so (it says "Help · … · type to filter").
const HELP: &str = "type to filter";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits, reading the screen every [`POLL`], until `pred` holds; the time it took, or `None`
/// after `timeout`.
fn poll(p: &pty::Pty, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if pred(&p.screen()) {
            return Some(start.elapsed());
        }
        std::thread::sleep(POLL);
    }
    None
}

fn running(screen: &str) -> bool {
    screen.lines().next().unwrap_or("").contains("RUNNING")
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks; this harness only measures.
    }
    let secs: u64 = env_or("SWARM_SECS", 600);
    let agents: u32 = env_or("SWARM_AGENTS", AGENTS);
    let dir = tempfile::tempdir().unwrap();
    let (conc, budget) = (agents.to_string(), secs.to_string());
    let args = [
        "run",
        "--yes",
        "--concurrency",
        &conc,
        "--budget-secs",
        &budget,
        "Build a small service #swarm",
    ];
    let bin = std::env::var_os("SWARM_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_macrohard-tui").into());
    let env = [("MACROHARD_SIM_SPEED", "1")];
    let mut p = pty::Pty::spawn_bin(&bin, dir.path(), &args, &env, 120, 40);
    let pid = p.child.process_id().unwrap();
    p.wait_for("the control room", Duration::from_secs(30), |s| {
        s.contains("supervisor")
    });
    let spawned = Instant::now();
    let server = loop {
        if let Some(s) = pty::server_pid(dir.path()) {
            break s as u32;
        }
        assert!(spawned.elapsed() < Duration::from_secs(30), "no server");
        std::thread::sleep(Duration::from_millis(20));
    };
    let socket = macrohard::server::socket::socket_path(dir.path()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let lag = durable_lag::watch(socket, stop.clone());

    // The window opens once every agent streams.
    while lag.streaming_agents() < agents as usize {
        assert!(
            spawned.elapsed() < Duration::from_secs(120),
            "only {} agents stream after 120 s; the screen shows:\n{}",
            lag.streaming_agents(),
            p.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ramp = spawned.elapsed();
    println!(
        "{agents} agents streaming {:.1} s after the control room showed",
        ramp.as_secs_f64()
    );
    lag.reset();
    let t0 = Instant::now();
    let (b0, c0, s0) = (
        p.bytes.load(Ordering::Relaxed),
        proc::cpu_ticks(pid),
        proc::cpu_ticks(server),
    );
    let mut keys = Vec::new();
    let mut missed = 0;
    let mut report = t0;
    let mut last = (b0, c0, s0, t0);
    while t0.elapsed() < Duration::from_secs(secs) && running(&p.screen()) {
        let next = Instant::now() + KEY_EVERY;
        p.send("?");
        match poll(&p, Duration::from_secs(5), |s| s.contains(HELP)) {
            Some(d) => keys.push(d),
            None => {
                missed += 1;
                if missed == 1 {
                    eprintln!("the help did not show; the screen:\n{}", p.screen());
                }
            }
        }
        p.send("\x1b");
        poll(&p, Duration::from_secs(5), |s| !s.contains(HELP));
        if report.elapsed() >= Duration::from_secs(60) {
            report = Instant::now();
            let (b, c, s) = (
                p.bytes.load(Ordering::Relaxed),
                proc::cpu_ticks(pid),
                proc::cpu_ticks(server),
            );
            let dt = last.3.elapsed().as_secs_f64();
            println!(
                "  {:>4.0} s: {:.1} KB/s, control room {:.1} %, server {:.1} %, server peak RSS {} MiB, {} agents streaming, lag {}",
                t0.elapsed().as_secs_f64(),
                (b - last.0) as f64 / 1000.0 / dt,
                proc::cpu_percent(c - last.1, dt),
                proc::cpu_percent(s - last.2, dt),
                proc::peak_rss_kib(server) / 1024,
                lag.streaming_agents(),
                proc::summary(&mut lag.samples())
            );
            last = (b, c, s, Instant::now());
        }
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    let (b1, c1, s1) = (
        p.bytes.load(Ordering::Relaxed),
        proc::cpu_ticks(pid),
        proc::cpu_ticks(server),
    );
    let rss = proc::peak_rss_kib(server);
    let client_rss = proc::peak_rss_kib(pid);
    stop.store(true, Ordering::SeqCst);
    let n = f64::from(agents);
    let bytes = (b1 - b0) as f64 / dt;
    let (cpu_c, cpu_s) = (
        proc::cpu_percent(c1 - c0, dt),
        proc::cpu_percent(s1 - s0, dt),
    );
    println!(
        "#swarm, {agents} agents, sim speed 1, 120x40, attached, {dt:.0} s measured (budget {secs} s):"
    );
    println!(
        "  key press to frame: {}{}",
        proc::summary(&mut keys),
        if missed > 0 {
            format!(", {missed} presses not shown within 5 s")
        } else {
            String::new()
        }
    );
    println!(
        "  to the terminal: {:.1} KB/s, {:.2} KB/s per agent",
        bytes / 1000.0,
        bytes / 1000.0 / n
    );
    println!(
        "  CPU: control room {cpu_c:.1} % ({:.2} % per agent), server {cpu_s:.1} % ({:.2} % per agent)",
        cpu_c / n,
        cpu_s / n
    );
    println!(
        "  peak RSS: server {} MiB, control room {} MiB",
        rss / 1024,
        client_rss / 1024
    );
    println!(
        "  live delta to durable event: {}; {}",
        proc::summary(&mut lag.samples()),
        lag.notes()
    );
    println!(
        "  the same, newest piece of each recorded event only (the store's part): {}",
        proc::summary(&mut lag.newest())
    );
    p.send("q");
    p.wait_exit(Duration::from_secs(5));
}
