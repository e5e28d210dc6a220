//! `run_command`: a shell command in the workspace, with a timeout, an output cap and a
//! scrubbed environment. The whole process group is killed on timeout or cancellation.

use super::sandbox::{self, PrivateTmp, SandboxConfig};
use super::{ToolError, ToolOutput, Workspace};
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

/// A command's output as it is read: the first half of the cap and the latest half, however
/// much the command prints (a command printing gigabytes holds `cap` bytes, not gigabytes).
struct Capped {
    cap: usize,
    head: Vec<u8>,
    /// A ring of the latest bytes once the head is full; `start` is its oldest byte.
    tail: Vec<u8>,
    start: usize,
    total: u64,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            head: Vec::new(),
            tail: Vec::new(),
            start: 0,
            total: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let head_room = (self.cap / 2).saturating_sub(self.head.len());
        let n = head_room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..n]);
        bytes = &bytes[n..];
        let tail_cap = self.cap - self.cap / 2;
        if tail_cap == 0 || bytes.is_empty() {
            return;
        }
        if bytes.len() >= tail_cap {
            self.tail.clear();
            self.tail
                .extend_from_slice(&bytes[bytes.len() - tail_cap..]);
            self.start = 0;
            return;
        }
        while !bytes.is_empty() {
            if self.tail.len() < tail_cap {
                let n = (tail_cap - self.tail.len()).min(bytes.len());
                self.tail.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                continue;
            }
            let n = (tail_cap - self.start).min(bytes.len());
            self.tail[self.start..self.start + n].copy_from_slice(&bytes[..n]);
            self.start = (self.start + n) % tail_cap;
            bytes = &bytes[n..];
        }
    }

    /// The text, with the cut marked where there was one.
    fn text(&self) -> String {
        let mut tail = Vec::with_capacity(self.tail.len());
        tail.extend_from_slice(&self.tail[self.start..]);
        tail.extend_from_slice(&self.tail[..self.start]);
        let kept = (self.head.len() + tail.len()) as u64;
        if kept >= self.total {
            let mut all = self.head.clone();
            all.extend_from_slice(&tail);
            return String::from_utf8_lossy(&all).into_owned();
        }
        format!(
            "{}\n[… {} bytes cut …]\n{}",
            String::from_utf8_lossy(&self.head),
            self.total - kept,
            String::from_utf8_lossy(&tail)
        )
    }
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

/// Reads stdout and stderr together, in the order they come, keeping what `Capped` keeps.
async fn read_capped(
    mut out: Option<tokio::process::ChildStdout>,
    mut err: Option<tokio::process::ChildStderr>,
    cap: usize,
) -> Capped {
    let mut kept = Capped::new(cap);
    let (mut a, mut b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        tokio::select! {
            r = read_some(&mut out, &mut a), if out.is_some() => match r {
                Ok(n) if n > 0 => kept.push(&a[..n]),
                _ => out = None,
            },
            r = read_some(&mut err, &mut b), if err.is_some() => match r {
                Ok(n) if n > 0 => kept.push(&b[..n]),
                _ => err = None,
            },
            else => break,
        }
    }
    kept
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
    let mut child = cmd
        .spawn()
        .map_err(|e| ToolError::failed(format!("cannot start sh in the sandbox: {e}")))?;
    let pgid = child.id();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let read_all = async {
        let kept = read_capped(out, err, limits.output_cap).await;
        let status = child.wait().await;
        (kept, status)
    };
    let kill_group = || {
        if let Some(pid) = pgid {
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
    };
    tokio::select! {
        (kept, status) = read_all => {
            let text = kept.text();
            match status {
                Ok(s) if s.success() => Ok(ToolOutput::ok(format!("exit code 0\n{text}"))),
                Ok(s) => {
                    let code = s.code().map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit code {c}"));
                    Ok(ToolOutput { ok: false, text: format!("{code}\n{text}"), changes: Vec::new() })
                }
                Err(e) => Err(ToolError::failed(format!("waiting for the command failed: {e}"))),
            }
        }
        () = tokio::time::sleep(timeout) => {
            kill_group();
            Ok(ToolOutput { ok: false, text: format!("timed out after {}s and was killed", timeout.as_secs()), changes: Vec::new() })
        }
        () = cancel.cancelled() => {
            kill_group();
            Err(ToolError::failed("cancelled by a person"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the cap keeps of a whole output, all at once.
    fn expected(bytes: &[u8], cap: usize) -> String {
        if bytes.len() <= cap {
            return String::from_utf8_lossy(bytes).into_owned();
        }
        let head = &bytes[..cap / 2];
        let tail = &bytes[bytes.len() - (cap - cap / 2)..];
        format!(
            "{}\n[… {} bytes cut …]\n{}",
            String::from_utf8_lossy(head),
            bytes.len() - head.len() - tail.len(),
            String::from_utf8_lossy(tail)
        )
    }

    proptest! {
        #[test]
        fn output_kept_while_reading_is_the_head_and_tail_of_the_whole(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            cuts in proptest::collection::vec(1usize..50, 0..20),
            cap in 0usize..120,
        ) {
            let mut kept = Capped::new(cap);
            let mut rest = bytes.as_slice();
            for c in cuts {
                let n = c.min(rest.len());
                kept.push(&rest[..n]);
                rest = &rest[n..];
            }
            kept.push(rest);
            prop_assert_eq!(kept.text(), expected(&bytes, cap));
            prop_assert!(kept.head.len() + kept.tail.len() <= cap);
        }
    }

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
        assert!(out.text.contains("bytes cut"));
        assert!(out.text.len() < 300);
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
