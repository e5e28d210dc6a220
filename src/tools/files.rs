//! The file tools write, list and search, all through [`Workspace::resolve`] (read and edit
//! have files of their own).

use super::{FileChange, ToolError, ToolOutput, Workspace};
use std::path::Path;
use std::time::Duration;

const LIST_CAP: usize = 500;
const SEARCH_CAP: usize = 200;
/// The largest file the tools read whole: edit_file changes, write_file compares with what
/// replaces it, search_files searches (the syntax check's limit too). A bigger one, say a
/// log a command left, is for run_command.
pub(super) const TEXT_CAP: u64 = 4 << 20;
/// How long counting the lines a write added and removed may take; past it the counts are
/// those of a coarser diff.
const DIFF_DEADLINE: Duration = Duration::from_secs(1);
/// Folders list and search skip: the repository, the tools' own files (saved command output)
/// and build or package output.
const SKIPPED_DIRS: [&str; 5] = [
    ".git",
    ".macrohard",
    "target",
    "node_modules",
    "__pycache__",
];

fn io_err(what: &str, rel: &str, e: std::io::Error) -> ToolError {
    ToolError::failed(format!("cannot {what} {rel}: {e}"))
}

/// Counts added and removed lines between two texts, in [`DIFF_DEADLINE`] at most.
pub fn diffstat(old: &str, new: &str) -> (u32, u32) {
    let diff = similar::TextDiff::configure()
        .timeout(DIFF_DEADLINE)
        .diff_lines(old, new);
    let (mut added, mut removed) = (0u32, 0u32);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

/// Writes `content` to `path` (making its folders) and records the change against `old`;
/// against nothing known (`None`: a file too big to read), every line of `content` counts as
/// added and none as removed.
pub(super) fn write_checked(
    ws: &Workspace,
    rel: &str,
    path: &Path,
    old: Option<&str>,
    content: &str,
) -> Result<FileChange, ToolError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create the folder for", rel, e))?;
    }
    std::fs::write(path, content).map_err(|e| io_err("write", rel, e))?;
    let (added, removed) = match old {
        Some(old) => diffstat(old, content),
        None => (
            u32::try_from(content.lines().count()).unwrap_or(u32::MAX),
            0,
        ),
    };
    Ok(FileChange {
        path: ws.relative(path),
        added,
        removed,
    })
}

/// The first syntax error of a file just written, as a line of its result.
/// The first syntax error of a file just written, as lines of its result: the error, and the
/// lines around it unless they are within `shown` (lines the result shows anyway).
pub(super) fn syntax_note(path: &str, content: &str, shown: (usize, usize)) -> Option<String> {
    let e = super::syntax::check(path, content)?;
    let mut note = format!("{e} (the file is saved as it is: fix it)");
    if e.line < shown.0 || e.line > shown.1 {
        note.push('\n');
        note.push_str(&super::edit::snippet(content, e.line, e.line, 2));
    }
    Some(note)
}

pub fn write_file(ws: &Workspace, rel: &str, content: &str) -> Result<ToolOutput, ToolError> {
    let path = ws.resolve(rel)?;
    if path.is_dir() {
        return Err(ToolError::failed(format!(
            "{rel} is a folder; give a file path"
        )));
    }
    // The file replaced, to count the lines removed; one too big is not read, nor compared.
    let (old, too_big) = match read_text(&path, TEXT_CAP) {
        Ok(old) => (Some(old), None),
        Err(Unread::TooBig(size)) => (None, Some(size)),
        Err(Unread::NotText) => (Some(String::new()), None),
    };
    let change = write_checked(ws, rel, &path, old.as_deref(), content)?;
    let lines = match content.lines().count() {
        1 => "1 line".to_owned(),
        n => format!("{n} lines"),
    };
    let counts = match too_big {
        None => format!("+{} -{}", change.added, change.removed),
        Some(size) => format!(
            "+{}; it replaced a file of {} MB, too large to compare, so the lines removed are not counted",
            change.added,
            megabytes(size)
        ),
    };
    let mut text = format!(
        "wrote {} ({} bytes, {lines}, {counts})",
        change.path,
        content.len(),
    );
    if let Some(note) = syntax_note(&change.path, content, (1, 0)) {
        text.push('\n');
        text.push_str(&note);
    }
    Ok(ToolOutput {
        ok: true,
        text,
        changes: vec![change],
    })
}

/// Why [`read_text`] gave no text.
#[derive(Debug, PartialEq)]
pub(super) enum Unread {
    /// The file is larger than the cap: its size (at least), and it was not read.
    TooBig(u64),
    /// Not a regular file (a FIFO a command left is never opened for a blocking read), not
    /// UTF-8, missing or unreadable.
    NotText,
}

