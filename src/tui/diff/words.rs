//! Word-level changes: in each block of removed lines followed by added lines, the n-th removed
//! line is paired with the n-th added one and the words that differ between them are marked,
//! so a reviewer sees `count = 1` → `count = 2` as one changed word, not two whole lines.

use super::parse::{DiffLine, LineKind};
use similar::{ChangeTag, TextDiff};
use std::ops::Range;

/// Lines longer than this are not compared word by word (a minified file would cost more than
/// it shows).
const MAX_LINE: usize = 2_000;

/// Below this similarity two paired lines are simply different: nothing is marked.
const MIN_RATIO: f32 = 0.3;

/// Byte ranges of a line's changed words.
pub type Marks = Vec<Range<usize>>;

/// Marks the changed words of paired removed and added lines in one hunk.
pub fn emphasise(lines: &mut [DiffLine]) {
    let mut i = 0;
    while i < lines.len() {
        let removed = run(lines, i, LineKind::Removed);
        let after = removed.last().map_or(i, |l| l + 1);
        let added = run(lines, after, LineKind::Added);
        if removed.is_empty() || added.is_empty() {
            i = after.max(i + 1);
            continue;
        }
        for (&r, &a) in removed.iter().zip(&added) {
            if let Some((old, new)) = changed_words(&lines[r].text, &lines[a].text) {
                lines[r].emphasis = old;
                lines[a].emphasis = new;
            }
        }
        i = added.last().map_or(after, |l| l + 1);
    }
}

/// The indices of the lines of `kind` from `start` on, past `\ No newline` marks between them.
fn run(lines: &[DiffLine], start: usize, kind: LineKind) -> Vec<usize> {
    let mut found = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(start) {
        match l.kind {
            k if k == kind => found.push(i),
            LineKind::NoNewline if !found.is_empty() => {}
            _ => break,
        }
    }
    found
}

/// The byte ranges that differ in `old` and in `new`, word by word; `None` when the lines are
/// too long or too different for marks to help.
pub fn changed_words(old: &str, new: &str) -> Option<(Marks, Marks)> {
    if old.len() > MAX_LINE || new.len() > MAX_LINE || old == new {
        return None;
    }
    let diff = TextDiff::from_words(old, new);
    if diff.ratio() < MIN_RATIO {
        return None;
    }
    let (mut old_at, mut new_at) = (0, 0);
    let (mut old_marks, mut new_marks) = (Vec::new(), Vec::new());
    for change in diff.iter_all_changes() {
        let len = change.value().len();
        match change.tag() {
            ChangeTag::Equal => {
                old_at += len;
                new_at += len;
            }
            ChangeTag::Delete => {
                push(&mut old_marks, old_at..old_at + len);
                old_at += len;
            }
            ChangeTag::Insert => {
                push(&mut new_marks, new_at..new_at + len);
                new_at += len;
            }
        }
    }
    Some((old_marks, new_marks))
}

/// Adds `r`, joined to the last range when they touch.
fn push(marks: &mut Vec<Range<usize>>, r: Range<usize>) {
    match marks.last_mut() {
        Some(last) if last.end == r.start => last.end = r.end,
        _ => marks.push(r),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn line(kind: LineKind, text: &str) -> DiffLine {
        DiffLine {
            kind,
            old: None,
            new: None,
            text: text.into(),
            emphasis: Vec::new(),
        }
    }

    fn marked(l: &DiffLine) -> Vec<&str> {
        l.emphasis.iter().map(|r| &l.text[r.clone()]).collect()
    }

    #[test]
    fn one_changed_word_is_marked_on_both_sides() {
        let (old, new) = changed_words("let count = 1;", "let count = 2;").unwrap();
        assert_eq!(&"let count = 1;"[old[0].clone()], "1;");
        assert_eq!(&"let count = 2;"[new[0].clone()], "2;");
        assert_eq!((old.len(), new.len()), (1, 1));
        assert!(changed_words("same", "same").is_none());
        assert!(
            changed_words("entirely different words", "nothing alike here at all").is_none(),
            "lines with nothing in common are not marked word by word"
        );
    }

    #[test]
    fn removed_and_added_lines_pair_in_order_and_extra_lines_stay_whole() {
        use LineKind::*;
        let mut lines = vec![
            line(Context, "fn main() {"),
            line(Removed, "    println!(\"hello world\");"),
            line(Removed, "    let x = 1;"),
            line(Added, "    println!(\"hello there world\");"),
            line(Added, "    let x = 2;"),
            line(Added, "    let y = 3;"),
            line(Context, "}"),
            line(Added, "// lone"),
        ];
        emphasise(&mut lines);
        assert_eq!(marked(&lines[1]), Vec::<&str>::new());
        assert_eq!(marked(&lines[3]), vec!["there "]);
        assert_eq!(marked(&lines[2]), vec!["1;"]);
        assert_eq!(marked(&lines[4]), vec!["2;"]);
        assert!(lines[5].emphasis.is_empty(), "no partner: no marks");
        assert!(lines[7].emphasis.is_empty());
        assert!(lines[0].emphasis.is_empty());
    }

    #[test]
    fn marks_are_byte_ranges_on_character_boundaries() {
        let (old, new) = changed_words("café au lait", "café au thé").unwrap();
        assert_eq!(&"café au lait"[old[0].clone()], "lait");
        assert_eq!(&"café au thé"[new[0].clone()], "thé");
    }
}
