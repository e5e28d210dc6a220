//! Pty harness: the real binary in a pseudo-terminal while the simulated company streams.
//! Prints the bytes written to the terminal per second and the process's CPU use, while
//! streaming and once the run has finished (idle), and the key-press-to-frame latency.
//! Run with `cargo bench --bench terminal_output`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/pty.rs"]
mod pty;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn measure(p: &pty::Pty, pid: u32, secs: u64) -> (f64, f64) {
    let (b0, c0, t0) = (
        p.bytes.load(Ordering::Relaxed),
        cpu_ticks(pid),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(secs));
    let dt = t0.elapsed().as_secs_f64();
    let bytes = (p.bytes.load(Ordering::Relaxed) - b0) as f64 / dt;
    let cpu = (cpu_ticks(pid) - c0) as f64 / ticks_per_sec() / dt * 100.0;
    (bytes, cpu)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks; this harness only measures.
    }
    // The engine in the control room's own process, then in a server the control room is
    // attached to over the socket: the bytes to the terminal must be no more when attached.
    harness(true);
    harness(false);
}

fn harness(foreground: bool) {
    let label = if foreground {
        "in-process (--foreground)"
    } else {
        "attached to the server"
    };
    println!("== {label}");
    let dir = tempfile::tempdir().unwrap();
    let speed = std::env::var("HARNESS_SIM_SPEED").unwrap_or_else(|_| "1".into());
    let mut args = vec!["run", "--yes"];
    if foreground {
        args.insert(0, "--foreground");
    }
    let mut p = pty::Pty::spawn(
        dir.path(),
        &args,
        &[("MACROHARD_SIM_SPEED", speed.as_str())],
        200,
        60,
    );
    let pid = p.child.process_id().unwrap();
    p.wait_for("the control room", Duration::from_secs(30), |s| {
        s.contains("1 Agents")
    });
    p.wait_for("agents at work", Duration::from_secs(60), |s| {
        s.contains("engineer-1")
    });
    let server = pty::server_pid(dir.path());
    let server_cpu0 = server.map(|s| cpu_ticks(s as u32));
    let t0 = Instant::now();
    let (bytes, cpu) = measure(&p, pid, 10);
    println!(
        "streaming (sim speed {speed}, 200x60): {:.1} KB/s to the terminal, {cpu:.1}% of one core",
        bytes / 1000.0
    );
    if let (Some(s), Some(c0)) = (server, server_cpu0) {
        let cpu = (cpu_ticks(s as u32) - c0) as f64 / ticks_per_sec() / t0.elapsed().as_secs_f64()
            * 100.0;
        println!("  the server meanwhile: {cpu:.1}% of one core");
    }

    // Key press to frame: toggle the help overlay and time until the screen shows it.
    let mut lat = Vec::new();
    for _ in 0..20 {
        let t0 = Instant::now();
        p.send("?");
        p.wait_for("help", Duration::from_secs(5), |s| {
            s.contains("type to filter")
        });
        lat.push(t0.elapsed());
        p.send("\x1b");
        p.wait_for("help closed", Duration::from_secs(5), |s| {
            !s.contains("type to filter")
        });
    }
    lat.sort();
    println!(
        "key press to frame while streaming: median {:?}, max {:?} (20 presses, 5 ms polling)",
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );

    p.wait_for("the run to finish", Duration::from_secs(600), |s| {
        s.lines().next().unwrap_or("").contains("COMPLETED")
    });
    std::thread::sleep(Duration::from_secs(1));
    let (bytes, cpu) = measure(&p, pid, 10);
    println!("idle after the run finished: {bytes:.0} B/s to the terminal, {cpu:.2}% of one core");
    p.send("q");
    p.wait_exit(Duration::from_secs(5));
}
