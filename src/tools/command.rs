//! `run_command`: a shell command in the workspace, with a timeout, an output cap and a
//! scrubbed environment. The whole process group is killed on timeout or cancellation. The
//! result holds the exit code, the files the command changed ([`changes`]) and its output by
//! lines, head and tail ([`Output`]), the whole of it saved for `read_file` when the result
//! leaves some out ([`Log`]). The text depends on nothing but what the command did, so the
//! same call with the same outcome has the same result (loop detection compares them).

use super::changes;
use super::output::Output;
use super::output_log::{LOG_CAP, Log};
use super::sandbox::{self, PrivateTmp, SandboxConfig};
use super::{FileChange, ToolError, ToolOutput, Workspace};
use sha2::{Digest, Sha256};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy)]
pub struct CommandLimits {
    pub default_timeout: Duration,
    pub max_timeout: Duration,
    pub output_cap: usize,
    pub sandbox: SandboxConfig,
}

impl Default for CommandLimits {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(120),
            max_timeout: Duration::from_secs(1800),
            output_cap: 64 * 1024,
            sandbox: SandboxConfig::default(),
        }
    }
}

/// Environment variables passed through to commands; everything else (API keys above all) is
/// dropped.
const PASSED_ENV: [&str; 5] = ["PATH", "LANG", "LC_ALL", "TZ", "USER"];

/// Reads stdout and stderr together, in the order they come, into the shown output and the
/// saved file, then waits for the command's exit.
async fn read_output(
    child: &mut tokio::process::Child,
    shown: &mut Output,
    log: &mut Option<Log>,
) -> std::io::Result<std::process::ExitStatus> {
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let (mut a, mut b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        let (from_out, n) = tokio::select! {
            r = read_some(&mut out, &mut a), if out.is_some() => match r {
                Ok(n) if n > 0 => (true, n),
                _ => { out = None; continue }
            },
            r = read_some(&mut err, &mut b), if err.is_some() => match r {
                Ok(n) if n > 0 => (false, n),
                _ => { err = None; continue }
            },
            else => break,
        };
        let bytes = if from_out { &a[..n] } else { &b[..n] };
        shown.push(bytes);
        if let Some(log) = log.as_mut() {
            log.write(bytes).await;
        }
    }
    child.wait().await
}

async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    r: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => Ok(0),
    }
}

/// How a command ended.
enum Ended {
    Exited(std::io::Result<std::process::ExitStatus>),
    TimedOut,
}

/// The shown output with where the whole of it is, saving the file when the text is not the
/// whole output.
async fn shown_text(command: &str, shown: &Output, log: Option<Log>) -> String {
    if shown.whole() {
        return shown.text("");
    }
    let mut key = Sha256::new();
    for part in [command, &shown.text(""), &shown.total().to_string()] {
        key.update(part.as_bytes());
        key.update([0]);
    }
    let name: String = key.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let saved = match log {
        Some(log) => log.keep(&name, shown.total()).await,
        None => None,
    };
    let saved = match saved {
        Some(path) if shown.total() > LOG_CAP => format!(
            "the first {} MiB are in {path} (read_file it)",
            LOG_CAP >> 20
        ),
        Some(path) => format!("all {} lines are in {path} (read_file it)", shown.lines()),
        None => "the whole output could not be saved".to_owned(),
    };
    if shown.left_out() == 0 {
        // Only long lines were cut, each marked where it is.
        return format!(
            "[long lines are cut below; {saved}]\n{}",
            shown.text(&saved)
        );
    }
    shown.text(&saved)
}

/// The files a command changed, as a line of its result.
fn changes_line(changes: &[FileChange], more: usize) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let named: Vec<&str> = changes.iter().take(10).map(|c| c.path.as_str()).collect();
    let rest = changes.len() - named.len() + more;
    let mut line = format!("files changed: {}", named.join(", "));
    if rest > 0 {
        line.push_str(&format!(" and {rest} more"));
    }
    if more > 0 {
        line.push_str(&format!(
            " ({more} not recorded with the task: add a .gitignore for generated files)"
        ));
    }
    Some(line)
}

pub async fn run_command(
    ws: &Workspace,
    command: &str,
    timeout_s: Option<u64>,
    network: bool,
    limits: &CommandLimits,
    cancel: &CancellationToken,
) -> Result<ToolOutput, ToolError> {
    if command.trim().is_empty() {
        return Err(ToolError::BadArguments {
            tool: "run_command".into(),
            detail: "`command` is empty".into(),
        });
    }
    let timeout = timeout_s
        .map(Duration::from_secs)
        .unwrap_or(limits.default_timeout)
        .min(limits.max_timeout);
    let tmp = PrivateTmp::create()
        .map_err(|e| ToolError::failed(format!("cannot create a temporary directory: {e}")))?;
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(ws.root())
        .env_clear()
        .env("HOME", ws.root())
        .env("TERM", "dumb")
        .env("MACROHARD_WORKSPACE", ws.root())
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for key in PASSED_ENV {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    sandbox::confine(&mut cmd, &limits.sandbox, ws.root(), tmp.path(), network)
        .map_err(ToolError::failed)?;
    let before = changes::snapshot(ws.root()).await;
    let mut log = Log::create(ws.root());
    let mut child = cmd
        .spawn()
        .map_err(|e| ToolError::failed(format!("cannot start sh in the sandbox: {e}")))?;
    let pgid = child.id();
    let kill_group = || {
        if let Some(pid) = pgid {
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
    };
    let mut shown = Output::new(limits.output_cap);
    let ended = {
        let reading = read_output(&mut child, &mut shown, &mut log);
        tokio::pin!(reading);
        tokio::select! {
            status = &mut reading => Ended::Exited(status),
            () = tokio::time::sleep(timeout) => {
                kill_group();
                // What it printed before it was killed, as far as it comes at once.
                let _ = tokio::time::timeout(Duration::from_secs(2), &mut reading).await;
                Ended::TimedOut
            }
            () = cancel.cancelled() => {
                kill_group();
                return Err(ToolError::failed("cancelled by a person"));
            }
        }
    };
    shown.finish();
    let (first, ok) = match ended {
        Ended::Exited(Ok(s)) if s.success() => ("exit code 0".to_owned(), true),
        Ended::Exited(Ok(s)) => (
            s.code().map_or_else(
                || "killed by a signal".to_owned(),
                |c| format!("exit code {c}"),
            ),
            false,
        ),
        Ended::Exited(Err(e)) => {
            return Err(ToolError::failed(format!(
                "waiting for the command failed: {e}"
            )));
        }
        Ended::TimedOut => (
            format!("timed out after {}s and was killed", timeout.as_secs()),
            false,
        ),
    };
    let (changes, more) = match (before, changes::snapshot(ws.root()).await) {
        (Some(before), Some(after)) => changes::changes(ws.root(), &before, &after).await,
        _ => (Vec::new(), 0),
    };
    let mut text = first;
    if let Some(line) = changes_line(&changes, more) {
        text.push('\n');
        text.push_str(&line);
    }
    text.push('\n');
    text.push_str(&shown_text(command, &shown, log).await);
    Ok(ToolOutput { ok, text, changes })
}

#[cfg(test)]
mod tests {
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
}
