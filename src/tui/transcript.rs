//! An agent's transcript: its reasoning and answers as they stream, with tool calls, results,
//! approvals and people's messages inline. Stored as logical lines; wrapping happens only for
//! the lines on screen, so a long transcript costs what a short one does.
//!
//! Invariants:
//! - each line carries its block context ([`Ctx`]): for streamed text, whether it is inside a
//!   fenced code block (and which), decided once, from the complete line before it, when the line
//!   starts; drawing a line never looks further back than the block it is in;
//! - streamed text continues only the last line; every earlier line is complete and never
//!   changes again;
//! - a line may show only in the rendered view, only in the raw one, or only while its tool
//!   entry is folded or unfolded ([`Show`]); the count is bounded by `MAX_LINES` whatever shows.

use super::markdown::{self, CodeBlock};
use super::tool_view;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Step,
    Reasoning,
    Text,
    ToolCall,
    ToolOk,
    ToolErr,
    Approval,
    Human,
    Task,
    /// A line of code a tool call carries (a file it writes), highlighted by its block.
    Code,
    /// Lines of an edit: removed, added, unchanged around them.
    Removed,
    Added,
    Context,
    /// A line of a tool's output.
    Output,
}

impl LineKind {
    /// Text a model streams, drawn as Markdown.
    pub fn is_markdown(self) -> bool {
        matches!(self, LineKind::Reasoning | LineKind::Text)
    }
}

/// In which views a line shows: rendered and/or raw, folded and/or unfolded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Show {
    pub rendered: bool,
    pub raw: bool,
    pub folded: bool,
    pub unfolded: bool,
}

impl Show {
    pub const ALWAYS: Show = Show {
        rendered: true,
        raw: true,
        folded: true,
        unfolded: true,
    };
    /// Only in the rendered view (a tool call read as what it does).
    pub const RENDERED: Show = Show {
        raw: false,
        ..Show::ALWAYS
    };
    /// Only in the raw view (a tool call as its JSON arguments).
    pub const RAW: Show = Show {
        rendered: false,
        ..Show::ALWAYS
    };
    /// Only while tool entries are unfolded (the lines past the first few).
    pub const UNFOLDED: Show = Show {
        folded: false,
        ..Show::ALWAYS
    };
    /// Only while tool entries are folded (the "… N more lines" line).
    pub const FOLDED: Show = Show {
        unfolded: false,
        ..Show::ALWAYS
    };

    /// Shown where both `self` and `other` show.
    pub const fn and(self, other: Show) -> Show {
        Show {
            rendered: self.rendered && other.rendered,
            raw: self.raw && other.raw,
            folded: self.folded && other.folded,
            unfolded: self.unfolded && other.unfolded,
        }
    }
}

impl Default for Show {
    fn default() -> Self {
        Show::ALWAYS
    }
}

/// How the transcript is being looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mode {
    /// Text as it came (Markdown source, tool calls as JSON).
    pub raw: bool,
    /// Tool entries show all their lines.
    pub unfolded: bool,
}

impl Mode {
    pub fn shows(self, line: &Line) -> bool {
        let s = line.show;
        (if self.raw { s.raw } else { s.rendered })
            && (if self.unfolded { s.unfolded } else { s.folded })
    }
}

/// What drawing a line needs to know of the lines before it.
#[derive(Debug, Clone, Default)]
pub enum Ctx {
    /// Text outside any code block.
    #[default]
    Plain,
    /// Inside a code block (a fence in streamed text, or a file's content in a tool entry).
    Code(Arc<CodeBlock>),
}

impl Ctx {
    pub fn block(&self) -> Option<&Arc<CodeBlock>> {
        match self {
            Ctx::Plain => None,
            Ctx::Code(b) => Some(b),
        }
    }
}

impl PartialEq for Ctx {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Ctx::Plain, Ctx::Plain) => true,
            (Ctx::Code(a), Ctx::Code(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub kind: LineKind,
    pub text: String,
    pub show: Show,
    pub ctx: Ctx,
    /// Bytes at the start of `text` that rows it wraps onto hang under (a tool entry's mark
    /// and call id, an output line's number), set by who made the line; 0 for none. Markdown
    /// text finds its own lead as it is drawn.
    pub lead: u16,
}

impl Line {
    pub fn new(kind: LineKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
            show: Show::ALWAYS,
            ctx: Ctx::Plain,
            lead: 0,
        }
    }

    /// Rows the line wraps onto hang under its first `bytes` (none if that is not a
    /// character boundary of its text).
    pub fn lead(mut self, bytes: usize) -> Self {
        self.lead = u16::try_from(bytes).unwrap_or(0);
        self
    }

    pub fn show(mut self, show: Show) -> Self {
        self.show = show;
        self
    }

    pub fn ctx(mut self, ctx: Ctx) -> Self {
        self.ctx = ctx;
        self
    }
}

