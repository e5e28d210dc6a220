#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The diff review of a task (`d`): it asks git off the UI loop, shows the diff with line
//! numbers, changed words and comments, and answers the task's merge review with the comments
//! as one message.

mod common;

use common::fixture::{self, NOW_MS};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use macrohard::domain::{AgentId, ApprovalId, ApprovalState, RunBranchInfo, RunState, TaskId};
use macrohard::protocol::Command;
use macrohard::tui::app::App;
use macrohard::tui::diff::{Body, parse};
use macrohard::tui::keymap::Keymap;
use macrohard::tui::popups::Popup;
use macrohard::tui::render;
use macrohard::tui::theme::{ColorDepth, Themes};
use macrohard::tui::view::View;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

/// What git would print for T2: a changed word, a new file, and a line with terminal controls.
const DIFF: &str = "\
diff --git a/todo/core.py b/todo/core.py
index 3b18e51..a9c2f4e 100644
--- a/todo/core.py
+++ b/todo/core.py
@@ -1,6 +1,7 @@ import json
 import json
 
-NEXT_ID = 0
+NEXT_ID = 1
+
 def add(items, title):
     items.append({\"id\": len(items), \"title\": title})
     return items
@@ -20,3 +21,3 @@ def save(items, path):
     with open(path, \"w\") as f:
-        json.dump(items, f)
+        json.dump(items, f, indent=2)
     return path
diff --git a/tests/test_core.py b/tests/test_core.py
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/tests/test_core.py
@@ -0,0 +1,3 @@
+import unittest
+# \u{1b}]52;c;aGk=\u{7}\u{1b}[2J sneaky
+from todo import core
";

fn app() -> App {
    let recs = fixture::records();
    let mut state = RunState::fold(&recs);
    state.branch = Some(RunBranchInfo {
        repo: "/srv/repos/todo".into(),
        branch: "macrohard/01fixture".into(),
        base: "1111111".into(),
        worktree: "/srv/runs/worktrees/01fixture".into(),
        existing: false,
    });
    let t2 = state
        .tasks
        .iter_mut()
        .find(|t| t.id == TaskId::numbered(2))
        .unwrap();
    t2.base = Some("1111111".into());
    t2.branch = Some("macrohard/01fixture-T2-1".into());
    t2.worktree = Some("/srv/runs/worktrees/01fixture-T2-1".into());
    let view = View::new(state, &recs);
    let themes = Themes::load(None, ColorDepth::TrueColor).unwrap();
    App::new(view, Keymap::default(), themes, 0, true)
}

/// The engine's merge review of T2, waiting.
fn merge_review(app: &mut App) {
    app.view.state.approvals.push(ApprovalState {
        id: ApprovalId::from("A9"),
        call: "merge-T2".into(),
        agent: AgentId::from("engineer-1"),
        task: Some(TaskId::numbered(2)),
        tool: "merge".into(),
        risk: "merges into the run branch".into(),
        summary: "merge T2 into the run branch".into(),
        label: None,
        requested_seq: 99,
        resolution: None,
        expired: false,
        expiry: None,
    });
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            c => KeyCode::Char(c),
        };
        let m = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        app.on_key(KeyEvent::new(code, m));
    }
}

/// `d` on T2 in the task graph, and the diff git makes delivered back.
fn open_t2(app: &mut App) {
    press(app, "3"); // the task graph
    app.task_sel = 1; // T2
    press(app, "d");
    let load = app.diffs.loads.pop().expect("d asks for T2's diff");
    assert_eq!(load.task, TaskId::numbered(2));
    assert_eq!(load.base, "1111111");
    assert_eq!(
        load.worktree.as_deref(),
        Some(std::path::Path::new("/srv/runs/worktrees/01fixture-T2-1"))
    );
    let Some(Popup::Diff(v)) = &app.popup else {
        panic!("the review is open");
    };
    assert_eq!(v.body, Body::Loading, "loading until git answers");
    app.on_diff_loaded(load.answer(Body::Ready(parse::parse(DIFF))));
}

fn screen(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render::draw(f, app, NOW_MS)).unwrap();
    t
}

#[test]
fn d_then_a_comment_then_r_denies_the_merge_review_with_the_comments() {
    let mut a = app();
    merge_review(&mut a);
    open_t2(&mut a);
    // The first hunk, then down to `+NEXT_ID = 1`.
    press(&mut a, "njjjj");
    press(&mut a, "c");
    press(&mut a, "start at zero, ids are 0-based\n");
    press(&mut a, "R");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::Deny {
            approval: ApprovalId::from("A9"),
            reason: "Review of T2 by a person: please change the following.\n\
                     - todo/core.py:3: start at zero, ids are 0-based\n\
                     \x20 > NEXT_ID = 1"
                .into()
        })
    );
    assert!(a.outbox.is_empty());
    let Some(Popup::Diff(v)) = &a.popup else {
        panic!("the review stays open");
    };
    assert!(v.comments.is_empty(), "sent comments are cleared");
    assert!(a.status.as_deref().unwrap().contains("changes requested"));
    // `a` approves the same review; Esc closes.
    press(&mut a, "a");
    assert_eq!(
        a.outbox.pop(),
        Some(Command::Approve {
            approval: ApprovalId::from("A9"),
            always: false
        })
    );
    press(&mut a, "\x1b");
    assert!(a.popup.is_none());
}

