#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The server and its clients on a real Unix socket: two control rooms on one run, a client
//! killed mid-stream, a slow client dropped, a read-only client refused, garbage frames, a
//! stale socket, and another user kept out.

mod common;
use common::wait_for;

use macrohard::domain::{Actor, Event, RunStatus};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::sim::{SimProvider, SimSpeed};
use macrohard::protocol::Command;
use macrohard::protocol::wire::{self, AttachTarget, ClientMsg, ServerMsg};
use macrohard::server::{self, Lifetime, ServerConfig, Start, Starter};
use macrohard::session::Session;
use macrohard::session::socket::{Conn, Hello, SocketSession};
use macrohard::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

/// A starter that runs the simulated company at `speed`, without `--yes`.
fn starter(ws: PathBuf, speed: f64) -> Starter {
    Arc::new(move |store: Store, _start: Start, by: Actor| {
        let ws = ws.clone();
        Box::pin(async move {
            let config = EngineConfig::new(Roster::embedded().unwrap(), ws);
            let new = NewRun {
                goal: "Build a command-line todo app".into(),
                workspace: None,
                seed: 1,
                by,
            };
            let provider = Arc::new(SimProvider::new(SimSpeed(speed), None));
            engine::start(store, provider, config, RunTarget::New(new))
                .await
                .map_err(|e| e.to_string())
        })
    })
}

struct Running {
    socket: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

async fn serve(speed: f64, client_queue: usize) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = ServerConfig {
        socket: socket.clone(),
        lifetime: Lifetime::Forever,
        initial: None,
        client_queue,
    };
    let task = tokio::spawn(server::serve(
        store,
        starter(dir.path().join("ws"), speed),
        config,
    ));
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Running {
        socket,
        _dir: dir,
        task,
    }
}