/// The text of a regular file of at most `cap` bytes: a bigger one is not read (at most
/// `cap + 1` bytes when it grows while it is read), whatever its size.
pub(super) fn read_text(path: &Path, cap: u64) -> Result<String, Unread> {
    match crate::fsread::read_bytes(path, cap) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| Unread::NotText),
        Err(crate::fsread::ReadError::TooLarge { size, .. }) => Err(Unread::TooBig(size)),
        Err(_) => Err(Unread::NotText),
    }
}

/// A size in MB (of 2^20 bytes), for a message.
pub(super) fn megabytes(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

fn walk(ws: &Workspace, dir: &Path, out: &mut Vec<String>, cap: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if out.len() >= cap {
            return;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if SKIPPED_DIRS.contains(&name.as_str()) {
                continue;
            }
            out.push(format!("{}/", ws.relative(&e.path())));
            walk(ws, &e.path(), out, cap);
        } else {
            out.push(ws.relative(&e.path()));
        }
    }
}

pub fn list_files(ws: &Workspace, rel: &str) -> Result<ToolOutput, ToolError> {
    let path = ws.resolve(rel)?;
    if !path.is_dir() {
        return Err(ToolError::failed(format!("{rel} is not a folder")));
    }
    let mut out = Vec::new();
    walk(ws, &path, &mut out, LIST_CAP + 1);
    let more = out.len() > LIST_CAP;
    out.truncate(LIST_CAP);
    let mut text = if out.is_empty() {
        "(empty)".to_owned()
    } else {
        out.join("\n")
    };
    if more {
        text.push_str(&format!(
            "\n[… more than {LIST_CAP} entries; list a sub-folder]"
        ));
    }
    Ok(ToolOutput::ok(text))
}

pub fn search_files(ws: &Workspace, pattern: &str, rel: &str) -> Result<ToolOutput, ToolError> {
    let re = regex_lite::Regex::new(pattern).map_err(|e| ToolError::BadArguments {
        tool: "search_files".into(),
        detail: format!("pattern: {e}"),
    })?;
    let root = ws.resolve(rel)?;
    let mut files = Vec::new();
    if root.is_dir() {
        walk(ws, &root, &mut files, 10_000);
    } else {
        files.push(ws.relative(&root));
    }
    let mut hits = Vec::new();
    let mut too_big = 0;
    for f in files.iter().filter(|f| !f.ends_with('/')) {
        let Ok(path) = ws.resolve(f) else { continue };
        let text = match read_text(&path, TEXT_CAP) {
            Ok(text) => text,
            Err(Unread::TooBig(_)) => {
                too_big += 1;
                continue;
            }
            Err(Unread::NotText) => continue,
        };
        for (n, line) in text.lines().enumerate() {
            if re.is_match(line) {
                hits.push(format!("{f}:{}: {}", n + 1, line.trim_end()));
                if hits.len() >= SEARCH_CAP {
                    hits.push(format!("[… stopped at {SEARCH_CAP} matches]"));
                    return Ok(ToolOutput::ok(hits.join("\n")));
                }
            }
        }
    }
    let mut text = if hits.is_empty() {
        "no matches".to_owned()
    } else {
        hits.join("\n")
    };
    if too_big > 0 {
        text.push_str(&format!(
            "\n[{too_big} file(s) over {} MB not searched; search them with run_command (grep)]",
            TEXT_CAP >> 20
        ));
    }
    Ok(ToolOutput::ok(text))
}

#[cfg(test)]
mod tests {
    use super::super::edit::edit_file;
    use super::*;

    fn read_file(ws: &Workspace, rel: &str) -> Result<ToolOutput, ToolError> {
        super::super::read::read_file(ws, rel, None, None)
    }

