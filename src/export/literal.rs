//! Markdown that renders as the literal text of a model, a command or a person: the report's
//! own structure is the only Markdown in it. Every piece of such text goes through one of
//! these, after the terminal sanitiser:
//! - [`md`]: inline text (a sentence, a table cell, a heading): one line, every character
//!   Markdown could act on escaped with a backslash (emphasis, links, images, code, raw HTML,
//!   entities, table pipes, strikethrough, math), and block markers at the start;
//! - [`code`]: an inline code span whose fence is longer than any run of backticks inside;
//! - [`fence`]: a fenced block whose fence is longer than any run of backticks inside.

use crate::domain::sanitize;
use std::fmt::{self, Display, Write};

/// `value` as inline Markdown text that renders as itself.
pub fn md<T: Display>(value: T) -> Md<T> {
    Md(value)
}

/// `value` as an inline code span.
pub fn code<T: Display>(value: T) -> Code<T> {
    Code(value, false)
}

/// `value` as an inline code span in a table cell (a pipe would end the cell even there).
pub fn cell_code<T: Display>(value: T) -> Code<T> {
    Code(value, true)
}

/// `value` as a fenced code block of `lang`, fences included, ending with a newline.
pub fn fence<T: Display>(lang: &'static str, value: T) -> Fence<T> {
    Fence(lang, value)
}

pub struct Md<T>(T);
pub struct Code<T>(T, bool);
pub struct Fence<T>(&'static str, T);

/// Characters with a meaning somewhere in inline Markdown (CommonMark, GFM tables and
/// strikethrough, the `$` of math extensions).
fn special(c: char) -> bool {
    matches!(
        c,
        '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '#' | '$' | '!'
    )
}

/// Characters that open a block (a list, a heading, a quote, a thematic break) at the start.
fn block_start(c: char) -> bool {
    matches!(c, '-' | '+' | '=' | '>' | '#' | '*' | '_')
}

impl<T: Display> Display for Md<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.0.to_string();
        let text = sanitize::line(&raw);
        let text = text.trim_start();
        // `1. x` and `1) x` would start an ordered list.
        let digits = text.chars().take_while(char::is_ascii_digit).count();
        let chars: Vec<char> = text.chars().collect();
        let alnum = |i: Option<usize>| {
            i.and_then(|i| chars.get(i))
                .is_some_and(|c| c.is_alphanumeric())
        };
        for (i, &c) in chars.iter().enumerate() {
            let list = i == digits && digits > 0 && matches!(c, '.' | ')');
            // An underscore inside a word (`run_command`) can neither open nor close emphasis.
            let inside_word = c == '_' && alnum(i.checked_sub(1)) && alnum(Some(i + 1));
            if (special(c) && !inside_word) || list || (i == 0 && block_start(c)) {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        Ok(())
    }
}

/// The longest run of backticks in `text`.
fn longest_backticks(text: &str) -> usize {
    let (mut run, mut longest) = (0, 0);
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

impl<T: Display> Display for Code<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.0.to_string();
        let text = sanitize::line(&raw);
        // A pipe ends a table cell even inside a code span; GFM takes `\|` there as `|`.
        let text = if self.1 {
            text.replace('|', "\\|")
        } else {
            text.into_owned()
        };
        let ticks = "`".repeat(longest_backticks(&text) + 1);
        // A space on each side keeps a leading or trailing backtick off the fence (and is
        // stripped again by the renderer).
        let pad = if text.starts_with('`') || text.ends_with('`') || text.trim().is_empty() {
            " "
        } else {
            ""
        };
        write!(f, "{ticks}{pad}{text}{pad}{ticks}")
    }
}

