//! The header: run, goal, status with its reason, elapsed time, tokens, spend against the
//! budget, and the provider badge (SIMULATED for the simulated company).

use super::super::app::App;
use super::{fit, tokens};
use crate::domain::RunStatus;
use crate::export::{duration, usd};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(f: &mut Frame, area: Rect, app: &App, now_ms: u64) {
    let theme = app.theme();
    let s = &app.view.state;
    let Some(info) = s.info.as_ref() else {
        f.render_widget(
            Paragraph::new(" macrohard · connecting…").style(theme.base),
            area,
        );
        return;
    };
    let elapsed = s.active_ms_at(now_ms);
    let status_style = match s.status {
        RunStatus::Running | RunStatus::Planning => theme.ok.add_modifier(Modifier::BOLD),
        RunStatus::Paused => theme.warn.add_modifier(Modifier::BOLD | Modifier::REVERSED),
        RunStatus::Completed => theme.ok.add_modifier(Modifier::BOLD),
        RunStatus::Failed | RunStatus::Cancelled => theme.error,
    };
    let spend = match s.budget.usd {
        Some(limit) if limit > 0.0 => {
            let frac = (s.cost_usd / limit).clamp(0.0, 1.0);
            let filled = (frac * 10.0).round() as usize;
            format!(
                "{} / ${limit:.2} [{}{}]",
                usd(s.cost_usd, s.unpriced_requests),
                "█".repeat(filled),
                "░".repeat(10 - filled)
            )
        }
        _ if !s.budget.is_unlimited() => s.budget.against(&s.spend()),
        _ => usd(s.cost_usd, s.unpriced_requests),
    };
    let holds = if s.budget_holds.is_empty() {
        String::new()
    } else {
        format!("⏸ {} over budget · ", s.budget_holds.len())
    };
    let sandbox = match &s.sandbox {
        Some(sb) if !sb.complete => Span::styled(
            if sb.missing.is_empty() {
                " ⚠ SANDBOX INCOMPLETE ".to_owned()
            } else {
                format!(" ⚠ SANDBOX: no full {} ", sb.missing.join(", "))
            },
            theme
                .error
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        _ => Span::raw(""),
    };
    let badge = if info.simulated {
        Span::styled(
            " SIMULATED ",
            theme.simulated.add_modifier(Modifier::REVERSED),
        )
    } else {
        Span::styled(
            super::visible(format!(" {}/{} ", info.provider, info.model)),
            theme.accent,
        )
    };
    let readonly = if app.can_steer {
        Span::raw("")
    } else {
        Span::styled(" READ-ONLY ", theme.dim.add_modifier(Modifier::REVERSED))
    };
    let right = format!(
        " {holds}{} · {} · {} tok · {spend} ",
        info.autonomy,
        duration(elapsed),
        tokens(s.usage.total())
    );
    let status = format!(" {} ", s.status.label().to_uppercase());
    let fixed = 12
        + status.len()
        + right.chars().count()
        + badge.content.chars().count()
        + sandbox.content.chars().count()
        + readonly.content.chars().count();
    let room = (area.width as usize).saturating_sub(fixed);
    let run_id: String = info.id.as_str().chars().take(10).collect();
    let goal_reason = format!("{run_id} · {} — {}", info.goal, s.status_reason);
    let line = Line::from(vec![
        Span::styled(" macrohard ", theme.title),
        Span::styled(fit(&goal_reason, room), theme.base),
        Span::raw(" "),
        Span::styled(status, status_style),
        Span::styled(right, theme.base),
        readonly,
        sandbox,
        badge,
    ]);
    f.render_widget(Paragraph::new(line).style(theme.base), area);
}
