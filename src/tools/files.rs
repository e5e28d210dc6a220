//! The file tools write, list and search, all through [`Workspace::resolve`] (read and edit
//! have files of their own).

use super::{FileChange, ToolError, ToolOutput, Workspace};
use std::path::Path;

const LIST_CAP: usize = 500;
const SEARCH_CAP: usize = 200;
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

/// Counts added and removed lines between two texts.
pub fn diffstat(old: &str, new: &str) -> (u32, u32) {
    let diff = similar::TextDiff::from_lines(old, new);
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

/// Writes `content` to `path` (making its folders) and records the change against `old`.
pub(super) fn write_checked(
    ws: &Workspace,
    rel: &str,
    path: &Path,
    old: &str,
    content: &str,
) -> Result<FileChange, ToolError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create the folder for", rel, e))?;
    }
    std::fs::write(path, content).map_err(|e| io_err("write", rel, e))?;
    let (added, removed) = diffstat(old, content);
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
    let old = read_text(&path).unwrap_or_default();
    let change = write_checked(ws, rel, &path, &old, content)?;
    let lines = match content.lines().count() {
        1 => "1 line".to_owned(),
        n => format!("{n} lines"),
    };
    let mut text = format!(
        "wrote {} ({} bytes, {lines}, +{} -{})",
        change.path,
        content.len(),
        change.added,
        change.removed
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

/// The text of a regular file; `None` for anything else (a FIFO a command left is never
/// opened for a blocking read) or a file that is not UTF-8.
pub(super) fn read_text(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut file = super::read::open_regular(path, "").ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
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
    for f in files.iter().filter(|f| !f.ends_with('/')) {
        let Ok(path) = ws.resolve(f) else { continue };
        let Some(text) = read_text(&path) else {
            continue;
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
    Ok(ToolOutput::ok(if hits.is_empty() {
        "no matches".to_owned()
    } else {
        hits.join("\n")
    }))
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
