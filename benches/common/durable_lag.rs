//! A second viewer of a run, attached over the server's socket with the library, that times
//! how far each live delta runs ahead of its durable copy.
//!
//! Per agent request (an agent and its step), live text says at which byte of the request's
//! text it starts; the recorded `AgentDelta`s of the request carry the same bytes, counted from
//! its `LlmRequestStarted`. A live piece is durable once the recorded bytes reach its end: the
//! sample is the time between the two arrivals at this viewer. Pieces of a request that ends
//! without recording them (a cancelled step) are counted as never recorded.
#![allow(dead_code)]

use macrohard::domain::Event;
use macrohard::protocol::wire::AttachTarget;
use macrohard::protocol::{Feed, LiveDelta};
use macrohard::session::Session;
use macrohard::session::socket::{Hello, SocketSession};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Tally {
    samples: Vec<Duration>,
    /// The sample of the newest piece each recorded event carries: the time the engine's
    /// store path takes (append, flush, send), without the time older pieces waited to be
    /// coalesced into the event.
    newest: Vec<Duration>,
    /// Agents whose live text this viewer has seen.
    streaming: HashSet<String>,
    /// Live pieces whose request ended before they were recorded.
    unrecorded: u64,
    /// Feed items this viewer missed for being slow (its receiver lagged).
    lagged: u64,
    /// Live pieces seen in all.
    live: u64,
}

/// The viewer's figures, shared with the harness's thread.
#[derive(Clone)]
pub struct Lag(Arc<Mutex<Tally>>);

impl Lag {
    pub fn streaming_agents(&self) -> usize {
        self.0.lock().unwrap().streaming.len()
    }

    /// Forgets the samples so far (the ramp-up), keeps the matching state.
    pub fn reset(&self) {
        let mut t = self.0.lock().unwrap();
        t.samples.clear();
        t.newest.clear();
        t.unrecorded = 0;
        t.live = 0;
    }

    pub fn samples(&self) -> Vec<Duration> {
        self.0.lock().unwrap().samples.clone()
    }

    pub fn newest(&self) -> Vec<Duration> {
        self.0.lock().unwrap().newest.clone()
    }

    pub fn notes(&self) -> String {
        let t = self.0.lock().unwrap();
        format!(
            "{} live pieces, {} never recorded, {} feed items missed by this viewer",
            t.live, t.unrecorded, t.lagged
        )
    }
}

/// Attaches to the run served on `socket` and watches it until `stop`.
pub fn watch(socket: PathBuf, stop: Arc<AtomicBool>) -> Lag {
    let lag = Lag(Arc::default());
    let tally = lag.0.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(follow(socket, stop, tally));
    });
    lag
}

/// Live pieces of one request not yet recorded: (end offset, arrival).
type Pending = VecDeque<(u64, Instant)>;

async fn follow(socket: PathBuf, stop: Arc<AtomicBool>, tally: Arc<Mutex<Tally>>) {
    let hello = Hello {
        user: "bench".into(),
        host: Some("durable-lag".into()),
        read_only: true,
        auto: false,
        records_only: false,
    };
    let session = SocketSession::new(socket, hello, AttachTarget::Default);
    let attached = session.attach(0).await.expect("attaches to the run");
    let mut feed = attached.events.expect("a live run");
    let mut pending: HashMap<(String, u32), Pending> = HashMap::new();
    // Per agent: the step of its current request and the bytes of it recorded.
    let mut current: HashMap<String, (u32, u64)> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        let item = match tokio::time::timeout(Duration::from_millis(200), feed.recv()).await {
            Err(_) => continue,
            Ok(Ok(item)) => item,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                tally.lock().unwrap().lagged += n;
                continue;
            }
            Ok(Err(_)) => break,
        };
        let now = Instant::now();
        let mut t = tally.lock().unwrap();
        match &item {
            Feed::Live(LiveDelta::Text {
                agent,
                step,
                offset,
                text,
                ..
            }) => {
                t.live += 1;
                t.streaming.insert(agent.to_string());
                pending
                    .entry((agent.to_string(), *step))
                    .or_default()
                    .push_back((offset + text.len() as u64, now));
            }
            Feed::Record(r) => match &r.event {
                Event::LlmRequestStarted { agent, step, .. } => {
                    let agent = agent.to_string();
                    let followed = current.insert(agent.clone(), (*step, 0)).is_some();
                    // The agent's earlier requests are over: what they left unrecorded is
                    // counted (unless it started before this viewer attached).
                    pending.retain(|(a, s), left| {
                        if *a != agent || s == step {
                            return true;
                        }
                        if followed {
                            t.unrecorded += left.len() as u64;
                        }
                        false
                    });
                }
                Event::AgentDelta { agent, text, .. } => {
                    let agent = agent.to_string();
                    let Some((step, recorded)) = current.get_mut(&agent) else {
                        continue;
                    };
                    *recorded += text.len() as u64;
                    if let Some(p) = pending.get_mut(&(agent, *step)) {
                        let mut newest = None;
                        while p.front().is_some_and(|(end, _)| *end <= *recorded) {
                            let (_, at) = p.pop_front().unwrap();
                            newest = Some(now.duration_since(at));
                            t.samples.push(now.duration_since(at));
                        }
                        t.newest.extend(newest);
                    }
                }
                _ => {}
            },
            Feed::Live(_) => {}
        }
    }
}
