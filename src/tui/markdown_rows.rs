//! The rows of a transcript on screen: Markdown text, code with syntax colours, tool entries
//! folded or not, or the raw text.
//!
//! Invariants:
//! - only the lines that end up on screen are drawn: lines are taken from the bottom up until the
//!   rows are full, so the cost of a frame does not grow with the transcript;
//! - highlighting happens after, top down, for the code lines taken, with the parser's state
//!   found from at most [`highlight::MAX_BACK`] lines above the first one;
//! - every piece of text is sanitised before it is drawn (here or in [`markdown::spans`]).

use super::highlight::{self, Highlighter, KeptLines, Pieces};
use super::markdown::{self, Role};
use super::panes::wrap_spans;
use super::theme::Theme;
use super::transcript::{Ctx, LineKind, Mode, Transcript};
use crate::domain::sanitize;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use std::sync::Arc;
use syntect::parsing::SyntaxSet;

/// What to draw and how.
#[derive(Debug, Clone, Copy)]
pub struct Opts<'a> {
    pub width: usize,
    pub height: usize,
    /// Logical lines above the bottom.
    pub scroll: usize,
    pub theme: &'a Theme,
    pub search: Option<&'a str>,
    pub mode: Mode,
    /// The key that unfolds tool entries, named on their "… N more lines" line.
    pub unfold_key: &'a str,
}

pub fn style(kind: LineKind, theme: &Theme) -> Style {
    match kind {
        LineKind::Step | LineKind::Output | LineKind::Context => theme.dim,
        LineKind::Reasoning if theme.mono => theme.reasoning,
        LineKind::Reasoning => theme.reasoning.add_modifier(Modifier::ITALIC),
        LineKind::Text => theme.base,
        LineKind::ToolCall => theme.tool,
        LineKind::ToolOk | LineKind::Added => theme.ok,
        LineKind::ToolErr => theme.error,
        LineKind::Removed if theme.mono => theme.error,
        LineKind::Removed => theme.error.remove_modifier(Modifier::BOLD),
        LineKind::Approval => theme.warn,
        LineKind::Human => theme.human,
        LineKind::Task => theme.title,
        LineKind::Code => theme.code,
    }
}

fn piece(text: &str, style: Style) -> Span<'static> {
    Span::styled(sanitize::line(text).into_owned(), style)
}

/// A line of code as it shows: a gutter, then the code with tabs as spaces.
fn code_text(text: &str) -> String {
    text.replace('\t', "    ")
}

const GUTTER: &str = markdown::BAR;

/// A line taken for the screen: its index, and its rows unless it is code still to colour.
struct Taken {
    index: usize,
    rows: Option<Vec<Line<'static>>>,
    /// The code's block, for lines still to colour.
    block: Option<Arc<markdown::CodeBlock>>,
    hit: bool,
}

