use super::*;
use crate::tui::theme::{ColorDepth, Themes};
use crate::tui::transcript::{LineKind, Transcript};

fn theme(name: &str) -> Theme {
    let themes = Themes::load(None, ColorDepth::TrueColor).unwrap();
    let i = themes.index_of(name).unwrap();
    themes.list[i].clone()
}

fn opts<'a>(theme: &'a Theme, width: usize, height: usize, mode: Mode) -> Opts<'a> {
    Opts {
        width,
        height,
        scroll: 0,
        theme,
        search: None,
        mode,
        unfold_key: "Enter",
    }
}

fn texts(rows: &[Line]) -> Vec<String> {
    rows.iter()
        .map(|r| r.spans.iter().map(|s| &*s.content).collect())
        .collect()
}

#[test]
fn wrapped_rows_hang_under_a_list_mark_and_keep_a_quote_or_code_bar() {
    highlight::load();
    let t = theme("dark");
    let mut tr = Transcript::default();
    tr.delta(
        LineKind::Text,
        "- one two three four five\n> six seven eight nine\n```py\nx = call(alpha, beta)\n```\nten eleven twelve thirteen",
    );
    let rows = rows(&tr, &opts(&t, 16, 20, Mode::default()));
    assert_eq!(
        texts(&rows),
        [
            "• one two three ",
            "  four five",
            "│ six seven ",
            "│ eight nine",
            "┌ py",
            "│ x = ",
            "│ call(alpha, ",
            "│ beta)",
            "└",
            "ten eleven ",
            "twelve thirteen",
        ]
    );
    // The raw text wraps as it is, with nothing added.
    let raw = Mode {
        raw: true,
        unfolded: false,
    };
    assert_eq!(
        texts(&super::rows(&tr, &opts(&t, 16, 2, raw)))[0],
        "ten eleven "
    );
    // A lead wider than a third of the pane is not repeated.
    let mut deep = Transcript::default();
    deep.delta(LineKind::Text, "            - deep item text");
    let rows = super::rows(&deep, &opts(&t, 16, 5, Mode::default()));
    assert!(
        rows.len() > 1 && !texts(&rows)[1].starts_with(' '),
        "{:?}",
        texts(&rows)
    );
}

#[test]
fn a_tool_entry_hangs_under_its_lead() {
    let t = theme("dark");
    let mut tr = Transcript::default();
    tr.push_lines(crate::tui::tool_view::call(
        "c3",
        "create_task",
        &serde_json::json!({"role": "engineer", "title": "The read-through cache"}),
    ));
    let rows = rows(&tr, &opts(&t, 24, 10, Mode::default()));
    assert_eq!(
        texts(&rows),
        [
            "▶ c3 create_task ",
            "     role=engineer ",
            "     title=\"The ",
            "     read-through cache\"",
        ]
    );
}

#[test]
fn markdown_renders_and_raw_shows_the_source() {
    highlight::load();
    let t = theme("dark");
    let mut tr = Transcript::default();
    tr.delta(
        LineKind::Text,
        "# Plan\n- **one**\n```rust\nfn main() {}\n```\ndone",
    );
    let rows = rows(&tr, &opts(&t, 30, 10, Mode::default()));
    assert_eq!(
        texts(&rows),
        ["Plan", "• one", "┌ rust", "│ fn main() {}", "└", "done"]
    );
    let kw = rows[3].spans.iter().find(|s| s.content == "fn").unwrap();
    assert_eq!(kw.style, t.code_keyword);
    let raw = super::rows(
        &tr,
        &opts(
            &t,
            30,
            10,
            Mode {
                raw: true,
                unfolded: false,
            },
        ),
    );
    assert_eq!(
        texts(&raw),
        [
            "# Plan",
            "- **one**",
            "```rust",
            "fn main() {}",
            "```",
            "done"
        ]
    );
}

#[test]
fn a_code_block_scrolled_deep_into_costs_a_bounded_parse() {
    highlight::load();
    let t = theme("dark");
    let mut tr = Transcript::default();
    let mut text = String::from("```python\nx = \"\"\"\n");
    for i in 0..50_000 {
        text.push_str(&format!("line {i}\n"));
    }
    tr.delta(LineKind::Text, &text);
    let started = std::time::Instant::now();
    let rows = rows(&tr, &opts(&t, 40, 20, Mode::default()));
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rows.len(), 20);
    assert_eq!(texts(&rows)[18], "│ line 49999");
}

#[test]
fn folded_tool_entries_name_the_key_and_a_search_hit_is_marked() {
    let t = theme("dark");
    let mut tr = Transcript::default();
    let content: String = (1..=10).map(|i| format!("l{i}\n")).collect();
    tr.push_lines(crate::tui::tool_view::call(
        "c1",
        "write_file",
        &serde_json::json!({"path": "a.txt", "content": content}),
    ));
    let mut o = opts(&t, 40, 20, Mode::default());
    o.search = Some("l3");
    let rows = rows(&tr, &o);
    let shown = texts(&rows);
    assert_eq!(shown[0], "▶ c1 write_file a.txt (10 lines)");
    assert_eq!(shown[7], "  … 4 more lines (Enter unfolds)");
    let hit = &rows[3];
    assert!(
        hit.spans
            .iter()
            .all(|s| s.style.add_modifier.contains(Modifier::REVERSED))
    );
}

#[test]
fn hostile_text_reaches_no_row_raw_and_in_code() {
    highlight::load();
    let t = theme("dark");
    let mut tr = Transcript::default();
    tr.delta(
        LineKind::Text,
        "```\u{1b}]0;x\u{7}\nprint(\"\u{1b}[2J\u{202e}\")\n```\n",
    );
    tr.push_lines(crate::tui::tool_view::call(
        "c1",
        "write_file",
        &serde_json::json!({"path": "a\u{9b}1m.py", "content": "s = '\u{1b}]52;c;eA==\u{7}'\n"}),
    ));
    for raw in [false, true] {
        for unfolded in [false, true] {
            let rows = rows(&tr, &opts(&t, 50, 20, Mode { raw, unfolded }));
            for r in &rows {
                for s in &r.spans {
                    assert!(
                        crate::domain::sanitize::is_clean(&s.content, false),
                        "{:?}",
                        s.content
                    );
                }
            }
        }
    }
}

#[test]
fn kept_lines_colour_like_a_fresh_parse_while_code_streams() {
    highlight::load();
    let t = theme("dark");
    let whole =
        "```python\nx = \"\"\"doc\nstill doc\n\"\"\"\ndef f(a):  # c\n    return a\n```\nok";
    let mut fresh = Transcript::default();
    fresh.delta(LineKind::Text, whole);
    let want = rows(&fresh, &opts(&t, 40, 20, Mode::default()));
    // Streamed a few bytes at a time, drawn after each: every frame keeps lines and states.
    let mut streamed = Transcript::default();
    let bytes: Vec<char> = whole.chars().collect();
    for chunk in bytes.chunks(3) {
        streamed.delta(LineKind::Text, &chunk.iter().collect::<String>());
        rows(&streamed, &opts(&t, 40, 4, Mode::default()));
    }
    assert_eq!(rows(&streamed, &opts(&t, 40, 20, Mode::default())), want);
    let doc = &want[2];
    assert!(
        doc.spans.iter().skip(1).all(|s| s.style == t.code_string),
        "{doc:?}"
    );
}
