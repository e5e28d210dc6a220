//! Markdown of streamed model text, one line at a time.
//!
//! Text streams in small deltas, so nothing here parses a whole message. A line's block
//! context is only "inside which fenced code block, if any" ([`Ctx`]), found from the line
//! before it ([`after`]) once that line is complete. Everything else a line shows (heading, list
//! item, quote, rule, emphasis, inline code, links) comes from parsing that line alone with
//! pulldown-cmark ([`spans`]), for the lines on screen only.
//!
//! What a line-at-a-time reading gives up, on purpose: emphasis that spans lines, setext
//! headings, indented code blocks and tables show as their text.
//!
//! Every piece of text returned is sanitised ([`crate::domain::sanitize::line`]): no terminal
//! control of the model's reaches the screen, in a heading, a link's address or a language name.

use super::theme::Theme;
use super::transcript::Ctx;
use crate::domain::sanitize;
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use std::sync::Arc;

/// A code block: a fence in streamed text, or a file in a tool entry.
#[derive(Debug, PartialEq, Eq)]
pub struct CodeBlock {
    /// The fence's language or the file's extension (may be empty).
    pub lang: Box<str>,
    /// The fence's character and length; `None` for a block that no line closes.
    pub fence: Option<(char, usize)>,
}

impl CodeBlock {
    pub fn file(lang: &str) -> Arc<Self> {
        Arc::new(Self {
            lang: lang.into(),
            fence: None,
        })
    }
}

/// What a line of streamed text is.
#[derive(Debug, PartialEq, Eq)]
pub enum Role<'a> {
    /// Markdown text.
    Text,
    /// An opening fence, with its info string.
    Open(&'a str),
    /// The fence that closes the block the line is in.
    Close,
    /// A line of code in a block.
    Code,
}

fn fence_of(text: &str) -> Option<(char, usize, &str)> {
    let t = text.trim_start_matches([' ', '\t']);
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = t.chars().take_while(|c| *c == ch).count();
    if len < 3 {
        return None;
    }
    let info = t[len..].trim();
    // A backtick fence's info string holds no backtick (it would be inline code).
    (ch == '~' || !info.contains('`')).then_some((ch, len, info))
}

/// What `text` is, in context `ctx`.
pub fn role<'a>(ctx: &Ctx, text: &'a str) -> Role<'a> {
    match ctx.block().and_then(|b| b.fence) {
        Some((ch, len)) => match fence_of(text) {
            Some((c, l, "")) if c == ch && l >= len => Role::Close,
            _ => Role::Code,
        },
        None if ctx.block().is_some() => Role::Code,
        None => match fence_of(text) {
            Some((_, _, info)) => Role::Open(info),
            None => Role::Text,
        },
    }
}

/// The context of the line after the complete line `text` (in context `ctx`).
pub fn after(ctx: &Ctx, text: &str) -> Ctx {
    match role(ctx, text) {
        Role::Text | Role::Close => Ctx::Plain,
        Role::Code => ctx.clone(),
        Role::Open(info) => {
            let (ch, len, _) = fence_of(text).unwrap_or(('`', 3, ""));
            let lang = info.split_whitespace().next().unwrap_or("");
            Ctx::Code(Arc::new(CodeBlock {
                lang: lang.chars().take(40).collect::<String>().into(),
                fence: Some((ch, len)),
            }))
        }
    }
}

fn piece(text: &str, style: Style) -> Span<'static> {
    Span::styled(sanitize::line(text).into_owned(), style)
}

/// A quote's bar, which a code line's gutter is too: rows a line wraps onto repeat it.
pub const BAR: &str = "│ ";

