//! The key-hint line for the focused pane, or the answer to the last command.

use super::super::action::Action;
use super::super::app::{App, Focus};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    if let Some(msg) = &app.status {
        f.render_widget(
            Paragraph::new(Line::styled(
                super::visible(format!(" {msg}")),
                theme.accent,
            )),
            area,
        );
        return;
    }
    let pane: &[Action] = match app.focus {
        Focus::Agents => &[
            Action::Down,
            Action::PauseAgent,
            Action::Inject,
            Action::Open,
        ],
        Focus::Reasoning => &[
            Action::Up,
            Action::Bottom,
            Action::Open,
            Action::ToggleRaw,
            Action::Filter,
            Action::Inject,
        ],
        Focus::Tasks => &[
            Action::Down,
            Action::Open,
            Action::Diff,
            Action::Retry,
            Action::Cancel,
        ],
        Focus::Logs => &[Action::Up, Action::Filter, Action::Open],
    };
    let common = [
        Action::PauseRun,
        Action::FocusNext,
        Action::Zoom,
        Action::CommandLine,
        Action::Help,
        Action::Detach,
    ];
    let mut spans = Vec::new();
    let mut width = 0;
    // A read-only viewer is shown only the keys it can use.
    for a in pane
        .iter()
        .chain(common.iter())
        .filter(|a| app.can_steer || !a.steers())
    {
        let (k, d) = (
            format!(" {} ", app.keymap.key_for(*a)),
            match (app.focus, *a) {
                (Focus::Reasoning, Action::Open) => " unfold ".to_owned(),
                _ => format!(" {} ", short(*a)),
            },
        );
        width += k.chars().count() + d.chars().count();
        if width > area.width as usize {
            break;
        }
        spans.push(Span::styled(k, theme.selection));
        spans.push(Span::styled(d, theme.dim));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn short(a: Action) -> &'static str {
    match a {
        Action::Down | Action::Up => "move",
        Action::PauseAgent => "pause agent",
        Action::Inject => "message",
        Action::Open => "open",
        Action::Bottom => "follow",
        Action::Filter => "search",
        Action::Retry => "retry",
        Action::Cancel => "cancel",
        Action::PauseRun => "pause run",
        Action::FocusNext => "pane",
        Action::Zoom => "zoom",
        Action::ToggleView => "grid",
        Action::ToggleRaw => "raw",
        Action::CommandLine => "command",
        Action::Help => "help",
        Action::Detach => "detach",
        _ => a.name(),
    }
}
