#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash safety: kill the real binary with SIGKILL at random moments, resume, and check that
//! the run completes with no event lost or duplicated and no finished task run again.

mod common;

use common::{bin, export_jsonl};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Starts `args` and kills it with SIGKILL after `after`, unless it exits first.
fn run_and_kill(data: &std::path::Path, args: &[&str], after: Duration) -> Option<i32> {
    let mut child = bin()
        .env("MACROHARD_SIM_SPEED", "10")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < after {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    None
}

fn completed_tasks(events: &[serde_json::Value]) -> HashSet<String> {
    events
        .iter()
        .filter(|e| e["event"]["type"] == "task_completed")
        .map(|e| e["event"]["task"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn killed_at_random_moments_a_run_resumes_and_completes_without_gaps_or_repeats() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    eprintln!("CRASH_SEED={seed}");
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let kill_after = Duration::from_millis(rng.u64(300..4000));
        let first = run_and_kill(dir.path(), &["run", "--headless", "--yes"], kill_after);
        if first == Some(0) {
            continue; // finished before the kill
        }
        let mut finished = false;
        for attempt in 0..6 {
            let before = export_jsonl(dir.path(), "last");
            let done_before = completed_tasks(&before);
            // Resume; kill some resumes too, let the last one finish.
            let limit = if attempt < 2 {
                Duration::from_millis(rng.u64(300..3000))
            } else {
                Duration::from_secs(120)
            };
            let code = run_and_kill(
                dir.path(),
                &["resume", "last", "--headless", "--yes"],
                limit,
            );
            let after = export_jsonl(dir.path(), "last");
            let seqs: Vec<u64> = after.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
            assert_eq!(
                seqs,
                (1..=seqs.len() as u64).collect::<Vec<_>>(),
                "seed {seed} round {round}: gap or duplicate"
            );
            assert_eq!(
                &after[..before.len()],
                &before[..],
                "seed {seed}: recorded events changed"
            );
            for e in &after[before.len()..] {
                if e["event"]["type"] == "task_assigned" {
                    let t = e["event"]["task"].as_str().unwrap();
                    assert!(
                        !done_before.contains(t),
                        "seed {seed} round {round}: finished task {t} ran again"
                    );
                }
            }
            if code == Some(0) {
                finished = true;
                break;
            }
        }
        assert!(
            finished,
            "seed {seed} round {round}: the run never completed"
        );
        let out = common::run(dir.path(), &["runs", "--json"]);
        let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(runs[0]["status"], "completed");
        assert_eq!(runs[0]["tasks_done"], runs[0]["tasks_total"]);
        assert_eq!(
            runs[0]["tasks_total"], 7,
            "seed {seed} round {round}: a plan cut short is completed on resume"
        );
    }
}
