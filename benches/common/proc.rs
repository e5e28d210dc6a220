//! What the pty harnesses read of a process from `/proc`, and how they summarise samples.
//! A process that is gone reads as zero (a harness reports what it could measure, never panics
//! on a process that exited first).
#![allow(dead_code)]

use std::time::Duration;

/// User + system CPU ticks of `pid` so far.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

pub fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// Per cent of one core that `ticks` of CPU over `secs` of wall time are.
pub fn cpu_percent(ticks: u64, secs: f64) -> f64 {
    ticks as f64 / ticks_per_sec() / secs.max(1e-9) * 100.0
}

/// Peak resident memory of `pid` (VmHWM), in KiB; 0 when it cannot be read.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The `q`-quantile (0..=1) of sorted samples, nearest rank; zero for no samples.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `p50 / p95 / p99 / max` of samples, in milliseconds with one decimal.
pub fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        ms(quantile(samples, 0.50)),
        ms(quantile(samples, 0.95)),
        ms(quantile(samples, 0.99)),
        ms(samples.last().copied().unwrap_or_default()),
        samples.len()
    )
}
