//! The state of one open diff review: the parsed diff laid out as rows, the cursor, the
//! comments, and the file list and comment input when they are open. Moves are pure; the
//! screen's height is read back from the last frame.

use super::input::CommentInput;
use super::parse::{Diff, LineKind};
use super::review::{Comment, Side};
use crate::domain::TaskId;
use std::cell::Cell;
use std::collections::HashMap;

/// What the review shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// git is making the diff.
    Loading,
    /// No diff to show, and why.
    Failed(String),
    Ready(Diff),
}

/// One row of the screen, by index into the diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    File(usize),
    /// An extended header line of a file (`new file mode`, `rename from`, `Binary files`).
    Note(usize, usize),
    Hunk(usize, usize),
    Line(usize, usize, usize),
    /// A comment, shown under its line.
    Comment(usize),
    /// The diff was cut short here.
    Cut,
}

pub struct DiffView {
    pub task: TaskId,
    /// Which load this view waits for; answers of older ones are dropped.
    pub(super) seq: u64,
    pub body: Body,
    pub rows: Vec<Row>,
    pub cursor: usize,
    /// The first row on screen, kept by drawing so the cursor stays in view.
    pub top: Cell<usize>,
    /// Rows on screen at the last frame: what a page is.
    pub page: Cell<usize>,
    pub comments: Vec<Comment>,
    /// The file list, open with this file selected.
    pub files: Option<usize>,
    pub input: Option<CommentInput>,
}

impl DiffView {
    pub fn new(task: TaskId, seq: u64, body: Body, comments: Vec<Comment>) -> Self {
        let mut v = Self {
            task,
            seq,
            body,
            rows: Vec::new(),
            cursor: 0,
            top: Cell::new(0),
            page: Cell::new(20),
            comments,
            files: None,
            input: None,
        };
        v.layout();
        v
    }

    pub fn diff(&self) -> Option<&Diff> {
        match &self.body {
            Body::Ready(d) => Some(d),
            _ => None,
        }
    }

    /// The diff has arrived (or failed).
    pub fn set_body(&mut self, body: Body) {
        self.body = body;
        self.cursor = 0;
        self.top.set(0);
        self.layout();
    }

    /// Lays the rows out again (after the diff arrived or a comment came or went).
    pub fn layout(&mut self) {
        let Some(diff) = self.diff() else {
            self.rows.clear();
            return;
        };
        let mut by_line: HashMap<(&str, Side, u32), Vec<usize>> = HashMap::new();
        for (i, c) in self.comments.iter().enumerate() {
            by_line
                .entry((c.path.as_str(), c.side, c.line))
                .or_default()
                .push(i);
        }
        let mut rows = Vec::new();
        for (fi, file) in diff.files.iter().enumerate() {
            rows.push(Row::File(fi));
            rows.extend((0..file.notes.len()).map(|n| Row::Note(fi, n)));
            for (hi, hunk) in file.hunks.iter().enumerate() {
                rows.push(Row::Hunk(fi, hi));
                for (li, line) in hunk.lines.iter().enumerate() {
                    rows.push(Row::Line(fi, hi, li));
                    if let Some(anchor) = anchor_of(line.kind, line.old, line.new)
                        && let Some(cs) = by_line.get(&(file.path(), anchor.0, anchor.1))
                    {
                        rows.extend(cs.iter().map(|&c| Row::Comment(c)));
                    }
                }
            }
        }
        if diff.cut {
            rows.push(Row::Cut);
        }
        self.rows = rows;
        self.cursor = self.cursor.min(self.rows.len().saturating_sub(1));
    }

    /// Moves the cursor `by` rows, within the diff.
    pub fn move_by(&mut self, by: isize) {
        let max = self.rows.len().saturating_sub(1) as isize;
        self.cursor = (self.cursor as isize).saturating_add(by).clamp(0, max) as usize;
    }

    /// Moves to the next (`forward`) or previous row that `is`; false when there is none.
    fn seek(&mut self, forward: bool, is: impl Fn(&Row) -> bool) -> bool {
        let found = if forward {
            self.rows
                .iter()
                .enumerate()
                .skip(self.cursor + 1)
                .find(|(_, r)| is(r))
        } else {
            self.rows
                .iter()
                .enumerate()
                .take(self.cursor)
                .rev()
                .find(|(_, r)| is(r))
        };
        match found {
            Some((i, _)) => {
                self.cursor = i;
                // The hunk or file comes to the top of the screen, with what follows it.
                self.top.set(i);
                true
            }
            None => false,
        }
    }

    pub fn next_hunk(&mut self, forward: bool) -> bool {
        self.seek(forward, |r| matches!(r, Row::Hunk(..)))
    }

    pub fn next_file(&mut self, forward: bool) -> bool {
        self.seek(forward, |r| matches!(r, Row::File(_)))
    }

    /// Puts the cursor on file `f`'s header.
    pub fn jump_to_file(&mut self, f: usize) {
        if let Some(i) = self.rows.iter().position(|r| *r == Row::File(f)) {
            self.cursor = i;
            self.top.set(i);
        }
    }