fn marked(spans: Vec<Span<'static>>, hit: bool) -> Vec<Span<'static>> {
    if !hit {
        return spans;
    }
    spans
        .into_iter()
        .map(|s| {
            let st = s.style.add_modifier(Modifier::REVERSED);
            s.style(st)
        })
        .collect()
}

/// A line's pieces, with how many of the first ones are its lead (see [`hanging`]).
type Pieced = (Vec<Span<'static>>, usize);

/// The pieces of line `i`, or `None` for a line of code (coloured in [`rows`]).
fn pieces(
    t: &Transcript,
    i: usize,
    o: &Opts,
) -> (Option<Pieced>, Option<Arc<markdown::CodeBlock>>) {
    let Some(line) = t.get(i) else {
        return (Some((Vec::new(), 0)), None);
    };
    let theme = o.theme;
    let st = style(line.kind, theme);
    if o.mode.raw {
        return (Some((vec![piece(&line.text, st)], 0)), None);
    }
    let code = |ctx: &Ctx| (None, ctx.block().cloned());
    match line.kind {
        k if k.is_markdown() => match markdown::role(&line.ctx, &line.text) {
            Role::Text => (Some(markdown::spans(&line.text, st, o.width, theme)), None),
            Role::Open(info) => {
                let lang = info.split_whitespace().next().unwrap_or("");
                (
                    Some((vec![piece(&format!("┌ {lang}"), theme.dim)], 0)),
                    None,
                )
            }
            Role::Close => (Some((vec![piece("└", theme.dim)], 0)), None),
            Role::Code => code(&line.ctx),
        },
        LineKind::Code => code(&line.ctx),
        _ if line.show.folded && !line.show.unfolded => (
            Some((
                vec![
                    piece(&line.text, theme.dim),
                    piece(&format!(" ({} unfolds)", o.unfold_key), theme.dim),
                ],
                0,
            )),
            None,
        ),
        _ => match line.text.split_at_checked(usize::from(line.lead)) {
            Some((lead, rest)) if !lead.is_empty() => {
                (Some((vec![piece(lead, st), piece(rest, st)], 1)), None)
            }
            _ => (Some((vec![piece(&line.text, st)], 0)), None),
        },
    }
}

/// The pieces of a line of code, plain (`None` highlighter) or coloured; the first is the
/// gutter.
fn code_spans(text: &str, pieces: Option<&Pieces>, theme: &Theme) -> Vec<Span<'static>> {
    let text = code_text(text);
    let mut out = vec![Span::styled(GUTTER, theme.dim)];
    match pieces {
        // Pieces of this very text: their ranges are in it, at char boundaries (syntect's).
        Some(p) if p.last().is_some_and(|l| l.0 as usize == text.len()) => {
            for (r, role) in highlight::ranges(p) {
                if let Some(t) = text.get(r) {
                    out.push(piece(t, highlight::style_of(role, theme)));
                }
            }
        }
        _ => out.push(piece(&text, theme.code)),
    }
    out
}

/// A line's rows at `width`, its first `lead` pieces (indent, bars, a list item's mark, a code
/// gutter) before the first row and as wide a space before the others, so a list item hangs,
/// and a quote or a line of code keeps its bar on every row. A lead wider than a third of the
/// width is not repeated.
fn hanging(mut spans: Vec<Span<'static>>, lead: usize, width: usize) -> Vec<Line<'static>> {
    let lead = lead.min(spans.len());
    let lead_width: usize = spans[..lead].iter().map(Span::width).sum();
    if lead_width == 0 || lead_width * 3 > width {
        return wrap_spans(spans, width);
    }
    let body = spans.split_off(lead);
    let again: Vec<Span<'static>> = spans
        .iter()
        .map(|s| match &*s.content {
            GUTTER => s.clone(),
            _ => Span::raw(" ".repeat(s.width())),
        })
        .collect();
    let mut first = Some(spans);
    wrap_spans(body, width - lead_width)
        .into_iter()
        .map(|row| {
            let mut out = first.take().unwrap_or_else(|| again.clone());
            out.extend(row.spans);
            Line::from(out)
        })
        .collect()
}

/// Colours the code lines of one frame, top down, from the lines and parser states kept by
/// earlier frames where it can: a complete line is parsed once, and a frame parses only lines
/// it has not seen (the open last one, each time).
struct Colourer<'a> {
    t: &'a Transcript,
    ss: Option<&'static SyntaxSet>,
    kept: std::sync::MutexGuard<'a, KeptLines>,
    /// The block being parsed, its highlighter (`None`: no syntax for it), the next line.
    cur: Option<(
        Arc<markdown::CodeBlock>,
        Option<Highlighter<'static>>,
        usize,
    )>,
}

impl Colourer<'_> {
    fn pieces(&mut self, i: usize, block: &Arc<markdown::CodeBlock>) -> Option<Pieces> {
        let ss = self.ss?;
        let id = self.t.id(i);
        if let Some(p) = self.kept.pieces(id) {
            return Some(p.clone());
        }
        let same = matches!(&self.cur, Some((b, _, next)) if Arc::ptr_eq(b, block) && *next <= i);
        if !same {
            self.finish();
            let h = match self.kept.state(id) {
                Some(st) => highlight::syntax_for(ss, &block.lang)
                    .map(|_| Highlighter::resume(ss, st.clone())),
                None => start(self.t, i, block, ss),
            };
            self.cur = Some((block.clone(), h, i));
        }
        let (_, h, next) = self.cur.as_mut()?;
        let h = h.as_mut()?;
        for j in *next..i {
            h.skip(&code_text(self.t.get(j).map_or("", |l| l.text.as_str())));
        }
        let complete = self.t.is_complete(i);
        if !complete {
            // The open line is parsed again each frame, from here.
            self.kept.keep_state(id, h.state());
        }
        let p = h.roles(&code_text(self.t.get(i).map_or("", |l| l.text.as_str())));
        *next = i + 1;
        if complete {
            self.kept.keep_pieces(id, p.clone());
        }
        Some(p)
    }

    /// Keeps the state where the current block's parse stopped, for the next frame.
    fn finish(&mut self) {
        if let Some((_, Some(h), next)) = self.cur.take() {
            if next > 0 && self.t.is_complete(next - 1) {
                self.kept.keep_state(self.t.id(next), h.state());
            }
        }
    }
}

