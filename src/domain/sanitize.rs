//! The one sanitiser for text that came from a model, a command, a file or a person on its way
//! to a person's terminal or a report: terminal controls become visible marks instead of being
//! obeyed.
//!
//! Invariants, for every input:
//! - the output holds no C0 control except newline and tab ([`text`]) or none at all
//!   ([`line`]), no DEL, no C1 control (U+0080–U+009F, which some terminals obey as 8-bit
//!   CSI/OSC), and no bidirectional control (U+061C, U+200E, U+200F, U+202A–U+202E,
//!   U+2066–U+206F), so no escape sequence (OSC 52 clipboard writes, title changes, screen
//!   clears, cursor moves) can start and no text can be reordered on screen;
//! - what was removed stays visible: ESC is `␛` (so `ESC ]52;…` shows as `␛]52;…`), other C0
//!   controls are their Control Pictures (`␇`, `␈`, `␍`), DEL is `␡`, a C1 control is `␛`
//!   followed by its 7-bit form (U+009B shows as `␛[`), a bidi control is `�`;
//! - clean text comes back borrowed: no allocation on the render path.
//!
//! [`json`] is the counterpart for JSON: it escapes the same characters as `\uXXXX`, which
//! keeps every value exactly what it was.

use std::borrow::Cow;

/// Multi-line text: newlines and tabs stay, a CRLF becomes a newline.
pub fn text(s: &str) -> Cow<'_, str> {
    clean(s, true)
}

/// One line (a table cell, a row of a listing, a line of headless output): a newline shows as
/// `␤` (so text cannot forge a line of its own), a tab becomes a space.
pub fn line(s: &str) -> Cow<'_, str> {
    clean(s, false)
}

/// Whether `s` needs no change from [`text`] (`multiline`) or [`line`].
pub fn is_clean(s: &str, multiline: bool) -> bool {
    first_hazard(s.as_bytes(), multiline).is_none()
}

/// Serialised JSON with DEL, C1 and bidi controls written as `\uXXXX` escapes. JSON escapes C0
/// controls already; these others it leaves raw. They can only stand inside strings (JSON's own
/// syntax is ASCII), so the document parses to exactly the same values.
pub fn json(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let Some(first) = first_hazard(bytes, true) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if is_raw_in_json(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_raw_in_json(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}') || is_bidi(c)
}

/// Bidirectional marks, embeddings, overrides and isolates, and the deprecated format
/// controls next to them.
fn is_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{206f}'
    )
}

/// Bytes that can start a hazard: C0 controls, DEL, and the lead bytes of C1 controls
/// (`C2 80..9F`), of U+061C (`D8 9C`) and of the U+20xx controls (`E2 80 ..`, `E2 81 ..`).
const LEAD: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[0x7f] = true;
    t[0xc2] = true;
    t[0xd8] = true;
    t[0xe2] = true;
    t
};

/// The byte index of the first character that must change: one table lookup per byte, and a
/// closer look only at the few bytes that can start a hazard.
fn first_hazard(b: &[u8], multiline: bool) -> Option<usize> {
    b.iter()
        .enumerate()
        .find(|&(i, &x)| LEAD[x as usize] && hazard_at(b, i, multiline))
        .map(|(i, _)| i)
}

fn hazard_at(b: &[u8], i: usize, multiline: bool) -> bool {
    match b.get(i) {
        Some(b'\n' | b'\t') => !multiline,
        Some(0x00..=0x1f | 0x7f) => true,
        Some(0xc2) => b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
        Some(0xd8) => b.get(i + 1) == Some(&0x9c),
        Some(0xe2) => match (b.get(i + 1), b.get(i + 2)) {
            (Some(0x80), Some(t)) => matches!(t, 0x8e | 0x8f | 0xaa..=0xae),
            (Some(0x81), Some(t)) => (0xa6..=0xaf).contains(t),
            _ => false,
        },
        _ => false,
    }
}

