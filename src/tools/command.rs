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
mod tests;