/// The rows that fill `o.height` at `o.width`, ending `o.scroll` logical lines above the bottom.
pub fn rows(t: &Transcript, o: &Opts) -> Vec<Line<'static>> {
    let needle = o.search.map(str::to_lowercase);
    let end = t.len().saturating_sub(o.scroll);
    // Bottom up: which lines show, and how many rows each takes.
    let mut taken: Vec<Taken> = Vec::new();
    let mut filled = 0;
    let mut i = end;
    while i > 0 && filled < o.height {
        i -= 1;
        let Some(line) = t.get(i) else { break };
        if !o.mode.shows(line) {
            continue;
        }
        let hit = needle
            .as_ref()
            .is_some_and(|n| line.text.to_lowercase().contains(n));
        let (spans, block) = pieces(t, i, o);
        let rows = spans.map(|(s, lead)| hanging(marked(s, hit), lead, o.width));
        filled += match &rows {
            Some(r) => r.len(),
            None => hanging(code_spans(&line.text, None, o.theme), 1, o.width).len(),
        };
        taken.push(Taken {
            index: i,
            rows,
            block,
            hit,
        });
    }
    taken.reverse();
    // Top down: colour the code, then wrap everything.
    let mut colours = Colourer {
        t,
        ss: Some(highlight::load()),
        kept: t.kept().lock(),
        cur: None,
    };
    let mut out: Vec<Line<'static>> = Vec::with_capacity(filled);
    for k in taken {
        let spans = match (k.rows, &k.block) {
            (Some(rows), _) => {
                out.extend(rows);
                continue;
            }
            (None, block) => {
                let text = t.get(k.index).map_or("", |l| l.text.as_str());
                let pieces = block.as_ref().and_then(|b| colours.pieces(k.index, b));
                code_spans(text, pieces.as_ref(), o.theme)
            }
        };
        out.extend(hanging(marked(spans, k.hit), 1, o.width));
    }
    colours.finish();
    // The top line may take more rows than are left: its first rows go.
    let over = out.len().saturating_sub(o.height);
    out.drain(..over);
    out
}

/// A highlighter for `block` with its state at line `at`: parsed from the block's first line, or
/// from [`highlight::MAX_BACK`] lines above `at` when the block starts further up.
fn start(
    t: &Transcript,
    at: usize,
    block: &Arc<markdown::CodeBlock>,
    ss: &'static SyntaxSet,
) -> Option<Highlighter<'static>> {
    let syntax = highlight::syntax_for(ss, &block.lang)?;
    let mut h = Highlighter::new(ss, syntax);
    let floor = at.saturating_sub(highlight::MAX_BACK);
    let mut first = at;
    while first > floor
        && t.get(first - 1)
            .and_then(|l| l.ctx.block())
            .is_some_and(|b| Arc::ptr_eq(b, block))
    {
        first -= 1;
    }
    for j in first..at {
        h.skip(&code_text(t.get(j).map_or("", |l| l.text.as_str())));
    }
    Some(h)
}

#[cfg(test)]
mod tests;
