#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bounded memory for what comes from outside (issue 11, class 4): a model's 40 MB answer and
//! events larger than a frame never make a run unreachable through the server, and config
//! files that are FIFOs, devices or too large are refused at once instead of hanging.

use macrohard::domain::{Actor, DeltaKind, Event, EventRecord, RunStatus};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::{LlmRequest, Provider, ProviderInfo, StreamEvent, StreamItem, ToolUse};
use macrohard::protocol::Feed;
use macrohard::protocol::wire::{AttachTarget, ClientMsg, ServerMsg};
use macrohard::server::{self, Lifetime, ServerConfig, Start, Starter};
use macrohard::session::Session;
use macrohard::session::socket::{Conn, Hello, SocketSession};
use macrohard::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast::error::RecvError, mpsc};

/// The answer's size, its pieces as the provider streams them, and the two large calls.
const ANSWER: usize = 40 << 20;
const PIECE: usize = 16 << 10;
const LARGER_THAN_A_FRAME: usize = 3 << 20;
const LARGER_THAN_AN_EVENT: usize = 50 << 20;
const SUMMARY: usize = 2 << 20;

/// The answer's text: recognisable everywhere (the position is in it), so a lost or
/// reordered piece shows.
fn answer_piece(i: usize) -> String {
    let head = format!("[{i:08}]");
    format!("{head}{}", "a".repeat(PIECE - head.len()))
}

/// A model that, as the supervisor's first turn, streams a 40 MB answer and asks to write a
/// 3 MB file and a 50 MB one (the supervisor may not write: both are refused, and recorded);
/// its next turn finishes the run with a 2 MB summary, which the run's state then carries
/// (finish_run is refused when sent behind other calls of its turn).
pub struct Huge {
    /// Only the answer and a short summary (the benchmark's plain case).
    pub answer_only: bool,
}

