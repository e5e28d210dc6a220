//! A fixed Markdown answer of [`ANSWER_BYTES`] and a loopback OpenAI-compatible server that
//! streams it, for the live-stream harness.
//!
//! The answer has headings, paragraphs with emphasis and inline code, lists, a quote and two
//! fenced code blocks, with a marker `⟨0123⟩` every [`MARKER_EVERY`] bytes or so (at a word's
//! start in prose, on a comment line of its own in code), so a harness can tell when each part
//! of it reaches a screen.
//!
//! The supervisor's first request waits until the harness says go (its control room is on
//! screen and attached) and gets a `list_files` call; the second gets the answer, [`PAUSE`]
//! later, in deltas of about [`DELTA_BYTES`] (split on characters) at [`BYTES_PER_SEC`], then a
//! `finish_run` call; every later request gets `finish_run` at once. (The answer is not the
//! first request, which may start before a control room attaches to its server: the usual
//! cases measure a viewer that sees the answer from its start; `LIVE_JOIN` measures one that
//! attaches while it streams.) The server records
//! when the delta that completes each marker was written to the socket.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Size of the answer, as in the side-by-side measurement the issue cites.
pub const ANSWER_BYTES: usize = 30_700;
/// Bytes between two markers.
pub const MARKER_EVERY: usize = 200;
/// Bytes per delta (about a token).
pub const DELTA_BYTES: usize = 4;
/// The pace of the stream: 2 KB/s, ~500 deltas a second.
pub const BYTES_PER_SEC: f64 = 2_000.0;
/// From the answer's request to its first delta: time for a harness to take its baselines.
pub const PAUSE: Duration = Duration::from_millis(500);

pub fn marker(n: usize) -> String {
    format!("⟨{n:04}⟩")
}

/// The marker numbers on a screen (or in any text).
pub fn markers_in(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.split('⟨').skip(1).filter_map(|p| {
        let (num, _) = p.split_once('⟩')?;
        if num.len() == 4 {
            num.parse().ok()
        } else {
            None
        }
    })
}

const WORDS: &[&str] = &[
    "the",
    "store",
    "flushes",
    "a",
    "batch",
    "of",
    "events",
    "before",
    "it",
    "acknowledges",
    "them",
    "and",
    "every",
    "viewer",
    "folds",
    "same",
    "log",
    "into",
    "its",
    "state",
    "so",
    "what",
    "screen",
    "shows",
    "is",
    "what",
    "disk",
    "holds",
    "while",
    "an",
    "agent",
    "streams",
    "text",
    "queue",
    "merges",
    "one",
    "task",
    "at",
    "time",
    "with",
    "check",
    "on",
    "result",
    "**durable**",
    "*live*",
    "`append()`",
    "`fold`",
    "latency",
    "budget",
    "frame",
    "cap",
];

const RUST: &[&str] = &[
    "use std::collections::HashMap;",
    "",
    "/// Events by agent, newest last.",
    "pub struct Log {",
    "    by_agent: HashMap<String, Vec<u64>>,",
    "}",
    "",
    "impl Log {",
    "    pub fn push(&mut self, agent: &str, seq: u64) {",
    "        self.by_agent",
    "            .entry(agent.to_owned())",
    "            .or_default()",
    "            .push(seq);",
    "    }",
    "",
    "    pub fn last(&self, agent: &str) -> Option<u64> {",
    "        self.by_agent.get(agent)?.last().copied()",
    "    }",
    "}",
];

const PYTHON: &[&str] = &[
    "import json",
    "from pathlib import Path",
    "",
    "def load(path: Path) -> list[dict]:",
    "    \"\"\"Read the saved tasks.\"\"\"",
    "    if not path.exists():",
    "        return []",
    "    return json.loads(path.read_text())",
    "",
    "def save(path: Path, tasks: list[dict]) -> None:",
    "    tmp = path.with_suffix('.tmp')",
    "    tmp.write_text(json.dumps(tasks, indent=2))",
    "    tmp.replace(path)",
];

/// Builds the answer, placing markers as it goes.
struct Writer {
    out: String,
    since: usize,
    next: usize,
    rng: fastrand::Rng,
}

impl Writer {
    fn due(&self) -> bool {
        self.out.len() - self.since >= MARKER_EVERY
    }

    fn mark(&mut self) {
        self.since = self.out.len();
        let m = marker(self.next);
        self.out.push_str(&m);
        self.next += 1;
    }

    /// `n` words of prose, a marker before a word whenever one is due.
    fn words(&mut self, n: usize) {
        for i in 0..n {
            if i > 0 {
                self.out.push(' ');
            }
            if self.due() {
                self.mark();
                self.out.push(' ');
            }
            let w = WORDS[self.rng.usize(..WORDS.len())];
            self.out.push_str(w);
        }
    }

    fn line(&mut self, prefix: &str, words: usize, end: &str) {
        self.out.push_str(prefix);
        self.words(words);
        self.out.push_str(end);
        self.out.push('\n');
    }

    fn code(&mut self, lang: &str, comment: &str, lines: &[&str]) {
        self.out.push_str(&format!("```{lang}\n"));
        for l in lines {
            if self.due() {
                self.out.push_str(comment);
                self.out.push(' ');
                self.mark();
                self.out.push('\n');
            }
            self.out.push_str(l);
            self.out.push('\n');
        }
        self.out.push_str("```\n\n");
    }
}

