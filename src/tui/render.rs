//! Lays out the screen and draws every pane and popup. Pure drawing from the `App`.
//!
//! At 120 columns and up: agents | reasoning | task graph side by side, logs below. Narrower
//! (down to 80×24): agents over the task graph on the left, reasoning on the right.

use super::app::{App, Focus};
use super::panes::{agents, approvals, grid, header, hints, logs, reasoning, task_graph, visible};
use super::popups::{self, Popup};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

pub fn draw(f: &mut Frame, app: &App, now_ms: u64) {
    let area = f.area();
    let theme = app.theme();
    f.render_widget(Block::default().style(theme.base), area);
    let composer_h = match &app.popup {
        Some(Popup::Composer(c)) => c.height(),
        _ => 0,
    };
    let logs_h = if app.zoomed || app.grid {
        0
    } else if area.height >= 36 {
        9
    } else {
        6
    };
    let [head, body, logs_area, appr, comp, hint] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(logs_h),
        Constraint::Length(approvals::height(app)),
        Constraint::Length(composer_h),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(f, head, app, now_ms);
    if app.grid {
        grid::draw(f, body, app);
    } else if app.zoomed {
        match app.focus {
            Focus::Agents => agents::draw(f, body, app),
            Focus::Reasoning => reasoning::draw(f, body, app),
            Focus::Tasks => task_graph::draw(f, body, app),
            Focus::Logs => logs::draw(f, body, app),
        }
    } else {
        body_panes(f, body, app);
        logs::draw(f, logs_area, app);
    }
    approvals::draw(f, appr, app);
    hints::draw(f, hint, app);
    match &app.popup {
        Some(Popup::Composer(c)) => {
            let block = super::panes::frame(c.title(), true, theme);
            let inner = block.inner(comp);
            f.render_widget(block, comp);
            f.render_widget(&c.area, inner);
        }
        Some(Popup::Help { filter, scroll }) => popups::help::draw(f, body, app, filter, *scroll),
        Some(Popup::Detail { task, scroll }) => popups::detail::draw(f, body, app, task, *scroll),
        // The review takes the whole screen below the header; its footer stands for the hints.
        Some(Popup::Diff(v)) => {
            let below = Rect {
                y: area.y + 1,
                height: area.height.saturating_sub(1),
                ..area
            };
            super::diff::render::draw(f, below, app, v);
        }
        Some(Popup::LogEntry(line)) => {
            let title = format!(" log #{} · Esc closes ", line.seq);
            let text = vec![
                Line::styled(
                    visible(format!(
                        "{} {} {}",
                        crate::domain::describe::clock(line.ts_ms),
                        line.level,
                        line.who
                    )),
                    theme.dim,
                ),
                Line::styled(visible(line.text.clone()), theme.base),
            ];
            text_box(f, centered(body, 80, 10), title, text, theme);
        }
        Some(Popup::Text {
            title,
            lines,
            scroll,
            ..
        }) => {
            app.scroll_max.set(lines.len().saturating_sub(1));
            let height = u16::try_from(lines.len()).unwrap_or(u16::MAX).max(1);
            let text: Vec<Line> = lines
                .iter()
                .skip(*scroll)
                .map(|l| Line::styled(visible(l.clone()), theme.base))
                .collect();
            let title = format!(" {title} · Esc closes ");
            text_box(f, centered(body, 96, height), title, text, theme);
        }
        Some(Popup::Confirm(c)) => {
            let rect = centered(body, 64, 3);
            f.render_widget(Clear, rect);
            let block = super::panes::frame(" confirm ", true, theme);
            f.render_widget(
                Paragraph::new(Line::styled(
                    c.question(
                        &app.keymap.key_for(super::action::Action::Approve),
                        &app.keymap.key_for(super::action::Action::Deny),
                    ),
                    theme.warn,
                ))
                .block(block)
                .style(theme.base),
                rect,
            );
        }
        None => {}
    }
}

fn body_panes(f: &mut Frame, body: Rect, app: &App) {
    if body.width >= 120 {
        let [a, r, t] = Layout::horizontal([
            Constraint::Percentage(24),
            Constraint::Percentage(46),
            Constraint::Percentage(30),
        ])
        .areas(body);
        agents::draw(f, a, app);
        reasoning::draw(f, r, app);
        task_graph::draw(f, t, app);
    } else {
        let [left, r] = Layout::horizontal([
            Constraint::Length(body.width.clamp(24, 34)),
            Constraint::Min(20),
        ])
        .areas(body);
        let [a, t] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(left);
        agents::draw(f, a, app);
        task_graph::draw(f, t, app);
        reasoning::draw(f, r, app);
    }
}

/// A framed popup of wrapped text over whatever is below it.
fn text_box(f: &mut Frame, rect: Rect, title: String, text: Vec<Line>, theme: &Theme) {
    f.render_widget(Clear, rect);
    let block = super::panes::frame(title, true, theme);
    f.render_widget(
        Paragraph::new(text)
            .block(block)
            .wrap(Wrap { trim: false })
            .style(theme.base),
        rect,
    );
}

/// A `w`×`h` area (plus its frame) in the middle of `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = (h + 2).min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