/// The styled pieces of one line of Markdown text, drawn over `base` at `width` columns, and
/// how many of the first pieces are its lead (indent, quote bars, a list item's mark), which
/// rows the line wraps onto are indented by.
pub fn spans(text: &str, base: Style, width: usize, theme: &Theme) -> (Vec<Span<'static>>, usize) {
    let trimmed = text.trim_start_matches([' ', '\t']);
    let indent = text.len() - trimmed.len();
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut stack: Vec<Style> = vec![base];
    let mut list: Option<Option<u64>> = None;
    let mut link: Option<(String, String)> = None;
    let opts = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let top = |stack: &Vec<Style>| stack.last().copied().unwrap_or(base);
    // Set as the first piece of content comes: what came before it is the lead.
    let mut lead: Option<usize> = None;
    for ev in Parser::new_ext(trimmed, opts) {
        if matches!(
            ev,
            Event::Text(_)
                | Event::Code(_)
                | Event::Html(_)
                | Event::InlineHtml(_)
                | Event::Rule
                | Event::Start(Tag::Image { .. })
        ) && lead.is_none()
        {
            lead = Some(out.len());
        }
        match ev {
            Event::Start(tag) => {
                let st = top(&stack);
                let next = match tag {
                    Tag::Heading { level, .. } => {
                        let h = st.patch(theme.title);
                        if level == HeadingLevel::H1 {
                            h.add_modifier(Modifier::UNDERLINED)
                        } else {
                            h
                        }
                    }
                    Tag::BlockQuote(_) => {
                        out.push(Span::styled(BAR, theme.dim));
                        if theme.mono { st } else { st.patch(theme.dim) }
                    }
                    Tag::List(first) => {
                        list = Some(first);
                        st
                    }
                    Tag::Item => {
                        let depth = indent / 2;
                        let mark = match list.flatten() {
                            Some(n) => format!("{n}. "),
                            None => ["• ", "◦ ", "▪ "][depth % 3].to_owned(),
                        };
                        out.push(piece(
                            &format!("{}{mark}", "  ".repeat(depth)),
                            theme.accent,
                        ));
                        st
                    }
                    Tag::Emphasis if theme.mono => st.add_modifier(Modifier::UNDERLINED),
                    Tag::Emphasis => st.add_modifier(Modifier::ITALIC),
                    Tag::Strong => st.add_modifier(Modifier::BOLD),
                    Tag::Strikethrough => st.add_modifier(Modifier::CROSSED_OUT),
                    Tag::Link { dest_url, .. } => {
                        link = Some((dest_url.to_string(), String::new()));
                        st.patch(theme.info).add_modifier(Modifier::UNDERLINED)
                    }
                    Tag::Image { .. } => {
                        out.push(piece("[image: ", theme.dim));
                        st
                    }
                    _ => st,
                };
                stack.push(next);
            }
            Event::End(end) => {
                stack.pop();
                match end {
                    TagEnd::Link => {
                        if let Some((url, shown)) = link.take() {
                            if !url.is_empty() && url != shown {
                                out.push(piece(&format!(" ({url})"), theme.dim));
                            }
                        }
                    }
                    TagEnd::Image => out.push(piece("]", theme.dim)),
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let Some((_, shown)) = link.as_mut() {
                    shown.push_str(&t);
                }
                if out.is_empty() && indent > 0 && list.is_none() {
                    // An indented paragraph: its indent is its lead.
                    out.push(Span::raw(" ".repeat(indent.min(width / 2))));
                    lead = Some(1);
                }
                out.push(piece(&t, top(&stack)));
            }
            Event::Code(t) => {
                let st = top(&stack).patch(theme.code_string);
                if theme.mono {
                    out.push(piece(&format!("`{t}`"), st));
                } else {
                    out.push(piece(&t, st));
                }
            }
            Event::Html(t) | Event::InlineHtml(t) => out.push(piece(&t, top(&stack))),
            Event::SoftBreak | Event::HardBreak => out.push(Span::styled(" ", top(&stack))),
            Event::Rule => out.push(Span::styled("─".repeat(width.clamp(1, 80)), theme.dim)),
            Event::TaskListMarker(done) => {
                out.push(piece(if done { "[x] " } else { "[ ] " }, theme.accent));
            }
            _ => {}
        }
    }
    let lead = lead.unwrap_or(out.len());
    (out, lead)
}

#[cfg(test)]
mod tests;
