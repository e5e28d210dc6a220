//! Unified diff text (as `git diff` prints it) → files → hunks → lines with their old and new
//! line numbers, and each file's counts of added and removed lines.
//!
//! Parsing never fails: a line it cannot place is kept as a note of the file it is in (or
//! dropped before the first file), so hostile or cut text still shows what it can. Text is
//! kept as it came; it is sanitised only when it is drawn.

use std::ops::Range;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub files: Vec<FileDiff>,
    /// The text was cut short (see `tools::git::diff::CUT_NOTE`).
    pub cut: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileDiff {
    /// `None` where the file did not exist before (`/dev/null`).
    pub old_path: Option<String>,
    /// `None` where the file was deleted.
    pub new_path: Option<String>,
    /// The extended header lines git prints (`new file mode 100644`, `rename from …`,
    /// `Binary files … differ`), without the `index` line.
    pub notes: Vec<String>,
    pub hunks: Vec<Hunk>,
    pub added: u32,
    pub removed: u32,
}

impl FileDiff {
    /// The path comments name: the new one, or the old one for a deleted file.
    pub fn path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or("?")
    }

    /// `old → new` for a rename, else the path.
    pub fn label(&self) -> String {
        match (&self.old_path, &self.new_path) {
            (Some(o), Some(n)) if o != n => format!("{o} → {n}"),
            _ => self.path().to_owned(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hunk {
    /// The whole `@@ -a,b +c,d @@ section` line.
    pub header: String,
    pub old_start: u32,
    pub new_start: u32,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Context,
    Added,
    Removed,
    /// `\ No newline at end of file`.
    NoNewline,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiffLine {
    pub kind: LineKind,
    pub old: Option<u32>,
    pub new: Option<u32>,
    /// The line without its `+`/`-`/space mark.
    pub text: String,
    /// Byte ranges of `text` that changed against its paired line (see `words`).
    pub emphasis: Vec<Range<usize>>,
}

/// What starts the note that ends a diff cut short.
const CUT_PREFIX: &str = "\\ macrohard: the diff is cut";

/// Parses `git diff` output.
pub fn parse(text: &str) -> Diff {
    let mut diff = Diff::default();
    let mut at = At::default();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with(CUT_PREFIX) {
            diff.cut = true;
            break;
        }
        if let Some(rest) = line.strip_prefix("diff --git ") {
            diff.files.push(file_from_git_line(rest));
            at = At::default();
            continue;
        }
        let Some(file) = diff.files.last_mut() else {
            continue;
        };
        if ((at.old_left, at.new_left) != (0, 0) || line.starts_with('\\'))
            && hunk_line(file, line, &mut at)
        {
            continue;
        }
        if let Some((hunk, old_left, new_left)) = hunk_header(line) {
            at = At {
                old_left,
                new_left,
                old: hunk.old_start,
                new: hunk.new_start,
            };
            file.hunks.push(hunk);
        } else if let Some(p) = line.strip_prefix("--- ") {
            file.old_path = side_path(p, "a/");
        } else if let Some(p) = line.strip_prefix("+++ ") {
            file.new_path = side_path(p, "b/");
        } else if let Some(p) = line.strip_prefix("rename from ") {
            file.old_path = Some(unquote(p));
            file.notes.push(line.to_owned());
        } else if let Some(p) = line.strip_prefix("rename to ") {
            file.new_path = Some(unquote(p));
            file.notes.push(line.to_owned());
        } else if line.starts_with("new file mode") {
            file.old_path = None;
            file.notes.push(line.to_owned());
        } else if line.starts_with("deleted file mode") {
            file.new_path = None;
            file.notes.push(line.to_owned());
        } else if line.starts_with("index ") || line.is_empty() {
            // The blob ids say nothing to a reviewer; the empty line is the text's end.
        } else {
            file.notes.push(line.to_owned());
        }
    }
    for file in &mut diff.files {
        for hunk in &mut file.hunks {
            super::words::emphasise(&mut hunk.lines);
        }
    }
    diff
}

/// Where the open hunk is: the lines it still expects and the next line numbers, old and new.
#[derive(Debug, Default)]
struct At {
    old_left: u32,
    new_left: u32,
    old: u32,
    new: u32,
}

/// Adds `line` to the file's open hunk if it belongs there; false if it does not.
fn hunk_line(file: &mut FileDiff, line: &str, at: &mut At) -> bool {
    let Some(hunk) = file.hunks.last_mut() else {
        return false;
    };
    let (mark, text) = match line.chars().next() {
        Some(c @ (' ' | '+' | '-' | '\\')) => (c, &line[1..]),
        // Some tools strip the space of an empty context line.
        None => (' ', ""),
        Some(_) => return false,
    };
    let (old, new) = (at.old, at.new);
    let (kind, old, new) = match mark {
        ' ' if at.old_left > 0 && at.new_left > 0 => {
            at.old_left -= 1;
            at.new_left -= 1;
            at.old = at.old.saturating_add(1);
            at.new = at.new.saturating_add(1);
            (LineKind::Context, Some(old), Some(new))
        }
        '-' if at.old_left > 0 => {
            at.old_left -= 1;
            at.old = at.old.saturating_add(1);
            file.removed += 1;
            (LineKind::Removed, Some(old), None)
        }
        '+' if at.new_left > 0 => {
            at.new_left -= 1;
            at.new = at.new.saturating_add(1);
            file.added += 1;
            (LineKind::Added, None, Some(new))
        }
        '\\' => (LineKind::NoNewline, None, None),
        _ => return false,
    };
    hunk.lines.push(DiffLine {
        kind,
        old,
        new,
        text: text.to_owned(),
        emphasis: Vec::new(),
    });
    true
}

/// `@@ -a[,b] +c[,d] @@ …` → the hunk and how many old and new lines it holds.
fn hunk_header(line: &str) -> Option<(Hunk, u32, u32)> {
    let rest = line.strip_prefix("@@ -")?;
    let (ranges, _) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |r: &str| -> Option<(u32, u32)> {
        match r.split_once(',') {
            Some((s, n)) => Some((s.parse().ok()?, n.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (old_start, old_n) = range(old)?;
    let (new_start, new_n) = range(new)?;
    Some((
        Hunk {
            header: line.to_owned(),
            old_start,
            new_start,
            lines: Vec::new(),
        },
        old_n,
        new_n,
    ))
}

/// The path of a `---`/`+++` line: `None` for `/dev/null`.
fn side_path(p: &str, prefix: &str) -> Option<String> {
    let p = p.strip_suffix('\t').unwrap_or(p);
    if p == "/dev/null" {
        return None;
    }
    let p = unquote(p);
    Some(p.strip_prefix(prefix).map_or(p.clone(), str::to_owned))
}

/// The paths of `diff --git a/X b/Y`, best effort: `---`/`+++` and `rename` lines, when they
/// come, say it exactly.
fn file_from_git_line(rest: &str) -> FileDiff {
    let (old, new) = if rest.starts_with('"') {
        let (a, tail) = quoted(rest);
        let tail = tail.trim_start();
        let b = if tail.starts_with('"') {
            quoted(tail).0
        } else {
            tail.to_owned()
        };
        (a, b)
    } else {
        // Unquoted: `a/X b/X` splits in the middle when both halves name the same path.
        let half = rest.len() / 2;
        match (rest.get(..half), rest.get(half + 1..)) {
            (Some(a), Some(b))
                if rest.as_bytes().get(half) == Some(&b' ')
                    && a.get(2..).is_some()
                    && a.get(2..) == b.get(2..) =>
            {
                (a.to_owned(), b.to_owned())
            }
            _ => match rest.split_once(" b/") {
                Some((a, b)) => (a.to_owned(), format!("b/{b}")),
                None => (rest.to_owned(), rest.to_owned()),
            },
        }
    };
    let strip = |p: &str, pre: &str| p.strip_prefix(pre).unwrap_or(p).to_owned();
    FileDiff {
        old_path: Some(strip(&old, "a/")),
        new_path: Some(strip(&new, "b/")),
        ..FileDiff::default()
    }
}

/// A path as git quotes it (`"a\tb\303\251"`), or as it is when not quoted.
fn unquote(p: &str) -> String {
    if p.starts_with('"') {
        quoted(p).0
    } else {
        p.to_owned()
    }
}

/// The C-style quoted string at the start of `s` and what follows it.
fn quoted(s: &str) -> (String, &str) {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return (String::from_utf8_lossy(&out).into_owned(), &s[i + 1..]),
            b'\\' if i + 1 < bytes.len() => {
                i += 1;
                match bytes[i] {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'v' => out.push(11),
                    d @ b'0'..=b'3' => {
                        let oct = bytes.get(i..i + 3).unwrap_or(&[]);
                        if oct.len() == 3 && oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                            out.push((d - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
                            i += 2;
                        } else {
                            out.push(d);
                        }
                    }
                    c => out.push(c),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    (String::from_utf8_lossy(&out).into_owned(), "")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TWO_FILES: &str = "\
diff --git a/src/app.py b/src/app.py
index 3b18e51..a9c2f4e 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,4 +1,5 @@ def main():
 import sys
-print(\"hello world\")
+print(\"hello there world\")
+print(\"bye\")
 
 sys.exit(0)
@@ -10,2 +11,2 @@
-a
+b
 c
\\ No newline at end of file
diff --git a/new file.txt b/new file.txt
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/new file.txt
@@ -0,0 +1 @@
+fresh
";

    #[test]
    fn files_hunks_and_line_numbers() {
        let d = parse(TWO_FILES);
        assert!(!d.cut);
        assert_eq!(d.files.len(), 2);
        let f = &d.files[0];
        assert_eq!(f.path(), "src/app.py");
        assert_eq!((f.added, f.removed), (3, 2));
        assert_eq!(f.hunks.len(), 2);
        let h = &f.hunks[0];
        assert_eq!(h.header, "@@ -1,4 +1,5 @@ def main():");
        let nums: Vec<(LineKind, Option<u32>, Option<u32>)> =
            h.lines.iter().map(|l| (l.kind, l.old, l.new)).collect();
        use LineKind::*;
        assert_eq!(
            nums,
            vec![
                (Context, Some(1), Some(1)),
                (Removed, Some(2), None),
                (Added, None, Some(2)),
                (Added, None, Some(3)),
                (Context, Some(3), Some(4)),
                (Context, Some(4), Some(5)),
            ]
        );
        assert_eq!(h.lines[4].text, "");
        let h2 = &f.hunks[1];
        assert_eq!(h2.lines[0].old, Some(10));
        assert_eq!(h2.lines[1].new, Some(11));
        assert_eq!(h2.lines[3].kind, NoNewline);
        let n = &d.files[1];
        assert_eq!(n.old_path, None);
        assert_eq!(n.path(), "new file.txt");
        assert_eq!(n.notes, vec!["new file mode 100644"]);
        assert_eq!((n.added, n.removed), (1, 0));
        assert_eq!(n.hunks[0].lines[0].new, Some(1));
    }

    #[test]
    fn renames_deletions_binaries_quoted_paths_and_a_cut() {
        let text = "\
diff --git a/old.rs b/new.rs
similarity index 90%
rename from old.rs
rename to new.rs
index 1..2 100644
--- a/old.rs
+++ b/new.rs
@@ -1 +1 @@
-x
+y
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/img.png b/img.png
new file mode 100644
Binary files /dev/null and b/img.png differ
diff --git \"a/t\\303\\251\\tx\" \"b/t\\303\\251\\tx\"
--- \"a/t\\303\\251\\tx\"
+++ \"b/t\\303\\251\\tx\"
@@ -1 +1,2 @@
 a
+b
\\ macrohard: the diff is cut here: it is larger than 4 MiB
";
        let d = parse(text);
        assert!(d.cut);
        assert_eq!(d.files.len(), 4);
        assert_eq!(d.files[0].label(), "old.rs → new.rs");
        assert_eq!(d.files[1].path(), "gone.txt");
        assert_eq!(d.files[1].new_path, None);
        assert_eq!(d.files[1].removed, 1);
        assert_eq!(d.files[2].path(), "img.png");
        assert!(
            d.files[2]
                .notes
                .iter()
                .any(|n| n.starts_with("Binary files"))
        );
        assert_eq!(d.files[3].path(), "té\tx");
        assert_eq!(d.files[3].added, 1);
    }

    #[test]
    fn garbage_and_lines_past_a_hunk_never_panic() {
        for text in [
            "",
            "@@ -1 +1 @@\n+x\n",
            "diff --git a\n@@ -x +y @@\n+z\n",
            "diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n-d\nweird\n",
            "diff --git \"a/unterminated\n",
            "diff --git a/é b/é\n@@ -4294967295,1 +1 @@\n-é\n",
            "diff --git aé b\n",
        ] {
            let _ = parse(text);
        }
        let d = parse("diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n");
        assert_eq!(
            d.files[0].added, 1,
            "a line past the hunk's count is not in it"
        );
    }
}
