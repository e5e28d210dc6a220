//! The selected agent's reasoning: streaming text with tool calls and results inline. Only the
//! rows on screen are wrapped and drawn. Scrolled back, it stays put while text arrives; at the
//! bottom it follows.

use super::super::action::Action;
use super::super::app::{App, Focus};
use super::super::markdown_rows;
use super::super::theme::Theme;
use super::super::transcript::{Mode, Transcript};
use super::frame;
use crate::domain::AgentId;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

/// The rows that fill `height` at `width`, ending `scroll` logical lines above the bottom, as
/// the rendered view with tool entries folded.
pub fn rows(
    t: &Transcript,
    width: usize,
    height: usize,
    scroll: usize,
    theme: &Theme,
    search: Option<&str>,
) -> Vec<Line<'static>> {
    markdown_rows::rows(
        t,
        &markdown_rows::Opts {
            width,
            height,
            scroll,
            theme,
            search,
            mode: Mode::default(),
            unfold_key: "Enter",
        },
    )
}

/// The last `height` rows of `t` at `width`, as the reasoning shows it now (rendered or raw,
/// tool entries folded or not).
pub fn rows_in(app: &App, t: &Transcript, width: usize, height: usize) -> Vec<Line<'static>> {
    let unfold_key = app.keymap.key_for(Action::Open);
    markdown_rows::rows(
        t,
        &markdown_rows::Opts {
            width,
            height,
            scroll: 0,
            theme: app.theme(),
            search: None,
            mode: app.transcript_mode(),
            unfold_key: &unfold_key,
        },
    )
}

pub fn draw_for(
    f: &mut Frame,
    area: Rect,
    app: &App,
    agent: Option<&AgentId>,
    focused: bool,
    scroll: usize,
) {
    let theme = app.theme();
    let s = &app.view.state;
    let title = match agent.and_then(|a| s.agent(a)) {
        Some(a) => {
            let task = a
                .task
                .as_ref()
                .and_then(|t| s.task(t))
                .map(|t| format!(" · {} {}", t.id, t.title))
                .unwrap_or_default();
            let back = if scroll > 0 {
                format!(" · ↑{scroll} (G follows)")
            } else {
                String::new()
            };
            let raw = if app.raw { " · raw" } else { "" };
            format!(" 2 Reasoning: {}{task}{raw}{back} ", a.id)
        }
        None => " 2 Reasoning ".to_owned(),
    };
    let block = frame(title, focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let unfold_key = app.keymap.key_for(Action::Open);
    let text = match agent.and_then(|a| app.view.transcripts.get(a)) {
        Some(t) if !t.is_empty() => markdown_rows::rows(
            t,
            &markdown_rows::Opts {
                width: inner.width as usize,
                height: inner.height as usize,
                scroll,
                theme,
                search: app.search.as_deref(),
                mode: app.transcript_mode(),
                unfold_key: &unfold_key,
            },
        ),
        _ => vec![Line::styled("(nothing yet)", theme.dim)],
    };
    f.render_widget(Paragraph::new(text).style(theme.base), inner);
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    draw_for(
        f,
        area,
        app,
        app.selected_agent(),
        app.focus == Focus::Reasoning,
        app.reasoning_scroll,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::{ColorDepth, Themes};
    use crate::tui::transcript::LineKind;

    #[test]
    fn only_the_rows_on_screen_are_produced_and_scroll_holds_position() {
        let theme = Themes::load(None, ColorDepth::TrueColor)
            .unwrap()
            .list
            .remove(0);
        let mut t = Transcript::default();
        for i in 0..100_000 {
            t.push(LineKind::Text, &format!("line {i}"));
        }
        let r = rows(&t, 40, 5, 0, &theme, None);
        assert_eq!(r.len(), 5);
        assert_eq!(r[4].spans[0].content, "line 99999");
        let r = rows(&t, 40, 5, 10, &theme, None);
        assert_eq!(r[4].spans[0].content, "line 99989");
    }

    #[test]
    fn a_hostile_model_moves_no_cursor_and_reorders_no_text() {
        let theme = Themes::load(None, ColorDepth::TrueColor)
            .unwrap()
            .list
            .remove(0);
        let mut t = Transcript::default();
        t.delta(
            LineKind::Reasoning,
            "ok \u{1b}]0;title\u{7}\u{1b}[H\u{9b}2J \u{202e}txt.exe\u{2069}\u{200e}\u{61c}",
        );
        let r = rows(&t, 80, 3, 0, &theme, None);
        let shown: String = r
            .iter()
            .flat_map(|l| &l.spans)
            .map(|s| &*s.content)
            .collect();
        assert_eq!(shown, "ok ␛]0;title␇␛[H␛[2J �txt.exe���");
    }
}
