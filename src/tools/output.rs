//! A command's output as a model reads it: the first lines and the last ones, with a line
//! saying how many were left out between them and where the whole output is saved. Kept in
//! bounded memory however much a command prints: at most `cap` bytes of lines, each line cut
//! at [`LINE_CAP`] (or less under a small cap), the rest only counted.

use super::lines::{Kept, LINE_CAP, Splitter};
use std::collections::VecDeque;

/// Lines kept from the start of the output.
pub const HEAD_LINES: usize = 50;
/// Lines kept from its end.
pub const TAIL_LINES: usize = 150;

#[derive(Debug)]
struct Held {
    line: Kept,
    /// The line's size in the output, with its newline.
    size: u64,
}

#[derive(Debug)]
struct Shown {
    cap: usize,
    head: Vec<Held>,
    head_bytes: usize,
    head_open: bool,
    tail: VecDeque<Held>,
    tail_bytes: usize,
    lines: u64,
}

impl Shown {
    fn line(&mut self, line: Kept, newline: bool) {
        self.lines += 1;
        let size = (line.bytes.len() as u64) + line.cut + u64::from(newline);
        let len = line.len() + 1;
        let k = Held { line, size };
        if self.head_open && self.head.len() < HEAD_LINES && self.head_bytes + len <= self.cap / 2 {
            self.head_bytes += len;
            self.head.push(k);
            return;
        }
        self.head_open = false;
        self.tail_bytes += len;
        self.tail.push_back(k);
        let tail_cap = self.cap - self.cap / 2;
        while self.tail.len() > TAIL_LINES || self.tail_bytes > tail_cap {
            match self.tail.pop_front() {
                Some(gone) => self.tail_bytes -= gone.line.len() + 1,
                None => break,
            }
        }
    }
}

/// The output of one command, as it comes.
#[derive(Debug)]
pub struct Output {
    splitter: Splitter,
    shown: Shown,
    total: u64,
}

impl Output {
    /// Keeps at most `cap` bytes of lines, half from the start and half from the end.
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(64);
        Self {
            splitter: Splitter::new(LINE_CAP.min(cap / 4)),
            shown: Shown {
                cap,
                head: Vec::new(),
                head_bytes: 0,
                head_open: true,
                tail: VecDeque::new(),
                tail_bytes: 0,
                lines: 0,
            },
            total: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let shown = &mut self.shown;
        self.splitter.feed(bytes, |line| shown.line(line, true));
    }

    /// The output has ended: its last line need not end with a newline.
    pub fn finish(&mut self) {
        if let Some(line) = self.splitter.finish() {
            self.shown.line(line, false);
        }
    }

    /// Bytes the command printed.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Lines the command printed (after [`Output::finish`]).
    pub fn lines(&self) -> u64 {
        self.shown.lines
    }

    /// Lines left out between the head and the tail.
    pub fn left_out(&self) -> u64 {
        self.shown.lines - (self.shown.head.len() + self.shown.tail.len()) as u64
    }

    /// Whether the text shows the whole output: no line left out, none cut.
    pub fn whole(&self) -> bool {
        let cut = |k: &Held| k.line.cut > 0;
        self.left_out() == 0 && !self.shown.head.iter().any(cut) && !self.shown.tail.iter().any(cut)
    }

    /// The head, the line that says what was left out (`saved` says where all of it is), and
    /// the tail. Cut lines say so themselves.
    pub fn text(&self, saved: &str) -> String {
        let s = &self.shown;
        let mut out: Vec<String> = s.head.iter().map(|k| k.line.text()).collect();
        let left = self.left_out();
        if left > 0 {
            let shown: u64 = s.head.iter().chain(&s.tail).map(|k| k.size).sum();
            out.push(format!(
                "[… {left} lines ({} bytes) left out; {saved}, from line {}]",
                self.total.saturating_sub(shown),
                s.head.len() + 1
            ));
        }
        out.extend(s.tail.iter().map(|k| k.line.text()));
        out.join("\n")
    }

    /// Bytes held, whatever the command printed.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.shown.head_bytes + self.shown.tail_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn output(text: &str, cap: usize) -> Output {
        let mut o = Output::new(cap);
        o.push(text.as_bytes());
        o.finish();
        o
    }

    #[test]
    fn short_output_is_shown_whole() {
        let o = output("a\nb\n", 1000);
        assert_eq!(o.text("x"), "a\nb");
        assert!(o.whole());
        assert_eq!(o.lines(), 2);
        assert_eq!(output("", 1000).text("x"), "");
        assert_eq!(output("no newline", 1000).text("x"), "no newline");
    }

    #[test]
    fn long_output_is_its_head_and_tail_with_the_count_between() {
        let text: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        let o = output(&text, 64 * 1024);
        let t = o.text("saved in f.log");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), HEAD_LINES + 1 + TAIL_LINES);
        assert_eq!(lines[0], "line 1");
        assert_eq!(lines[HEAD_LINES - 1], "line 50");
        assert_eq!(
            lines[HEAD_LINES],
            format!(
                "[… 800 lines ({} bytes) left out; saved in f.log, from line 51]",
                text.len()
                    - (1..=50)
                        .chain(851..=1000)
                        .map(|i| format!("line {i}\n").len())
                        .sum::<usize>()
            )
        );
        assert_eq!(lines[HEAD_LINES + 1], "line 851");
        assert_eq!(*lines.last().unwrap(), "line 1000");
        assert_eq!(o.left_out(), 800);
    }

    #[test]
    fn the_byte_cap_holds_before_the_line_counts() {
        let text: String = (1..=100).map(|i| format!("{i:0>99}\n")).collect();
        let o = output(&text, 1000);
        assert!(o.held() <= 1000);
        let t = o.text("s");
        assert!(t.contains("lines (") && t.contains("left out"), "{t}");
        assert!(t.ends_with(&format!("{:0>99}", 100)), "{t}");
        let o = output(&format!("{}\nthe end\n", "x".repeat(100_000)), 1000);
        let t = o.text("s");
        assert!(
            t.starts_with(&format!(
                "{} [… {} bytes cut]",
                "x".repeat(250),
                100_000 - 250
            )),
            "{t}"
        );
        assert!(t.ends_with(" bytes cut]\nthe end"), "{t}");
        assert!(!o.whole());
    }

    proptest! {
        #[test]
        fn what_is_kept_does_not_depend_on_how_the_output_comes_and_stays_within_the_cap(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), any::<u8>()], 0..3000),
            cuts in proptest::collection::vec(1usize..200, 0..30),
            cap in 0usize..2000,
        ) {
            let mut whole = Output::new(cap);
            whole.push(&bytes);
            whole.finish();
            let mut pieces = Output::new(cap);
            let mut rest = bytes.as_slice();
            for c in cuts {
                let n = c.min(rest.len());
                pieces.push(&rest[..n]);
                rest = &rest[n..];
            }
            pieces.push(rest);
            pieces.finish();
            prop_assert_eq!(whole.text("s"), pieces.text("s"));
            prop_assert!(pieces.held() <= cap.max(64));
            prop_assert_eq!(pieces.total(), bytes.len() as u64);
            let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
            let last = u64::from(bytes.last().is_some_and(|b| *b != b'\n'));
            prop_assert_eq!(pieces.lines(), newlines + last);
        }
    }
}