impl Provider for Huge {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "huge".into(),
            model: "huge-1".into(),
            base_url: None,
            simulated: true,
        }
    }

    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem> {
        let (tx, rx) = mpsc::channel(16);
        let answer_only = self.answer_only;
        let second = request
            .messages
            .iter()
            .any(|m| m.role == macrohard::llm::MessageRole::Assistant);
        tokio::spawn(async move {
            if second {
                let call = ToolUse {
                    id: "f1".into(),
                    name: "finish_run".into(),
                    arguments: serde_json::json!({"summary": "d".repeat(SUMMARY)}),
                };
                let _ = tx.send(Ok(StreamEvent::ToolCall(call))).await;
                let _ = tx
                    .send(Ok(StreamEvent::Done {
                        stop_reason: "tool_use".into(),
                    }))
                    .await;
                return;
            }
            for i in 0..ANSWER / PIECE {
                if tx
                    .send(Ok(StreamEvent::Text(answer_piece(i))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let mut calls = vec![
                (
                    "w1",
                    "write_file",
                    serde_json::json!({"path": "a.txt", "content": "b".repeat(LARGER_THAN_A_FRAME)}),
                ),
                (
                    "w2",
                    "write_file",
                    serde_json::json!({"path": "b.txt", "content": "c".repeat(LARGER_THAN_AN_EVENT)}),
                ),
            ];
            if answer_only {
                calls = vec![("f1", "finish_run", serde_json::json!({"summary": "done"}))];
            }
            for (id, name, arguments) in calls {
                let call = ToolUse {
                    id: id.into(),
                    name: name.into(),
                    arguments,
                };
                let _ = tx.send(Ok(StreamEvent::ToolCall(call))).await;
            }
            let _ = tx
                .send(Ok(StreamEvent::Done {
                    stop_reason: "tool_use".into(),
                }))
                .await;
        });
        rx
    }
}

fn starter(ws: PathBuf, answer_only: bool) -> Starter {
    Arc::new(move |store: Store, _start: Start, by: Actor| {
        let ws = ws.clone();
        Box::pin(async move {
            let config = EngineConfig::new(Roster::embedded().unwrap(), ws);
            let new = NewRun {
                goal: "Answer at length".into(),
                workspace: None,
                seed: 1,
                by,
            };
            let provider = Arc::new(Huge { answer_only });
            engine::start(store, provider, config, RunTarget::New(new))
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// A server on a temporary data directory, running [`Huge`] when a client asks for a run.
pub struct Running {
    pub socket: PathBuf,
    pub dir: tempfile::TempDir,
    pub task: tokio::task::JoinHandle<Result<(), String>>,
}

pub async fn serve_huge(answer_only: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = ServerConfig {
        socket: socket.clone(),
        lifetime: Lifetime::Forever,
        initial: None,
        client_queue: server::CLIENT_QUEUE,
    };
    let task = tokio::spawn(server::serve(
        store,
        starter(dir.path().join("ws"), answer_only),
        config,
    ));
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Running { socket, dir, task }
}

pub fn hello(host: &str) -> Hello {
    Hello {
        user: "tester".into(),
        host: Some(host.into()),
        read_only: false,
        auto: true,
        records_only: false,
    }
}

/// A viewer attached from the start: the backlog and every live event until the run ends.
pub async fn watch_to_the_end(socket: &Path) -> (u64, Vec<EventRecord>) {
    let viewer = SocketSession::new(socket.to_owned(), hello("viewer"), AttachTarget::Default);
    let attached = viewer.attach(u64::MAX).await.expect("the viewer attaches");
    let mut records = attached.backlog;
    let mut events = attached.events.expect("a live run");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(Feed::Record(r))) => records.push(*r),
            Ok(Ok(Feed::Live(_))) => {}
            Ok(Err(RecvError::Closed)) => break,
            Ok(Err(RecvError::Lagged(n))) => panic!("the viewer fell {n} events behind"),
            Err(_) => panic!("the run did not end within 120 s"),
        }
    }
    (attached.state.last_seq, records)
}

fn seqs_are_contiguous(records: &[EventRecord]) {
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "every event once, in order");
    }
}

/// The answer as the records carry it.
fn answer_of(records: &[EventRecord]) -> String {
    let mut text = String::new();
    for r in records {
        if let Event::AgentDelta {
            kind: DeltaKind::Text,
            text: t,
            ..
        } = &r.event
        {
            text.push_str(t);
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_mb_answer_and_events_larger_than_a_frame_stay_reachable_through_the_server() {
    let s = serve_huge(false).await;
    let (_, live) = watch_to_the_end(&s.socket).await;
    seqs_are_contiguous(&live);
    let n = live.len() as u64;

    // The answer arrived whole, in many deltas none of which is large.
    let answer = answer_of(&live);
    assert_eq!(answer.len(), ANSWER);
    let expected: String = (0..ANSWER / PIECE).map(answer_piece).collect();
    assert!(answer == expected, "the answer arrived whole and in order");
    let deltas = live
        .iter()
        .filter(|r| matches!(r.event, Event::AgentDelta { .. }))
        .count();
    assert!(deltas >= ANSWER / (64 << 10), "{deltas} deltas");

    // The call larger than a frame is kept whole; the one larger than an event is cut, and
    // says so.
    let args = |id: &str| {
        live.iter().find_map(|r| match &r.event {
            Event::ToolCallRequested { args, tool, .. }
                if tool == "write_file" && args["path"] == id =>
            {
                Some(args["content"].as_str().unwrap().to_owned())
            }
            _ => None,
        })
    };
    let whole = args("a.txt").expect("the 3 MB call is recorded");
    assert_eq!(whole, "b".repeat(LARGER_THAN_A_FRAME));
    let cut = args("b.txt").expect("the 50 MB call is recorded");
    assert!(cut.len() < 4 << 20, "{} bytes kept", cut.len());
    assert!(cut.starts_with("ccccc"));
    assert!(
        cut.ends_with(&format!(
            "this text was {LARGER_THAN_AN_EVENT} bytes; one event holds at most 4 MiB]"
        )),
        "{}",
        &cut[cut.len() - 120..]
    );
    let run = live[0].run.to_string();

    // A viewer that attaches afterwards gets the snapshot (2 MB of summary in it) and every
    // record, in frames no larger than the wire allows.
    let mut conn = Conn::connect(&s.socket, &hello("late")).await.unwrap();
    let answer = conn
        .ask(&ClientMsg::Attach {
            target: AttachTarget::Run(run.clone()),
            backlog: u64::MAX,
        })
        .await
        .unwrap();
    let ServerMsg::Snapshot { state, live: false } = answer else {
        panic!("a recorded snapshot: {answer:?}")
    };
    assert_eq!(state.status, RunStatus::Completed);
    assert_eq!(state.status_reason, "d".repeat(SUMMARY));
    assert_eq!(state.last_seq, n);
    let (mut late, mut frames) = (Vec::new(), 0);
    loop {
        match conn.recv().await.unwrap() {
            ServerMsg::Backlog { records, last } => {
                assert!(
                    !records.is_empty(),
                    "no empty frame in a backlog of records"
                );
                frames += 1;
                late.extend(records);
                if last {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        matches!(conn.recv().await.unwrap(), ServerMsg::Ended { .. }),
        "the end follows the backlog"
    );
    assert_eq!(late, live, "the late viewer has every record");
    assert!(
        frames >= 40,
        "frames of about 1 MiB: {frames} for {n} records"
    );

    // `export` through the server: every event, frame by frame.
    let mut exported = 0u64;
    let mut exported_answer = 0usize;
    conn.each_event(&run, 1, |r| {
        exported += 1;
        assert_eq!(r.seq, exported);
        if let Event::AgentDelta { text, .. } = &r.event {
            exported_answer += text.len();
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(exported, n);
    assert_eq!(exported_answer, ANSWER);
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_larger_than_a_frame_reaches_a_viewer_of_the_live_run() {
    // `state` asks the server for a run's state: 2 MB of summary travels in parts.
    let s = serve_huge(false).await;
    let (last, live) = watch_to_the_end(&s.socket).await;
    assert!(last < live.len() as u64);
    let run = live[0].run.to_string();
    let mut conn = Conn::connect(&s.socket, &hello("show")).await.unwrap();
    let ServerMsg::State { state } = conn.ask(&ClientMsg::State { run }).await.unwrap() else {
        panic!("a state")
    };
    assert_eq!(state.status_reason.len(), SUMMARY);
    // A request after a message in parts is answered as usual.
    assert!(matches!(
        conn.ask(&ClientMsg::Runs).await.unwrap(),
        ServerMsg::Runs { .. }
    ));
    s.task.abort();
}

/// The binary, with no configuration from the environment.
fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_macrohard-tui"));
    for var in [
        "MACROHARD_DATA_DIR",
        "MACROHARD_CONFIG",
        "MACROHARD_PROVIDER",
        "MACROHARD_MODEL",
        "MACROHARD_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "XAI_API_KEY",
    ] {
        c.env_remove(var);
    }
    c.env("MACROHARD_SIM_SPEED", "0")
        .env("XDG_CONFIG_HOME", "/nonexistent-macrohard-test-config");
    c
}

/// Runs the binary with `--config config` and `args`; it must end within 5 s.
fn with_config(config: &Path, args: &[&str]) -> (bool, String, Duration) {
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = bin()
        .arg("--data-dir")
        .arg(data.path())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} with a config {} hangs", config.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text, took)
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_fifo_as_the_config_is_refused_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.toml");
    mkfifo(&fifo);
    for args in [
        &["doctor"][..],
        &["run", "--headless", "--workspace", "ws", "goal"][..],
    ] {
        let (ok, text, took) = with_config(&fifo, args);
        assert!(!ok, "{args:?}: {text}");
        assert!(took < Duration::from_secs(1), "{args:?} took {took:?}");
        assert!(
            text.contains("FIFO") && text.contains("config.toml"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn a_device_or_a_5_mb_file_as_the_config_is_refused_with_a_clear_message() {
    let (ok, text, _) = with_config(Path::new("/dev/zero"), &["doctor"]);
    assert!(!ok);
    assert!(
        text.contains("/dev/zero") && text.contains("character device"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    let mut text = String::from("[run]\n");
    while text.len() < 5 << 20 {
        text.push_str("# a comment to make the file large\n");
    }
    std::fs::write(&big, text).unwrap();
    let (ok, text, _) = with_config(&big, &["run", "--headless", "goal"]);
    assert!(!ok);
    assert!(
        text.contains("big.toml") && text.contains("limit for it is 1.0 MiB"),
        "{text}"
    );
}

/// The peak resident memory of a process, from `/proc/<pid>/status` (VmHWM), in MiB.
fn peak_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// The viewer of the benchmark: a control room's view fed by a socket session, keeping no
/// records of its own. Prints the events it saw and its peak memory.
async fn bench_viewer(socket: &Path) {
    let viewer = SocketSession::new(socket.to_owned(), hello("viewer"), AttachTarget::Default);
    // The control room's backlog.
    let attached = viewer.attach(20_000).await.expect("attaches");
    let mut view = macrohard::tui::view::View::new(attached.state, &attached.backlog);
    let mut seen = attached.backlog.len();
    drop(attached.backlog);
    let mut events = attached.events.expect("live");
    loop {
        match events.recv().await {
            Ok(Feed::Record(r)) => {
                view.ingest(&r);
                seen += 1;
            }
            Ok(Feed::Live(d)) => view.live(&d),
            Err(RecvError::Closed) => break,
            Err(RecvError::Lagged(n)) => panic!("{n} behind"),
        }
    }
    println!("viewer events {seen} peak_mib {:.1}", peak_mib("self"));
}

/// `cargo test --release --test bounded -- --ignored --nocapture peak_memory`: the peak RSS of
/// a server while a 40 MB answer streams through it to an attached viewer, and of the viewer,
/// each in a process of its own. With `MACROHARD_BENCH_HOSTILE=1` the model also sends the
/// oversized tool calls of the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it with --release --ignored --nocapture"]
async fn peak_memory_of_a_40_mb_answer_through_the_server() {
    let exe = std::env::current_exe().unwrap();
    let role = std::env::var("MACROHARD_BENCH_ROLE").unwrap_or_default();
    let socket = std::env::var("MACROHARD_BENCH_SOCKET").unwrap_or_default();
    let answer_only = std::env::var("MACROHARD_BENCH_HOSTILE").is_err();
    if role == "server" {
        let s = serve_huge(answer_only).await;
        std::os::unix::fs::symlink(&s.socket, &socket).unwrap();
        // Until the parent stops it.
        tokio::time::sleep(Duration::from_secs(600)).await;
        return;
    }
    if role == "viewer" {
        bench_viewer(Path::new(&socket)).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("server.sock");
    let child = |role: &str| {
        std::process::Command::new(&exe)
            .args([
                "--exact",
                "peak_memory_of_a_40_mb_answer_through_the_server",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MACROHARD_BENCH_ROLE", role)
            .env("MACROHARD_BENCH_SOCKET", &socket)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut server = child("server");
    let started = Instant::now();
    while !socket.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = peak_mib(&server.id().to_string());
    let viewer = child("viewer").wait_with_output().unwrap();
    assert!(viewer.status.success());
    let took = started.elapsed();
    let server_peak = peak_mib(&server.id().to_string());
    let _ = server.kill();
    let _ = server.wait();
    let out = String::from_utf8_lossy(&viewer.stdout);
    let line = out
        .lines()
        .find_map(|l| l.find("viewer events").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("the viewer said: {out}"));
    let what = if answer_only {
        "a 40 MB answer"
    } else {
        "a 40 MB answer, a 3 MB and a 50 MB tool call, a 2 MB summary"
    };
    println!("{what}: server peak_mib {server_peak:.1} (idle {before:.1}); {line}; {took:.1?}");
}