    /// The file the cursor is in.
    pub fn cursor_file(&self) -> Option<usize> {
        self.rows[..=self.cursor.min(self.rows.len().checked_sub(1)?)]
            .iter()
            .rev()
            .find_map(|r| match r {
                Row::File(f) | Row::Note(f, _) | Row::Hunk(f, _) | Row::Line(f, _, _) => Some(*f),
                _ => None,
            })
    }

    /// A new comment (without its text) for the line under the cursor, if it is a line of a
    /// file that one can be about.
    pub fn comment_here(&self) -> Option<Comment> {
        let Row::Line(f, h, l) = *self.rows.get(self.cursor)? else {
            return None;
        };
        let file = self.diff()?.files.get(f)?;
        let line = file.hunks.get(h)?.lines.get(l)?;
        let (side, number) = anchor_of(line.kind, line.old, line.new)?;
        Some(Comment {
            path: file.path().to_owned(),
            side,
            line: number,
            quote: line.text.clone(),
            text: String::new(),
        })
    }

    pub fn add_comment(&mut self, c: Comment) {
        self.comments.push(c);
        self.layout();
    }

    /// Deletes the comment under the cursor, or the last one on the cursor's line; the
    /// comment deleted.
    pub fn delete_comment(&mut self) -> Option<Comment> {
        let (i, on_comment) = match self.rows.get(self.cursor)? {
            Row::Comment(i) => (*i, true),
            Row::Line(..) => {
                let here = self.comment_here()?;
                let i = self.comments.iter().rposition(|c| {
                    (c.path.as_str(), c.side, c.line) == (here.path.as_str(), here.side, here.line)
                })?;
                (i, false)
            }
            _ => return None,
        };
        let gone = self.comments.remove(i);
        self.layout();
        // The rows above the deleted one are as they were: the cursor goes to the one just
        // above it (its line, or another comment on it).
        if on_comment {
            self.cursor = self.cursor.saturating_sub(1);
        }
        Some(gone)
    }
}

/// Where a comment on a line of this kind anchors: a removed line by its old number, every
/// other line by its new one; `None` for `\ No newline` marks.
fn anchor_of(kind: LineKind, old: Option<u32>, new: Option<u32>) -> Option<(Side, u32)> {
    match kind {
        LineKind::Removed => old.map(|n| (Side::Old, n)),
        LineKind::Added | LineKind::Context => new.map(|n| (Side::New, n)),
        LineKind::NoNewline => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = "\
diff --git a/a.txt b/a.txt
--- a/a.txt
+++ b/a.txt
@@ -1,2 +1,2 @@
-one
+uno
 two
@@ -9 +9 @@
-x
+y
diff --git a/b.txt b/b.txt
new file mode 100644
--- /dev/null
+++ b/b.txt
@@ -0,0 +1 @@
+b
";

    fn view() -> DiffView {
        DiffView::new(
            TaskId::from("T1"),
            1,
            Body::Ready(super::super::parse::parse(TEXT)),
            Vec::new(),
        )
    }

    #[test]
    fn hunks_and_files_are_found_both_ways() {
        let mut v = view();
        assert_eq!(v.rows[0], Row::File(0));
        assert!(v.next_hunk(true));
        assert_eq!(v.rows[v.cursor], Row::Hunk(0, 0));
        assert!(v.next_hunk(true));
        assert_eq!(v.rows[v.cursor], Row::Hunk(0, 1));
        assert!(v.next_file(true));
        assert_eq!(v.rows[v.cursor], Row::File(1));
        assert!(!v.next_file(true));
        assert!(v.next_hunk(false));
        assert_eq!(v.rows[v.cursor], Row::Hunk(0, 1));
        assert_eq!(v.cursor_file(), Some(0));
        v.move_by(1000);
        assert_eq!(v.cursor, v.rows.len() - 1);
        assert_eq!(v.cursor_file(), Some(1));
    }

    #[test]
    fn comments_show_under_their_line_and_go_away_with_x() {
        let mut v = view();
        v.next_hunk(true);
        v.move_by(2); // +uno
        let mut c = v.comment_here().unwrap();
        assert_eq!((c.path.as_str(), c.side, c.line), ("a.txt", Side::New, 1));
        assert_eq!(c.quote, "uno");
        c.text = "say one".into();
        v.add_comment(c);
        assert_eq!(v.rows[v.cursor + 1], Row::Comment(0));
        v.move_by(-1); // -one: a removed line anchors on its old number
        let old = v.comment_here().unwrap();
        assert_eq!((old.side, old.line), (Side::Old, 1));
        assert_eq!(v.delete_comment(), None, "no comment on -one");
        v.move_by(2); // the comment row itself
        assert_eq!(v.rows[v.cursor], Row::Comment(0));
        assert!(v.comment_here().is_none());
        assert_eq!(v.delete_comment().unwrap().text, "say one");
        assert!(v.comments.is_empty());
        assert!(
            matches!(v.rows[v.cursor], Row::Line(0, 0, 1)),
            "{:?}",
            v.rows[v.cursor]
        );
    }
}
