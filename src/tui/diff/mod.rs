//! The diff review of a task (`d`): what its branch changed against the run branch it started
//! from, file by file and hunk by hunk, with word-level marks, line comments, and the answer to
//! its merge review (approve, or request changes with the comments as one message).
//!
//! Invariants: git never runs on the UI loop: opening a review queues a [`Load`] that the loop
//! runs on a blocking thread and hands back as [`Loaded`]; an answer for a review that is no
//! longer open is dropped. Every text of the diff is sanitised as it is drawn, and only the
//! rows on screen are drawn. Comments of a closed review are kept for its next opening until
//! they are sent.

pub mod input;
mod keys;
pub mod parse;
pub mod render;
pub mod review;
pub mod view;
pub mod words;

pub use view::{Body, DiffView, Row};

use super::app::App;
use super::popups::Popup;
use crate::domain::TaskId;
use review::Comment;
use std::collections::HashMap;
use std::path::PathBuf;

/// What the control room keeps of reviews between frames.
#[derive(Debug, Default)]
pub struct Reviews {
    /// Diffs to make, for the loop to run off the UI thread.
    pub loads: Vec<Load>,
    seq: u64,
    /// Comments of closed reviews, not yet sent.
    drafts: HashMap<TaskId, Vec<Comment>>,
}

/// A diff to make: `task_diff`'s arguments, and which review asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub seq: u64,
    pub task: TaskId,
    pub repo: PathBuf,
    pub worktree: Option<PathBuf>,
    pub base: String,
    pub tip: Option<String>,
}

/// A diff made, for the review that asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub seq: u64,
    pub task: TaskId,
    pub body: Body,
}

impl Load {
    /// Runs git and parses its diff: blocking, never on the UI loop.
    pub fn run(self) -> Loaded {
        let text = crate::tools::git::diff::task_diff(
            &self.repo,
            self.worktree.as_deref(),
            &self.base,
            self.tip.as_deref(),
        );
        self.answer(match text {
            Ok(text) => Body::Ready(parse::parse(&text)),
            Err(e) => Body::Failed(format!("git could not make the diff: {e}")),
        })
    }

    /// This load's answer with `body`.
    pub fn answer(&self, body: Body) -> Loaded {
        Loaded {
            seq: self.seq,
            task: self.task.clone(),
            body,
        }
    }
}

impl App {
    /// Opens the review of `task`: the diff is asked of git (off the UI loop) unless the task
    /// has nothing to compare, which the review then says.
    pub fn open_diff(&mut self, task: TaskId) {
        self.diffs.seq += 1;
        let seq = self.diffs.seq;
        let comments = self.diffs.drafts.remove(&task).unwrap_or_default();
        let body = match self.diff_load(&task, seq) {
            Ok(load) => {
                self.diffs.loads.push(load);
                Body::Loading
            }
            Err(why) => Body::Failed(why),
        };
        self.popup = Some(Popup::Diff(Box::new(DiffView::new(
            task, seq, body, comments,
        ))));
        self.dirty = true;
    }

    /// What git is to compare for `task`, or why there is nothing.
    fn diff_load(&self, task: &TaskId, seq: u64) -> Result<Load, String> {
        let s = &self.view.state;
        let t = s
            .task(task)
            .ok_or_else(|| format!("{task} is not a task of this run"))?;
        let Some(run) = &s.branch else {
            return Err(
                "this run does not work on branches (it was made before them, or its \
                 workspace is not a git repository), so there is no diff to review; the task's \
                 detail lists the files it changed"
                    .into(),
            );
        };
        let Some(base) = t.base.clone() else {
            return Err(format!(
                "{task} has no branch yet ({}): a task gets one when its work starts",
                t.status
            ));
        };
        // A cancelled task's worktree is retired: what it left is the tip of its branch.
        let tip = t
            .commit
            .clone()
            .or_else(|| t.branch.as_ref().map(|b| format!("refs/heads/{b}")));
        if t.worktree.is_none() && tip.is_none() {
            return Err(format!(
                "{task}'s worktree is gone and its branch has no commit: nothing to compare"
            ));
        }
        Ok(Load {
            seq,
            task: task.clone(),
            repo: PathBuf::from(&run.repo),
            worktree: t.worktree.as_ref().map(PathBuf::from),
            base,
            tip,
        })
    }

    /// A diff made for a review: shown if that review is still the one open.
    pub fn on_diff_loaded(&mut self, loaded: Loaded) {
        if let Some(Popup::Diff(v)) = &mut self.popup
            && v.seq == loaded.seq
            && v.task == loaded.task
        {
            v.set_body(loaded.body);
            self.dirty = true;
        }
    }

    /// Closes the review, keeping its unsent comments for the next time it opens.
    pub(super) fn close_diff(&mut self, v: DiffView) {
        if !v.comments.is_empty() {
            self.say(format!(
                "{} comment{} on {} kept, not sent",
                v.comments.len(),
                if v.comments.len() == 1 { "" } else { "s" },
                v.task
            ));
            self.diffs.drafts.insert(v.task, v.comments);
        }
    }
}
