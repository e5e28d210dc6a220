//! The client side of the socket: a [`Conn`] for one-off requests (listings, exports, starting
//! a run), and [`SocketSession`], the control room's session on a server's run.

use super::{Attached, Session};
use crate::domain::{EventRecord, RunState};
use crate::protocol::wire::{self, AttachTarget, ClientMsg, MAX_SERVER_FRAME, ServerMsg};
use crate::protocol::{Command, Feed, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

type Reader = FramedRead<OwnedReadHalf, LengthDelimitedCodec>;
type Writer = FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>;

/// Live events buffered on the client before the control room falls behind and re-attaches.
const LOCAL_BUFFER: usize = 16_384;
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No server listens on the socket.
    #[error("no server runs for this data directory")]
    NoServer,
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Broken(String),
}

/// Who the client says it is.
#[derive(Debug, Clone)]
pub struct Hello {
    pub user: String,
    pub host: Option<String>,
    pub read_only: bool,
    /// `--yes`: this client's approvals are automatic.
    pub auto: bool,
    /// Recorded events only: no live text (a headless follower prints events).
    pub records_only: bool,
}

/// One connection to a server, after the handshake.
pub struct Conn {
    rd: Reader,
    wr: Writer,
    /// Joins messages the server sent in parts.
    joiner: wire::Assembler,
    /// The server's process id.
    pub server_pid: u32,
}

impl Conn {
    pub async fn connect(socket: &Path, hello: &Hello) -> Result<Conn, ConnectError> {
        let stream = match UnixStream::connect(socket).await {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Err(ConnectError::NoServer);
            }
            Err(e) => return Err(ConnectError::Broken(format!("{}: {e}", socket.display()))),
        };
        let (rd, wr) = stream.into_split();
        let mut conn = Conn {
            rd: FramedRead::new(rd, wire::codec(MAX_SERVER_FRAME)),
            wr: FramedWrite::new(wr, wire::codec(wire::MAX_CLIENT_FRAME)),
            joiner: wire::Assembler::default(),
            server_pid: 0,
        };
        conn.send(&ClientMsg::Hello {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").into(),
            user: hello.user.clone(),
            host: hello.host.clone(),
            read_only: hello.read_only,
            auto: hello.auto,
            records_only: hello.records_only,
        })
        .await
        .map_err(ConnectError::Broken)?;
        match tokio::time::timeout(Duration::from_secs(10), conn.recv()).await {
            Ok(Ok(ServerMsg::Welcome { pid, .. })) => {
                conn.server_pid = pid;
                Ok(conn)
            }
            Ok(Ok(ServerMsg::Refused { reason })) => Err(ConnectError::Refused(reason)),
            Ok(Ok(other)) => Err(ConnectError::Broken(format!(
                "the server answered hello with {other:?}"
            ))),
            Ok(Err(e)) => Err(ConnectError::Broken(e)),
            Err(_) => Err(ConnectError::Broken(
                "the server did not answer within 10 s".into(),
            )),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), String> {
        let bytes = wire::encode(msg)?;
        self.wr
            .send(bytes)
            .await
            .map_err(|e| format!("the server is gone: {e}"))
    }

    /// The next message (joined when it came in parts); an error when the connection ended
    /// or a frame is bad.
    pub async fn recv(&mut self) -> Result<ServerMsg, String> {
        loop {
            match self.rd.next().await {
                Some(Ok(frame)) => {
                    if let Some(msg) = self.joiner.take(&frame)? {
                        return Ok(msg);
                    }
                }
                Some(Err(e)) => return Err(format!("a bad frame from the server: {e}")),
                None => return Err("the server closed the connection".into()),
            }
        }
    }

    /// Sends `msg` and returns the answer; `Error` answers become `Err`.
    pub async fn ask(&mut self, msg: &ClientMsg) -> Result<ServerMsg, String> {
        self.send(msg).await?;
        match self.recv().await? {
            ServerMsg::Error { message } => Err(message),
            ServerMsg::Closing { reason } => Err(reason),
            other => Ok(other),
        }
    }

    /// Hands every recorded event of `run` from `from` to `f` as its frame arrives, so a long
    /// run is never held in memory whole.
    pub async fn each_event(
        &mut self,
        run: &str,
        from: u64,
        f: impl FnMut(EventRecord) -> Result<(), String>,
    ) -> Result<(), String> {
        self.each_event_between(run, from, None, f).await
    }

    /// As [`each_event`](Self::each_event), up to `to` when given.
    pub async fn each_event_between(
        &mut self,
        run: &str,
        from: u64,
        to: Option<u64>,
        mut f: impl FnMut(EventRecord) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut answer = self
            .ask(&ClientMsg::Events {
                run: run.into(),
                from,
                to,
            })
            .await?;
        loop {
            match answer {
                ServerMsg::Records { records, last } => {
                    for r in records {
                        f(r)?;
                    }
                    if last {
                        return Ok(());
                    }
                }
                ServerMsg::Error { message } => return Err(message),
                other => return Err(format!("unexpected answer {other:?}")),
            }
            answer = self.recv().await?;
        }
    }