fn hello(host: &str, read_only: bool) -> Hello {
    Hello {
        user: "ignored".into(),
        host: Some(host.into()),
        read_only,
        auto: false,
        records_only: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_viewers_share_a_run_and_an_approval_answered_in_one_clears_in_both() {
    let s = serve(5.0, server::CLIENT_QUEUE).await;
    let a = SocketSession::new(
        s.socket.clone(),
        hello("pane-a", false),
        AttachTarget::Default,
    );
    let b = SocketSession::new(s.socket.clone(), hello("pane-b", false), AttachTarget::Live);
    let at_a = a.attach(1_000).await.expect("a attaches");
    let at_b = b.attach(1_000).await.expect("b attaches");
    assert_eq!(at_a.state.id(), at_b.state.id(), "the same run");
    let (mut ra, mut rb) = (at_a.events.unwrap(), at_b.events.unwrap());
    let asked = |e: &Event| matches!(e, Event::ApprovalRequested { .. });
    let req = wait_for(&mut ra, "an approval in a", asked).await;
    wait_for(&mut rb, "the approval in b", |e| e == &req.event).await;
    let Event::ApprovalRequested { approval, .. } = req.event else {
        unreachable!()
    };
    b.send(Command::Approve {
        approval: approval.clone(),
        always: false,
    })
    .await
    .unwrap();
    let resolved =
        |e: &Event| matches!(e, Event::ApprovalResolved { approval: x, .. } if *x == approval);
    for rx in [&mut ra, &mut rb] {
        let rec = wait_for(rx, "the answer", resolved).await;
        let Event::ApprovalResolved { by, .. } = rec.event else {
            unreachable!()
        };
        let Actor::Human { user, host, .. } = by else {
            panic!("a person answered")
        };
        assert_eq!(host.as_deref(), Some("pane-b"), "who answered, from where");
        assert_ne!(
            user, "ignored",
            "the name comes from the socket's credentials"
        );
    }
    // Commands from both apply in order.
    a.send(Command::PauseRun { now: false }).await.unwrap();
    assert!(
        b.send(Command::PauseRun { now: false }).await.is_err(),
        "already paused"
    );
    b.send(Command::ResumeRun).await.unwrap();
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_viewer_is_refused_by_the_server() {
    let s = serve(0.2, server::CLIENT_QUEUE).await;
    let steer = SocketSession::new(s.socket.clone(), hello("a", false), AttachTarget::Default);
    steer.attach(10).await.unwrap();
    // The session would refuse on its own; the server must refuse too, so ask it directly.
    let mut raw = Conn::connect(&s.socket, &hello("b", true)).await.unwrap();
    let answer = raw
        .ask(&ClientMsg::Attach {
            target: AttachTarget::Live,
            backlog: 0,
        })
        .await
        .unwrap();
    assert!(matches!(answer, ServerMsg::Snapshot { live: true, .. }));
    loop {
        if let ServerMsg::Backlog { last: true, .. } = raw.recv().await.unwrap() {
            break;
        }
    }
    raw.send(&ClientMsg::Command {
        id: 9,
        command: Command::StopRun { reason: None },
    })
    .await
    .unwrap();
    let reply = loop {
        if let ServerMsg::Reply { id, result } = raw.recv().await.unwrap() {
            break (id, result);
        }
    };
    assert_eq!(reply.0, 9);
    assert!(reply.1.unwrap_err().contains("read-only"));
    let start = raw
        .ask(&ClientMsg::Start {
            request: serde_json::json!({}),
            resume: None,
        })
        .await;
    assert!(start.unwrap_err().contains("read-only"));
    s.task.abort();
}

/// Writes raw bytes as a client and returns what the server answered before closing.
async fn raw_client(socket: &Path, bytes: &[u8]) -> String {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_frames_close_only_their_connection() {
    let s = serve(0.3, server::CLIENT_QUEUE).await;
    let viewer = SocketSession::new(s.socket.clone(), hello("a", false), AttachTarget::Default);
    let mut rx = viewer.attach(10).await.unwrap().events.unwrap();

    let said = raw_client(&s.socket, &frame(b"{\"not\": \"a hello\"")).await;
    assert!(said.contains("malformed"), "{said}");
    let hello_then_garbage = [
        frame(
            &wire::encode(&ClientMsg::Hello {
                protocol: macrohard::protocol::PROTOCOL_VERSION,
                version: "t".into(),
                user: "u".into(),
                host: None,
                read_only: false,
                auto: false,
                records_only: false,
            })
            .unwrap(),
        ),
        frame(&[0xff, 0x00, 0x13, 0x37]),
    ]
    .concat();
    let said = raw_client(&s.socket, &hello_then_garbage).await;
    assert!(
        said.contains("welcome") && said.contains("closing"),
        "{said}"
    );
    let oversized = [0x7f, 0xff, 0xff, 0xff, b'x'];
    let said = raw_client(&s.socket, &oversized).await;
    assert!(said.contains("refused") || said.is_empty(), "{said}");
    let wrong_version = frame(br#"{"type":"hello","protocol":999,"version":"x","user":"u","host":null,"read_only":false}"#);
    let said = raw_client(&s.socket, &wrong_version).await;
    assert!(said.contains("protocol 999"), "{said}");

    // The run and the other viewer went on.
    wait_for(&mut rx, "more events", |_| true).await;
    assert!(viewer.send(Command::PauseRun { now: false }).await.is_ok());
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_client_and_a_slow_client_never_hold_the_run_up() {
    // A queue of 16 frames: a client that stops reading is dropped quickly.
    let s = serve(0.0, 16).await;
    let watcher = SocketSession::new(s.socket.clone(), hello("w", false), AttachTarget::Default);
    let attached = watcher.attach(0).await.unwrap();
    let run = attached.state.id().unwrap().to_string();
    let mut rx = attached.events.unwrap();

    // Killed mid-stream: attach, read a little, vanish.
    {
        let mut c = Conn::connect(&s.socket, &hello("k", false)).await.unwrap();
        c.send(&ClientMsg::Attach {
            target: AttachTarget::Run(run.clone()),
            backlog: 0,
        })
        .await
        .unwrap();
        // On a busy machine the engine can fill this client's 16 frames before its writer
        // runs, and the server lets it go at once: then it reads nothing, which is fine here.
        let _ = c.recv().await;
    }
    // Slow: attaches and never reads again.
    let mut slow = Conn::connect(&s.socket, &hello("s", false)).await.unwrap();
    slow.send(&ClientMsg::Attach {
        target: AttachTarget::Run(run.clone()),
        backlog: 0,
    })
    .await
    .unwrap();

    // The watcher keeps receiving, and approves what is asked so the run can finish.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut seen = 0usize;
    loop {
        let rec = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(macrohard::protocol::Feed::Record(rec))) => *rec,
            Ok(Ok(macrohard::protocol::Feed::Live(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => break,
            Err(_) => panic!("the run did not finish ({seen} events seen)"),
        };
        seen += 1;
        if let Event::ApprovalRequested { approval, .. } = &rec.event {
            let _ = watcher
                .send(Command::Approve {
                    approval: approval.clone(),
                    always: true,
                })
                .await;
        }
        if let Event::RunStatusChanged { status, .. } = &rec.event {
            if status.is_terminal() {
                assert_eq!(*status, RunStatus::Completed);
                break;
            }
        }
    }
    // The slow client was let go: what it finds, once it reads, ends early.
    let mut last = None;
    let mut frames = 0;
    while let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_secs(2), slow.recv()).await {
        frames += 1;
        last = Some(msg);
    }
    assert!(frames < seen, "dropped before the end: {frames} of {seen}");
    assert!(
        !matches!(last, Some(ServerMsg::Ended { .. })),
        "it never got to the end: {last:?}"
    );
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    // A socket file left behind by a server that was killed.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let listener = server::socket::bind(&socket).expect("a stale socket is replaced");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let again = server::socket::bind(&socket);
    assert!(
        matches!(again, Err(server::socket::SocketError::Running { .. })),
        "a live server's socket is left alone"
    );
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_cannot_connect() {
    let s = serve(0.2, server::CLIENT_QUEUE).await;
    // SAFETY: getuid cannot fail.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("not root: cannot try another user here; the modes are checked elsewhere");
        s.task.abort();
        return;
    }
    // As `nobody`, through a private runtime directory of ours and a 0600 socket.
    let dir = tempfile::tempdir().unwrap();
    let socket_dir = dir.path().join("rt");
    std::fs::create_dir(&socket_dir).unwrap();
    std::fs::set_permissions(
        &socket_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let socket = socket_dir.join("s.sock");
    let listener = server::socket::bind(&socket).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let status = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect({:?})\n  sys.exit(0)\nexcept PermissionError:\n  sys.exit(13)\n",
                socket.display().to_string()
            ))
            .uid(65534)
            .gid(65534)
            .status()
            .unwrap()
    };
    assert_eq!(status.code(), Some(13), "refused by the file system");
    // Even with the path open to them, the server refuses a peer of another uid.
    std::fs::set_permissions(
        &socket_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        &s.socket,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    std::fs::set_permissions(
        s.socket.parent().unwrap(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import socket\ns=socket.socket(socket.AF_UNIX)\ns.connect({:?})\ns.settimeout(5)\nprint(s.recv(4096)[4:].decode())\n",
                s.socket.display().to_string()
            ))
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("another user"),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(listener);
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_inside_an_agents_sandbox_cannot_reach_the_server() {
    use macrohard::tools::{CommandLimits, ToolCall, Tools, Workspace, sandbox};
    let support = sandbox::support();
    if std::env::var_os("CI").is_some() {
        assert!(support.complete(), "{}", support.describe());
    }
    if !support.complete() {
        eprintln!("skipping: {}", support.describe());
        return;
    }
    let srv = serve(0.0, 64).await;
    let ws_dir = tempfile::tempdir().unwrap();
    let tools = Tools::new(
        Workspace::open(ws_dir.path()).unwrap(),
        CommandLimits::default(),
    );
    let command = format!(
        "python3 -c \"import socket, struct; s = socket.socket(socket.AF_UNIX); s.connect('{}'); n = struct.unpack('>I', s.recv(4))[0]; print(s.recv(n).decode())\"",
        srv.socket.display()
    );
    let out = tools
        .execute(
            &ToolCall::RunCommand {
                command,
                timeout_s: Some(20),
            },
            false,
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
    // Refused by Landlock (ABI 9 and later) or by the server (another network namespace).
    assert!(
        out.text
            .contains("clients inside an agent's sandbox may not steer runs")
            || out.text.contains("PermissionError"),
        "{}",
        out.text
    );
    srv.task.abort();
}
