//! A task's detail: description, dependencies, attempts, evidence, files changed, and its
//! agent's transcript.

use super::super::app::App;
use super::super::panes::{frame, reasoning, task_glyph, task_style, visible, wrap};
use crate::domain::TaskId;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

pub fn draw(f: &mut Frame, area: Rect, app: &App, task: &TaskId, scroll: usize) {
    let theme = app.theme();
    let s = &app.view.state;
    let Some(t) = s.task(task) else { return };
    let rect = Rect {
        x: area.x + 2,
        y: area.y + 1,
        width: area.width.saturating_sub(4),
        height: area.height.saturating_sub(2),
    };
    f.render_widget(Clear, rect);
    let block = frame(
        format!(
            " {} {} · {} · {} diff ",
            t.id,
            t.title,
            super::scroll_hint(app),
            app.keymap.key_for(super::super::action::Action::Diff)
        ),
        true,
        theme,
    );
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<12}"), theme.dim),
            Span::styled(visible(value), theme.base),
        ])
    };
    lines.push(Line::from(vec![
        Span::styled(format!("{:<12}", "status"), theme.dim),
        Span::styled(
            visible(format!(
                "{} {} — {}",
                task_glyph(t.status),
                t.status,
                t.status_reason
            )),
            task_style(t.status, theme),
        ),
    ]));
    lines.push(field("role", t.role.clone()));
    lines.push(field(
        "agent",
        t.agent.as_ref().map_or("-".into(), ToString::to_string),
    ));
    lines.push(field("attempts", t.attempts.to_string()));
    let deps: Vec<String> = t
        .depends_on
        .iter()
        .map(|d| {
            format!(
                "{d} ({})",
                s.task(d).map_or("?".into(), |x| x.status.to_string())
            )
        })
        .collect();
    lines.push(field(
        "depends on",
        if deps.is_empty() {
            "-".into()
        } else {
            deps.join(", ")
        },
    ));
    lines.push(field(
        "cost",
        format!(
            "${:.4} · {} tokens · {} turns",
            t.cost_usd,
            t.usage.total(),
            t.turns
        ),
    ));
    lines.push(Line::raw(""));
    for row in wrap(&t.description, w) {
        lines.push(Line::styled(row, theme.base));
    }
    if !t.failures.is_empty() {
        lines.push(Line::styled("Failed attempts:", theme.error));
        for fl in &t.failures {
            for row in wrap(&format!("- {fl}"), w) {
                lines.push(Line::styled(row, theme.error));
            }
        }
    }
    if let Some(r) = &t.replaced_by {
        lines.push(field("replaced by", r.to_string()));
    }
    if let Some(b) = &t.branch {
        lines.push(field(
            "branch",
            crate::domain::sanitize::line(b).into_owned(),
        ));
    }
    if let Some(w) = &t.worktree {
        lines.push(field(
            "worktree",
            crate::domain::sanitize::line(w).into_owned(),
        ));
    }
    if let Some(m) = &t.merge {
        lines.push(field("merged", m.get(..12).unwrap_or(m).to_owned()));
    }
    if t.status == crate::domain::TaskStatus::Conflict {
        for row in wrap(
            "In conflict: its agent resolves it, or edit the files in the worktree yourself and press r to merge it as yours (x cancels the task).",
            w,
        ) {
            lines.push(Line::styled(row, theme.warn));
        }
    }
    if let Some(a) = &t.acceptance {
        lines.push(Line::styled("Acceptance:", theme.title));
        lines.extend(wrap(a, w).into_iter().map(|r| Line::styled(r, theme.base)));
    }
    if let Some(c) = &t.check {
        let last = match &t.last_check {
            Some((true, _)) => " (passed)",
            Some((false, _)) => " (failed last time)",
            None => "",
        };
        lines.push(field("check", format!("{c}{last}")));
        if let Some((false, tail)) = &t.last_check {
            lines.extend(
                tail.lines()
                    .flat_map(|l| wrap(l, w))
                    .map(|r| Line::styled(r, theme.error)),
            );
        }
    }
    if !t.guidance.is_empty() {
        lines.push(Line::styled("Supervisor's guidance:", theme.title));
        for g in &t.guidance {
            for row in wrap(&format!("- {g}"), w) {
                lines.push(Line::styled(row, theme.base));
            }
        }
    }
    if let Some(sum) = &t.summary {
        lines.push(Line::styled("Summary:", theme.title));
        lines.extend(
            wrap(sum, w)
                .into_iter()
                .map(|r| Line::styled(r, theme.base)),
        );
    }
    if let Some(ev) = &t.evidence {
        lines.push(Line::styled("Evidence:", theme.title));
        lines.extend(
            ev.lines()
                .flat_map(|l| wrap(l, w))
                .map(|r| Line::styled(r, theme.dim)),
        );
    }
    if !t.artifacts.is_empty() {
        lines.push(Line::styled("Files changed:", theme.title));
        lines.extend(t.artifacts.iter().map(|a| {
            let counts = t
                .diffstat
                .get(a)
                .map(|c| format!("  +{} -{}", c.added, c.removed))
                .unwrap_or_default();
            Line::from(vec![
                Span::styled(visible(format!("  {a}")), theme.base),
                Span::styled(counts, theme.dim),
            ])
        }));
    }
    if let Some(tr) = t.agent.as_ref().and_then(|a| app.view.transcripts.get(a)) {
        lines.push(Line::styled(
            visible(format!(
                "Transcript of {}:",
                t.agent.as_ref().map_or("", |a| a.as_str())
            )),
            theme.title,
        ));
        lines.extend(reasoning::rows_in(app, tr, w, 400));
    }
    let max = lines.len().saturating_sub(inner.height as usize);
    app.scroll_max.set(max);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll.min(max) as u16, 0))
            .style(theme.base),
        inner,
    );
}
