#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real control-room loop (`tui::run`) on the simulated company, on paused tokio time, with
//! a channel for the keyboard and a test backend that notes when each frame is drawn.

mod common;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use macrohard::domain::Actor;
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::sim::{SimProvider, SimSpeed};
use macrohard::session::{InProcess, Session};
use macrohard::store::Store;
use macrohard::tui::keymap::Keymap;
use macrohard::tui::terminal::FrameSink;
use macrohard::tui::theme::{ColorDepth, Themes};
use macrohard::tui::{self, Ending, Options};
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the loop drew: when each frame ended, and the last one's header and whole screen.
#[derive(Default)]
struct Frames {
    at: Vec<Instant>,
    header: String,
    screen: String,
}

/// A test backend that records its frames.
struct Recording {
    inner: TestBackend,
    frames: Arc<Mutex<Frames>>,
}

impl Backend for Recording {
    type Error = <TestBackend as Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
}

impl FrameSink for Recording {
    fn end_frame(&mut self) {
        let buf = self.inner.buffer();
        let mut screen = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                screen.push_str(buf[(x, y)].symbol());
            }
            screen.push('\n');
        }
        let mut f = self.frames.lock().unwrap();
        f.at.push(Instant::now());
        f.header = screen.lines().next().unwrap_or_default().to_owned();
        f.screen = screen;
    }
}

fn key(c: char) -> std::io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

fn person() -> Actor {
    Actor::Human {
        user: "tester".into(),
        host: None,
        auto: false,
    }
}

/// Waits until `pred` holds for the frames, at most `limit` of real time. Paused time jumps
/// ahead whenever the runtime is idle, also while the loop's work runs on a blocking thread
/// (a slow CI machine): a deadline in paused time passed before the first frame was drawn.
async fn until(
    frames: &Arc<Mutex<Frames>>,
    what: &str,
    limit: Duration,
    pred: impl Fn(&Frames) -> bool,
) {
    let deadline = std::time::Instant::now() + limit;
    while !pred(&frames.lock().unwrap()) {
        assert!(
            std::time::Instant::now() < deadline,
            "waited {limit:?} for {what}; the header shows {:?}",
            frames.lock().unwrap().header
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_loop_pauses_on_space_never_redraws_an_idle_screen_and_holds_the_frame_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("ws"));
    let provider = Arc::new(SimProvider::new(SimSpeed(1.0), None));
    let new = NewRun {
        goal: "Build a command-line todo app".into(),
        workspace: None,
        seed: 7,
        by: person(),
    };
    let engine = engine::start(store, provider, config, RunTarget::New(new))
        .await
        .unwrap();
    let session = InProcess::new(engine.handle.clone(), person());

    let (keys, mut rx) = mpsc::unbounded_channel::<std::io::Result<TermEvent>>();
    let input = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let frames = Arc::new(Mutex::new(Frames::default()));
    let mut terminal = ratatui::Terminal::new(Recording {
        inner: TestBackend::new(120, 40),
        frames: frames.clone(),
    })
    .unwrap();
    const FPS: u32 = 30;
    let cap = Duration::from_secs(1) / FPS;
    let opts = Options {
        fps: FPS,
        keymap: Keymap::default(),
        themes: Themes::load(None, ColorDepth::Ansi16).unwrap(),
        theme: 0,
        signals: false,
    };

    let person_at_the_keys = async {
        until(&frames, "the run to start", Duration::from_secs(60), |f| {
            f.header.contains("RUNNING")
        })
        .await;
        keys.send(key(' ')).unwrap();
        until(&frames, "PAUSED", Duration::from_secs(10), |f| {
            f.header.contains("PAUSED")
        })
        .await;
        // Whatever the pause left to finish settles; then the screen is idle.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = frames.lock().unwrap().at.len();
        tokio::time::sleep(Duration::from_secs(30)).await;
        let after = frames.lock().unwrap().at.len();
        assert_eq!(before, after, "an idle screen is never redrawn");
        // Keys pressed right after a frame are drawn within the key gap, not at the next slot.
        for c in "jkjkjk".chars() {
            keys.send(key(c)).unwrap();
            tokio::time::sleep(Duration::from_millis(7)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            frames.lock().unwrap().at.len() > after,
            "the keys were drawn"
        );
        // Two spaces in one round trip: the engine resumes, then pauses again, whatever the
        // (still paused) view showed when the second was pressed.
        let (_, mut seen) = engine.handle.subscribe().await.unwrap();
        keys.send(key(' ')).unwrap();
        keys.send(key(' ')).unwrap();
        // The engine writes durably on threads of its own: wait for what it records, not for
        // a span of this paused clock.
        let mut statuses = Vec::new();
        while statuses.len() < 2 {
            let rec = tokio::time::timeout(Duration::from_secs(600), seen.recv())
                .await
                .expect("the engine answers both toggles")
                .unwrap();
            if let macrohard::domain::Event::RunStatusChanged { status, .. } = rec.event {
                statuses.push(status.to_string());
            }
        }
        let shown = frames.lock().unwrap().screen.clone();
        assert_eq!(
            statuses,
            ["running", "paused"],
            "resumed, then paused again; the screen:\n{shown}"
        );
        until(&frames, "PAUSED again", Duration::from_secs(10), |f| {
            f.header.contains("PAUSED")
        })
        .await;
        keys.send(key('q')).unwrap();
    };
    let (ended, ()) = tokio::join!(
        tui::run(&mut terminal, &session, input, opts),
        person_at_the_keys
    );
    let (ending, app) = ended.unwrap();
    assert_eq!(ending, Ending::Detached);
    assert_eq!(app.view.state.status.to_string(), "paused");
    let at = frames.lock().unwrap().at.clone();
    assert!(at.len() > 3, "frames were drawn: {}", at.len());
    let mut quick = 0;
    for w in at.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= tui::KEY_GAP,
            "two frames {gap:?} apart, closer than the key gap"
        );
        quick += usize::from(gap < cap);
    }
    // Only the frames of the keys come sooner than the cap (six keys 7 ms apart, then two
    // spaces and q); streamed text never does.
    assert!(quick <= 9, "{quick} frames sooner than the cap of {cap:?}");
    session.detach().await;
}