/// Lines kept per agent; older ones are dropped (the event log keeps everything): a few
/// thousand lines are many screens of scrollback, and 64 agents of them stay a few MB.
pub const MAX_LINES: usize = 5_000;
/// Lines kept at most once a person has scrolled back into older history.
pub const MAX_WITH_HISTORY: usize = 4 * MAX_LINES;

#[derive(Debug, Clone, Default)]
pub struct Transcript {
    lines: VecDeque<Line>,
    /// The kind of streamed text the last line is still receiving.
    open: Option<LineKind>,
    /// The tools of the calls still running (call, tool), newest last, at most
    /// [`MAX_OPEN_CALLS`]: a result reads as its tool's (a command's tail of output).
    calls: VecDeque<(String, String)>,
    /// Lines dropped from the front so far: line `i` has the id `dropped + i`, for ever.
    dropped: u64,
    /// Highlighted code kept between frames, by line id.
    kept: super::highlight::Kept,
}

/// Calls remembered while they run, per agent.
const MAX_OPEN_CALLS: usize = 64;

impl Transcript {
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&Line> {
        self.lines.get(i)
    }

    pub fn lines(&self) -> impl DoubleEndedIterator<Item = &Line> + ExactSizeIterator {
        self.lines.iter()
    }

    /// The id of line `i`: it stays the same while lines are dropped from the front.
    pub fn id(&self, i: usize) -> u64 {
        self.dropped + i as u64
    }

    /// Whether line `i` is complete (no streamed text continues it any more).
    pub fn is_complete(&self, i: usize) -> bool {
        i + 1 < self.lines.len() || self.open.is_none()
    }

    /// Highlighted code kept between frames.
    pub fn kept(&self) -> &super::highlight::Kept {
        &self.kept
    }

    /// Older lines, read back from the store, before the ones here. The transcript may then
    /// hold up to [`MAX_WITH_HISTORY`] lines (the newest of `older` are kept); new lines go on
    /// dropping the oldest. Line ids move, so kept highlighting starts again.
    pub fn prepend(&mut self, older: Transcript) {
        let room = MAX_WITH_HISTORY.saturating_sub(self.lines.len());
        let mut lines = older.lines;
        let cut = lines.len().saturating_sub(room);
        lines.drain(..cut);
        if lines.is_empty() {
            return;
        }
        lines.extend(self.lines.drain(..));
        self.lines = lines;
        self.dropped = 0;
        self.kept = Default::default();
    }

    fn add(&mut self, line: Line) {
        self.lines.push_back(line);
        if self.lines.len() > MAX_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }

    /// A complete entry (a tool call, a result, a message), one line per text line.
    pub fn push(&mut self, kind: LineKind, text: &str) {
        self.open = None;
        for l in text.split('\n') {
            self.add(Line::new(kind, l));
        }
    }

    /// A complete entry made of lines as they are (a newline inside one stays in it, and
    /// shows as a mark: a path cannot forge a line of its own).
    pub fn push_lines(&mut self, lines: impl IntoIterator<Item = Line>) {
        self.open = None;
        for l in lines {
            self.add(l);
        }
    }

    /// A tool call, read as what it does ([`tool_view::call`]).
    pub fn tool_call(&mut self, call: &str, tool: &str, args: &serde_json::Value) {
        if self.calls.len() == MAX_OPEN_CALLS {
            self.calls.pop_front();
        }
        self.calls.push_back((call.to_owned(), tool.to_owned()));
        self.push_lines(tool_view::call(call, tool, args));
    }

    /// A tool's result ([`tool_view::finished`]).
    pub fn tool_result(&mut self, call: &str, ok: bool, output: &str) {
        let tool = self
            .calls
            .iter()
            .position(|(c, _)| c == call)
            .and_then(|i| self.calls.remove(i))
            .map(|(_, t)| t);
        self.push_lines(tool_view::finished(call, tool.as_deref(), ok, output));
    }

    /// Streamed text: continues the open line of the same kind.
    pub fn delta(&mut self, kind: LineKind, text: &str) {
        let mut parts = text.split('\n');
        let continues = self.open == Some(kind) && !self.lines.is_empty();
        if let Some(first) = parts.next() {
            match (continues, self.lines.back_mut()) {
                (true, Some(last)) => last.text.push_str(first),
                // A new message: no block of an earlier one is open.
                _ => self.add(Line::new(kind, first)),
            }
        }
        for p in parts {
            let ctx = match self.lines.back() {
                Some(prev) if kind.is_markdown() => markdown::after(&prev.ctx, &prev.text),
                _ => Ctx::Plain,
            };
            self.add(Line::new(kind, p).ctx(ctx));
        }
        self.open = Some(kind);
    }

