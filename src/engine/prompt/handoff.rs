//! What a finished task hands on: the files it changed with their diffstat, its commit, the
//! tail of its evidence, and its small design documents as they are now. Workers get it for
//! each finished dependency; the supervisor gets a shorter form when a task finishes.

use super::project::{self, Unread, kib};
use crate::domain::TaskState;
use std::fmt::Write;
use std::path::Path;

/// How much of a dependency's evidence a brief carries: its last lines, at most this many
/// bytes of them.
pub const EVIDENCE_LINES: usize = 20;
pub const EVIDENCE_BYTES: usize = 2 << 10;
/// The supervisor reads many of these; it gets a shorter tail.
pub const NEWS_EVIDENCE_LINES: usize = 12;
pub const NEWS_EVIDENCE_BYTES: usize = 1 << 10;
/// Files listed for one task; the rest are counted.
const FILES_SHOWN: usize = 30;
/// Design documents inlined: each smaller than this…
const DOC_MAX: u64 = 3 << 10;
/// …and this much of them in one brief.
pub const DOCS_TOTAL: usize = 8 << 10;

/// The last `lines` lines of `text`, at most `bytes` of them (cut at a line start, or inside
/// one long line at a character), and how many lines were left out before them.
pub fn tail(text: &str, lines: usize, bytes: usize) -> (&str, usize) {
    let text = text.trim_end();
    if text.is_empty() {
        return ("", 0);
    }
    let total = text.lines().count();
    let (mut start, mut kept, mut end) = (text.len(), 0, text.len());
    while kept < lines {
        let from = text[..end].rfind('\n').map_or(0, |nl| nl + 1);
        if text.len() - from > bytes {
            break;
        }
        start = from;
        kept += 1;
        if from == 0 {
            break;
        }
        end = from - 1;
    }
    if kept == 0 {
        // The last line alone is longer than `bytes`: its end.
        let mut s = text.len() - bytes.min(text.len());
        while !text.is_char_boundary(s) {
            s += 1;
        }
        return (&text[s..], total - 1);
    }
    (&text[start..], total - kept)
}

/// The evidence tail as indented lines under a heading.
pub fn evidence(out: &mut String, indent: &str, evidence: &str, lines: usize, bytes: usize) {
    if evidence.trim().is_empty() {
        return;
    }
    let (shown, before) = tail(evidence, lines, bytes);
    if before == 0 {
        let _ = writeln!(out, "{indent}Evidence:");
    } else {
        let _ = writeln!(
            out,
            "{indent}Evidence (its last {} lines; {before} earlier lines left out):",
            shown.lines().count()
        );
    }
    for line in shown.lines() {
        let _ = writeln!(out, "{indent}  | {line}");
    }
}

/// The files a task changed, `path +added -removed`, up to [`FILES_SHOWN`] of them.
pub fn files(t: &TaskState) -> Vec<String> {
    let mut rows: Vec<String> = t
        .artifacts
        .iter()
        .take(FILES_SHOWN)
        .map(|p| {
            let c = t.diffstat.get(p).copied().unwrap_or_default();
            format!("{p} +{} -{}", c.added, c.removed)
        })
        .collect();
    if t.artifacts.len() > FILES_SHOWN {
        rows.push(format!("… {} more files", t.artifacts.len() - FILES_SHOWN));
    }
    rows
}

/// One finished dependency for a worker's brief. `docs_left` is what remains of the inline
/// documents' budget, shared by every dependency of the brief.
pub fn dependency(d: &TaskState, root: Option<&Path>, docs_left: &mut usize) -> String {
    let mut out = String::new();
    let commit = match &d.commit {
        Some(sha) => format!("commit {sha}"),
        None => "its commit is not recorded yet".to_owned(),
    };
    let _ = writeln!(out, "- {} {} ({}), {commit}", d.id, d.title, d.role);
    if let Some(s) = d.summary.as_deref().filter(|s| !s.trim().is_empty()) {
        let _ = writeln!(out, "  Summary: {}", s.trim());
    }
    let rows = files(d);
    if rows.is_empty() {
        let _ = writeln!(out, "  Files changed: none recorded");
    } else {
        let _ = writeln!(out, "  Files changed (+added -removed lines):");
        for r in rows {
            let _ = writeln!(out, "    {r}");
        }
    }
    evidence(
        &mut out,
        "  ",
        d.evidence.as_deref().unwrap_or(""),
        EVIDENCE_LINES,
        EVIDENCE_BYTES,
    );
    if let Some(root) = root {
        docs(&mut out, d, root, docs_left);
    }
    out
}

