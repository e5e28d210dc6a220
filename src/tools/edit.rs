//! `edit_file`: one exact replacement, answered with the changed lines (numbered, with context)
//! and a syntax check; when `old` is not there, with where the closest text is, and when it is
//! there more than once, with where each occurrence is.

use super::files::{TEXT_CAP, Unread, megabytes, read_text, syntax_note, write_checked};
use super::lines::numbered;
use super::{ToolError, ToolOutput, Workspace};
use std::borrow::Cow;

/// Lines of context around a change.
const CONTEXT: usize = 3;
/// Lines shown of one snippet at most.
const SNIPPET_LINES: usize = 40;
/// Occurrences named by line.
const NAMED: usize = 10;
/// The closest-match search compares at most this many windows and lines of `old`.
const FUZZY_WINDOWS: usize = 20_000;
const FUZZY_LINES: usize = 30;
/// The whitespace-tolerant search compares at most this many lines in all.
const LOOSE_LINES: usize = FUZZY_WINDOWS * FUZZY_LINES;
/// How alike (0 to 1) the closest text must be to be shown.
const ALIKE: f64 = 0.5;

/// The 1-based line of a byte offset.
fn line_of(text: &str, at: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..at.min(text.len())]).count() + 1
}

/// Lines `first..=last` (1-based) of `text`, numbered, with `context` lines around them; a
/// long range shows its beginning and its end.
pub(super) fn snippet(text: &str, first: usize, last: usize, context: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = first.saturating_sub(context).max(1);
    let to = (last + context).min(lines.len());
    let show = |n: usize| numbered(n as u64, lines[n - 1].trim_end_matches('\r'));
    let mut out = Vec::new();
    if (to + 1).saturating_sub(from) <= SNIPPET_LINES {
        out.extend((from..=to).map(show));
    } else {
        let half = SNIPPET_LINES / 2;
        out.extend((from..from + half).map(show));
        out.push(format!("   ...\t[… {} lines]", to + 1 - from - 2 * half));
        out.extend((to + 1 - half..=to).map(show));
    }
    out.join("\n")
}

pub fn edit_file(ws: &Workspace, rel: &str, old: &str, new: &str) -> Result<ToolOutput, ToolError> {
    let path = ws.resolve(rel)?;
    if old.is_empty() {
        return Err(ToolError::failed(
            "`old` is empty: give the exact text to replace",
        ));
    }
    if !path.is_file() {
        return Err(ToolError::failed(format!(
            "{rel} does not exist or is not a file; use write_file to create it"
        )));
    }
    let text = match read_text(&path, TEXT_CAP) {
        Ok(text) => text,
        Err(Unread::TooBig(size)) => {
            return Err(ToolError::failed(format!(
                "{rel} is {} MB, too large for edit_file (at most {} MB): nothing was changed; use run_command (sed, a script) instead",
                megabytes(size),
                TEXT_CAP >> 20
            )));
        }
        Err(Unread::NotText) => {
            return Err(ToolError::failed(format!(
                "{rel} is not a UTF-8 text file; edit_file changes text only"
            )));
        }
    };
    // A model copies lines without their carriage returns: in a CRLF file, match with them.
    let crlf = (text.contains("\r\n") && !text.contains(old) && !old.contains('\r'))
        .then(|| (old.replace('\n', "\r\n"), new.replace('\n', "\r\n")));
    let (old, new) = crlf
        .as_ref()
        .map_or((old, new), |(o, n)| (o.as_str(), n.as_str()));
    let at: Vec<usize> = text
        .match_indices(old)
        .map(|(i, _)| i)
        .take(NAMED + 1)
        .collect();
    match at.as_slice() {
        [] => Err(ToolError::failed(not_found(rel, &text, old))),
        [i] => {
            let edited = format!("{}{new}{}", &text[..*i], &text[i + old.len()..]);
            let change = write_checked(ws, rel, &path, Some(&text), &edited)?;
            let first = line_of(&edited, *i);
            let last = line_of(&edited, (i + new.len()).saturating_sub(1)).max(first);
            let mut out = format!(
                "edited {} (+{} -{})",
                change.path, change.added, change.removed
            );
            let shown = (first.saturating_sub(CONTEXT), last + CONTEXT);
            if let Some(note) = syntax_note(&change.path, &edited, shown) {
                out.push('\n');
                out.push_str(&note);
            }
            out.push_str(&format!("\nlines {first}-{last} now read, with context:\n"));
            out.push_str(&snippet(&edited, first, last, CONTEXT));
            Ok(ToolOutput {
                ok: true,
                text: out,
                changes: vec![change],
            })
        }
        many => {
            let lines: Vec<String> = many
                .iter()
                .take(NAMED)
                .map(|i| line_of(&text, *i).to_string())
                .collect();
            let count = if many.len() > NAMED {
                format!("more than {NAMED} times")
            } else {
                format!("{} times", many.len())
            };
            Err(ToolError::failed(format!(
                "`old` occurs {count} in {rel}, at lines {}; nothing was changed. Include more of the surrounding lines so that it occurs once",
                lines.join(", ")
            )))
        }
    }
}

