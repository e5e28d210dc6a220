//! One client connection: the handshake, then requests (attach, commands, listings, starts)
//! and the live events of the attached run. Frames go out through one writer task; a client
//! that cannot keep up with the live events is dropped. A bad frame closes this connection only.
//!
//! Memory stays bounded whatever the run holds: recorded events (backlogs, exports) are read
//! from the store as they are sent, in frames of about a megabyte, and only a few such frames
//! wait for one client at a time ([`Flow`]); large messages leave in parts ([`wire::frames`]).

use super::{Hub, Start, socket};
use crate::domain::{Actor, EventRecord, RunId};
use crate::engine::{Backlog, EngineHandle};
use crate::protocol::wire::{
    self, AttachTarget, ClientMsg, MAX_CLIENT_FRAME, RECORDS_FRAME_BYTES, ServerMsg,
};
use crate::protocol::{Feed, LiveDelta, PROTOCOL_VERSION};
use crate::store::{Store, StoreError};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames of recorded events that may wait for one client before more are read.
const BULK_AHEAD: u64 = 4;

/// How many messages were queued for the client and how many the writer has sent, so that a
/// bulk sender waits for the client instead of queueing a whole run.
#[derive(Default)]
struct Flow {
    queued: AtomicU64,
    written: watch::Sender<u64>,
}

struct Client {
    hub: Arc<Hub>,
    out: mpsc::Sender<ServerMsg>,
    kill: CancellationToken,
    flow: Arc<Flow>,
    by: Actor,
    read_only: bool,
    /// Sent no live text (see `ClientMsg::Hello`).
    records_only: bool,
    attached: Option<EngineHandle>,
    forward: Option<tokio::task::JoinHandle<()>>,
}

