use super::*;
use crate::tui::theme::{ColorDepth, Themes};
use crate::tui::transcript::{LineKind, Transcript};
use proptest::prelude::*;

fn theme(name: &str) -> Theme {
    let themes = Themes::load(None, ColorDepth::TrueColor).unwrap();
    let i = themes.index_of(name).unwrap();
    themes.list[i].clone()
}

/// A line's pieces, without where its lead ends.
fn spans(text: &str, base: Style, width: usize, theme: &Theme) -> Vec<Span<'static>> {
    super::spans(text, base, width, theme).0
}

fn text(spans: &[Span]) -> String {
    spans.iter().map(|s| &*s.content).collect()
}

fn style_of(spans: &[Span], needle: &str) -> Style {
    spans
        .iter()
        .find(|s| s.content.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {spans:?}"))
        .style
}

#[test]
fn headings_emphasis_code_lists_quotes_links_and_rules() {
    let t = theme("dark");
    let base = t.base;
    let s = spans("## The **plan**", base, 40, &t);
    assert_eq!(text(&s), "The plan");
    assert!(style_of(&s, "The").add_modifier.contains(Modifier::BOLD));
    let s = spans("Use *care* and `cargo test`, ~~not~~ this", base, 80, &t);
    assert_eq!(text(&s), "Use care and cargo test, not this");
    assert!(style_of(&s, "care").add_modifier.contains(Modifier::ITALIC));
    assert_eq!(style_of(&s, "cargo test").fg, t.code_string.fg);
    assert!(
        style_of(&s, "not")
            .add_modifier
            .contains(Modifier::CROSSED_OUT)
    );
    assert_eq!(text(&spans("- first", base, 40, &t)), "• first");
    assert_eq!(text(&spans("    - nested", base, 40, &t)), "    ▪ nested");
    assert_eq!(text(&spans("  - nested", base, 40, &t)), "  ◦ nested");
    assert_eq!(text(&spans("12. twelfth", base, 40, &t)), "12. twelfth");
    assert_eq!(text(&spans("- [x] done", base, 40, &t)), "• [x] done");
    assert_eq!(text(&spans("> quoted", base, 40, &t)), "│ quoted");
    assert_eq!(
        text(&spans("see [the docs](https://x.dev/a) now", base, 80, &t)),
        "see the docs (https://x.dev/a) now"
    );
    assert_eq!(
        text(&spans("<https://x.dev>", base, 80, &t)),
        "https://x.dev"
    );
    assert_eq!(text(&spans("---", base, 5, &t)), "─────");
    assert_eq!(text(&spans("", base, 5, &t)), "");
    assert_eq!(text(&spans("2 * 3 * 4 **", base, 40, &t)), "2 * 3 * 4 **");
}

#[test]
fn mono_marks_emphasis_and_code_without_colour() {
    let t = theme("mono");
    let s = spans("a *b* `c`", t.base, 40, &t);
    assert_eq!(text(&s), "a b `c`");
    assert!(
        style_of(&s, "b")
            .add_modifier
            .contains(Modifier::UNDERLINED)
    );
    assert!(
        s.iter()
            .all(|s| s.style.fg.is_none() || s.style.fg == Some(ratatui::style::Color::Reset))
    );
}

#[test]
fn hostile_text_is_sanitised_in_every_piece() {
    let t = theme("dark");
    let hostile = "# \u{1b}]0;pwn\u{7} [x\u{9b}2J](http://a\u{1b}[H) `\u{202e}code` *\u{1b}[31m*";
    let s = spans(hostile, t.base, 80, &t);
    for sp in &s {
        assert!(
            crate::domain::sanitize::is_clean(&sp.content, false),
            "{:?}",
            sp.content
        );
    }
    assert!(text(&s).contains("␛]0;pwn␇"), "{}", text(&s));
}

#[test]
fn fences_open_close_and_nest_by_length() {
    let plain = Ctx::Plain;
    assert_eq!(role(&plain, "```rust"), Role::Open("rust"));
    assert_eq!(role(&plain, "  ~~~ py extra"), Role::Open("py extra"));
    assert_eq!(role(&plain, "``not a fence``"), Role::Text);
    assert_eq!(role(&plain, "```a`b"), Role::Text);
    let inside = after(&plain, "````md");
    assert_eq!(
        role(&inside, "```"),
        Role::Code,
        "a shorter fence does not close"
    );
    assert_eq!(
        role(&inside, "~~~~"),
        Role::Code,
        "another character does not close"
    );
    assert_eq!(role(&inside, "````` "), Role::Close);
    assert_eq!(after(&inside, "`````"), Ctx::Plain);
    assert_eq!(role(&inside, "# not a heading"), Role::Code);
}

/// The block context of every line, from a transcript fed `chunks`.
fn contexts(chunks: &[String]) -> Vec<(String, Option<String>)> {
    let mut t = Transcript::default();
    for c in chunks {
        t.delta(LineKind::Text, c);
    }
    t.lines()
        .map(|l| (l.text.clone(), l.ctx.block().map(|b| b.lang.to_string())))
        .collect()
}

proptest! {
    #[test]
    fn streamed_in_any_chunks_gives_the_lines_of_the_whole(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("```rust".to_owned()),
                Just("```".to_owned()),
                Just("~~~~py".to_owned()),
                Just("~~~~".to_owned()),
                Just("- item".to_owned()),
                Just("fn x() {}".to_owned()),
                "[a-z `*#>~]{0,12}",
            ],
            0..30,
        ),
        cuts in proptest::collection::vec(0usize..400, 0..12),
    ) {
        let whole = lines.join("\n");
        let mut at: Vec<usize> = cuts
            .into_iter()
            .map(|c| c.min(whole.len()))
            .filter(|c| whole.is_char_boundary(*c))
            .collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for c in at {
            chunks.push(whole[from..c].to_owned());
            from = c;
        }
        chunks.push(whole[from..].to_owned());
        prop_assert_eq!(contexts(&chunks), contexts(&[whole]));
    }
}
