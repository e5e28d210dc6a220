//! A loopback HTTP server that replays scripted model responses, byte for byte.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone)]
pub enum Reply {
    /// 200 with an SSE body sent in these chunks (chunked encoding).
    Sse(Vec<String>),
    /// 200, these chunks, then the connection is dropped mid-body.
    Cut(Vec<String>),
    /// An error status with headers and a JSON body.
    Status(u16, Vec<(String, String)>, String),
    /// 200 and these chunks with a pause between them, watching for the client to hang up.
    Slow(Vec<String>, std::time::Duration),
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub head: String,
    pub body: String,
}

pub struct Server {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// When a client hung up in the middle of a `Slow` reply.
    pub hung_up: Arc<Mutex<Vec<Instant>>>,
}

/// Serves `replies` in order (the last one repeats) from a script function of the request
/// number and body.
pub async fn start(script: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let script = Arc::new(script);
    let seen2 = seen.clone();
    let hung_up: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let hung_up2 = hung_up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let seen = seen2.clone();
            let hung_up = hung_up2.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                let (head, body) = loop {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..p]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        while buf.len() < p + 4 + len {
                            let n = sock.read(&mut tmp).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&tmp[..n]);
                        }
                        break (head, String::from_utf8_lossy(&buf[p + 4..]).to_string());
                    }
                };
                let n = {
                    let mut s = seen.lock().unwrap();
                    s.push(Seen {
                        at: Instant::now(),
                        head,
                        body: body.clone(),
                    });
                    s.len() - 1
                };
                match script(n, &body) {
                    Reply::Status(code, headers, body) => {
                        let mut r = format!(
                            "HTTP/1.1 {code} Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            r.push_str(&format!("{k}: {v}\r\n"));
                        }
                        r.push_str("\r\n");
                        r.push_str(&body);
                        let _ = sock.write_all(r.as_bytes()).await;
                    }
                    Reply::Slow(chunks, gap) => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                        let _ = sock.write_all(head.as_bytes()).await;
                        for c in chunks {
                            let _ = sock
                                .write_all(format!("{:x}\r\n{c}\r\n", c.len()).as_bytes())
                                .await;
                            let _ = sock.flush().await;
                            tokio::select! {
                                () = tokio::time::sleep(gap) => {}
                                n = sock.read(&mut tmp) => if n.unwrap_or(0) == 0 {
                                    hung_up.lock().unwrap().push(Instant::now());
                                    return;
                                }
                            }
                        }
                        let _ = sock.write_all(b"0\r\n\r\n").await;
                    }
                    reply => {
                        let (chunks, cut) = match reply {
                            Reply::Sse(c) => (c, false),
                            Reply::Cut(c) => (c, true),
                            Reply::Status(..) | Reply::Slow(..) => unreachable!(),
                        };
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                        let _ = sock.write_all(head.as_bytes()).await;
                        for c in chunks {
                            let _ = sock
                                .write_all(format!("{:x}\r\n{c}\r\n", c.len()).as_bytes())
                                .await;
                            let _ = sock.flush().await;
                            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        }
                        if cut {
                            let _ = sock.write_all(b"40\r\ndata: {\"partial").await;
                            return; // dropped without the final chunk
                        }
                        let _ = sock.write_all(b"0\r\n\r\n").await;
                    }
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    Server { url, seen, hung_up }
}

/// One OpenAI chunk line with `delta`.
pub fn oa(delta: &str, finish: Option<&str>) -> String {
    let f = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{f}}}]}}\n\n"
    )
}

pub fn oa_usage(input: u64, output: u64) -> String {
    format!(
        "data: {{\"id\":\"c\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{input},\"completion_tokens\":{output},\"total_tokens\":{}}}}}\n\n",
        input + output
    )
}

pub const DONE: &str = "data: [DONE]\n\n";

/// One Anthropic event.
pub fn an(event: &str, data: &str) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// A company run in this process against a provider (usually one speaking to a [`Server`]),
/// in `dir`, on a workspace holding `files`, every approval granted. The test decides when it
/// has seen enough and calls [`Company::stop`].
pub struct Company {
    pub engine: macrohard::engine::Engine,
    pub workspace: std::path::PathBuf,
    pub store: macrohard::store::Store,
}

/// The person of these runs.
pub fn person() -> macrohard::domain::Actor {
    macrohard::domain::Actor::Human {
        user: "tester".into(),
        host: Some("lab".into()),
        auto: false,
    }
}

pub async fn company(
    dir: &std::path::Path,
    provider: impl Into<macrohard::llm::Providers>,
    goal: &str,
    files: &[(&str, &str)],
    tweak: impl FnOnce(&mut macrohard::engine::EngineConfig),
) -> Company {
    use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
    let workspace = dir.join("ws");
    std::fs::create_dir_all(&workspace).unwrap();
    for (path, text) in files {
        let p = workspace.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let store = macrohard::store::Store::open(&dir.join("store")).unwrap();
    let mut config = EngineConfig::new(Roster::embedded().unwrap(), dir.join("wss"));
    config.auto_approve = Some(person());
    config.step_retries = 0;
    tweak(&mut config);
    let new = NewRun {
        goal: goal.into(),
        workspace: Some(workspace.clone()),
        seed: 7,
        by: person(),
    };
    let engine = engine::start(store.clone(), provider, config, RunTarget::New(new))
        .await
        .unwrap();
    Company {
        engine,
        workspace,
        store,
    }
}

impl Company {
    /// Waits (up to 30 s) until `server` has seen `n` requests.
    pub async fn wait_requests(&self, server: &Server, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let seen = server.seen.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} requests came within 30 s",
                seen.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Stops the engine and returns the run's events.
    pub async fn stop(self) -> Vec<macrohard::domain::Event> {
        self.engine.handle.shutdown().await;
        let state = tokio::time::timeout(std::time::Duration::from_secs(30), self.engine.join)
            .await
            .expect("the engine stops within 30 s")
            .unwrap()
            .unwrap();
        self.store
            .events(state.id().unwrap(), 1)
            .unwrap()
            .map(|r| r.unwrap().event)
            .collect()
    }
}
