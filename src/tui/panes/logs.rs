//! The logs: levels in colour, filtered by level, agent or text (`/`, `:level`).

use super::super::app::{App, Focus};
use super::super::view::LogLine;
use super::{fit, frame};
use crate::domain::LogLevel;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

fn keep(app: &App, l: &LogLine) -> bool {
    let f = &app.log_filter;
    let min = f.level.unwrap_or(app.log_min);
    l.level >= min
        && f.agent.as_ref().is_none_or(|a| l.who.contains(a.as_str()))
        && (f.text.is_empty()
            || l.text.to_lowercase().contains(&f.text)
            || l.who.to_lowercase().contains(&f.text))
}

/// The log lines that pass the filters, oldest first.
pub fn visible(app: &App) -> Vec<&LogLine> {
    app.view.logs.iter().filter(|l| keep(app, l)).collect()
}

/// The last `n` lines that pass the filters, scrolled `skip` lines back, without scanning more
/// of the log than needed.
fn tail(app: &App, n: usize, skip: usize) -> Vec<&LogLine> {
    let mut out: Vec<&LogLine> = app
        .view
        .logs
        .iter()
        .rev()
        .filter(|l| keep(app, l))
        .skip(skip)
        .take(n)
        .collect();
    out.reverse();
    out
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let focused = app.focus == Focus::Logs;
    let filter = if app.log_filter.is_empty() {
        format!("level ≥ {}", app.log_min)
    } else {
        app.log_filter.describe()
    };
    let back = if app.log_scroll > 0 {
        format!(" · ↑{}", app.log_scroll)
    } else {
        String::new()
    };
    let block = frame(format!(" 4 Logs · {filter}{back} "), focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let lines: Vec<Line> = tail(app, inner.height as usize, app.log_scroll)
        .into_iter()
        .map(|l| {
            let (tag, style) = match l.level {
                LogLevel::Debug => ("DBG", theme.dim),
                LogLevel::Info => ("INF", theme.info),
                LogLevel::Warn => ("WRN", theme.warn),
                LogLevel::Error => ("ERR", theme.error),
            };
            let head = format!(
                "{} {tag} {:<12} ",
                crate::domain::describe::clock(l.ts_ms),
                fit(&l.who, 12)
            );
            let room = w.saturating_sub(head.chars().count());
            Line::from(vec![
                Span::styled(head, style),
                Span::styled(fit(&l.text, room), theme.base),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).style(theme.base), inner);
}
