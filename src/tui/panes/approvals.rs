//! The approvals bar: requests waiting for a person, oldest first, with the keys that answer.

use super::super::action::Action;
use super::super::app::App;
use super::fit;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn height(app: &App) -> u16 {
    u16::from(app.view.state.pending_approvals().next().is_some())
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme();
    let pending: Vec<_> = app.view.state.pending_approvals().collect();
    let Some(a) = pending.first() else { return };
    let k = |act| app.keymap.key_for(act);
    // Remote code is never approved always: its "always" key approves once, and says so.
    let remote = a.label.as_ref().is_some_and(|r| r.remote_code);
    // A read-only viewer cannot answer: it is shown only how to look closer.
    let keys = if app.can_steer {
        format!(
            " {} approve · {} {} · {} deny · {} examine ",
            k(Action::Approve),
            k(Action::ApproveAlways),
            if remote { "once only" } else { "always" },
            k(Action::Deny),
            k(Action::Examine)
        )
    } else {
        format!(" {} examine ", k(Action::Examine))
    };
    let more = if pending.len() > 1 {
        format!(" (+{} more)", pending.len() - 1)
    } else {
        String::new()
    };
    let task = a.task.as_ref().map(|t| format!(" {t}")).unwrap_or_default();
    let head = format!(" ⚠ {} {}{task}{more}: ", a.id, a.agent);
    // The risk badges come first, so a narrow terminal cuts the summary, never the risk.
    let (badges, touches) = match &a.label {
        Some(r) => (format!("[{}] ", r.badges()), r.touches.clone()),
        None => (String::new(), a.risk.clone()),
    };
    let room = (area.width as usize)
        .saturating_sub(head.chars().count() + keys.chars().count() + badges.chars().count());
    let what = fit(&format!("{} — touches {touches}", a.summary), room);
    let badge_style = match &a.label {
        Some(r) if !r.reversible || r.network => theme.error.add_modifier(Modifier::BOLD),
        _ => theme.warn.add_modifier(Modifier::BOLD),
    };
    let line = Line::from(vec![
        Span::styled(
            head,
            theme.warn.add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::styled(badges, badge_style),
        Span::styled(format!("{what:<room$}"), theme.warn),
        Span::styled(keys, theme.selection),
    ]);
    f.render_widget(Paragraph::new(line), area);
}
