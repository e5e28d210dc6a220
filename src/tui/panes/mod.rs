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
        .title(Span::styled(title.into(), title_style))
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
    }
}

pub fn task_style(s: TaskStatus, theme: &Theme) -> Style {
    match s {
        TaskStatus::Done => theme.ok,
        TaskStatus::Failed => theme.error,
        TaskStatus::AwaitingApproval | TaskStatus::Blocked => theme.warn,
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

/// Splits `text` into rows of at most `width` columns, breaking at spaces when it can.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
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
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

/// Cuts `text` to `width` columns with an ellipsis.
pub fn fit(text: &str, width: usize) -> String {
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
    }
}
