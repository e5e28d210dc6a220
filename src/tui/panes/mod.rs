//! The panes of the control room, one file each. Each draws from the `App` into an area.

pub mod agents;
pub mod approvals;
pub mod grid;
pub mod header;
pub mod hints;
pub mod logs;
pub mod reasoning;
pub mod task_graph;

use super::theme::Theme;
use crate::domain::sanitize;
use crate::domain::{AgentStatus, TaskStatus};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders};
use unicode_width::UnicodeWidthChar;

/// A pane's frame: the focused one stands out (colour, bold, and a thick border for mono).
pub fn frame<'a>(title: impl Into<String>, focused: bool, theme: &Theme) -> Block<'a> {
    let (style, kind) = if focused {
        (theme.border_focus, BorderType::Thick)
    } else {
        (theme.border, BorderType::Rounded)
    };
    let title_style = if focused { theme.title } else { theme.dim };
    Block::default()
        .borders(Borders::ALL)
        .border_type(kind)
        .border_style(style)
        .title(Span::styled(visible(title.into()), title_style))
}

/// `text` as one row of the screen: terminal controls and bidi overrides become visible marks
/// (ratatui drops C0/C1 controls silently and passes bidi overrides through). Clean text is
/// returned as it came, without a copy.
pub fn visible(text: String) -> String {
    if sanitize::is_clean(&text, false) {
        text
    } else {
        sanitize::line(&text).into_owned()
    }
}

pub fn task_glyph(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Pending => "○",
        TaskStatus::Ready => "◌",
        TaskStatus::Running => "●",
        TaskStatus::AwaitingApproval => "⚠",
        TaskStatus::Done => "✔",
        TaskStatus::Failed => "✘",
        TaskStatus::Cancelled => "⊘",
        TaskStatus::Blocked => "■",
        TaskStatus::Conflict => "⇄",
    }
}

pub fn task_style(s: TaskStatus, theme: &Theme) -> Style {
    match s {
        TaskStatus::Done => theme.ok,
        TaskStatus::Failed => theme.error,
        TaskStatus::AwaitingApproval | TaskStatus::Blocked | TaskStatus::Conflict => theme.warn,
        TaskStatus::Running => theme.accent,
        TaskStatus::Cancelled | TaskStatus::Pending => theme.dim,
        TaskStatus::Ready => theme.info,
    }
}

pub fn agent_glyph(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::Idle => "·",
        AgentStatus::Thinking => "◆",
        AgentStatus::CallingTool => "▶",
        AgentStatus::WaitingForApproval => "⚠",
        AgentStatus::Paused => "‖",
        AgentStatus::Stuck => "✘",
    }
}

pub fn agent_style(s: AgentStatus, theme: &Theme) -> Style {
    match s {
        AgentStatus::Idle => theme.dim,
        AgentStatus::Thinking => theme.accent,
        AgentStatus::CallingTool => theme.tool,
        AgentStatus::WaitingForApproval | AgentStatus::Paused => theme.warn,
        AgentStatus::Stuck => theme.error,
    }
}

/// Splits `text` into rows of at most `width` columns, at its newlines and at spaces when it
/// can. Terminal controls and bidi overrides show as visible marks.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    for part in text.split('\n') {
        let part = part.strip_suffix('\r').unwrap_or(part);
        wrap_line(&sanitize::line(part), width, &mut rows);
    }
    rows
}

/// Adds the rows of one line (at least one row) to `rows`.
fn wrap_line(text: &str, width: usize, rows: &mut Vec<String>) {
    let start = rows.len();
    let mut row = String::new();
    let mut row_w = 0;
    for word in text.split_inclusive(' ') {
        let w: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
        if row_w + w > width && row_w > 0 {
            rows.push(std::mem::take(&mut row));
            row_w = 0;
        }
        if w > width {
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if row_w + cw > width {
                    rows.push(std::mem::take(&mut row));
                    row_w = 0;
                }
                row.push(c);
                row_w += cw;
            }
        } else {
            row.push_str(word);
            row_w += w;
        }
    }
    if !row.is_empty() || rows.len() == start {
        rows.push(row);
    }
}