pub async fn serve(hub: Arc<Hub>, stream: UnixStream) {
    let peer = socket::peer_uid(&stream);
    let sandboxed = socket::peer_refusal(&stream);
    let (rd, wr) = stream.into_split();
    let mut frames = FramedRead::new(rd, wire::codec(MAX_CLIENT_FRAME));
    let mut sink = FramedWrite::new(wr, wire::codec(wire::MAX_SERVER_FRAME));
    let (out, mut outbox) = mpsc::channel::<ServerMsg>(hub.client_queue);
    // Cancelled to drop a client that stopped reading: the writer lets go of the socket even
    // in the middle of a write.
    let kill = CancellationToken::new();
    let killed = kill.clone();
    let flow = Arc::new(Flow::default());
    let counted = flow.clone();
    let writer = tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                m = outbox.recv() => m,
                () = killed.cancelled() => None,
            };
            let Some(msg) = msg else { break };
            let closing = matches!(msg, ServerMsg::Closing { .. } | ServerMsg::Refused { .. });
            let sent = match wire::frames(&msg) {
                Ok(frames) => send_frames(&mut sink, frames, &killed).await,
                Err(e) => {
                    tracing::warn!("a message not sent: {e}");
                    true
                }
            };
            drop(msg);
            counted.written.send_modify(|n| *n += 1);
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
    if peer != Some(socket::my_uid()) || sandboxed.is_some() {
        let reason = if let Some(why) = &sandboxed {
            tracing::warn!("refused a client: {why}");
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
    let (host, read_only, auto, records_only) = match hello {
        Ok(ClientMsg::Hello {
            protocol,
            host,
            read_only,
            auto,
            records_only,
            ..
        }) if protocol == PROTOCOL_VERSION => (host, read_only, auto, records_only),
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
        flow,
        by,
        read_only,
        records_only,
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

/// Sends the frames of one message; false when the client is gone or dropped.
async fn send_frames(
    sink: &mut FramedWrite<
        tokio::net::unix::OwnedWriteHalf,
        tokio_util::codec::LengthDelimitedCodec,
    >,
    frames: wire::Frames,
    killed: &CancellationToken,
) -> bool {
    for frame in frames {
        let Ok(bytes) = frame else {
            return true;
        };
        let sent = tokio::select! {
            r = sink.send(bytes) => r.is_ok(),
            () = killed.cancelled() => false,
        };
        if !sent {
            return false;
        }
    }
    true
}

fn backlog_frame(records: Vec<EventRecord>, last: bool) -> ServerMsg {
    ServerMsg::Backlog { records, last }
}

fn recorded(records: Vec<EventRecord>, last: bool) -> ServerMsg {
    ServerMsg::Records { records, last }
}

impl Client {
    async fn send(&self, msg: ServerMsg) -> Result<(), ()> {
        self.out.send(msg).await.map_err(|_| ())?;
        self.flow.queued.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Sends a bulk message, then waits until at most [`BULK_AHEAD`] messages wait for the
    /// client: a run's worth of records is never queued at once.
    async fn send_bulk(&self, msg: ServerMsg) -> Result<(), ()> {
        self.send(msg).await?;
        let mine = self.flow.queued.load(Ordering::SeqCst);
        let mut written = self.flow.written.subscribe();
        tokio::select! {
            r = written.wait_for(|w| w + BULK_AHEAD >= mine) => r.map(|_| ()).map_err(|_| ()),
            () = self.out.closed() => Err(()),
        }
    }

    /// Sends `records` in frames of about [`RECORDS_FRAME_BYTES`], reading them only as the
    /// client takes them; `frame` makes each message and is told which one is the last. No
    /// records make one empty last frame. A record that cannot be read ends it with an error.
    async fn send_records(
        &self,
        records: impl Iterator<Item = Result<EventRecord, StoreError>>,
        frame: fn(Vec<EventRecord>, bool) -> ServerMsg,
    ) -> Result<(), ()> {
        let mut frames = wire::pack(records, RECORDS_FRAME_BYTES);
        let mut current = frames.next();
        if current.is_none() {
            return self.send(frame(Vec::new(), true)).await;
        }
        while let Some(now) = current {
            let next = frames.next();
            match now {
                Ok(batch) => self.send_bulk(frame(batch, next.is_none())).await?,
                Err(e) => return self.error(e.to_string()).await,
            }
            current = next;
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
            ClientMsg::Events { run, from, to } => {
                let records = self.resolve(&run).and_then(|r| {
                    let from = from.max(1);
                    let to = to.unwrap_or(u64::MAX);
                    self.store()
                        .events_between(&r, from, to)
                        .map_err(|e| e.to_string())
                });
                match records {
                    Ok(records) => {
                        let sent = self.send_records(records, recorded).await;
                        // What the export read and sent is free now: give it back.
                        super::memory::give_back();
                        sent
                    }
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
    fn state_of(&self, run: &RunId) -> Result<crate::domain::RunState, String> {
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

    /// The events `from..=last` of `run` as `Backlog` frames, read from the store as they
    /// are sent (every event up to a state's `last_seq` is durable).
    async fn send_backlog(&self, run: &RunId, last: u64, backlog: u64) -> Result<(), ()> {
        let from = last.saturating_sub(backlog).max(1);
        match self.store().events_between(run, from, last) {
            Ok(records) => self.send_records(records, backlog_frame).await,
            Err(e) => self.error(e.to_string()).await,
        }
    }

    async fn attach_live(&mut self, handle: EngineHandle, backlog: u64) -> Result<(), ()> {
        // The backlog comes from the store, not from the engine's memory; live events after
        // the state wait in the subscription meanwhile.
        let Some(sub) = handle.subscribe_with(Backlog::None).await else {
            // It ended just now: show it as recorded.
            let run = handle.run().clone();
            return self.attach_recorded(&run, backlog).await;
        };
        let last = sub.state.last_seq;
        self.send(ServerMsg::Snapshot {
            state: sub.state,
            live: true,
        })
        .await?;
        self.send_backlog(handle.run(), last, backlog).await?;
        let (out, flow, kill) = (self.out.clone(), self.flow.clone(), self.kill.clone());
        let events = sub.feed;
        let store = self.hub.store.clone();
        let run = handle.run().clone();
        self.forward = Some(tokio::spawn(forward(
            events,
            out,
            flow,
            kill,
            store,
            run,
            self.records_only,
        )));
        self.attached = Some(handle);
        Ok(())
    }

    async fn attach_recorded(&mut self, run: &RunId, backlog: u64) -> Result<(), ()> {
        let state = match self.state_of(run) {
            Ok(s) => s,
            Err(e) => return self.error(e).await,
        };
        let (status, reason, last) = (state.status, state.status_reason.clone(), state.last_seq);
        self.send(ServerMsg::Snapshot { state, live: false })
            .await?;
        self.send_backlog(run, last, backlog).await?;
        self.send(ServerMsg::Ended { status, reason }).await
    }
}

/// Live text waits at most this long for more before it is sent (it is sent at once before
/// any recorded event, so the client sees everything in the engine's order).
const LIVE_BATCH: Duration = Duration::from_millis(8);
/// Live pieces sent in one message at most.
const LIVE_BATCH_MAX: usize = 256;

/// Live text gathered for one message; consecutive pieces of one request join.
#[derive(Default)]
struct LiveBatch(Vec<LiveDelta>);

impl LiveBatch {
    fn push(&mut self, d: LiveDelta) {
        if let (
            Some(LiveDelta::Text {
                agent: a,
                step: s,
                offset: o,
                kind: k,
                text: t,
                task: tk,
            }),
            LiveDelta::Text {
                agent,
                step,
                offset,
                kind,
                text,
                task,
            },
        ) = (self.0.last_mut(), &d)
        {
            if a == agent && s == step && k == kind && tk == task && *o + t.len() as u64 == *offset
            {
                t.push_str(text);
                return;
            }
        }
        self.0.push(d);
    }
}

/// Sends a client the attached run's feed: recorded events one by one, live text in small
/// batches. A client that stops reading is dropped; the engine never waits for it.
async fn forward(
    mut events: tokio::sync::broadcast::Receiver<Feed>,
    out: mpsc::Sender<ServerMsg>,
    flow: Arc<Flow>,
    kill: CancellationToken,
    store: Store,
    run: RunId,
    records_only: bool,
) {
    let mut batch = LiveBatch::default();
    let mut due: Option<tokio::time::Instant> = None;
    let send = |msg: ServerMsg| match out.try_send(msg) {
        Ok(()) => {
            flow.queued.fetch_add(1, Ordering::SeqCst);
            true
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(%run, "dropping a client that stopped reading");
            kill.cancel();
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    };
    loop {
        let got = tokio::select! {
            got = events.recv() => Some(got),
            () = async { tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)).await }, if due.is_some() => None,
        };
        let Some(got) = got else {
            due = None;
            if !send(ServerMsg::Live {
                deltas: std::mem::take(&mut batch.0),
            }) {
                return;
            }
            continue;
        };
        match got {
            Ok(Feed::Live(_)) if records_only => {}
            Ok(Feed::Live(d)) => {
                batch.push(d);
                if batch.0.len() >= LIVE_BATCH_MAX {
                    due = Some(tokio::time::Instant::now());
                } else {
                    due.get_or_insert_with(|| tokio::time::Instant::now() + LIVE_BATCH);
                }
            }
            Ok(Feed::Record(record)) => {
                if !batch.0.is_empty() {
                    due = None;
                    if !send(ServerMsg::Live {
                        deltas: std::mem::take(&mut batch.0),
                    }) {
                        return;
                    }
                }
                if !send(ServerMsg::Event { record: *record }) {
                    return;
                }
            }
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
}