/// Whitespace runs as one space, ends trimmed; borrowed when the line is like that already
/// (most are), so that squeezing every line of a big file costs little.
fn squeeze(line: &str) -> Cow<'_, str> {
    // Whitespace only as single spaces between words.
    let mut after_space = true;
    let single = line.chars().all(|c| {
        let space = c.is_whitespace();
        let fits = !space || (c == ' ' && !after_space);
        after_space = space;
        fits
    });
    if line.is_empty() || (single && !after_space) {
        Cow::Borrowed(line)
    } else {
        Cow::Owned(line.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// Why `old` was not found, and where the text most like it is.
fn not_found(rel: &str, text: &str, old: &str) -> String {
    let wanted: Vec<&str> = old.lines().filter(|l| !l.trim().is_empty()).collect();
    let numbered_lines = wanted.iter().all(|l| {
        let l = l.trim_start();
        let digits = l.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && l[digits..].starts_with('\t')
    });
    if !wanted.is_empty() && numbered_lines {
        return format!(
            "`old` was not found in {rel}: it carries the line numbers read_file shows (a number and a tab before each line); leave them out and copy only the text"
        );
    }
    let lines: Vec<Cow<str>> = text.lines().map(squeeze).collect();
    let old_lines: Vec<Cow<str>> = trim_blank(old).lines().map(squeeze).collect();
    if let Some(first) = loose_match(&lines, &old_lines) {
        let last = first + old_lines.len() - 1;
        return format!(
            "`old` was not found in {rel} as written, but lines {first}-{last} hold it with other whitespace (indentation, tabs or line ends). Copy them exactly, without the numbers:\n{}",
            snippet(text, first, last, 0)
        );
    }
    match closest(&lines, &old_lines) {
        Some((first, score)) => {
            let last = (first + old_lines.len()).saturating_sub(1).max(first);
            format!(
                "`old` was not found in {rel}; nothing was changed. The most similar text ({:.0}% alike) is at lines {first}-{last}:\n{}\nRead the file and copy the text to replace exactly, without the numbers",
                score * 100.0,
                snippet(text, first, last, 0)
            )
        }
        None => format!(
            "`old` was not found in {rel}, and nothing in it looks alike; nothing was changed. Read the file and copy the text to replace exactly"
        ),
    }
}

/// `text` without its leading and trailing blank lines.
fn trim_blank(text: &str) -> &str {
    let start = text
        .char_indices()
        .take_while(|(_, c)| c.is_whitespace())
        .filter(|(_, c)| *c == '\n')
        .last()
        .map_or(0, |(i, _)| i + 1);
    let end = text.trim_end().len();
    text.get(start..end.max(start)).unwrap_or(text)
}

/// The first line (1-based) where `old` occurs with other whitespace: its first line may be
/// the end of a line, its last the start of one, the lines between whole. `lines` and `old`
/// are squeezed. A window is looked at only where its first line fits, and past
/// [`LOOSE_LINES`] lines compared in all (a file of one line repeated) the search gives up.
fn loose_match(lines: &[Cow<str>], old: &[Cow<str>]) -> Option<usize> {
    let k = old.len();
    if k == 0 || k > lines.len() {
        return None;
    }
    if k == 1 {
        let old = old[0].as_ref();
        return lines
            .iter()
            .position(|l| !old.is_empty() && l.contains(old))
            .map(|i| i + 1);
    }
    let mut budget = LOOSE_LINES;
    for i in 0..=lines.len() - k {
        if !lines[i].ends_with(old[0].as_ref()) {
            continue;
        }
        let mut j = 1;
        while j < k - 1 && lines[i + j] == old[j] {
            j += 1;
        }
        budget = budget.checked_sub(j)?;
        if j == k - 1 && lines[i + j].starts_with(old[j].as_ref()) {
            return Some(i + 1);
        }
    }
    None
}

/// A line's letter pairs (whitespace left out), sorted: what the Sørensen–Dice likeness of
/// two lines is computed from, made once per line rather than once per comparison.
struct Pairs {
    letters: String,
    pairs: Vec<(char, char)>,
}

impl Pairs {
    fn of(line: &str) -> Self {
        let letters: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        let chars: Vec<char> = letters.chars().collect();
        let mut pairs: Vec<(char, char)> = chars.windows(2).map(|w| (w[0], w[1])).collect();
        pairs.sort_unstable();
        Pairs { letters, pairs }
    }

    /// Twice the pairs both lines have over all their pairs: 1 for the same letters, 0 for
    /// nothing in common.
    fn alike(&self, other: &Pairs) -> f64 {
        if self.letters == other.letters {
            return 1.0;
        }
        let (a, b) = (&self.pairs, &other.pairs);
        if a.is_empty() || b.is_empty() {
            return 0.0;
        }
        let (mut i, mut j, mut shared) = (0, 0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        (2 * shared) as f64 / (a.len() + b.len()) as f64
    }
}

/// The window of the file most like `old`, line by line: its first line (1-based) and how
/// alike it is, when alike enough. At most [`FUZZY_WINDOWS`] windows of [`FUZZY_LINES`].
fn closest(lines: &[Cow<str>], old: &[Cow<str>]) -> Option<(usize, f64)> {
    let k = old.len().clamp(1, FUZZY_LINES);
    if lines.is_empty() || old.is_empty() {
        return None;
    }
    let windows = (lines.len().saturating_sub(k) + 1).min(FUZZY_WINDOWS);
    let old: Vec<Pairs> = old.iter().take(k).map(|l| Pairs::of(l)).collect();
    let lines: Vec<Pairs> = lines
        .iter()
        .take(windows + k - 1)
        .map(|l| Pairs::of(l))
        .collect();
    let mut best: Option<(usize, f64)> = None;
    for i in 0..windows {
        let n = k.min(lines.len() - i);
        let score: f64 = (0..n).map(|j| lines[i + j].alike(&old[j])).sum::<f64>() / k as f64;
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((i + 1, score));
        }
    }
    best.filter(|(_, s)| *s >= ALIKE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws_with(name: &str, content: &str) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        std::fs::write(ws.root().join(name), content).unwrap();
        (dir, ws)
    }

    fn err(r: Result<ToolOutput, ToolError>) -> String {
        r.unwrap_err().to_string()
    }

    const CODE: &str = "import sys\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n\n\ndef main():\n    print(add(1, 2))\n";

    #[test]
    fn an_edit_answers_with_the_changed_lines_numbered_in_context() {
        let (_d, ws) = ws_with("m.py", CODE);
        let out = edit_file(&ws, "m.py", "    return a - b\n", "    return a - b - 0\n").unwrap();
        assert_eq!(
            out.text,
            "edited m.py (+1 -1)\nlines 9-9 now read, with context:\n     6\t\n     7\t\n     8\tdef sub(a, b):\n     9\t    return a - b - 0\n    10\t\n    11\t\n    12\tdef main():"
        );
        assert!(out.ok);
    }

    #[test]
    fn old_twice_names_the_lines_and_changes_nothing() {
        let (_d, ws) = ws_with("m.py", CODE);
        let e = err(edit_file(&ws, "m.py", "(a, b):", "(a, b, c):"));
        assert!(e.contains("occurs 2 times in m.py, at lines 4, 8"), "{e}");
        assert_eq!(
            std::fs::read_to_string(ws.root().join("m.py")).unwrap(),
            CODE
        );
    }

    #[test]
    fn old_with_other_whitespace_is_found_with_its_lines() {
        let (_d, ws) = ws_with("m.py", CODE);
        let e = err(edit_file(
            &ws,
            "m.py",
            "def sub(a, b):\n  return a - b",
            "x",
        ));
        assert!(e.contains("lines 8-9 hold it with other whitespace"), "{e}");
        assert!(e.contains("     9\t    return a - b"), "{e}");
    }

    #[test]
    fn a_near_miss_shows_the_most_similar_lines() {
        let (_d, ws) = ws_with("m.py", CODE);
        let e = err(edit_file(
            &ws,
            "m.py",
            "def subtract(a, b):\n    return a - b",
            "x",
        ));
        assert!(e.contains("most similar text"), "{e}");
        assert!(e.contains("at lines 8-9:"), "{e}");
        assert!(e.contains("     8\tdef sub(a, b):"), "{e}");
        let e = err(edit_file(&ws, "m.py", "zzzz qqqq wwww", "x"));
        assert!(e.contains("nothing in it looks alike"), "{e}");
        let e = err(edit_file(&ws, "m.py", "     5\t    return a + b", "x"));
        assert!(e.contains("line numbers"), "{e}");
    }

    #[test]
    fn a_syntax_error_after_an_edit_is_reported_and_the_edit_kept() {
        let (_d, ws) = ws_with("c.toml", "[a]\nx = 1\ny = 2\n");
        let out = edit_file(&ws, "c.toml", "y = 2", "y = ").unwrap();
        assert!(out.ok);
        assert!(
            out.text.contains("TOML syntax error at line 3, column 5"),
            "{}",
            out.text
        );
        let (_d, ws) = ws_with("p.json", "{\"a\": 1, \"b\": 2}\n");
        let out = edit_file(&ws, "p.json", "\"b\": 2", "\"b\" 2").unwrap();
        assert!(
            out.text.contains("JSON syntax error at line 1"),
            "{}",
            out.text
        );
        assert_eq!(
            std::fs::read_to_string(ws.root().join("p.json")).unwrap(),
            "{\"a\": 1, \"b\" 2}\n"
        );
    }

    #[test]
    fn crlf_files_are_edited_with_lines_copied_without_carriage_returns() {
        let (_d, ws) = ws_with("w.txt", "one\r\ntwo\r\nthree\r\n");
        let out = edit_file(&ws, "w.txt", "one\ntwo", "1\n2").unwrap();
        assert!(out.text.contains("     2\t2\n"), "{}", out.text);
        assert_eq!(
            std::fs::read_to_string(ws.root().join("w.txt")).unwrap(),
            "1\r\n2\r\nthree\r\n"
        );
    }

    #[test]
    fn a_long_old_not_found_in_a_big_file_is_answered_quickly_with_a_hint() {
        // A million lines alike, and 4,000 lines of `old` that fit everywhere with other
        // indentation but for their last: each window would be looked at whole.
        let (_d, ws) = ws_with("big.txt", &"x=1\n".repeat(1_000_000));
        let old = format!("{}y=2\n", "  x=1\n".repeat(3_999));
        let started = std::time::Instant::now();
        let e = err(edit_file(&ws, "big.txt", &old, "z"));
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        assert!(
            e.contains("most similar text (100% alike) is at lines 1-4000:"),
            "{e}"
        );
        // A million lines all different, none like `old`: one look at each line.
        let text: String = (0..1_000_000).map(|i| format!("line {i}\n")).collect();
        let old: String = (0..4_000).map(|i| format!("  other {i}\n")).collect();
        let started = std::time::Instant::now();
        let e = not_found("big.txt", &text, &old);
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        assert!(e.contains("`old` was not found in big.txt"), "{e}");
    }

    #[test]
    fn a_loose_match_is_still_found_in_a_big_file_and_lines_are_squeezed() {
        let mut text = "x=1\n".repeat(200_000);
        text.push_str("fn f() {\n\tlet a  = 1;\n\n\treturn a;\n}\n");
        let (_d, ws) = ws_with("big.rs", &text);
        let e = err(edit_file(
            &ws,
            "big.rs",
            "fn f() {\n    let a = 1;\n\n    return a;",
            "z",
        ));
        assert!(
            e.contains("lines 200001-200004 hold it with other whitespace"),
            "{e}"
        );
        assert_eq!(squeeze("a b"), "a b");
        assert!(matches!(squeeze("a b"), Cow::Borrowed(_)));
        assert_eq!(squeeze(""), "");
        assert_eq!(squeeze(" \t "), "");
        assert_eq!(squeeze("\ta  b \r"), "a b");
        assert_eq!(squeeze("a\u{a0}b"), "a b");
        let alike = |a: &str, b: &str| Pairs::of(a).alike(&Pairs::of(b));
        assert_eq!(alike("ferris", "ferris"), 1.0);
        assert_eq!(alike("fe rris", "ferris"), 1.0);
        assert_eq!(alike("feris", "ferris"), 8.0 / 9.0);
        assert_eq!(alike("french", "quebec"), 0.0);
        assert_eq!(alike("", "a"), 0.0);
        assert_eq!(alike("aaaa", "aa"), 0.5);
    }

    #[test]
    fn an_edit_of_a_file_over_the_cap_is_refused_without_reading_it() {
        let (_d, ws) = ws_with("small.txt", "");
        // Sparse: 5 GB that would take seconds and gigabytes to read.
        let file = std::fs::File::create(ws.root().join("huge.log")).unwrap();
        file.set_len(5 << 30).unwrap();
        let started = std::time::Instant::now();
        let e = err(edit_file(&ws, "huge.log", "a", "b"));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(
            e.contains("huge.log is 5120.0 MB, too large for edit_file (at most 4 MB)"),
            "{e}"
        );
        assert!(e.contains("use run_command (sed, a script) instead"), "{e}");
        // Just over the cap.
        let text = format!("{}\nend\n", "a".repeat(TEXT_CAP as usize));
        std::fs::write(ws.root().join("over.txt"), &text).unwrap();
        let e = err(edit_file(&ws, "over.txt", "end", "fin"));
        assert!(e.contains("too large for edit_file"), "{e}");
        assert_eq!(
            std::fs::read_to_string(ws.root().join("over.txt")).unwrap(),
            text
        );
    }

    #[test]
    fn a_long_change_shows_its_beginning_and_end() {
        let (_d, ws) = ws_with("l.txt", "start\nend\n");
        let body: String = (1..=100).map(|i| format!("n{i}\n")).collect();
        let out = edit_file(&ws, "l.txt", "start\n", &body).unwrap();
        assert!(out.text.contains("     1\tn1\n"), "{}", out.text);
        assert!(out.text.contains("[… "), "{}", out.text);
        assert!(
            out.text.ends_with("   100\tn100\n   101\tend"),
            "{}",
            out.text
        );
    }
}
