//! The agents: status glyph, name, current task, context use, tokens and spend.

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
    let budgets = budget_lines(app, inner.width as usize);
    // The budgets take the bottom of the pane when there is room for the agents too.
    let reserved = if budgets.is_empty() || (inner.height as usize) < budgets.len() + 3 {
        0
    } else {
        budgets.len() + 1
    };
    let height = (inner.height as usize).saturating_sub(reserved);
    let sel = app.agent_sel.min(agents.len().saturating_sub(1));
    let first = sel.saturating_sub(height.saturating_sub(1));
    let w = inner.width as usize;
    let mut lines = Vec::new();
    for (i, a) in agents.iter().enumerate().skip(first).take(height) {
        let task = a.task.as_ref().map_or("", |t| t.as_str());
        // An unpriced model's spend is unknown (`$?`) or a lower bound (`+`), never zero.
        let money = |places: usize| match (a.unpriced_requests, a.cost_usd) {
            (0, c) => format!("${c:.places$}"),
            (_, 0.0) => "$?".to_owned(),
            (_, c) => format!("${c:.places$}+"),
        };
        // How full the context was at the latest request.
        let ctx = match a.context_window {
            0 => String::new(),
            win => format!("{}%", (a.context_tokens * 100 / win).min(999)),
        };
        let right = if w >= 44 {
            format!(
                " {task:>3} {ctx:>4} {:>6} {:>7}",
                tokens(a.usage.total()),
                money(3)
            )
        } else if w >= 32 {
            format!(" {task:>3} {ctx:>4} {:>7}", money(3))
        } else {
            format!(" {task:>3} {:>6}", money(2))
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
    if reserved > 0 {
        lines.resize(height, Line::raw(""));
        lines.push(Line::styled(
            fit(" budgets", inner.width as usize),
            theme.dim,
        ));
        lines.extend(budgets);
    }
    f.render_widget(Paragraph::new(lines).style(theme.base), inner);
}

/// Spend against budget for every role with a budget and every active or held task scope.
fn budget_lines(app: &App, w: usize) -> Vec<Line<'static>> {
    use crate::domain::BudgetTarget;
    let theme = app.theme();
    let s = &app.view.state;
    let now = s.updated_ms;
    let targets = s.budget_scopes();
    targets
        .into_iter()
        .map(|t| {
            let held = s.budget_holds.iter().any(|h| h.target == t);
            let name = match &t {
                BudgetTarget::Role { role } => role.clone(),
                other => other.to_string(),
            };
            let text = format!(
                " {}{name}: {}",
                if held { "⏸ " } else { "" },
                s.budget_of(&t).against(&s.spend_of(&t, now))
            );
            let style = if held {
                theme.warn.add_modifier(ratatui::style::Modifier::BOLD)
            } else {
                theme.dim
            };
            Line::styled(fit(&text, w), style)
        })
        .collect()
}
