//! `run_command`: a shell command in the workspace, with a timeout, an output cap and a
//! scrubbed environment. The whole process group is killed on timeout or cancellation.

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
}

impl Default for CommandLimits {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(120),
            max_timeout: Duration::from_secs(1800),
            output_cap: 64 * 1024,
        }
    }
}

/// Environment variables passed through to commands; everything else (API keys above all) is
/// dropped.
const PASSED_ENV: [&str; 5] = ["PATH", "LANG", "LC_ALL", "TZ", "USER"];

/// Keeps the head and the tail of `bytes` within `cap`, marking the cut.
fn cap_output(bytes: &[u8], cap: usize) -> String {
    if bytes.len() <= cap {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let head = &bytes[..cap / 2];
    let tail = &bytes[bytes.len() - cap / 2..];
    format!(
        "{}\n[… {} bytes cut …]\n{}",
        String::from_utf8_lossy(head),
        bytes.len() - head.len() - tail.len(),
        String::from_utf8_lossy(tail)
    )
}

pub async fn run_command(
    ws: &Workspace,
    command: &str,
    timeout_s: Option<u64>,
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
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(ws.root())
        .env_clear()
        .env("HOME", ws.root())
        .env("TERM", "dumb")
        .env("MACROHARD_WORKSPACE", ws.root())
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
    let mut child = cmd
        .spawn()
        .map_err(|e| ToolError::failed(format!("cannot start sh: {e}")))?;
    let pgid = child.id();
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let read_all = async {
        let mut buf = Vec::new();
        let mut ebuf = Vec::new();
        let (a, b) = tokio::join!(
            async {
                if let Some(o) = out.as_mut() {
                    let _ = o.read_to_end(&mut buf).await;
                }
            },
            async {
                if let Some(e) = err.as_mut() {
                    let _ = e.read_to_end(&mut ebuf).await;
                }
            }
        );
        let ((), ()) = (a, b);
        buf.extend_from_slice(&ebuf);
        let status = child.wait().await;
        (buf, status)
    };
    let kill_group = || {
        if let Some(pid) = pgid {
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
    };
    tokio::select! {
        (buf, status) = read_all => {
            let text = cap_output(&buf, limits.output_cap);
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
        let out = run_command(
            &ws,
            "pwd; echo key=$MACROHARD_TEST_SECRET_KEY",
            None,
            &CommandLimits::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
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
        let out = run_command(
            &ws,
            "echo oops >&2; exit 3",
            None,
            &CommandLimits::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
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
        let out = run_command(
            &ws,
            "sleep 30 & sleep 30",
            Some(1),
            &limits,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(!out.ok);
        assert!(out.text.contains("timed out"));
        assert!(t0.elapsed() < Duration::from_secs(5));
        let out = run_command(
            &ws,
            "yes | head -c 5000",
            None,
            &limits,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(out.text.contains("bytes cut"));
        assert!(out.text.len() < 300);
    }
}