    /// Attaches: the snapshot, the backlog, and whether live events follow.
    async fn attach(
        &mut self,
        target: &AttachTarget,
        backlog: u64,
    ) -> Result<(RunState, Vec<EventRecord>, bool), String> {
        let (state, live) = match self
            .ask(&ClientMsg::Attach {
                target: target.clone(),
                backlog,
            })
            .await?
        {
            ServerMsg::Snapshot { state, live } => (state, live),
            other => return Err(format!("unexpected answer {other:?}")),
        };
        let mut records = Vec::new();
        loop {
            match self.recv().await? {
                ServerMsg::Backlog { records: r, last } => {
                    records.extend(r);
                    if last {
                        break;
                    }
                }
                other => return Err(format!("unexpected answer {other:?}")),
            }
        }
        if !live {
            // The run has ended: its `Ended` follows.
            let _ = self.recv().await;
        }
        Ok((state, records, live))
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<(), String>>>>>;

struct Live {
    wr: Arc<tokio::sync::Mutex<Writer>>,
    pending: Pending,
    reader: tokio::task::JoinHandle<()>,
}

/// A control room's session on a run that a server runs.
pub struct SocketSession {
    socket: PathBuf,
    hello: Hello,
    target: Mutex<AttachTarget>,
    live: Mutex<Option<Live>>,
    next_id: AtomicU64,
    /// Why the last attach failed, for the person.
    pub last_error: Mutex<Option<String>>,
}

impl SocketSession {
    pub fn new(socket: PathBuf, hello: Hello, target: AttachTarget) -> Self {
        Self {
            socket,
            hello,
            target: Mutex::new(target),
            live: Mutex::new(None),
            next_id: AtomicU64::new(1),
            last_error: Mutex::new(None),
        }
    }

    fn hang_up(&self) {
        if let Some(live) = self.live.lock().ok().and_then(|mut l| l.take()) {
            live.reader.abort();
        }
    }

    async fn try_attach(&self, backlog: u64) -> Result<Attached, String> {
        self.hang_up();
        let mut conn = Conn::connect(&self.socket, &self.hello)
            .await
            .map_err(|e| e.to_string())?;
        let target = self
            .target
            .lock()
            .map(|t| t.clone())
            .map_err(|_| "poisoned".to_owned())?;
        let (state, backlog, live) = conn.attach(&target, backlog).await?;
        // Attaching again (after falling behind) must reach the same run, never start another.
        if let (Some(id), Ok(mut t)) = (state.id(), self.target.lock()) {
            *t = AttachTarget::Run(id.to_string());
        }
        if !live {
            return Ok(Attached {
                backlog,
                state,
                events: None,
            });
        }
        let (tx, rx) = broadcast::channel(LOCAL_BUFFER);
        let pending: Pending = Arc::default();
        let Conn { mut rd, wr, .. } = conn;
        let replies = pending.clone();
        let reader = tokio::spawn(async move {
            let mut joiner = wire::Assembler::default();
            while let Some(Ok(frame)) = rd.next().await {
                let msg = match joiner.take(&frame) {
                    Ok(None) => continue,
                    Ok(Some(m)) => Ok(m),
                    Err(e) => Err(e),
                };
                match msg {
                    Ok(ServerMsg::Event { record }) => {
                        let _ = tx.send(Feed::Record(Box::new(record)));
                    }
                    Ok(ServerMsg::Live { deltas }) => {
                        for d in deltas {
                            let _ = tx.send(Feed::Live(d));
                        }
                    }
                    Ok(ServerMsg::Reply { id, result }) => {
                        if let Some(r) = replies.lock().ok().and_then(|mut p| p.remove(&id)) {
                            let _ = r.send(result);
                        }
                    }
                    Ok(ServerMsg::Ended { .. } | ServerMsg::Closing { .. }) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            // Dropping `tx` tells the control room the stream ended; unanswered commands fail.
            if let Ok(mut p) = replies.lock() {
                p.clear();
            }
        });
        if let Ok(mut l) = self.live.lock() {
            *l = Some(Live {
                wr: Arc::new(tokio::sync::Mutex::new(wr)),
                pending,
                reader,
            });
        }
        Ok(Attached {
            backlog,
            state,
            events: Some(rx),
        })
    }
}

impl Session for SocketSession {
    async fn attach(&self, backlog: u64) -> Option<Attached> {
        match self.try_attach(backlog).await {
            Ok(a) => Some(a),
            Err(e) => {
                if let Ok(mut l) = self.last_error.lock() {
                    *l = Some(e);
                }
                None
            }
        }
    }

    async fn send(&self, command: Command) -> Result<(), String> {
        if self.hello.read_only {
            return Err("this viewer is read-only".into());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let wr = {
            let live = self.live.lock().map_err(|_| "poisoned".to_owned())?;
            let live = live.as_ref().ok_or("not attached to a run")?;
            live.pending
                .lock()
                .map_err(|_| "poisoned".to_owned())?
                .insert(id, reply);
            live.wr.clone()
        };
        let bytes = wire::encode(&ClientMsg::Command { id, command })?;
        wr.lock()
            .await
            .send(bytes)
            .await
            .map_err(|e| format!("the server is gone: {e}"))?;
        match tokio::time::timeout(REPLY_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the connection to the server closed".into()),
            Err(_) => Err("the server did not answer within 30 s".into()),
        }
    }

    async fn detach(&self) {
        self.hang_up();
    }

    fn can_steer(&self) -> bool {
        !self.hello.read_only
    }

    fn why_not(&self) -> Option<String> {
        self.last_error.lock().ok()?.clone()
    }

    async fn history(&self, from: u64, to: u64) -> Result<Vec<EventRecord>, String> {
        let run = match self.target.lock().map(|t| t.clone()) {
            Ok(AttachTarget::Run(run)) => run,
            _ => return Err("not attached to a run".into()),
        };
        // A connection of its own: the live one keeps streaming meanwhile.
        let mut conn = Conn::connect(&self.socket, &self.hello)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        conn.each_event_between(&run, from, Some(to), |r| {
            out.push(r);
            Ok(())
        })
        .await?;
        Ok(out)
    }
}
