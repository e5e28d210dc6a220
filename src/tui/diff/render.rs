//! Draws the diff review: a title that says whether a merge review waits, the rows on screen
//! (file headers, hunk headers, lines with their numbers, comments under their lines), the
//! comment input, the file list, and a footer with the answer to the last key or the keys.
//!
//! Colours come from the theme by a line's role: added `ok`, removed `error`, hunk headers
//! `info`, file headers `title`, comments `warn`; changed words are reversed. Every text from
//! the diff passes through the sanitiser on its way to a cell.

use super::parse::{DiffLine, LineKind};
use super::review;
use super::view::{Body, DiffView, Row};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::panes::{fit, frame, visible};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

/// Columns of the gutter: cursor mark, old number, new number, `+`/`-` mark.
const GUTTER: usize = 14;

pub fn draw(f: &mut Frame, area: Rect, app: &App, v: &DiffView) {
    let theme = app.theme();
    f.render_widget(Clear, area);
    let block = frame(title(app, v), true, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let input_h = if v.input.is_some() { 3 } else { 0 };
    let [body, input, footer] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(input_h),
        Constraint::Length(1),
    ])
    .areas(inner);
    match &v.body {
        Body::Loading => message(f, body, "loading… (git is making the diff)", theme.dim),
        Body::Failed(why) => message(f, body, why, theme.warn),
        Body::Ready(d) if d.files.is_empty() => message(
            f,
            body,
            "no changes: the task's files are as they were at its base",
            theme.dim,
        ),
        Body::Ready(_) => rows(f, body, app, v),
    }
    if let Some(c) = &v.input {
        let block = frame(c.title(), true, theme);
        let inner = block.inner(input);
        f.render_widget(block, input);
        f.render_widget(&c.area, inner);
    }
    footer_line(f, footer, app, v);
    if let Some(sel) = v.files {
        file_list(f, body, app, v, sel);
    }
}

fn message(f: &mut Frame, area: Rect, text: &str, style: Style) {
    let lines: Vec<Line> = crate::tui::panes::wrap(text, area.width.max(1) as usize)
        .into_iter()
        .map(|r| Line::styled(r, style))
        .collect();
    f.render_widget(Paragraph::new(lines), area);
}

/// ` Diff of T3 <title> · 4 files +30 -7 · merge review A7 waits: a approves, R requests changes `
fn title(app: &App, v: &DiffView) -> String {
    let s = &app.view.state;
    let name = s
        .task(&v.task)
        .map_or(String::new(), |t| format!(" {}", fit(&t.title, 40)));
    let mut parts = vec![format!("Diff of {}{name}", v.task)];
    if let Some(d) = v.diff() {
        let (a, r) = d.files.iter().fold((0u64, 0u64), |(a, r), f| {
            (a + u64::from(f.added), r + u64::from(f.removed))
        });
        let n = d.files.len();
        parts.push(format!(
            "{n} file{} +{a} -{r}",
            if n == 1 { "" } else { "s" }
        ));
    }
    match review::pending_review(s, &v.task) {
        Some(id) => parts.push(format!("merge review {id} waits")),
        None => parts.push("no merge review waits".into()),
    }
    if !v.comments.is_empty() {
        let n = v.comments.len();
        parts.push(format!("{n} comment{}", if n == 1 { "" } else { "s" }));
    }
    format!(" {} ", parts.join(" · "))
}