/// Styled pieces as rows of at most `width` columns, broken where [`wrap`] breaks the same
/// text (at spaces when it can). The pieces must be sanitised already and hold no newline.
pub fn wrap_spans(spans: Vec<Span<'static>>, width: usize) -> Vec<ratatui::text::Line<'static>> {
    let width = width.max(1);
    let text: String = spans.iter().map(|s| &*s.content).collect();
    let ranges = wrap_ranges(&text, width);
    if ranges.len() == 1 {
        return vec![ratatui::text::Line::from(spans)];
    }
    let mut starts = Vec::with_capacity(spans.len());
    let mut at = 0;
    for s in &spans {
        starts.push(at);
        at += s.content.len();
    }
    let mut rows = Vec::with_capacity(ranges.len());
    let mut k = 0;
    for r in ranges {
        let mut row = Vec::new();
        while let Some(span) = spans.get(k) {
            let (s, e) = (starts[k], starts[k] + span.content.len());
            if s > r.end || (s == r.end && e > s) {
                break;
            }
            let (a, b) = (s.max(r.start), e.min(r.end));
            if a < b {
                row.push(Span::styled(
                    span.content[a - s..b - s].to_owned(),
                    span.style,
                ));
            }
            if e > r.end {
                break;
            }
            k += 1;
        }
        rows.push(ratatui::text::Line::from(row));
    }
    rows
}

/// The byte ranges of the rows of one line (no newline in it), as [`wrap`] cuts it.
fn wrap_ranges(text: &str, width: usize) -> Vec<std::ops::Range<usize>> {
    let mut rows = Vec::new();
    let (mut start, mut pos, mut row_w) = (0, 0, 0);
    for word in text.split_inclusive(' ') {
        let w: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
        if row_w + w > width && row_w > 0 {
            rows.push(start..pos);
            start = pos;
            row_w = 0;
        }
        if w > width {
            for (off, c) in word.char_indices() {
                let cw = c.width().unwrap_or(0);
                if row_w + cw > width {
                    rows.push(start..pos + off);
                    start = pos + off;
                    row_w = 0;
                }
                row_w += cw;
            }
        } else {
            row_w += w;
        }
        pos += word.len();
    }
    if start < text.len() || rows.is_empty() {
        rows.push(start..text.len());
    }
    rows
}

/// Cuts `text` to `width` columns with an ellipsis. Terminal controls, bidi overrides and
/// newlines show as visible marks.
pub fn fit(text: &str, width: usize) -> String {
    let text = sanitize::line(text);
    let text: &str = &text;
    let mut out = String::new();
    let mut w = 0;
    for c in text.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width.saturating_sub(1)
            && text.chars().map(|c| c.width().unwrap_or(0)).sum::<usize>() > width
        {
            out.push('…');
            return out;
        }
        out.push(c);
        w += cw;
    }
    out
}

/// `12.3k`, `4.5M`.
pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa ", "bbb ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), vec![""]);
        assert_eq!(fit("hello world", 6), "hello…");
        assert_eq!(fit("hi", 6), "hi");
        assert_eq!(wrap("ab\r\n\ncd", 4), vec!["ab", "", "cd"]);
    }

    #[test]
    fn styled_pieces_wrap_where_plain_text_does() {
        let style =
            |i: usize| ratatui::style::Style::new().fg(ratatui::style::Color::Indexed(i as u8));
        for (text, width) in [
            ("aaa bbb ccc", 7),
            ("abcdefghij", 4),
            ("", 4),
            ("a ✔✔✔✔ wide characters here", 3),
            ("one two three four five six", 1),
        ] {
            // Cut into pieces of 3 bytes (at char boundaries), each its own style.
            let mut spans = Vec::new();
            let mut piece = String::new();
            for c in text.chars() {
                piece.push(c);
                if piece.len() >= 3 {
                    spans.push(Span::styled(std::mem::take(&mut piece), style(spans.len())));
                }
            }
            spans.push(Span::styled(piece, style(spans.len())));
            let rows = wrap_spans(spans.clone(), width);
            let texts: Vec<String> = rows
                .iter()
                .map(|r| r.spans.iter().map(|s| &*s.content).collect())
                .collect();
            assert_eq!(texts, wrap(text, width), "{text:?} at {width}");
            // Every character keeps its piece's style.
            let styled: Vec<(char, ratatui::style::Style)> = rows
                .iter()
                .flat_map(|r| r.spans.iter())
                .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
                .collect();
            let want: Vec<(char, ratatui::style::Style)> = spans
                .iter()
                .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
                .collect();
            assert_eq!(styled, want);
        }
    }

    #[test]
    fn hostile_text_becomes_visible_marks_on_screen() {
        let hostile =
            "a\u{1b}]52;c;eA==\u{7}\u{1b}[2J\u{9b}1m\u{202e}gnp.exe\u{2066}\u{200f}\u{7f}";
        let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        let rows = wrap(hostile, 80);
        assert_eq!(rows, vec!["a␛]52;c;eA==␇␛[2J␛[1m�gnp.exe��␡"]);
        let cut = fit(&format!("{hostile}\nforged line"), 200);
        assert!(!cut.chars().any(|c| c.is_control() || bidi(c)), "{cut}");
        assert!(cut.contains("␛]52") && cut.contains("␤forged"), "{cut}");
        assert_eq!(visible(hostile.to_owned()), rows[0]);
        // The marks take columns, so a cut row still fits.
        let narrow = fit(hostile, 10);
        assert_eq!(narrow.chars().count(), 10, "{narrow}");
    }
}