impl<T: Display> Display for Fence<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.1.to_string();
        let text = sanitize::text(&raw);
        let text = text.trim_end_matches('\n');
        let ticks = "`".repeat(longest_backticks(text).max(2) + 1);
        writeln!(f, "{ticks}{}\n{text}\n{ticks}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

    /// The text a renderer shows for `markdown`, and whether it made anything but paragraphs,
    /// tables, plain text and code.
    fn rendered(markdown: &str) -> (String, Vec<String>) {
        let mut text = String::new();
        let mut structure = Vec::new();
        for e in Parser::new_ext(
            markdown,
            Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
        ) {
            match e {
                Event::Text(t) | Event::Code(t) => text.push_str(&t),
                Event::Start(
                    Tag::Paragraph
                    | Tag::Table(_)
                    | Tag::TableHead
                    | Tag::TableRow
                    | Tag::TableCell
                    | Tag::CodeBlock(_),
                )
                | Event::End(
                    TagEnd::Paragraph
                    | TagEnd::Table
                    | TagEnd::TableHead
                    | TagEnd::TableRow
                    | TagEnd::TableCell
                    | TagEnd::CodeBlock,
                ) => {}
                other => structure.push(format!("{other:?}")),
            }
        }
        (text, structure)
    }

    const HOSTILE: &[&str] = &[
        "__main__",
        "snake_case_name and _x_ and a_",
        "*x*",
        "**bold** and _it_",
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "![img](http://tracker.example/p.png)",
        "<https://evil.example>",
        "a | b | c",
        "`code` and ``two``",
        "```",
        "# heading",
        "- item",
        "+ item",
        "1. first",
        "12) twelfth",
        "> quote",
        "---",
        "***",
        "===",
        "~~strike~~",
        "&amp; &lt;b&gt; &#x41;",
        "$x^2$",
        "trailing backslash \\",
        "[ref]: http://x.example",
        "<!-- comment -->",
        "\\*not\\* escaped",
    ];

    #[test]
    fn inline_text_renders_as_itself() {
        for s in HOSTILE {
            let (text, structure) = rendered(&format!("{}\n", md(s)));
            assert_eq!(text, *s, "{}", md(s));
            assert!(structure.is_empty(), "{s}: {structure:?}");
            let (text, structure) = rendered(&format!("| h |\n|---|\n| {} |\n", md(s)));
            assert_eq!(text, format!("h{s}"), "in a table: {}", md(s));
            assert!(structure.is_empty(), "{s} in a table: {structure:?}");
        }
    }

    #[test]
    fn code_spans_and_blocks_hold_any_backticks() {
        for s in ["plain", "`", "a``b", "`lead", "trail`", "x ``` y", "a|b"] {
            let (text, structure) = rendered(&format!("{}\n", code(s)));
            assert_eq!(text, s, "{}", code(s));
            assert!(structure.is_empty(), "{structure:?}");
            let (text, structure) = rendered(&format!("| h |\n|---|\n| {} |\n", cell_code(s)));
            assert_eq!(text, format!("h{s}"), "in a table: {}", cell_code(s));
            assert!(structure.is_empty(), "{structure:?}");
        }
        let block = "ok\n```\n# not a heading\n````\n<script>x</script>\n";
        let (text, structure) = rendered(&format!("{}after\n", fence("text", block)));
        assert_eq!(text, format!("{block}after"));
        assert!(structure.is_empty(), "{structure:?}");
    }

    #[test]
    fn terminal_controls_are_sanitised_first() {
        let s = md("a\u{1b}]52;c;x\u{7}\nb\u{202e}").to_string();
        assert!(!s.contains(['\u{1b}', '\u{7}', '\n', '\u{202e}']), "{s}");
        let s = fence("text", "a\u{1b}[2J\nb").to_string();
        assert!(!s.contains('\u{1b}') && s.contains("\nb\n"), "{s}");
    }

    proptest::proptest! {
        #[test]
        fn any_printable_line_renders_as_itself(s in "[!-~]([ -~]{0,30}[!-~])?") {
            let (text, structure) = rendered(&format!("{}\n", md(&s)));
            proptest::prop_assert_eq!(&text, &s);
            proptest::prop_assert!(structure.is_empty(), "{:?}", structure);
            let (text, structure) = rendered(&format!("| h |\n|---|\n| {} |\n", md(&s)));
            proptest::prop_assert_eq!(text, format!("h{s}"));
            proptest::prop_assert!(structure.is_empty(), "{:?}", structure);
        }
    }
}
