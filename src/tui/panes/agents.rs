//! The agents: status glyph, name, current task, tokens and spend.

use super::super::app::{App, Focus};
use super::{agent_glyph, agent_style, fit, frame, tokens};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let focused = app.focus == Focus::Agents;
    let agents = &app.view.state.agents;
    let block = frame(format!(" 1 Agents ({}) ", agents.len()), focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let height = inner.height as usize;
    let sel = app.agent_sel.min(agents.len().saturating_sub(1));
    let first = sel.saturating_sub(height.saturating_sub(1));
    let w = inner.width as usize;
    let mut lines = Vec::new();
    for (i, a) in agents.iter().enumerate().skip(first).take(height) {
        let task = a.task.as_ref().map_or("", |t| t.as_str());
        let right = if w >= 36 {
            format!(
                " {task:>3} {:>6} ${:.3}",
                tokens(a.usage.total()),
                a.cost_usd
            )
        } else {
            format!(" {task:>3} ${:.2}", a.cost_usd)
        };
        let name_w = w.saturating_sub(right.chars().count() + 2);
        let style = agent_style(a.status, theme);
        let mut spans = vec![
            Span::styled(format!("{} ", agent_glyph(a.status)), style),
            Span::styled(
                format!("{:<name_w$}", fit(a.id.as_str(), name_w)),
                theme.base,
            ),
            Span::styled(right, theme.dim),
        ];
        if i == sel {
            for s in &mut spans {
                s.style = theme.selection;
            }
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines).style(theme.base), inner);
}
