//! The client side of the tmux model: find (or start) the server of the data directory, ask it
//! to start or resume runs, and open the control room (or headless output) on its runs.

use super::args::{ResumeArgs, RunArgs};
use super::config::{Config, Paths};
use super::headless::{self, FollowOptions};
use super::serve::{Envelope, StartRequest, forwarded_env};
use super::{Failure, control_room, identity};
use crate::domain::Actor;
use crate::protocol::wire::{AttachTarget, ClientMsg, ServerMsg};
use crate::server::socket;
use crate::session::socket::{Conn, ConnectError, Hello, SocketSession};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a freshly started server may take to listen.
const SPAWN_WAIT: Duration = Duration::from_secs(10);

fn hello(read_only: bool) -> Hello {
    let (user, host) = match identity::me(false) {
        Actor::Human { user, host, .. } => (user, host),
        Actor::Engine => (String::new(), None),
    };
    Hello {
        user,
        host,
        read_only,
        auto: false,
        records_only: false,
    }
}

fn socket_of(paths: &Paths) -> Result<PathBuf, Failure> {
    socket::socket_path(&paths.data_dir).map_err(|e| Failure::runtime(e.to_string()))
}

fn connect_failure(e: ConnectError) -> Failure {
    match e {
        ConnectError::Refused(r) => Failure::usage(format!("the server refused: {r}")),
        other => Failure::runtime(other.to_string()),
    }
}

/// A connection to the running server, or `None` when no server runs.
pub async fn server(paths: &Paths) -> Result<Option<Conn>, Failure> {
    match Conn::connect(&socket_of(paths)?, &hello(false)).await {
        Ok(c) => Ok(Some(c)),
        Err(ConnectError::NoServer) => Ok(None),
        Err(e) => Err(connect_failure(e)),
    }
}

/// The server's socket, starting the server in the background when none runs.
async fn ensure(paths: &Paths) -> Result<PathBuf, Failure> {
    let socket = socket_of(paths)?;
    match Conn::connect(&socket, &hello(false)).await {
        Ok(_) => return Ok(socket),
        Err(ConnectError::NoServer) => {}
        Err(e) => return Err(connect_failure(e)),
    }
    let mut child = spawn_server(paths)?;
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Ok(Some(_)) = child.try_wait() {
            // It gave up: most likely another process (running with --foreground) holds the
            // store. Say which.
            let holder = std::fs::read_to_string(paths.store_dir().join("holder"))
                .map(|h| format!(" (the store is held by {}: a macrohard-tui running without a server; stop it or let it finish)", h.trim()))
                .unwrap_or_default();
            return Err(Failure::runtime(format!(
                "the server could not start{holder}; its log is {}",
                paths.log_file().display()
            )));
        }
        match Conn::connect(&socket, &hello(false)).await {
            Ok(_) => {
                // Reaped if it ends while this process still runs.
                std::thread::spawn(move || child.wait());
                return Ok(socket);
            }
            Err(ConnectError::NoServer) if started.elapsed() < SPAWN_WAIT => {}
            Err(e) => {
                return Err(Failure::runtime(format!(
                    "the server did not start ({e}); its log is {}",
                    paths.log_file().display()
                )));
            }
        }
    }
}

/// Starts `macrohard-tui serve --background` for the data directory, detached from this
/// terminal (a session of its own), its output in the log file.
fn spawn_server(paths: &Paths) -> Result<std::process::Child, Failure> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| {
        Failure::runtime(format!("cannot find this program to start a server: {e}"))
    })?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--data-dir").arg(&paths.data_dir);
    if paths.config_given {
        cmd.arg("--config").arg(&paths.config_file);
    }
    cmd.args(["serve", "--background"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent's memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| Failure::runtime(format!("cannot start the server: {e}")))
}

fn envelope(paths: &Paths, request: StartRequest) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(Envelope {
        request,
        env: forwarded_env(),
        config: Some((paths.config_file.clone(), paths.config_given)),
    })
    .map_err(|e| Failure::runtime(e.to_string()))
}

/// Asks the server to start a new run; returns its id.
async fn start_run(paths: &Paths, conn: &mut Conn, args: &RunArgs) -> Result<String, Failure> {
    let request = StartRequest::Run(Box::new(args.clone()));
    ask_start(paths, conn, request, None).await
}

/// Asks the server to resume a run (or to say it is live already); returns its id. A run that
/// has ended is not resumed: its id (or prefix) comes back for viewing.
async fn start_resume(
    paths: &Paths,
    conn: &mut Conn,
    args: &ResumeArgs,
) -> Result<String, Failure> {
    let request = StartRequest::Resume(Box::new(args.clone()));
    match ask_start(paths, conn, request, Some(args.run.clone())).await {
        Err(f) if f.message.contains("has already ended") => Ok(args.run.clone()),
        other => other,
    }
}

