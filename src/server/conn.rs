//! One client connection: the handshake, then requests (attach, commands, listings, starts)
//! and the live events of the attached run. Frames go out through one writer task; a client
//! that cannot keep up with the live events is dropped. A bad frame closes this connection only.

use super::{Hub, Start, socket};
use crate::domain::{Actor, EventRecord, RunId, RunState};
use crate::engine::{Backlog, EngineHandle};
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::wire::{
    self, AttachTarget, ClientMsg, MAX_CLIENT_FRAME, RECORDS_PER_FRAME, ServerMsg,
};
use crate::store::Store;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

struct Client {
    hub: Arc<Hub>,
    out: mpsc::Sender<ServerMsg>,
    kill: CancellationToken,
    by: Actor,
    read_only: bool,
    attached: Option<EngineHandle>,
    forward: Option<tokio::task::JoinHandle<()>>,
}

pub async fn serve(hub: Arc<Hub>, stream: UnixStream) {
    let peer = socket::peer_uid(&stream);
    let sandboxed = socket::peer_in_sandbox(&stream);
    let (rd, wr) = stream.into_split();
    let mut frames = FramedRead::new(rd, wire::codec(MAX_CLIENT_FRAME));
    let mut sink = FramedWrite::new(wr, wire::codec(wire::MAX_SERVER_FRAME));
    let (out, mut outbox) = mpsc::channel::<ServerMsg>(hub.client_queue);
    // Cancelled to drop a client that stopped reading: the writer lets go of the socket even
    // in the middle of a write.
    let kill = CancellationToken::new();
    let killed = kill.clone();
    let writer = tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                m = outbox.recv() => m,
                () = killed.cancelled() => None,
            };
            let Some(msg) = msg else { break };
            let closing = matches!(msg, ServerMsg::Closing { .. } | ServerMsg::Refused { .. });
            let Ok(bytes) = wire::encode(&msg) else {
                continue;
            };
            let sent = tokio::select! {
                r = sink.send(bytes) => r.is_ok(),
                () = killed.cancelled() => false,
            };
            if !sent || closing {
                break;
            }
        }
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            SinkExt::<bytes::Bytes>::close(&mut sink),
        )
        .await;
    });
    if peer != Some(socket::my_uid()) || sandboxed {
        let reason = if sandboxed {
            tracing::warn!("refused a client inside an agent's sandbox");
            "clients inside an agent's sandbox may not steer runs"
        } else {
            tracing::warn!(?peer, "refused a client of another user");
            "this server belongs to another user"
        };
        let _ = out
            .send(ServerMsg::Refused {
                reason: reason.into(),
            })
            .await;
        drop(out);
        let _ = writer.await;
        return;
    }
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, frames.next()).await {
        Ok(Some(Ok(frame))) => wire::decode::<ClientMsg>(&frame),
        Ok(Some(Err(e))) => Err(format!("a bad frame: {e}")),
        Ok(None) => Err("closed before saying hello".into()),
        Err(_) => Err("no hello within 5 s".into()),
    };
    let (host, read_only, auto) = match hello {
        Ok(ClientMsg::Hello {
            protocol,
            host,
            read_only,
            auto,
            ..
        }) if protocol == PROTOCOL_VERSION => (host, read_only, auto),
        Ok(ClientMsg::Hello { protocol, .. }) => {
            refuse(
                &out,
                format!(
                    "protocol {protocol} is not spoken here (this server speaks {PROTOCOL_VERSION}); use the same macrohard-tui version as the server"
                ),
            )
            .await;
            drop(out);
            let _ = writer.await;
            return;
        }
        Ok(_) => {
            refuse(&out, "say hello first".into()).await;
            drop(out);
            let _ = writer.await;
            return;
        }
        Err(e) => {
            tracing::warn!("refused a connection: {e}");
            refuse(&out, e).await;
            drop(out);
            let _ = writer.await;
            return;
        }
    };
    let user = socket::user_name(socket::my_uid());
    let by = Actor::Human {
        user: user.clone(),
        host: host.filter(|h| !h.trim().is_empty() && h.len() <= 255),
        auto,
    };
    let _ = out
        .send(ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            user,
        })
        .await;
    tracing::info!(%by, read_only, "client attached");
    let mut client = Client {
        hub,
        out,
        kill: kill.clone(),
        by,
        read_only,
        attached: None,
        forward: None,
    };
    loop {
        let frame = tokio::select! {
            f = frames.next() => f,
            () = client.out.closed() => break,
            () = kill.cancelled() => break,
        };
        let msg = match frame {
            None => break,
            Some(Err(e)) => {
                client.close(format!("a bad frame: {e}")).await;
                break;
            }
            Some(Ok(frame)) => match wire::decode::<ClientMsg>(&frame) {
                Ok(m) => m,
                Err(e) => {
                    client.close(e).await;
                    break;
                }
            },
        };
        if client.handle(msg).await.is_err() {
            break;
        }
    }
    if let Some(f) = client.forward.take() {
        f.abort();
    }
    drop(client);
    let _ = writer.await;
}

