//! The task graph: every task with its status glyph, indented by its depth in the DAG, with its
//! dependencies; the selection opens the task's detail.

use super::super::app::{App, Focus};
use super::{fit, frame, task_glyph, task_style};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let s = &app.view.state;
    let focused = app.focus == Focus::Tasks;
    let block = frame(
        format!(" 3 Task graph ({}/{} done) ", s.tasks_done(), s.tasks.len()),
        focused,
        theme,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    if s.tasks.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled("(the supervisor is planning)", theme.dim)),
            inner,
        );
        return;
    }
    let height = inner.height as usize;
    let sel = app.task_sel.min(s.tasks.len() - 1);
    let first = sel.saturating_sub(height.saturating_sub(1));
    let w = inner.width as usize;
    let mut lines = Vec::with_capacity(height);
    for (i, t) in s.tasks.iter().enumerate().skip(first).take(height) {
        let depth = app.view.depth(&t.id).min(6);
        let indent = "  ".repeat(depth);
        let deps: Vec<&str> = t.depends_on.iter().map(|d| d.as_str()).collect();
        let after = if deps.is_empty() {
            String::new()
        } else {
            format!(" ← {}", deps.join(","))
        };
        let after = match &t.replaced_by {
            Some(r) => format!("{after} → {r}"),
            None => after,
        };
        let head = format!("{indent}{} {:<3} ", task_glyph(t.status), t.id.as_str());
        let tail = super::visible(format!(" {}{after}", t.role));
        let title_w = w.saturating_sub(head.chars().count() + tail.chars().count());
        let mut spans = vec![
            Span::styled(head, task_style(t.status, theme)),
            Span::styled(format!("{:<title_w$}", fit(&t.title, title_w)), theme.base),
            Span::styled(tail, theme.dim),
        ];
        if i == sel {
            for sp in &mut spans {
                sp.style = theme.selection;
            }
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines).style(theme.base), inner);
}