fn clean(s: &str, multiline: bool) -> Cow<'_, str> {
    let Some(first) = first_hazard(s.as_bytes(), multiline) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + s.len() / 8 + 8);
    out.push_str(&s[..first]);
    let mut chars = s[first..].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' if multiline => out.push('\n'),
            '\n' => out.push('␤'),
            '\t' if multiline => out.push('\t'),
            '\t' => out.push(' '),
            '\u{1b}' => out.push('␛'),
            // Control Pictures: U+2400 + the control's code.
            '\0'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�')),
            '\u{7f}' => out.push('␡'),
            // A C1 control is ESC and a 7-bit character (CSI U+009B is ESC [).
            '\u{80}'..='\u{9f}' => {
                out.push('␛');
                out.push(char::from_u32(c as u32 - 0x40).unwrap_or('�'));
            }
            c if is_bidi(c) => out.push('�'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character a terminal or a bidi renderer could act on.
    fn hazardous(c: char, multiline: bool) -> bool {
        (c.is_control() && !(multiline && matches!(c, '\n' | '\t'))) || is_bidi(c)
    }

    /// Hostile sequences from the wild: OSC 52 clipboard writes, title changes, hyperlinks,
    /// screen clears, cursor moves, 8-bit CSI/OSC, bidi tricks, NUL, DEL, backspace overprint.
    const CORPUS: &[&str] = &[
        "\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}",
        "\u{1b}]52;c;ZWNobyBwd25lZA==\u{1b}\\",
        "\u{1b}]0;fake title\u{7}",
        "\u{1b}]2;fake title\u{1b}\\",
        "\u{1b}]8;;https://evil.example\u{7}click\u{1b}]8;;\u{7}",
        "\u{1b}[2J\u{1b}[H\u{1b}[3J",
        "\u{1b}[10;20H\u{1b}[1A\u{1b}[K overwrite",
        "\u{1b}c reset",
        "\u{1b}P+q544e\u{1b}\\",
        "\u{9b}31mred\u{9b}0m",
        "\u{9d}0;title\u{9c}",
        "\u{90}dcs\u{9c}\u{85}next",
        "access = \"user\u{202e} \u{2066}// admin\u{2069} \u{2066}\"",
        "gnp\u{202e}.exe",
        "\u{2067}rtl\u{2069}\u{2068}first\u{2069}\u{202a}\u{202b}\u{202c}\u{202d}",
        "\u{200e}\u{200f}\u{61c}marks",
        "nul\0byte",
        "del\u{7f}",
        "pass\u{8}\u{8}\u{8}\u{8}word",
        "visible\rhidden",
        "bell\u{7}",
        "esc at end \u{1b}",
        "\u{1b}",
    ];

    #[test]
    fn no_hostile_sequence_survives_and_each_leaves_a_mark() {
        for s in CORPUS {
            for (out, multiline) in [(text(s), true), (line(s), false)] {
                assert!(matches!(out, Cow::Owned(_)), "{s:?} changed");
                assert!(
                    !out.chars().any(|c| hazardous(c, multiline)),
                    "{s:?} -> {out:?}"
                );
                assert!(
                    out.contains(['␛', '␀', '␇', '␈', '␍', '␡', '�']),
                    "{s:?} leaves a visible mark: {out:?}"
                );
                assert!(is_clean(&out, multiline), "{out:?} is stable");
            }
        }
    }

    #[test]
    fn marks_say_what_was_there() {
        assert_eq!(text("\u{1b}]52;c;x\u{7}"), "␛]52;c;x␇");
        assert_eq!(text("\u{9b}2J"), "␛[2J");
        assert_eq!(text("a\u{202e}b"), "a�b");
        assert_eq!(text("a\u{7f}\u{0}"), "a␡␀");
        assert_eq!(text("one\r\ntwo\rthree\tfour\n"), "one\ntwo␍three\tfour\n");
        assert_eq!(line("one\r\ntwo\tthree\n"), "one␤two three␤");
    }

    #[test]
    fn clean_text_is_borrowed_untouched() {
        for s in [
            "",
            "plain ASCII, punctuation: <>&\"'`|*_[]()",
            "multi\nline\twith tab",
            "Unicode: é ü 日本語 ✔ ⚠ → ␛ emoji 👩‍💻 Arabic مرحبا Hebrew שלום",
            "near misses: \u{a0}\u{a9}\u{2010}\u{2026}\u{2070}\u{20ac}\u{200d}",
        ] {
            assert!(matches!(text(s), Cow::Borrowed(t) if t == s), "{s:?}");
            assert!(matches!(json(s), Cow::Borrowed(_)), "{s:?}");
        }
        assert!(matches!(line("a\nb"), Cow::Owned(_)));
    }

    #[test]
    fn json_escapes_what_serde_leaves_raw_and_keeps_the_value() {
        for s in CORPUS {
            let raw = serde_json::to_string(&serde_json::json!({ "text": s })).unwrap_or_default();
            let safe = json(&raw);
            assert!(!safe.chars().any(|c| hazardous(c, false)), "{safe}");
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap_or_default();
            assert_eq!(back["text"], *s);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_comes_out_safe_and_clean_text_unchanged(s in "\\PC*|[\\x00-\\x{a0}\\x{200e}\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}a ]*") {
            for multiline in [true, false] {
                let out = clean(&s, multiline);
                proptest::prop_assert!(!out.chars().any(|c| hazardous(c, multiline)));
                proptest::prop_assert_eq!(
                    matches!(out, Cow::Borrowed(_)),
                    !s.chars().any(|c| hazardous(c, multiline))
                );
            }
        }
    }
}