    /// Indices of lines containing `needle` (case-insensitive).
    pub fn find(&self, needle: &str) -> Vec<usize> {
        self.find_in(needle, None)
    }

    /// Indices of the lines `mode` shows (all lines for `None`) containing `needle`
    /// (case-insensitive).
    pub fn find_in(&self, needle: &str, mode: Option<Mode>) -> Vec<usize> {
        let n = needle.to_lowercase();
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| mode.is_none_or(|m| m.shows(l)))
            .filter(|(_, l)| l.text.to_lowercase().contains(&n))
            .map(|(i, _)| i)
            .collect()
    }

    /// The scroll (lines above the bottom) after moving `by` lines that `mode` shows: negative
    /// moves up (back in time), positive down. Hidden lines are stepped over.
    pub fn scrolled(&self, scroll: usize, by: isize, mode: Mode) -> usize {
        let len = self.lines.len();
        if len == 0 {
            return 0;
        }
        let mut at = len - 1 - scroll.min(len - 1);
        let mut left = by.unsigned_abs();
        while left > 0 {
            let next = if by < 0 {
                (0..at).rev().find(|&i| mode.shows(&self.lines[i]))
            } else {
                (at + 1..len).find(|&i| mode.shows(&self.lines[i]))
            };
            match next {
                Some(i) => at = i,
                None => break,
            }
            left -= 1;
        }
        if by > 0 && !(at + 1..len).any(|i| mode.shows(&self.lines[i])) {
            // Nothing shown below: follow the end again.
            at = len - 1;
        }
        len - 1 - at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_continue_lines_and_entries_close_them() {
        let mut t = Transcript::default();
        t.delta(LineKind::Reasoning, "Thinking about");
        t.delta(LineKind::Reasoning, " the task.\nNext line");
        t.push(LineKind::ToolCall, "▶ read_file");
        t.delta(LineKind::Reasoning, "More");
        let texts: Vec<&str> = t.lines().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Thinking about the task.",
                "Next line",
                "▶ read_file",
                "More"
            ]
        );
        assert_eq!(t.find("next"), vec![1]);
    }

    #[test]
    fn a_fence_opens_a_block_until_it_closes_and_a_new_message_starts_outside() {
        let mut t = Transcript::default();
        t.delta(
            LineKind::Text,
            "Look:\n```rust\nfn a() {}\n```\nafter\n```py\nx = 1",
        );
        let in_block: Vec<bool> = t.lines().map(|l| l.ctx.block().is_some()).collect();
        assert_eq!(in_block, [false, false, true, true, false, false, true]);
        let langs: Vec<&str> = t
            .lines()
            .filter_map(|l| l.ctx.block().map(|b| &*b.lang))
            .collect();
        assert_eq!(langs, ["rust", "rust", "py"]);
        // The fence left open ends with its message.
        t.push(LineKind::ToolCall, "▶ c1 read_file");
        t.delta(LineKind::Text, "plain\nagain");
        assert!(t.lines().skip(8).all(|l| l.ctx.block().is_none()));
    }

    #[test]
    fn scrolling_steps_over_lines_the_view_hides() {
        let mut t = Transcript::default();
        t.push(LineKind::Text, "top");
        t.push_lines([
            Line::new(LineKind::ToolCall, "▶ write_file a (9 lines)"),
            Line::new(LineKind::Code, "1"),
            Line::new(LineKind::Code, "2").show(Show::UNFOLDED),
            Line::new(LineKind::Code, "3").show(Show::UNFOLDED),
            Line::new(LineKind::Output, "… 2 more lines").show(Show::FOLDED),
        ]);
        t.push(LineKind::Text, "bottom");
        let folded = Mode::default();
        // bottom → marker → 1 → header → top
        assert_eq!(t.scrolled(0, -1, folded), 1);
        assert_eq!(t.scrolled(1, -1, folded), 4);
        assert_eq!(t.scrolled(0, -4, folded), 6);
        assert_eq!(t.scrolled(6, 2, folded), 4);
        assert_eq!(t.scrolled(4, 9, folded), 0);
        let open = Mode {
            raw: false,
            unfolded: true,
        };
        assert_eq!(t.scrolled(0, -1, open), 2);
        assert_eq!(t.find_in("more", Some(open)), Vec::<usize>::new());
        assert_eq!(t.find_in("more", Some(folded)), vec![5]);
    }
}
