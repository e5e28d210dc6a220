//! The help overlay, generated from the keymap and the command line's words; typing filters it.

use super::super::action::Action;
use super::super::app::App;
use super::command_line;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

pub fn draw(f: &mut Frame, area: Rect, app: &App, filter: &str, scroll: usize) {
    let theme = app.theme();
    let needle = filter.to_lowercase();
    let mut lines = Vec::new();
    // A read-only viewer is shown only what it can use.
    for a in Action::ALL
        .into_iter()
        .filter(|a| app.can_steer || !a.steers())
    {
        let keys = app.keymap.keys_for(a).join(" ");
        let text = format!("{} {} {}", keys, a.name(), a.description());
        if !needle.is_empty() && !text.to_lowercase().contains(&needle) {
            continue;
        }
        lines.push(Line::from(vec![
            Span::styled(format!(" {keys:<14}"), theme.accent),
            Span::styled(format!(":{:<16}", a.name()), theme.dim),
            Span::styled(a.description(), theme.base),
        ]));
    }
    for (word, text) in
        command_line::help_lines().filter(|(w, _)| app.can_steer || !command_line::steers(w))
    {
        if !needle.is_empty() && !format!("{word} {text}").to_lowercase().contains(&needle) {
            continue;
        }
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<14}", ""), theme.accent),
            Span::styled(format!(":{word:<16}"), theme.dim),
            Span::styled(text, theme.base),
        ]));
    }
    let w = area.width.min(96);
    let h = area.height.saturating_sub(2).min(lines.len() as u16 + 3);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + 1,
        width: w,
        height: h.max(5),
    };
    f.render_widget(Clear, rect);
    let block_inner = rect.height.saturating_sub(2) as usize;
    let max_scroll = lines.len().saturating_sub(block_inner);
    app.scroll_max.set(max_scroll);
    // What is typed, where the page is when there is more than one, and the keys.
    let mut parts = vec!["Help".to_owned()];
    if !filter.is_empty() {
        parts.push(format!("filter: {filter}"));
    }
    if max_scroll > 0 {
        let first = scroll.min(max_scroll) + 1;
        let last = (first + block_inner - 1).min(lines.len());
        parts.push(format!("{first}-{last} of {}", lines.len()));
        parts.push(super::scroll_hint(app));
    } else {
        parts.push(format!("{} closes", app.keymap.key_for(Action::Close)));
    }
    if filter.is_empty() {
        parts.push("type to filter".to_owned());
    }
    let title = format!(" {} ", parts.join(" · "));
    let block = super::super::panes::frame(title, true, theme);
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    f.render_widget(
        Paragraph::new(lines)
            .style(theme.base)
            .scroll((scroll.min(max_scroll) as u16, 0)),
        inner,
    );
}