async fn refuse(out: &mpsc::Sender<ServerMsg>, reason: String) {
    let _ = out.send(ServerMsg::Refused { reason }).await;
}

/// The records of a run in frames of at most `RECORDS_PER_FRAME`; `frame` makes the message
/// and is told which frame is the last.
fn framed(
    records: &[EventRecord],
    frame: fn(Vec<EventRecord>, bool) -> ServerMsg,
) -> Vec<ServerMsg> {
    if records.is_empty() {
        return vec![frame(Vec::new(), true)];
    }
    let n = records.len().div_ceil(RECORDS_PER_FRAME);
    records
        .chunks(RECORDS_PER_FRAME)
        .enumerate()
        .map(|(i, part)| frame(part.to_vec(), i + 1 == n))
        .collect()
}

fn backlog_frame(records: Vec<EventRecord>, last: bool) -> ServerMsg {
    ServerMsg::Backlog { records, last }
}

fn recorded(records: Vec<EventRecord>, last: bool) -> ServerMsg {
    ServerMsg::Records { records, last }
}

impl Client {
    async fn send(&self, msg: ServerMsg) -> Result<(), ()> {
        self.out.send(msg).await.map_err(|_| ())
    }

    async fn send_all(&self, msgs: Vec<ServerMsg>) -> Result<(), ()> {
        for m in msgs {
            self.send(m).await?;
        }
        Ok(())
    }

    async fn close(&self, reason: String) {
        tracing::warn!(by = %self.by, "closing a connection: {reason}");
        let _ = self.out.send(ServerMsg::Closing { reason }).await;
    }

    fn store(&self) -> &Store {
        &self.hub.store
    }

    async fn error(&self, message: String) -> Result<(), ()> {
        self.send(ServerMsg::Error { message }).await
    }

