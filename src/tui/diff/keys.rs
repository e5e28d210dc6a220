//! Keys in the diff review, from the keymap's diff layer first and the usual keys after it:
//! moves, hunks and files, the file list, comments, and the answer to the merge review.

use super::input::{CommentInput, Typed};
use super::review::{self, Verdict};
use super::view::DiffView;
use crate::protocol::Command;
use crate::tui::action::{Action, Layer};
use crate::tui::app::App;
use crate::tui::popups::Popup;
use crossterm::event::KeyEvent;

impl App {
    /// A key while the review is open; the popup that stays open after it.
    pub(in crate::tui) fn diff_key(
        &mut self,
        mut v: Box<DiffView>,
        key: KeyEvent,
    ) -> Option<Popup> {
        self.status = None;
        if let Some(input) = &mut v.input {
            match input.key(key) {
                Typed::Editing => {}
                Typed::Cancelled => v.input = None,
                Typed::Done(c) => {
                    self.say(format!(
                        "comment on {} kept; {} sends the review",
                        c.anchor(),
                        self.keymap.key_for(Action::RequestChanges)
                    ));
                    v.input = None;
                    v.add_comment(c);
                }
            }
            return Some(Popup::Diff(v));
        }
        let Some(action) = self.keymap.action_in(Layer::Diff, &key) else {
            return Some(Popup::Diff(v));
        };
        if let Some(sel) = v.files {
            self.file_list_key(&mut v, sel, action);
            return Some(Popup::Diff(v));
        }
        let page = v.page.get().max(1) as isize;
        match action {
            Action::Close | Action::Detach => {
                self.close_diff(*v);
                return None;
            }
            Action::Down => v.move_by(1),
            Action::Up => v.move_by(-1),
            Action::PageDown => v.move_by(page),
            Action::PageUp => v.move_by(-page),
            Action::Top => v.move_by(isize::MIN / 2),
            Action::Bottom => v.move_by(isize::MAX / 2),
            Action::NextHunk | Action::PrevHunk if !v.next_hunk(action == Action::NextHunk) => {
                self.say("no more hunks that way");
            }
            Action::NextFile | Action::PrevFile if !v.next_file(action == Action::NextFile) => {
                self.say("no more files that way");
            }
            Action::FileList => match v.diff() {
                Some(d) if !d.files.is_empty() => v.files = Some(v.cursor_file().unwrap_or(0)),
                _ => self.say("no files to list"),
            },
            Action::Comment => match v.comment_here() {
                Some(draft) => v.input = Some(CommentInput::new(draft, self.theme())),
                None => self.say(format!(
                    "put the cursor on a line of the diff to comment on it ({}/{} move)",
                    self.keymap.key_for(Action::Down),
                    self.keymap.key_for(Action::Up)
                )),
            },
            Action::Uncomment => match v.delete_comment() {
                Some(c) => self.say(format!("comment on {} deleted", c.anchor())),
                None => self.say("no comment on this line"),
            },
            Action::ApproveMerge => {
                let verdict = review::approve(&self.view.state, &v.task);
                self.answer_review(&mut v, verdict);
            }
            Action::RequestChanges => {
                let verdict = review::request_changes(&self.view.state, &v.task, &v.comments);
                self.answer_review(&mut v, verdict);
            }
            _ => {}
        }
        Some(Popup::Diff(v))
    }

    fn file_list_key(&mut self, v: &mut DiffView, sel: usize, action: Action) {
        let n = v.diff().map_or(0, |d| d.files.len());
        let to = |by: isize| (sel as isize + by).clamp(0, n.saturating_sub(1) as isize) as usize;
        v.files = match action {
            Action::Down => Some(to(1)),
            Action::Up => Some(to(-1)),
            Action::PageDown => Some(to(10)),
            Action::PageUp => Some(to(-10)),
            Action::Top => Some(0),
            Action::Bottom => Some(n.saturating_sub(1)),
            Action::Open => {
                v.jump_to_file(sel);
                None
            }
            Action::Close | Action::Detach | Action::FileList => None,
            _ => Some(sel),
        };
    }

    /// Sends what the verdict says, or says why nothing is sent. Comments that were sent are
    /// cleared.
    fn answer_review(&mut self, v: &mut DiffView, verdict: Verdict) {
        if !self.can_steer && !matches!(verdict, Verdict::Nothing(_)) {
            let why = self.no_steer_reason();
            self.say(why);
            return;
        }
        let n = v.comments.len();
        let comments = format!("{n} comment{}", if n == 1 { "" } else { "s" });
        match verdict {
            Verdict::Approve(approval) => {
                let unsent = if n > 0 {
                    format!("; {comments} not sent")
                } else {
                    String::new()
                };
                self.say(format!(
                    "approved the merge of {} ({approval}){unsent}",
                    v.task
                ));
                self.send(Command::Approve {
                    approval,
                    always: false,
                });
            }
            Verdict::Deny(approval, reason) => {
                self.say(format!(
                    "changes requested: the merge of {} is turned back ({approval}) with {comments}",
                    v.task
                ));
                self.send(Command::Deny { approval, reason });
                v.comments.clear();
                v.layout();
            }
            Verdict::Tell(agent, text) => {
                self.say(format!(
                    "changes requested: {comments} sent to {agent}, still at work on {}",
                    v.task
                ));
                self.send(Command::Inject {
                    target: Some(agent),
                    text,
                });
                v.comments.clear();
                v.layout();
            }
            Verdict::Nothing(why) => self.say(why),
        }
    }
}
