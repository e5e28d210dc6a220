//! Memory and times by run length (issue 15, DESIGN §10): generated runs of 10k, 100k and 1M
//! events (the synthetic mix), then the real binary: peak RSS of `export` in every format
//! in-process and through a running server, the server's peak and what it keeps after the
//! exports, and the time of `runs`, `show` and the first frame of `attach`.
//!
//! `cargo bench --bench memory` (all three sizes), `cargo bench --bench memory -- 10000 100000`
//! (the sizes given). Prints one Markdown table row per size. `cargo bench --bench memory --
//! gen DIR 1000000` only writes such a run into the data directory DIR.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/pty.rs"]
mod pty;

use macrohard::domain::RunId;
use macrohard::store::{Store, synthetic};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary measured: this build's, or another given in `MACROHARD_BENCH_BIN` (to compare
/// with an older build).
fn bin() -> String {
    std::env::var("MACROHARD_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_macrohard-tui").to_owned())
}

/// Runs the binary on `data` with `args`: its wall time and peak RSS in MiB, as GNU time
/// measures it (a child spawned from this process would count this process's pages too:
/// `posix_spawn` shares its memory until `exec`).
fn exec(data: &Path, args: &[&str]) -> (Duration, f64) {
    let rss_file = data.join("maxrss");
    let t0 = Instant::now();
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(bin())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent-macrohard-bench-config")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let took = t0.elapsed();
    assert!(status.success(), "{args:?} failed");
    let kb: f64 = std::fs::read_to_string(&rss_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (took, kb / 1024.0)
}

/// `VmHWM` and `VmRSS` of a running process, in MiB.
fn proc_mem(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn generate(data: &Path, events: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Store::open(&data.join("store")).unwrap();
    let run = RunId::from(format!("01SYNTHETIC{events}").as_str());
    rt.block_on(synthetic::write_run(&store, &run, events))
        .unwrap();
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn attach_first_frame(data: &Path) -> Duration {
    let p = pty::Pty::spawn(data, &["attach", "last", "--read-only"], &[], 120, 40);
    p.wait_for("the first frame", Duration::from_secs(60), |s| {
        s.contains("Agents")
    })
}

fn measure(events: u64) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let t0 = Instant::now();
    generate(data, events);
    let store_mb = dir_size(&data.join("store")) as f64 / (1 << 20) as f64;
    eprintln!(
        "{events} events: generated in {:.1} s, store {store_mb:.0} MiB",
        t0.elapsed().as_secs_f64()
    );
    let out = data.join("out");
    let out = out.to_str().unwrap();
    let mut row = vec![events.to_string(), format!("{store_mb:.0} MiB")];
    for format in ["jsonl", "markdown", "html"] {
        let (t, rss) = exec(data, &["export", "last", "--format", format, "-o", out]);
        eprintln!("  in-process export {format}: {rss:.0} MiB in {}", ms(t));
        row.push(format!("{rss:.0} MiB"));
    }
    let (runs_t, _) = exec(data, &["runs"]);
    let (show_t, show_rss) = exec(data, &["show", "last"]);
    eprintln!(
        "  runs {}; show {} ({show_rss:.0} MiB)",
        ms(runs_t),
        ms(show_t)
    );

    // The same through a running server.
    let mut server = Command::new(bin())
        .arg("--data-dir")
        .arg(data)
        .arg("serve")
        .env("XDG_CONFIG_HOME", "/nonexistent-macrohard-bench-config")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pty::server_pid(data).is_none() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, idle) = proc_mem(server.id());
    for format in ["jsonl", "markdown", "html"] {
        let (t, rss) = exec(data, &["export", "last", "--format", format, "-o", out]);
        eprintln!(
            "  export {format} through the server: client {rss:.0} MiB in {}",
            ms(t)
        );
        row.push(format!("{rss:.0} MiB"));
    }
    let (peak, after) = proc_mem(server.id());
    eprintln!("  server: {idle:.0} MiB idle, peak {peak:.0} MiB, {after:.0} MiB after the exports");
    row.push(format!("{peak:.0} / {after:.0} MiB"));
    let (srv_runs, _) = exec(data, &["runs"]);
    let (srv_show, _) = exec(data, &["show", "last"]);
    let attach = attach_first_frame(data);
    eprintln!(
        "  through the server: runs {}, show {}, attach first frame {}",
        ms(srv_runs),
        ms(srv_show),
        ms(attach)
    );
    // SAFETY: signalling the server this bench started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let _ = server.wait();
    row.extend([
        ms(runs_t),
        ms(show_t),
        ms(srv_runs),
        ms(srv_show),
        ms(attach),
    ]);
    println!("| {} |", row.join(" | "));
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `gen DIR N`: only write a run of N events into the data directory DIR, to measure by hand.
    if let [mode, dir, n] = args.as_slice()
        && mode == "gen"
    {
        generate(Path::new(dir), n.parse().expect("a number of events"));
        return;
    }
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    println!(
        "| events | store | export jsonl | markdown | html | via server: jsonl | markdown | html \
         | server peak / after | runs | show | runs (server) | show (server) | attach first frame |"
    );
    println!("|{}", "---|".repeat(14));
    for n in sizes {
        measure(n);
    }
}