/// A session whose commands are never answered: a hung server.
struct Hung(InProcess);

impl Session for Hung {
    async fn attach(&self, backlog: u64) -> Option<macrohard::session::Attached> {
        self.0.attach(backlog).await
    }
    async fn send(&self, _command: macrohard::protocol::Command) -> Result<(), String> {
        std::future::pending().await
    }
    async fn detach(&self) {
        self.0.detach().await;
    }
    fn can_steer(&self) -> bool {
        true
    }
}

#[tokio::test(start_paused = true)]
async fn keys_never_wait_for_a_command_a_hung_server_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("ws"));
    let provider = Arc::new(SimProvider::new(SimSpeed(1.0), None));
    let new = NewRun {
        goal: "Build a command-line todo app".into(),
        workspace: None,
        seed: 7,
        by: person(),
    };
    let engine = engine::start(store, provider, config, RunTarget::New(new))
        .await
        .unwrap();
    let session = Hung(InProcess::new(engine.handle.clone(), person()));
    let (keys, mut rx) = mpsc::unbounded_channel::<std::io::Result<TermEvent>>();
    let input = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let frames = Arc::new(Mutex::new(Frames::default()));
    let mut terminal = ratatui::Terminal::new(Recording {
        inner: TestBackend::new(120, 40),
        frames: frames.clone(),
    })
    .unwrap();
    let opts = Options {
        fps: 30,
        keymap: Keymap::default(),
        themes: Themes::load(None, ColorDepth::Ansi16).unwrap(),
        theme: 0,
        signals: false,
    };
    let person_at_the_keys = async {
        until(&frames, "the control room", Duration::from_secs(60), |f| {
            f.screen.contains("1 Agents")
        })
        .await;
        // Space goes to a server that never answers; the next key acts at once all the same.
        keys.send(key(' ')).unwrap();
        keys.send(key('?')).unwrap();
        until(&frames, "the help", Duration::from_secs(1), |f| {
            f.screen.contains("Help ·")
        })
        .await;
        keys.send(Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Esc,
            KeyModifiers::NONE,
        ))))
        .unwrap();
        keys.send(key('q')).unwrap();
    };
    let (ended, ()) = tokio::time::timeout(Duration::from_secs(120), async {
        tokio::join!(
            tui::run(&mut terminal, &session, input, opts),
            person_at_the_keys
        )
    })
    .await
    .expect("the control room never waits for the engine's answer");
    let (ending, _) = ended.unwrap();
    assert_eq!(ending, Ending::Detached);
    session.detach().await;
}