fn footer_line(f: &mut Frame, area: Rect, app: &App, v: &DiffView) {
    let theme = app.theme();
    if let Some(msg) = &app.status {
        f.render_widget(
            Paragraph::new(Line::styled(visible(format!(" {msg}")), theme.accent)),
            area,
        );
        return;
    }
    let k = |a| app.keymap.key_for(a);
    let hints: Vec<(String, &str)> = if v.files.is_some() {
        vec![
            (format!("{}/{}", k(Action::Down), k(Action::Up)), "move"),
            (k(Action::Open), "jump"),
            (k(Action::FileList), "close list"),
        ]
    } else {
        // The answers first: they are what the review is for.
        let mut h = Vec::new();
        if app.can_steer {
            h.push((k(Action::ApproveMerge), "approve"));
            h.push((k(Action::RequestChanges), "request changes"));
        }
        h.extend([
            (k(Action::Comment), "comment"),
            (k(Action::Uncomment), "uncomment"),
            (
                format!("{}/{}", k(Action::NextHunk), k(Action::PrevHunk)),
                "hunk",
            ),
            (
                format!("{}/{}", k(Action::NextFile), k(Action::PrevFile)),
                "file",
            ),
            (k(Action::FileList), "files"),
            (k(Action::Close), "close"),
        ]);
        h
    };
    let mut spans = Vec::new();
    let mut width = 0;
    for (key, what) in hints {
        let (key, what) = (format!(" {key} "), format!(" {what} "));
        width += key.chars().count() + what.chars().count();
        if width > area.width as usize {
            break;
        }
        spans.push(Span::styled(key, theme.selection));
        spans.push(Span::styled(what, theme.dim));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The rows on screen, from the first one that keeps the cursor in view.
fn rows(f: &mut Frame, area: Rect, app: &App, v: &DiffView) {
    let theme = app.theme();
    let height = area.height as usize;
    v.page.set(height.saturating_sub(1).max(1));
    // No empty screen below the last row while there are rows above.
    let mut top = v.top.get().min(v.rows.len().saturating_sub(height));
    if v.cursor < top {
        top = v.cursor;
    } else if v.cursor >= top + height {
        top = v.cursor + 1 - height;
    }
    v.top.set(top);
    let width = area.width as usize;
    let Some(diff) = v.diff() else { return };
    let lines: Vec<Line> = v
        .rows
        .iter()
        .enumerate()
        .skip(top)
        .take(height)
        .map(|(i, row)| {
            let mut line = match *row {
                Row::File(fi) => {
                    let file = &diff.files[fi];
                    Line::from(vec![
                        Span::styled(
                            fit(&format!("▍{} ", file.label()), width.saturating_sub(16)),
                            theme.title.add_modifier(Modifier::BOLD),
                        ),
                        Span::styled(format!("+{}", file.added), theme.ok),
                        Span::styled(format!(" -{}", file.removed), theme.error),
                    ])
                }
                Row::Note(fi, n) => Line::styled(
                    fit(&format!("  {}", diff.files[fi].notes[n]), width),
                    theme.dim,
                ),
                Row::Hunk(fi, hi) => Line::styled(
                    fit(&format!("  {}", diff.files[fi].hunks[hi].header), width),
                    theme.info,
                ),
                Row::Line(fi, hi, li) => {
                    code_line(&diff.files[fi].hunks[hi].lines[li], width, theme)
                }
                Row::Comment(ci) => match v.comments.get(ci) {
                    Some(c) => Line::styled(
                        fit(&format!("{:GUTTER$}▸ {}", "", c.text), width),
                        theme.warn.add_modifier(Modifier::BOLD),
                    ),
                    None => Line::raw(""),
                },
                Row::Cut => Line::styled(
                    "  the diff is cut here: it is larger than 4 MiB",
                    theme.warn,
                ),
            };
            if i == v.cursor {
                cursor_mark(&mut line, theme);
            }
            line
        })
        .collect();
    f.render_widget(Paragraph::new(lines).style(theme.base), area);
}

/// The cursor's row: a mark at its start, in the selection's colours.
fn cursor_mark(line: &mut Line, theme: &Theme) {
    match line.spans.first_mut() {
        Some(first) if first.content.starts_with(' ') => {
            let rest: String = first.content.chars().skip(1).collect();
            let style = first.style;
            *first = Span::styled(rest, style);
            line.spans.insert(0, Span::styled("▶", theme.selection));
        }
        _ => line.spans.insert(0, Span::styled("▶", theme.selection)),
    }
    for s in &mut line.spans {
        s.style = s.style.add_modifier(Modifier::BOLD);
    }
}

/// ` 12   13 + text` with the changed words reversed; tabs as four spaces; cut to `width`.
fn code_line(l: &DiffLine, width: usize, theme: &Theme) -> Line<'static> {
    let num = |n: Option<u32>| n.map_or(String::new(), |n| n.to_string());
    let (mark, style) = match l.kind {
        LineKind::Added => ('+', theme.ok),
        LineKind::Removed => ('-', theme.error),
        LineKind::Context => (' ', theme.base),
        LineKind::NoNewline => {
            return Line::styled(
                fit(&format!("{:GUTTER$}\\{}", "", l.text), width),
                theme.dim,
            );
        }
    };
    let gutter = format!(" {:>5} {:>5} {mark}", num(l.old), num(l.new));
    let mut spans = vec![Span::styled(gutter, theme.dim)];
    spans[0].style = match l.kind {
        LineKind::Context => theme.dim,
        _ => style,
    };
    let mut room = width.saturating_sub(GUTTER);
    let mut at = 0;
    let mut pieces: Vec<(&str, bool)> = Vec::new();
    for r in &l.emphasis {
        let (Some(before), Some(marked)) = (l.text.get(at..r.start), l.text.get(r.clone())) else {
            break;
        };
        pieces.push((before, false));
        pieces.push((marked, true));
        at = r.end;
    }
    pieces.push((l.text.get(at..).unwrap_or(""), false));
    for (text, marked) in pieces {
        if room == 0 {
            break;
        }
        if text.is_empty() {
            continue;
        }
        let shown = clip(&text.replace('\t', "    "), &mut room);
        let s = if marked {
            style.add_modifier(Modifier::REVERSED)
        } else {
            style
        };
        spans.push(Span::styled(visible(shown), s));
    }
    Line::from(spans)
}

/// The start of `text` that fits in `room` columns (as the sanitiser will show it: one column a
/// control mark); `room` shrinks by what it takes.
fn clip(text: &str, room: &mut usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    for c in text.chars() {
        let w = if c.is_control() {
            1
        } else {
            c.width().unwrap_or(1)
        };
        if w > *room {
            *room = 0;
            break;
        }
        *room -= w;
        out.push(c);
    }
    out
}

/// The file list over the rows: each file with its counts; Enter jumps to it.
fn file_list(f: &mut Frame, area: Rect, app: &App, v: &DiffView, sel: usize) {
    let theme = app.theme();
    let Some(d) = v.diff() else { return };
    let w = area.width.min(90);
    let h = (d.files.len() as u16 + 2).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y,
        width: w,
        height: h,
    };
    f.render_widget(Clear, rect);
    let block = frame(
        format!(
            " files · {} jumps · {} closes ",
            app.keymap.key_for(Action::Open),
            app.keymap.key_for(Action::FileList)
        ),
        true,
        theme,
    );
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let height = inner.height as usize;
    let first = sel.saturating_sub(height.saturating_sub(1));
    let inner_w = inner.width as usize;
    let lines: Vec<Line> = d
        .files
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, file)| {
            let counts = format!(
                "{:>6} {:>6}  ",
                format!("+{}", file.added),
                format!("-{}", file.removed)
            );
            // The name fills the row, so the selection spans it whole.
            let name_w = inner_w.saturating_sub(counts.chars().count());
            let name = fit(&file.label(), name_w);
            let mut spans = vec![
                Span::styled(counts, theme.dim),
                Span::styled(format!("{name:<name_w$}"), theme.base),
            ];
            if i == sel {
                for s in &mut spans {
                    s.style = theme.selection;
                }
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(Paragraph::new(lines).style(theme.base), inner);
}