/// The answer: the same text every time.
pub fn answer() -> String {
    let mut w = Writer {
        out: String::new(),
        since: 0,
        next: 0,
        rng: fastrand::Rng::with_seed(30_700),
    };
    w.out.push_str("# ");
    w.mark();
    w.out.push_str(" How the run keeps its record\n\n");
    let mut section = 0;
    while w.out.len() < ANSWER_BYTES - 600 {
        section += 1;
        w.line("## ", 4, "");
        w.out.push('\n');
        let words = 60 + w.rng.usize(..40);
        w.line("", words, ".");
        w.out.push('\n');
        for _ in 0..3 + w.rng.usize(..3) {
            let words = 8 + w.rng.usize(..10);
            w.line("- ", words, "");
        }
        w.out.push('\n');
        match section {
            2 => w.code("rust", "//", RUST),
            5 => w.code("python", "#", PYTHON),
            _ if section % 3 == 0 => {
                w.line("> ", 25, ".");
                w.out.push('\n');
            }
            _ => {}
        }
    }
    while w.out.len() < ANSWER_BYTES - 20 {
        w.line("", 6, ".");
    }
    w.mark();
    w.out.push_str(" Done.\n");
    w.out
}

/// The server and what it saw and sent.
pub struct Server {
    /// The `/v1` base URL to give the binary.
    pub url: String,
    /// Chat requests received.
    pub requests: Arc<AtomicUsize>,
    /// Set by the harness: the answer may start.
    pub go: Arc<AtomicBool>,
    /// When each marker's last byte was written, by marker number.
    pub sent: Arc<Mutex<Vec<Option<Instant>>>>,
    /// When the first and the last delta of the answer were written.
    pub span: Arc<Mutex<(Option<Instant>, Option<Instant>)>>,
}

pub fn start(answer: Arc<String>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds a loopback port");
    let url = format!(
        "http://{}/v1",
        listener.local_addr().expect("has an address")
    );
    let markers = markers_in(&answer).count();
    let server = Server {
        url,
        requests: Arc::default(),
        go: Arc::default(),
        sent: Arc::new(Mutex::new(vec![None; markers])),
        span: Arc::default(),
    };
    let shared = Shared {
        requests: server.requests.clone(),
        go: server.go.clone(),
        sent: server.sent.clone(),
        span: server.span.clone(),
        answer,
    };
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let _ = serve(sock, &shared);
            });
        }
    });
    server
}

#[derive(Clone)]
struct Shared {
    requests: Arc<AtomicUsize>,
    go: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<Option<Instant>>>>,
    span: Arc<Mutex<(Option<Instant>, Option<Instant>)>>,
    answer: Arc<String>,
}

/// One connection: requests one after another (keep-alive) until the client closes.
fn serve(sock: TcpStream, shared: &Shared) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut reader = BufReader::new(sock.try_clone()?);
    let mut out = sock;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            head.push_str(&line);
        }
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0usize);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        if !head.starts_with("POST") || !head.contains("/chat/completions") {
            let models = r#"{"object":"list","data":[{"id":"bench-1","object":"model"}]}"#;
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{models}",
                models.len()
            )?;
            continue;
        }
        let n = shared.requests.fetch_add(1, Ordering::SeqCst);
        out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")?;
        match n {
            0 => {
                while !shared.go.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                call(&mut out, "list_files", "{}")?;
            }
            1 => {
                std::thread::sleep(PAUSE);
                stream_answer(&mut out, shared)?;
                call(
                    &mut out,
                    "finish_run",
                    "{\"summary\":\"Explained the record.\"}",
                )?;
            }
            _ => call(
                &mut out,
                "finish_run",
                "{\"summary\":\"Explained the record.\"}",
            )?,
        }
    }
}

fn chunk(out: &mut TcpStream, data: &str) -> std::io::Result<()> {
    write!(out, "{:x}\r\n{data}\r\n", data.len())?;
    out.flush()
}

fn delta(json: serde_json::Value) -> String {
    let c = serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
        "model": "bench-1", "choices": [json],
    });
    format!("data: {c}\n\n")
}

fn stream_answer(out: &mut TcpStream, shared: &Shared) -> std::io::Result<()> {
    let text = shared.answer.as_str();
    // Where each marker ends, in bytes.
    let ends: Vec<usize> = text.match_indices('⟩').map(|(i, m)| i + m.len()).collect();
    let t0 = Instant::now();
    shared.span.lock().expect("not poisoned").0 = Some(t0);
    let (mut at, mut next_marker) = (0, 0);
    while at < text.len() {
        let mut end = (at + DELTA_BYTES).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let due = t0 + Duration::from_secs_f64(at as f64 / BYTES_PER_SEC);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let piece = serde_json::json!({"index": 0, "delta": {"content": &text[at..end]}, "finish_reason": null});
        chunk(out, &delta(piece))?;
        let now = Instant::now();
        while next_marker < ends.len() && ends[next_marker] <= end {
            if let Some(slot) = shared
                .sent
                .lock()
                .expect("not poisoned")
                .get_mut(next_marker)
            {
                *slot = Some(now);
            }
            next_marker += 1;
        }
        at = end;
    }
    shared.span.lock().expect("not poisoned").1 = Some(Instant::now());
    Ok(())
}

/// A call of `tool` with `arguments` (JSON) and the end of the stream.
fn call(out: &mut TcpStream, tool: &str, arguments: &str) -> std::io::Result<()> {
    let call = serde_json::json!({"index": 0, "delta": {"tool_calls": [{
        "index": 0, "id": format!("call_{tool}"), "type": "function",
        "function": {"name": tool, "arguments": arguments},
    }]}, "finish_reason": null});
    chunk(out, &delta(call))?;
    chunk(
        out,
        &delta(serde_json::json!({"index": 0, "delta": {}, "finish_reason": "tool_calls"})),
    )?;
    chunk(out, "data: [DONE]\n\n")?;
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}
