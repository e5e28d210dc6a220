#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The data directory as it fails in the field: read-only, full, deleted while a run writes
//! to it. Each is one line naming the path and what to do, with the documented exit code
//! (2 when the command cannot start, 3 when a run stops and waits for a person), and never
//! Rust's debug output or a panic.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn assert_plain(stderr: &str) {
    for bad in [
        "Os {",
        "code:",
        "panicked",
        "kind:",
        "Error {",
        "RUST_BACKTRACE",
    ] {
        assert!(!stderr.contains(bad), "debug output ({bad}): {stderr}");
    }
}

/// The last line of standard error that starts with the program's name.
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rfind(|l| l.starts_with("macrohard-tui:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"))
}

fn finished_run(data: &Path) {
    let out = common::run(data, &["run", "--headless", "--yes"]);
    assert!(out.status.success(), "{:?}", common::text(&out));
}

/// Runs the binary as `nobody` (root does not feel permissions); None where that cannot be.
fn as_nobody(home: &Path, data: &Path, args: &[&str]) -> Option<Output> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root to start a process as nobody");
        return None;
    }
    let out = common::bin()
        .uid(65534)
        .gid(65534)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output();
    match out {
        Ok(out) => Some(out),
        Err(e) => {
            eprintln!("skipping: the binary is not reachable by nobody: {e}");
            None
        }
    }
}

fn chmod_tree(p: &Path, dir_mode: u32, file_mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(p).unwrap();
    if meta.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chmod_tree(&e.unwrap().path(), dir_mode, file_mode);
        }
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(dir_mode)).unwrap();
    } else if meta.is_file() {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(file_mode)).unwrap();
    }
}

#[test]
fn a_read_only_data_directory_refuses_a_run_in_one_line_and_can_still_be_read() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let data = home.path().join("data");
    finished_run(&data);
    chmod_tree(&data, 0o555, 0o444);
    let before = common::run(&data, &["export", "last", "--format", "jsonl"]);
    let Some(out) = as_nobody(home.path(), &data, &["run", "--headless", "--yes"]) else {
        return;
    };
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_plain(&stderr);
    let line = error_line(&stderr);
    assert!(
        line.contains(&data.join("store").display().to_string()) && line.contains("read-only"),
        "{stderr}"
    );
    assert!(line.contains("--data-dir"), "the fix is named: {stderr}");
    // Listing, showing and exporting still work, and change nothing.
    for args in [
        &["runs"][..],
        &["runs", "--json"],
        &["show", "last"],
        &["export", "last", "--format", "markdown"],
    ] {
        let out = as_nobody(home.path(), &data, args).unwrap();
        let (stdout, stderr) = common::text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            stdout.contains("todo") || stdout.contains("Todo"),
            "{args:?}: {stdout}"
        );
    }
    let out = as_nobody(home.path(), &data, &["export", "last", "--format", "jsonl"]).unwrap();
    assert_eq!(
        out.stdout, before.stdout,
        "the export is the same as the writer's"
    );
    chmod_tree(&data, 0o755, 0o644);
}

#[test]
fn a_data_directory_deleted_mid_run_stops_it_with_exit_3_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = common::bin()
        .env("MACROHARD_SIM_SPEED", "1")
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--headless", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the store, then take the whole data directory away.
    let started = Instant::now();
    while !data.join("store").join("db").exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "no store");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_dir_all(&data).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run went on without its store");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_plain(&stderr);
    let line = error_line(&stderr);
    assert!(
        line.contains(&data.join("store").display().to_string()) && line.contains("deleted"),
        "{stderr}"
    );
}

/// Runs a headless run whose files may grow to `limit` bytes (RLIMIT_FSIZE): a write past
/// it fails with EFBIG, as a full disk fails with ENOSPC.
fn run_with_file_limit(data: &Path, limit: u64) -> Output {
    let mut cmd = common::bin();
    cmd.arg("--data-dir")
        .arg(data)
        .args(["run", "--headless", "--yes"]);
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn a_full_disk_mid_run_stops_it_with_exit_3_and_at_start_refuses_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mid");
    let out = run_with_file_limit(&data, 100 * 1024);
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_plain(&stderr);
    let line = error_line(&stderr);
    assert!(
        line.contains(&data.join("store").display().to_string())
            && line.contains("disk is full")
            && line.contains("free some space"),
        "{stderr}"
    );
    // What was written before is still there and readable.
    let out = common::run(&data, &["runs"]);
    assert!(out.status.success(), "{:?}", common::text(&out));

    let data = dir.path().join("start");
    let out = run_with_file_limit(&data, 0);
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_plain(&stderr);
    assert!(error_line(&stderr).contains("disk is full"), "{stderr}");
}

#[test]
fn runs_with_no_runs_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(&dir.path().join("fresh"), &["runs"]);
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("No runs yet"), "{stdout}");
    let out = common::run(&dir.path().join("fresh"), &["runs", "--json"]);
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap(),
        serde_json::json!([])
    );
    // Nothing was created by looking.
    assert!(!dir.path().join("fresh").join("store").exists());
}

#[test]
fn config_errors_name_the_file_the_line_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[run]\nconcurrency = 2\n\n[budget]\nusd = -5\n").unwrap();
    let out = common::bin()
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("runs")
        .output()
        .unwrap();
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("config.toml line 5: key `budget.usd`") && stderr.contains("negative"),
        "{stderr}"
    );
    std::fs::write(&config, b"[run]\nprovider = \"s\xffm\"\n").unwrap();
    let out = common::bin()
        .arg("--config")
        .arg(&config)
        .arg("runs")
        .output()
        .unwrap();
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config.toml line 2"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
