use super::*;

#[tokio::test]
async fn what_a_command_leaves_running_ends_with_it() {
    if !sandbox_here() || sandbox::support().parts()[4].state != sandbox::PartState::Ok {
        return;
    }
    let (_d, ws) = ws();
    let tag = format!("{}.{}", 40 + fastrand::u32(..1000), fastrand::u32(..1000));
    let out = sh(
            &ws,
            &format!("setsid sh -c 'sleep {tag}' >/dev/null 2>&1 & (nohup sleep {tag} >/dev/null 2>&1 &); echo started"),
            false,
        )
        .await;
    assert!(out.ok, "{}", out.text);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let survivors: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&tag))
        .collect();
    assert!(survivors.is_empty(), "still running: {survivors:?}");
}

/// The figure for BENCHMARKS.md: `cargo test --release --lib -- --ignored
/// three_gigabytes --nocapture`.
#[tokio::test]
#[ignore]
async fn three_gigabytes_of_output_peak_memory() {
    let (_d, ws) = ws();
    let started = std::time::Instant::now();
    let out = run_with(
        &ws,
        "head -c 3000000000 /dev/zero",
        None,
        &CommandLimits::default(),
    )
    .await;
    assert!(out.text.contains("bytes cut"));
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    eprintln!("3 GB of output read in {:?}; {peak}", started.elapsed());
}

#[tokio::test]
async fn a_command_printing_gigabytes_is_read_in_bounded_memory() {
    let (_d, ws) = ws();
    let limits = CommandLimits {
        output_cap: 1000,
        ..CommandLimits::default()
    };
    let started = std::time::Instant::now();
    let out = run_with(
        &ws,
        "head -c 1000000000 /dev/zero | tr '\\0' x; echo; echo the end",
        None,
        &limits,
    )
    .await;
    assert!(out.ok, "{}", out.text);
    assert!(out.text.contains("bytes cut"), "{}", out.text);
    assert!(out.text.trim_end().ends_with("the end"), "{}", out.text);
    assert!(out.text.len() < 1200, "{}", out.text.len());
    // Holding the output would take this process past a gigabyte; other tests of this
    // binary share the figure, hence the wide margin.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kb < 500 * 1024, "peak {peak_kb} kB");
    eprintln!("1 GB read in {:?}, peak {peak_kb} kB", started.elapsed());
}

async fn run_with(
    ws: &Workspace,
    command: &str,
    timeout_s: Option<u64>,
    limits: &CommandLimits,
) -> ToolOutput {
    run_command(
        ws,
        command,
        timeout_s,
        false,
        limits,
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

fn ws() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    (dir, ws)
}

#[tokio::test]
async fn runs_in_the_workspace_with_a_scrubbed_environment() {
    let (_d, ws) = ws();
    // SAFETY: tests in this module do not read this variable concurrently.
    unsafe { std::env::set_var("MACROHARD_TEST_SECRET_KEY", "sk-test-123") };
    let out = run_with(
        &ws,
        "pwd; echo key=$MACROHARD_TEST_SECRET_KEY",
        None,
        &CommandLimits::default(),
    )
    .await;
    assert!(out.ok, "{}", out.text);
    assert!(out.text.contains(&ws.root().display().to_string()));
    assert!(
        out.text.contains("key=\n") || out.text.ends_with("key="),
        "{}",
        out.text
    );
    assert!(!out.text.contains("sk-test-123"));
}

#[tokio::test]
async fn failing_commands_report_their_exit_code_and_output() {
    let (_d, ws) = ws();
    let out = run_with(
        &ws,
        "echo oops >&2; exit 3",
        None,
        &CommandLimits::default(),
    )
    .await;
    assert!(!out.ok);
    assert!(out.text.starts_with("exit code 3"), "{}", out.text);
    assert!(out.text.contains("oops"));
}

#[tokio::test]
async fn timeouts_kill_the_command_and_output_is_capped() {
    let (_d, ws) = ws();
    let limits = CommandLimits {
        output_cap: 100,
        ..CommandLimits::default()
    };
    let t0 = std::time::Instant::now();
    let out = run_with(&ws, "sleep 30 & sleep 30", Some(1), &limits).await;
    assert!(!out.ok);
    assert!(out.text.contains("timed out"));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let out = run_with(&ws, "yes | head -c 5000", None, &limits).await;
    assert!(
        out.text.contains("lines (4900 bytes) left out"),
        "{}",
        out.text
    );
    assert!(out.text.len() < 300, "{}", out.text);
    // What it printed before it was killed is in the result.
    let out = run_with(&ws, "echo started; sleep 30", Some(1), &limits).await;
    assert!(out.text.starts_with("timed out after 1s"), "{}", out.text);
    assert!(out.text.contains("\nstarted"), "{}", out.text);
}

#[tokio::test]
async fn long_output_is_head_and_tail_by_lines_and_saved_whole() {
    let (_d, ws) = ws();
    let limits = CommandLimits::default();
    let out = run_with(&ws, "seq 1 1000", None, &limits).await;
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(lines[0], "exit code 0");
    assert_eq!(lines[1], "1");
    assert_eq!(lines[50], "50");
    let marker = lines[51];
    assert!(marker.starts_with("[… 800 lines ("), "{marker}");
    let path = marker
        .split("are in ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap();
    assert!(path.starts_with(".macrohard/output/"), "{marker}");
    assert!(marker.ends_with("from line 51]"), "{marker}");
    assert_eq!(lines[52], "851");
    assert_eq!(*lines.last().unwrap(), "1000");
    let saved = std::fs::read_to_string(ws.root().join(path)).unwrap();
    assert_eq!(saved.lines().count(), 1000);
    // The same command with the same output: the same result, word for word.
    let again = run_with(&ws, "seq 1 1000", None, &limits).await;
    assert_eq!(again.text, out.text);
    // Short output is whole and saves nothing more.
    let short = run_with(&ws, "echo hi", None, &limits).await;
    assert_eq!(short.text, "exit code 0\nhi");
    let saved = std::fs::read_dir(ws.root().join(".macrohard/output")).unwrap();
    assert_eq!(saved.count(), 1);
}

#[tokio::test]
async fn files_a_command_creates_changes_and_deletes_are_its_changes() {
    let (_d, ws) = ws();
    std::fs::write(ws.root().join("old.txt"), "old\n").unwrap();
    super::super::git::ensure_repo(ws.root()).unwrap();
    let out = run_with(
        &ws,
        "printf 'a\\nb\\n' > made.txt; rm old.txt; mkdir -p __pycache__; touch __pycache__/x.pyc",
        None,
        &CommandLimits::default(),
    )
    .await;
    assert!(out.ok, "{}", out.text);
    let got: Vec<(&str, u32)> = out
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.added))
        .collect();
    assert_eq!(got, [("made.txt", 2), ("old.txt", 0)]);
    assert!(
        out.text
            .starts_with("exit code 0\nfiles changed: made.txt, old.txt"),
        "{}",
        out.text
    );
    let out = run_with(&ws, "cat made.txt", None, &CommandLimits::default()).await;
    assert!(out.changes.is_empty(), "{:?}", out.changes);
}