async fn ask_start(
    paths: &Paths,
    conn: &mut Conn,
    request: StartRequest,
    resume: Option<String>,
) -> Result<String, Failure> {
    let msg = ClientMsg::Start {
        request: envelope(paths, request)?,
        resume,
    };
    match conn.ask(&msg).await {
        Ok(ServerMsg::Started { run }) => Ok(run.to_string()),
        Ok(other) => Err(Failure::runtime(format!("unexpected answer {other:?}"))),
        // What the starter refuses is what a run here would refuse: flags and config.
        Err(e) => Err(Failure::usage(e)),
    }
}

/// A connection to the server, starting it when none runs.
async fn connect(paths: &Paths) -> Result<(PathBuf, Conn), Failure> {
    let socket = ensure(paths).await?;
    let conn = Conn::connect(&socket, &hello(false))
        .await
        .map_err(connect_failure)?;
    Ok((socket, conn))
}

async fn open(
    paths: &Paths,
    socket: PathBuf,
    target: AttachTarget,
    read_only: bool,
    fps: Option<u32>,
) -> Result<u8, Failure> {
    let config = Config::load(&paths.config_file, paths.config_given)?;
    let opts = control_room::options(paths, &config, fps)?;
    let session = SocketSession::new(socket.clone(), hello(read_only), target);
    let pid = socket::server_pid(&socket).unwrap_or_else(|| "?".into());
    let note = format!("the run goes on in the server (pid {pid}); `macrohard-tui` attaches again");
    control_room::open(session, opts, Some(note)).await
}

pub async fn run_tui(paths: &Paths, args: &RunArgs) -> Result<u8, Failure> {
    let (socket, mut conn) = connect(paths).await?;
    let run = start_run(paths, &mut conn, args).await?;
    drop(conn);
    open(
        paths,
        socket,
        AttachTarget::Run(run),
        false,
        args.follow.fps,
    )
    .await
}

pub async fn resume_tui(paths: &Paths, args: &ResumeArgs) -> Result<u8, Failure> {
    let (socket, mut conn) = connect(paths).await?;
    // A finished run opens read-only, with its whole history.
    let run = start_resume(paths, &mut conn, args).await?;
    drop(conn);
    open(
        paths,
        socket,
        AttachTarget::Run(run),
        false,
        args.follow.fps,
    )
    .await
}

/// No command, with a terminal: the server's live run, else the last unfinished one resumed,
/// else the demo.
pub async fn default_tui(paths: &Paths) -> Result<u8, Failure> {
    let socket = ensure(paths).await?;
    open(paths, socket, AttachTarget::Default, false, None).await
}

/// `attach`: only attaches; exit 2 when no server runs.
pub async fn attach(
    paths: &Paths,
    run: Option<String>,
    read_only: bool,
    fps: Option<u32>,
) -> Result<u8, Failure> {
    let socket = socket_of(paths)?;
    match Conn::connect(&socket, &hello(read_only)).await {
        Ok(_) => {}
        Err(ConnectError::NoServer) => {
            return Err(Failure::usage(format!(
                "no server runs for {}: `macrohard-tui` starts one (or `macrohard-tui serve`)",
                paths.data_dir.display()
            )));
        }
        Err(e) => return Err(connect_failure(e)),
    }
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        return Err(Failure::usage(
            "attach needs a terminal; `macrohard-tui runs` and `show` work without one",
        ));
    }
    let target = run.map_or(AttachTarget::Live, AttachTarget::Run);
    open(paths, socket, target, read_only, fps).await
}

/// `run --headless` while a server runs: the server runs it; this process prints its events.
pub async fn run_headless(paths: &Paths, mut conn: Conn, args: &RunArgs) -> Result<u8, Failure> {
    let run = start_run(paths, &mut conn, args).await?;
    drop(conn);
    follow(paths, run, args.follow.yes, args.follow.json, true).await
}

pub async fn resume_headless(
    paths: &Paths,
    mut conn: Conn,
    args: &ResumeArgs,
) -> Result<u8, Failure> {
    // A finished run is only reported: its status and exit code.
    let run = start_resume(paths, &mut conn, args).await?;
    drop(conn);
    follow(paths, run, args.follow.yes, args.follow.json, false).await
}

async fn follow(
    paths: &Paths,
    run: String,
    yes: bool,
    json: bool,
    history: bool,
) -> Result<u8, Failure> {
    let socket = socket_of(paths)?;
    // It prints recorded events: live text would only be read and dropped.
    let hello = Hello {
        auto: yes,
        records_only: true,
        ..hello(false)
    };
    let session = SocketSession::new(socket, hello, AttachTarget::Run(run));
    Ok(headless::follow_session(&session, FollowOptions::new(yes, json, true), history).await)
}
