//! An agent's transcript: its reasoning and answers as they stream, with tool calls, results,
//! approvals and people's messages inline. Stored as logical lines; wrapping happens only for
//! the lines on screen, so a long transcript costs what a short one does.

use std::collections::VecDeque;

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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub kind: LineKind,
    pub text: String,
}

/// Lines kept per agent; older ones are dropped (the event log keeps everything).
const MAX_LINES: usize = 200_000;

#[derive(Debug, Clone, Default)]
pub struct Transcript {
    lines: VecDeque<Line>,
    /// The kind of streamed text the last line is still receiving.
    open: Option<LineKind>,
}

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

    fn add(&mut self, kind: LineKind, text: &str) {
        self.lines.push_back(Line {
            kind,
            text: text.to_owned(),
        });
        if self.lines.len() > MAX_LINES {
            self.lines.pop_front();
        }
    }

    /// A complete entry (a tool call, a result, a message), one line per text line.
    pub fn push(&mut self, kind: LineKind, text: &str) {
        self.open = None;
        for l in text.split('\n') {
            self.add(kind, l);
        }
    }

    /// Streamed text: continues the open line of the same kind.
    pub fn delta(&mut self, kind: LineKind, text: &str) {
        let mut parts = text.split('\n');
        if let Some(first) = parts.next() {
            match (self.open == Some(kind), self.lines.back_mut()) {
                (true, Some(last)) => last.text.push_str(first),
                _ => self.add(kind, first),
            }
        }
        for p in parts {
            self.add(kind, p);
        }
        self.open = Some(kind);
    }

    /// Indices of lines containing `needle` (case-insensitive).
    pub fn find(&self, needle: &str) -> Vec<usize> {
        let n = needle.to_lowercase();
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.text.to_lowercase().contains(&n))
            .map(|(i, _)| i)
            .collect()
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
}