#[test]
fn without_a_merge_review_comments_go_to_the_working_agent() {
    let mut a = app();
    open_t2(&mut a);
    press(&mut a, "a");
    assert!(a.outbox.is_empty());
    assert!(
        a.status
            .as_deref()
            .unwrap()
            .contains("no merge review of T2"),
        "{:?}",
        a.status
    );
    press(&mut a, "R");
    assert!(a.outbox.is_empty(), "no comment, nothing sent");
    press(&mut a, "]jjjj"); // the new file's second line
    press(&mut a, "cdrop this line\n");
    press(&mut a, "R");
    let Some(Command::Inject { target, text }) = a.outbox.pop() else {
        panic!("a message to T2's agent");
    };
    assert_eq!(target, Some(AgentId::from("engineer-1")));
    assert!(
        text.starts_with("Review of T2 by a person: please change the following.\n- tests/test_core.py:2: drop this line\n  > # "),
        "{text}"
    );
}

#[test]
fn comments_are_kept_when_the_review_closes_and_x_deletes_them() {
    let mut a = app();
    open_t2(&mut a);
    press(&mut a, "njjjjcone\n");
    press(&mut a, "q");
    assert!(
        a.popup.is_none(),
        "q closes the review, not the control room"
    );
    assert!(a.quit.is_none());
    assert!(a.status.as_deref().unwrap().contains("kept, not sent"));
    open_t2(&mut a);
    let Some(Popup::Diff(v)) = &a.popup else {
        panic!()
    };
    assert_eq!(v.comments.len(), 1, "the comment came back");
    press(&mut a, "njjjjx");
    let Some(Popup::Diff(v)) = &a.popup else {
        panic!()
    };
    assert!(v.comments.is_empty());
}

#[test]
fn a_task_without_a_branch_says_why_there_is_no_diff() {
    let mut a = app();
    press(&mut a, "3jjj"); // T4 never got a branch
    press(&mut a, "d");
    assert!(
        a.diffs.loads.is_empty(),
        "no git for a task with nothing to compare"
    );
    let Some(Popup::Diff(v)) = &a.popup else {
        panic!()
    };
    let Body::Failed(why) = &v.body else {
        panic!("{:?}", v.body)
    };
    assert!(why.contains("T4 has no branch yet"), "{why}");
    press(&mut a, "\x1b");
    // From the task's detail, `d` opens the review too.
    press(&mut a, "kk\nd"); // T2
    assert!(matches!(a.popup, Some(Popup::Diff(_))));
    assert_eq!(a.diffs.loads.len(), 1);
}

#[test]
fn a_late_answer_for_a_closed_review_is_dropped() {
    let mut a = app();
    press(&mut a, "3jd");
    let old = a.diffs.loads.pop().unwrap();
    press(&mut a, "\x1bd");
    a.on_diff_loaded(old.answer(Body::Failed("stale".into())));
    let Some(Popup::Diff(v)) = &a.popup else {
        panic!()
    };
    assert_eq!(v.body, Body::Loading);
}

#[test]
fn the_review_screen() {
    let mut a = app();
    merge_review(&mut a);
    open_t2(&mut a);
    press(&mut a, "njjjjcstart at zero\n");
    press(&mut a, "nj");
    let t = screen(&a, 100, 30);
    insta::assert_snapshot!("diff_review", t.backend().to_string());
    // The changed word is reversed on both sides; the controls are visible marks.
    let buf = t.backend().buffer();
    let text = t.backend().to_string();
    assert!(!text.contains('\u{1b}') && text.contains("␛]52;c;aGk=␇␛[2J"));
    let cells = |y: u16| -> Vec<String> {
        (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_owned())
            .collect()
    };
    let row = (0..buf.area.height)
        .find(|y| cells(*y).concat().contains("+NEXT_ID = 1"))
        .unwrap();
    let col = cells(row).iter().rposition(|c| c == "1").unwrap() as u16;
    assert!(buf[(col, row)].modifier.contains(Modifier::REVERSED));
    assert!(!buf[(col - 2, row)].modifier.contains(Modifier::REVERSED));
    // The file list.
    press(&mut a, "f");
    let t = screen(&a, 100, 30);
    insta::assert_snapshot!("diff_review_files", t.backend().to_string());
    press(&mut a, "j\n");
    let Some(Popup::Diff(v)) = &a.popup else {
        panic!()
    };
    assert!(v.files.is_none());
    assert_eq!(v.cursor_file(), Some(1), "Enter jumps to the file");
}

/// A session on a fixed state whose event stream stays open; commands are taken.
struct Fixed {
    state: RunState,
    backlog: Vec<macrohard::domain::EventRecord>,
    events: tokio::sync::broadcast::Sender<macrohard::protocol::Feed>,
}