/// The sandbox is checked for real wherever the kernel offers it; CI must offer it.
fn sandbox_here() -> bool {
    let s = sandbox::support();
    if std::env::var_os("CI").is_some() {
        assert!(
            s.complete(),
            "CI needs Landlock and namespaces: {}",
            s.describe()
        );
    }
    if !s.complete() {
        eprintln!("skipping: {}", s.describe());
    }
    s.complete()
}

async fn sh(ws: &Workspace, command: &str, network: bool) -> ToolOutput {
    run_command(
        ws,
        command,
        Some(20),
        network,
        &CommandLimits::default(),
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn sandboxed_commands_write_only_in_the_workspace_and_their_temp_dir() {
    if !sandbox_here() {
        return;
    }
    let outer = tempfile::tempdir().unwrap();
    let ws = Workspace::open(&outer.path().join("ws")).unwrap();
    let out = sh(
        &ws,
        "echo in > inside.txt && echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\" && mkdir -p sub/dir",
        false,
    )
    .await;
    assert!(out.ok, "{}", out.text);
    assert!(ws.root().join("inside.txt").exists());
    assert!(ws.root().join("sub/dir").is_dir());
    let out = sh(&ws, "echo x > ../escape", false).await;
    assert!(!out.ok, "{}", out.text);
    assert!(
        out.text.contains("ermission denied") || out.text.contains("Read-only file system"),
        "{}",
        out.text
    );
    assert!(!outer.path().join("escape").exists());
    let neighbour = outer.path().join("neighbour.txt");
    std::fs::write(&neighbour, "keep").unwrap();
    let out = sh(
        &ws,
        "rm -f ../neighbour.txt; ln -s .. up; echo y > up/escape2",
        false,
    )
    .await;
    assert!(!out.ok, "{}", out.text);
    assert_eq!(std::fs::read_to_string(&neighbour).unwrap(), "keep");
    assert!(!outer.path().join("escape2").exists());
    // Redirections to /dev/null still work.
    let out = sh(&ws, "echo quiet > /dev/null && echo ok", false).await;
    assert!(out.ok, "{}", out.text);
}

#[tokio::test]
async fn sandboxed_commands_reach_no_network_unless_granted() {
    if !sandbox_here() {
        return;
    }
    let (_d, ws) = ws();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let connect = format!(
        "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')\""
    );
    let out = sh(&ws, &connect, false).await;
    assert!(!out.ok, "{}", out.text);
    assert!(!out.text.contains("\nconnected"), "{}", out.text);
    assert!(listener.accept().is_err(), "a connection got through");
    // A command's own server on its loopback still works.
    let own = "python3 -c \"import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); c=socket.create_connection(s.getsockname()); print('own loopback ok')\"";
    let out = sh(&ws, own, false).await;
    assert!(out.text.contains("own loopback ok"), "{}", out.text);
    let out = sh(&ws, &connect, true).await;
    assert!(out.ok, "{}", out.text);
    assert!(out.text.contains("connected"), "{}", out.text);
}

#[tokio::test]
async fn resource_limits_apply_to_commands() {
    if !sandbox_here() {
        return;
    }
    let (_d, ws) = ws();
    let out = sh(&ws, "ulimit -c; ulimit -d", false).await;
    assert!(out.ok, "{}", out.text);
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(lines.get(1), Some(&"0"), "{}", out.text);
    assert_eq!(lines.get(2), Some(&"8388608"), "{}", out.text);
}