    #[test]
    fn write_edit_read_list_and_search() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        let w = write_file(&ws, "pkg/a.py", "x = 1\ny = 2\n").unwrap();
        assert_eq!(
            w.changes,
            vec![FileChange {
                path: "pkg/a.py".into(),
                added: 2,
                removed: 0
            }]
        );
        let e = edit_file(&ws, "pkg/a.py", "y = 2", "y = 3").unwrap();
        assert_eq!((e.changes[0].added, e.changes[0].removed), (1, 1));
        assert_eq!(
            read_file(&ws, "pkg/a.py").unwrap().text,
            "     1\tx = 1\n     2\ty = 3\n"
        );
        assert!(
            w.text
                .starts_with("wrote pkg/a.py (12 bytes, 2 lines, +2 -0)")
        );
        assert!(edit_file(&ws, "pkg/a.py", "nope", "z").is_err());
        std::fs::create_dir_all(ws.root().join(".macrohard/output")).unwrap();
        std::fs::write(ws.root().join(".macrohard/output/x.log"), "y = 9\n").unwrap();
        assert_eq!(list_files(&ws, ".").unwrap().text, "pkg/\npkg/a.py");
        assert_eq!(
            search_files(&ws, r"y = \d", ".").unwrap().text,
            "pkg/a.py:2: y = 3"
        );
        assert!(search_files(&ws, "(", ".").is_err());
    }

    #[test]
    fn a_written_file_with_a_syntax_error_says_where_with_the_lines_around() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        let w = write_file(&ws, "app.py", "def f(:\n    return 1\n\nx = 2\n").unwrap();
        assert!(w.ok);
        assert!(
            w.text.contains("Python syntax error at line 1"),
            "{}",
            w.text
        );
        assert!(
            w.text
                .ends_with("     1\tdef f(:\n     2\t    return 1\n     3\t"),
            "{}",
            w.text
        );
        let w = write_file(&ws, "ok.json", "{}").unwrap();
        assert_eq!(w.text, "wrote ok.json (2 bytes, 1 line, +1 -0)");
    }

    #[test]
    fn writing_over_a_file_too_big_to_read_does_not_read_nor_compare_it() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        // Sparse: 5 GB that would take seconds and gigabytes to read and diff.
        let file = std::fs::File::create(ws.root().join("huge.log")).unwrap();
        file.set_len(5 << 30).unwrap();
        let started = std::time::Instant::now();
        let w = write_file(&ws, "huge.log", "one\ntwo\n").unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            w.text,
            "wrote huge.log (8 bytes, 2 lines, +2; it replaced a file of 5120.0 MB, too large to compare, so the lines removed are not counted)"
        );
        assert_eq!((w.changes[0].added, w.changes[0].removed), (2, 0));
        assert_eq!(
            std::fs::read_to_string(ws.root().join("huge.log")).unwrap(),
            "one\ntwo\n"
        );
        // Search leaves such a file out, and says so.
        file.set_len(5 << 30).unwrap();
        std::fs::write(ws.root().join("a.txt"), "two\n").unwrap();
        assert_eq!(
            search_files(&ws, "two", ".").unwrap().text,
            "a.txt:1: two\n[1 file(s) over 4 MB not searched; search them with run_command (grep)]"
        );
    }

    #[test]
    fn counting_the_lines_of_a_write_has_a_deadline() {
        // Nothing in common: the exact diff is quadratic.
        let old: String = (0..200_000).map(|i| format!("a{i}\n")).collect();
        let new: String = (0..200_000).map(|i| format!("b{i}\n")).collect();
        let started = std::time::Instant::now();
        let (added, removed) = diffstat(&old, &new);
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(4), "{took:?}");
        assert_eq!((added, removed), (200_000, 200_000));
        assert_eq!(diffstat("a\nb\nc\n", "a\nB\nc\nd\n"), (2, 1));
    }

    #[test]
    fn nothing_outside_the_workspace_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(&dir.path().join("ws")).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path(), ws.root().join("up")).unwrap();
        assert!(write_file(&ws, "../secret.txt", "pwned").is_err());
        assert!(write_file(&ws, "up/secret.txt", "pwned").is_err());
        assert!(edit_file(&ws, "up/secret.txt", "s", "pwned").is_err());
        assert!(read_file(&ws, "up/secret.txt").is_err());
        assert!(list_files(&ws, "up").is_err());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("secret.txt")).unwrap(),
            "s"
        );
    }

    #[test]
    fn no_file_tool_opens_git_however_it_is_spelled_or_linked() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        std::fs::create_dir_all(ws.root().join(".git/hooks")).unwrap();
        std::fs::write(ws.root().join(".git/config"), "[core]\n").unwrap();
        // A link a command could have made.
        std::os::unix::fs::symlink(".git", ws.root().join("g")).unwrap();
        fn refused(r: Result<ToolOutput, ToolError>) -> bool {
            let why = match r {
                Err(ToolError::Confinement { why, .. }) => why,
                _ => return false,
            };
            why.contains(".git")
        }
        for p in [
            ".git/config",
            ".GIT/config",
            "sub/../.git/config",
            "g/config",
        ] {
            assert!(
                refused(write_file(&ws, p, "[core]\n\tfsmonitor = x\n")),
                "{p}"
            );
            assert!(refused(edit_file(&ws, p, "[core]", "[x]")), "{p}");
            assert!(refused(read_file(&ws, p)), "{p}");
        }
        assert!(refused(write_file(
            &ws,
            "g/hooks/pre-commit",
            "#!/bin/sh\n"
        )));
        assert!(refused(list_files(&ws, "./.git")));
        assert!(refused(search_files(&ws, "core", "g")));
        assert_eq!(
            std::fs::read_to_string(ws.root().join(".git/config")).unwrap(),
            "[core]\n"
        );
        assert!(!ws.root().join(".git/hooks/pre-commit").exists());
        // Names that only look like it are files like any other.
        assert!(write_file(&ws, ".gitignore", "target/\n").is_ok());
    }
}
