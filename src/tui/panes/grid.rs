//! The grid view: every agent's reasoning side by side.

use super::super::app::App;
use super::reasoning;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let agents: Vec<_> = app.view.state.agents.iter().map(|a| a.id.clone()).collect();
    if agents.is_empty() {
        return;
    }
    let cols = match (area.width, agents.len()) {
        (w, n) if w >= 180 => n.min(4),
        (w, n) if w >= 100 => n.min(3),
        (_, n) => n.min(2),
    };
    let rows = agents.len().div_ceil(cols);
    let row_areas = Layout::vertical(vec![Constraint::Ratio(1, rows as u32); rows]).split(area);
    let sel = app.selected_agent().cloned();
    for (r, row_area) in row_areas.iter().enumerate() {
        let cells =
            Layout::horizontal(vec![Constraint::Ratio(1, cols as u32); cols]).split(*row_area);
        for (c, cell) in cells.iter().enumerate() {
            if let Some(agent) = agents.get(r * cols + c) {
                let focused = sel.as_ref() == Some(agent);
                reasoning::draw_for(
                    f,
                    *cell,
                    app,
                    Some(agent),
                    focused,
                    if focused { app.reasoning_scroll } else { 0 },
                );
            }
        }
    }
}