impl macrohard::session::Session for Fixed {
    async fn attach(&self, _backlog: u64) -> Option<macrohard::session::Attached> {
        Some(macrohard::session::Attached {
            backlog: self.backlog.clone(),
            state: self.state.clone(),
            events: Some(self.events.subscribe()),
        })
    }
    async fn send(&self, _command: Command) -> Result<(), String> {
        Ok(())
    }
    async fn detach(&self) {}
    fn can_steer(&self) -> bool {
        true
    }
}

/// A test backend that keeps the text of the last frame where the test can read it.
struct Shown {
    inner: TestBackend,
    screen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ratatui::backend::Backend for Shown {
    type Error = <TestBackend as ratatui::backend::Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a ratatui::buffer::Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<ratatui::layout::Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<ratatui::layout::Position>>(
        &mut self,
        position: P,
    ) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ratatui::backend::ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<ratatui::layout::Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<ratatui::backend::WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
}

impl macrohard::tui::terminal::FrameSink for Shown {
    fn end_frame(&mut self) {
        *self.screen.lock().unwrap() = self.inner.to_string();
    }
}

use common::git::git;

/// A repository in `dir` with one commit of `core.py` on `main`; its path and that commit.
fn repo_with_base(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("core.py"), "NEXT_ID = 0\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let base = git(&repo, &["rev-parse", "HEAD"]);
    (repo, base)
}

#[tokio::test]
async fn the_loop_makes_the_diff_with_git_off_the_ui_thread_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, base) = repo_with_base(dir.path());
    let wt = dir.path().join("wt");
    git(
        &repo,
        &["worktree", "add", "-q", "-b", "t2", wt.to_str().unwrap()],
    );
    std::fs::write(wt.join("core.py"), "NEXT_ID = 1\n").unwrap();
    std::fs::write(wt.join("untracked_new.py"), "print('new')\n").unwrap();

    let recs = fixture::records();
    let mut state = RunState::fold(&recs);
    state.branch = Some(RunBranchInfo {
        repo: repo.display().to_string(),
        branch: "macrohard/x".into(),
        base: base.clone(),
        worktree: wt.display().to_string(),
        existing: false,
    });
    let t2 = &mut state.tasks[1];
    t2.base = Some(base);
    t2.worktree = Some(wt.display().to_string());
    let (events, _) = tokio::sync::broadcast::channel(16);
    let session = Fixed {
        state,
        backlog: recs,
        events,
    };
    let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut terminal = Terminal::new(Shown {
        inner: TestBackend::new(100, 30),
        screen: screen.clone(),
    })
    .unwrap();
    let (keys, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let input = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let opts = macrohard::tui::Options {
        fps: 30,
        keymap: Keymap::default(),
        themes: Themes::load(None, ColorDepth::Ansi16).unwrap(),
        theme: 0,
        signals: false,
    };
    let person = async {
        for c in "3jd".chars() {
            keys.send(Ok(crossterm::event::Event::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            ))))
            .unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let shown = screen.lock().unwrap().clone();
            if shown.contains("+NEXT_ID = 1") && shown.contains("untracked_new.py") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the diff never showed:\n{shown}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        drop(keys);
    };
    let (ran, ()) = tokio::join!(
        macrohard::tui::run(&mut terminal, &session, input, opts),
        person
    );
    let (_, app) = ran.unwrap();
    let Some(Popup::Diff(v)) = &app.popup else {
        panic!("the review is open")
    };
    assert_eq!(v.diff().unwrap().files.len(), 2);
}

/// A cancelled task's worktree is retired and what it left committed to its branch: `d`
/// compares its base with that branch.
#[test]
fn a_retired_worktree_is_reviewed_from_its_branch() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, base) = repo_with_base(dir.path());
    git(&repo, &["checkout", "-q", "-b", "macrohard/x-T2-1"]);
    std::fs::write(repo.join("left.py"), "half done\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "attempt 1 (cancelled)"]);
    git(&repo, &["checkout", "-q", "main"]);

    let recs = fixture::records();
    let mut state = RunState::fold(&recs);
    state.branch = Some(RunBranchInfo {
        repo: repo.display().to_string(),
        branch: "macrohard/x".into(),
        base: base.clone(),
        worktree: dir.path().join("run").display().to_string(),
        existing: false,
    });
    let t2 = &mut state.tasks[1];
    t2.base = Some(base);
    t2.branch = Some("macrohard/x-T2-1".into());
    t2.worktree = None;
    t2.commit = None;
    let view = View::new(state, &recs);
    let themes = Themes::load(None, ColorDepth::TrueColor).unwrap();
    let mut a = App::new(view, Keymap::default(), themes, 0, true);
    press(&mut a, "3jd");
    let load = a.diffs.loads.pop().expect("git is asked");
    let Body::Ready(diff) = load.run().body else {
        panic!("no diff")
    };
    let files: Vec<_> = diff
        .files
        .iter()
        .filter_map(|f| f.new_path.clone())
        .collect();
    assert_eq!(files, vec!["left.py"]);
}