/// The Markdown files of one dependency looked at (read, or named as left out): a task that
/// wrote thousands of them must not make every brief after it thousands of lines long.
const DOCS_LOOKED_AT: usize = 8;

/// The dependency's Markdown files, as they are now, while the budget lasts.
fn docs(out: &mut String, d: &TaskState, root: &Path, left: &mut usize) {
    let md: Vec<&String> = d
        .artifacts
        .iter()
        .filter(|p| {
            let lower = p.to_ascii_lowercase();
            (lower.ends_with(".md") || lower.ends_with(".markdown"))
                && !p.eq_ignore_ascii_case(project::INSTRUCTIONS)
        })
        .collect();
    let more = md.len().saturating_sub(DOCS_LOOKED_AT);
    for path in md.into_iter().take(DOCS_LOOKED_AT) {
        match project::read_workspace_text(root, path, DOC_MAX) {
            Ok(text) if text.len() <= *left => {
                *left -= text.len();
                let _ = writeln!(out, "  {path}, as it is now:");
                out.push_str(&project::fence(path, &text, None));
            }
            Ok(text) => {
                let _ = writeln!(
                    out,
                    "  {path} ({}) is not shown here, to keep this brief short; read_file reads it.",
                    kib(text.len())
                );
            }
            Err(Unread::Missing) => {
                let _ = writeln!(out, "  {path} no longer exists.");
            }
            Err(Unread::Refused(why)) => {
                let _ = writeln!(out, "  {path} is not shown: {why}.");
            }
        }
    }
    if more > 0 {
        let _ = writeln!(
            out,
            "  … and {more} more Markdown files it changed, not shown here (read_file reads them)."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_with_thousands_of_markdown_files_keeps_the_brief_short() {
        let dir = tempfile::tempdir().unwrap();
        use crate::domain::{Event, EventRecord, RunState, TaskId};
        let rec = EventRecord {
            v: crate::domain::event::SCHEMA_VERSION,
            run: "r".into(),
            seq: 1,
            ts_ms: 0,
            event: Event::TaskCreated {
                task: TaskId::from("T1"),
                title: "docs".into(),
                description: String::new(),
                role: "growth".into(),
                depends_on: Vec::new(),
                by: "supervisor".into(),
                acceptance: None,
                check: None,
            },
        };
        let mut t = RunState::fold([&rec]).tasks[0].clone();
        for i in 0..3000 {
            let name = format!("d{i}.md");
            std::fs::write(dir.path().join(&name), "x\n").unwrap();
            t.artifacts.push(name);
        }
        let mut out = String::new();
        let mut left = 8 * 1024;
        docs(&mut out, &t, dir.path(), &mut left);
        assert!(out.lines().count() < 40, "{out}");
        assert!(out.contains("… and 2992 more Markdown files"), "{out}");
    }

    #[test]
    fn the_tail_keeps_the_last_lines_within_the_byte_limit() {
        let text: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        let (t, before) = tail(&text, 20, 2048);
        assert!(t.starts_with("line 31\n") && t.ends_with("line 50"), "{t}");
        assert_eq!(before, 30);
        let (t, before) = tail(&text, 20, 31);
        assert_eq!(t, "line 47\nline 48\nline 49\nline 50");
        assert_eq!(before, 46);
        let (t, before) = tail("short", 20, 2048);
        assert_eq!((t, before), ("short", 0));
        let long = "é".repeat(3000);
        let (t, _) = tail(&long, 20, 2048);
        assert!(t.len() <= 2048 && t.chars().all(|c| c == 'é'));
        assert_eq!(tail("", 20, 10), ("", 0));
    }
}