    async fn handle(&mut self, msg: ClientMsg) -> Result<(), ()> {
        match msg {
            ClientMsg::Hello { .. } => self.error("hello was already said".into()).await,
            ClientMsg::Attach { target, backlog } => self.attach(target, backlog).await,
            ClientMsg::Command { id, command } => {
                let result = match (&self.attached, self.read_only) {
                    (_, true) => Err("this viewer is read-only: it cannot steer the run".into()),
                    (None, false) => Err("attach to a run first".into()),
                    (Some(h), false) => h.command(self.by.clone(), command).await,
                };
                self.send(ServerMsg::Reply { id, result }).await
            }
            ClientMsg::Runs => match self.store().runs() {
                Ok(runs) => self.send(ServerMsg::Runs { runs }).await,
                Err(e) => self.error(e.to_string()).await,
            },
            ClientMsg::State { run } => match self.resolve(&run).and_then(|r| self.state_of(&r)) {
                Ok(state) => self.send(ServerMsg::State { state }).await,
                Err(e) => self.error(e).await,
            },
            ClientMsg::Events { run, from } => {
                let records = self.resolve(&run).and_then(|r| {
                    self.store()
                        .events(&r, from.max(1))
                        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| e.to_string())
                });
                match records {
                    Ok(records) => self.send_all(framed(&records, recorded)).await,
                    Err(e) => self.error(e).await,
                }
            }
            ClientMsg::Start { request, resume } => {
                if self.read_only {
                    return self
                        .error("this viewer is read-only: it cannot start runs".into())
                        .await;
                }
                let what = match resume {
                    Some(r) => match self.resolve(&r) {
                        Ok(run) => Start::Resume { run, request },
                        Err(e) => return self.error(e).await,
                    },
                    None => Start::Request(request),
                };
                match self.hub.start(what, self.by.clone()).await {
                    Ok(h) => {
                        self.send(ServerMsg::Started {
                            run: h.run().clone(),
                        })
                        .await
                    }
                    Err(e) => self.error(e).await,
                }
            }
        }
    }

    fn resolve(&self, run: &str) -> Result<RunId, String> {
        self.store().resolve_run(run).map_err(|e| e.to_string())
    }

    /// The newest snapshot and the events after it: exact for a live run too, since every
    /// event is durable before anyone sees it.
    fn state_of(&self, run: &RunId) -> Result<RunState, String> {
        self.store().load_state(run).map_err(|e| e.to_string())
    }

    async fn attach(&mut self, target: AttachTarget, backlog: u64) -> Result<(), ()> {
        if let Some(f) = self.forward.take() {
            f.abort();
        }
        self.attached = None;
        let live = match &target {
            AttachTarget::Run(r) => match self.hub.find_live(r) {
                Some(h) => Ok(h),
                None => match self.resolve(r) {
                    Ok(run) => self.hub.live(&run).ok_or(Some(run)),
                    Err(e) => return self.error(e).await,
                },
            },
            AttachTarget::Live => self.hub.newest_live().ok_or(None),
            AttachTarget::Default if self.read_only => self.hub.newest_live().ok_or(None),
            AttachTarget::Default => match self.hub.start(Start::Default, self.by.clone()).await {
                Ok(h) => Ok(h),
                Err(e) => return self.error(e).await,
            },
        };
        match live {
            Ok(handle) => self.attach_live(handle, backlog).await,
            Err(run) => {
                let run = match run {
                    Some(r) => r,
                    None => match self.resolve("last") {
                        Ok(r) => r,
                        Err(e) => return self.error(e).await,
                    },
                };
                self.attach_recorded(&run, backlog).await
            }
        }
    }

    async fn attach_live(&mut self, handle: EngineHandle, backlog: u64) -> Result<(), ()> {
        let Some(sub) = handle.subscribe_with(Backlog::Last(backlog)).await else {
            // It ended just now: show it as recorded.
            let run = handle.run().clone();
            return self.attach_recorded(&run, backlog).await;
        };
        self.send(ServerMsg::Snapshot {
            state: sub.state,
            live: true,
        })
        .await?;
        self.send_all(framed(&sub.backlog, backlog_frame)).await?;
        let out = self.out.clone();
        let kill = self.kill.clone();
        let mut events = sub.events;
        let store = self.hub.store.clone();
        let run = handle.run().clone();
        self.forward = Some(tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(record) => match out.try_send(ServerMsg::Event { record }) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            tracing::warn!(%run, "dropping a client that stopped reading");
                            kill.cancel();
                            return;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    },
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(%run, "dropping a client {n} events behind");
                        let _ = out.try_send(ServerMsg::Closing {
                            reason: format!(
                                "too slow: {n} events behind; attach again for a fresh snapshot"
                            ),
                        });
                        kill.cancel();
                        return;
                    }
                    Err(RecvError::Closed) => {
                        let (status, reason) = store
                            .load_state(&run)
                            .map(|s| (s.status, s.status_reason))
                            .unwrap_or_default();
                        let _ = out.send(ServerMsg::Ended { status, reason }).await;
                        return;
                    }
                }
            }
        }));
        self.attached = Some(handle);
        Ok(())
    }

    async fn attach_recorded(&mut self, run: &RunId, backlog: u64) -> Result<(), ()> {
        let records = self
            .store()
            .events(run, 1)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>());
        let records = match records {
            Ok(r) => r,
            Err(e) => return self.error(e.to_string()).await,
        };
        let state = RunState::fold(&records);
        let keep = records.len().saturating_sub(backlog as usize);
        let (status, reason) = (state.status, state.status_reason.clone());
        self.send(ServerMsg::Snapshot { state, live: false })
            .await?;
        self.send_all(framed(&records[keep..], backlog_frame))
            .await?;
        self.send(ServerMsg::Ended { status, reason }).await
    }
}
