#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Streamed text reaches an attached control room within 50 ms (p95) whatever the disk does:
//! the store's flushes are made 400 ms slower on purpose, and the text still arrives at once,
//! ahead of its durable events, and is shown exactly once. A follower that asked for records
//! only gets no live text.

mod common;

use macrohard::domain::{Actor, Event};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::{LlmRequest, Provider, ProviderInfo, StreamEvent, StreamItem, ToolUse};
use macrohard::protocol::wire::AttachTarget;
use macrohard::protocol::{Feed, LiveDelta};
use macrohard::server::{Start, Starter};
use macrohard::session::Session;
use macrohard::session::socket::SocketSession;
use macrohard::store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const PIECES: usize = 150;
const EVERY: Duration = Duration::from_millis(10);
const SLOW_FLUSH: Duration = Duration::from_millis(400);

/// When each piece left the provider.
type Sent = Arc<Mutex<Vec<Option<Instant>>>>;

fn piece(i: usize) -> String {
    format!("<{i:04}> ")
}

/// A supervisor that streams numbered pieces at a steady pace, then finishes the run.
struct Paced(Sent);

impl Provider for Paced {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "paced".into(),
            model: "paced-1".into(),
            base_url: None,
            simulated: true,
        }
    }

    fn stream(&self, _request: LlmRequest) -> mpsc::Receiver<StreamItem> {
        let (tx, rx) = mpsc::channel(16);
        let sent = self.0.clone();
        tokio::spawn(async move {
            // Time for the viewer to attach before the text starts.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            for i in 0..PIECES {
                sent.lock().unwrap()[i] = Some(Instant::now());
                if tx.send(Ok(StreamEvent::Reasoning(piece(i)))).await.is_err() {
                    return;
                }
                tokio::time::sleep(EVERY).await;
            }
            let call = ToolUse {
                id: "f1".into(),
                name: "finish_run".into(),
                arguments: serde_json::json!({"summary": "done"}),
            };
            let _ = tx.send(Ok(StreamEvent::ToolCall(call))).await;
            let _ = tx
                .send(Ok(StreamEvent::Done {
                    stop_reason: "tool_use".into(),
                }))
                .await;
        });
        rx
    }
}

fn starter(ws: PathBuf, sent: Sent) -> Starter {
    Arc::new(move |store: Store, _start: Start, by: Actor| {
        let (ws, sent) = (ws.clone(), sent.clone());
        Box::pin(async move {
            let mut config = EngineConfig::new(Roster::embedded().unwrap(), ws);
            config.slow_flush = Some(SLOW_FLUSH);
            let new = NewRun {
                goal: "Think aloud".into(),
                workspace: None,
                seed: 1,
                by,
            };
            engine::start(store, Arc::new(Paced(sent)), config, RunTarget::New(new))
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// The piece numbers in a text.
fn numbers(text: &str) -> Vec<usize> {
    text.split('<')
        .filter_map(|p| p.get(..4)?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_text_reaches_an_attached_viewer_at_once_while_the_disk_is_slow() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let sent: Sent = Arc::new(Mutex::new(vec![None; PIECES]));
    let (socket, server) = common::served::serve(
        dir.path(),
        store,
        starter(dir.path().join("ws"), sent.clone()),
    )
    .await;
    let hello = common::served::hello("viewer", false);
    let viewer = SocketSession::new(socket.clone(), hello, AttachTarget::Default);
    let attached = viewer.attach(1000).await.expect("attaches");
    let mut view = macrohard::tui::view::View::new(attached.state, &attached.backlog);
    let mut feed = attached.events.expect("a live run");
    // A follower that prints recorded events only is sent no live text, and every record.
    let follower = SocketSession::new(
        socket.clone(),
        macrohard::session::socket::Hello {
            records_only: true,
            ..common::served::hello("follower", false)
        },
        AttachTarget::Default,
    );
    let follower = tokio::spawn(async move {
        let attached = follower.attach(1000).await.expect("attaches");
        let mut feed = attached.events.expect("a live run");
        let (mut live, mut pieces) = (0, Vec::new());
        while let Ok(item) = feed.recv().await {
            match item {
                Feed::Live(_) => live += 1,
                Feed::Record(r) => {
                    if let Event::AgentDelta { text, .. } = &r.event {
                        pieces.extend(numbers(text));
                    }
                }
            }
        }
        (live, pieces)
    });
    let mut live_at: HashMap<usize, Instant> = HashMap::new();
    let mut recorded_at: HashMap<usize, Instant> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let item = match tokio::time::timeout(left, feed.recv()).await {
            Ok(Ok(item)) => item,
            Ok(Err(_)) => break,
            Err(_) => panic!("the run did not end within 60 s"),
        };
        let now = Instant::now();
        match &item {
            Feed::Live(LiveDelta::Text { text, .. }) => {
                for n in numbers(text) {
                    live_at.entry(n).or_insert(now);
                }
            }
            Feed::Record(r) => {
                if let Event::AgentDelta { text, .. } = &r.event {
                    for n in numbers(text) {
                        recorded_at.entry(n).or_insert(now);
                    }
                }
            }
            Feed::Live(_) => {}
        }
        view.feed(&item);
    }
    let sent = sent.lock().unwrap().clone();
    let mut lat: Vec<Duration> = (0..PIECES)
        .map(|i| {
            let at = live_at
                .get(&i)
                .unwrap_or_else(|| panic!("piece {i} never came live"));
            at.duration_since(sent[i].unwrap())
        })
        .collect();
    lat.sort();
    let p95 = lat[PIECES * 95 / 100];
    let p50 = lat[PIECES / 2];
    eprintln!(
        "provider delta to viewer, live: p50 {p50:?}, p95 {p95:?}, max {:?}",
        lat[PIECES - 1]
    );
    assert!(p95 < Duration::from_millis(50), "p95 {p95:?}");
    // The disk was slow indeed: the durable copy of most pieces came much later.
    let mut lag: Vec<Duration> = (0..PIECES)
        .filter_map(|i| Some(recorded_at.get(&i)?.duration_since(sent[i]?)))
        .collect();
    lag.sort();
    assert_eq!(lag.len(), PIECES, "every piece was recorded too");
    eprintln!(
        "provider delta to viewer, recorded: p50 {:?}",
        lag[PIECES / 2]
    );
    assert!(
        lag[PIECES / 2] > Duration::from_millis(200),
        "{:?}",
        lag[PIECES / 2]
    );
    // Shown exactly once, in order.
    let shown: String = view
        .transcripts
        .values()
        .flat_map(|t| t.lines().map(|l| l.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    let expected: String = (0..PIECES).map(piece).collect();
    assert!(shown.contains(expected.trim_end()), "{shown}");
    assert_eq!(numbers(&shown), (0..PIECES).collect::<Vec<_>>());
    let (live, pieces) = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower's stream ends with the run")
        .unwrap();
    assert_eq!(live, 0, "live text sent to a records-only follower");
    assert_eq!(pieces, (0..PIECES).collect::<Vec<_>>());
    server.abort();
}
