//! Tool calls and results as transcript lines that read as what they do: `write_file path
//! (41 lines)` with the file as code, `edit_file` as a diff, `run_command` as a shell line with
//! its exit code and the tail of its output, other tools as one line (`name key=value …`).
//!
//! Invariants:
//! - a call's arguments as JSON are kept as one raw-view line, so the raw view shows what the
//!   model sent; the rendered lines never show JSON;
//! - a body past [`FOLD`] lines folds: the rest shows only while entries are unfolded, and a
//!   marker line ("… N more lines") only while they are folded; at most [`MAX_BODY`] lines of a
//!   body are kept, so one call adds a bounded number of lines;
//! - nothing here splits text at a newline the model controls except file contents and outputs,
//!   line by line: a path, a command or a value with a newline stays one line and shows the
//!   newline as a mark when drawn.

use super::markdown::CodeBlock;
use super::transcript::{Ctx, Line, LineKind, Show};
use crate::domain::describe::one_line;
use serde_json::Value;

/// Lines of a body shown while folded.
pub const FOLD: usize = 6;
/// Lines of a body kept at all.
pub const MAX_BODY: usize = 400;

fn str_arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

/// The language of a file, from its extension (or its name, as `Makefile`).
fn lang_of(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() => ext,
        _ => name,
    }
}

/// `body` as folded lines: the first [`FOLD`] always, the rest while unfolded, a marker while
/// folded; `tail` keeps the last lines instead of the first. `total` counts the lines the body
/// had before it was cut to [`MAX_BODY`].
fn fold(body: Vec<Line>, total: usize, tail: bool) -> Vec<Line> {
    let mut out = Vec::new();
    let shown = body.len();
    if shown <= FOLD {
        out.extend(body);
        return out;
    }
    let hidden = shown - FOLD;
    let marker = |n: usize, what: &str| {
        Line::new(LineKind::Output, format!("  … {n} {what} lines")).show(Show::FOLDED)
    };
    let beyond = total.saturating_sub(shown);
    let mut body = body.into_iter();
    if tail {
        out.push(marker(hidden + beyond, "earlier"));
        if beyond > 0 {
            out.push(
                Line::new(
                    LineKind::Output,
                    format!("  … {beyond} earlier lines not kept"),
                )
                .show(Show::UNFOLDED),
            );
        }
        out.extend(body.by_ref().take(hidden).map(|l| {
            let s = l.show.and(Show::UNFOLDED);
            l.show(s)
        }));
        out.extend(body);
    } else {
        out.extend(body.by_ref().take(FOLD));
        out.extend(body.map(|l| {
            let s = l.show.and(Show::UNFOLDED);
            l.show(s)
        }));
        out.push(marker(hidden + beyond, "more"));
        if beyond > 0 {
            out.push(
                Line::new(
                    LineKind::Output,
                    format!("  … {beyond} more lines not kept"),
                )
                .show(Show::UNFOLDED),
            );
        }
    }
    out
}

/// The lines of text `s` (without a trailing newline's empty line), the first or last
/// [`MAX_BODY`] of them, and how many there are.
fn body_lines(s: &str, tail: bool) -> (Vec<&str>, usize) {
    let s = s.strip_suffix('\n').unwrap_or(s);
    if s.is_empty() {
        return (Vec::new(), 0);
    }
    let total = s.split('\n').count();
    let lines: Vec<&str> = if tail {
        s.split('\n').skip(total.saturating_sub(MAX_BODY)).collect()
    } else {
        s.split('\n').take(MAX_BODY).collect()
    };
    (lines, total)
}

/// The transcript lines of a tool call.
pub fn call(call: &str, tool: &str, args: &Value) -> Vec<Line> {
    let raw = Line::new(
        LineKind::ToolCall,
        format!("▶ {call} {tool} {}", one_line(&args.to_string(), 240)),
    )
    .show(Show::RAW);
    // Every rendered header starts `▶ {call} `; its wrapped rows hang after it.
    let lead = "▶ ".len() + call.len() + 1;
    let header = |text: String| {
        vec![
            raw.clone(),
            Line::new(LineKind::ToolCall, text)
                .show(Show::RENDERED)
                .lead(lead),
        ]
    };
    let rendered = |l: Line| {
        let s = l.show.and(Show::RENDERED);
        l.show(s)
    };
    match (tool, str_arg(args, "path")) {
        ("write_file", Some(path)) => {
            let Some(content) = str_arg(args, "content") else {
                return header(format!("▶ {call} write_file {path}"));
            };
            let (lines, total) = body_lines(content, false);
            let block = Ctx::Code(CodeBlock::file(lang_of(path)));
            let body = lines
                .into_iter()
                .map(|l| rendered(Line::new(LineKind::Code, l).ctx(block.clone())))
                .collect();
            let n = if total == 1 { "line" } else { "lines" };
            let mut out = header(format!("▶ {call} write_file {path} ({total} {n})"));
            out.extend(fold(body, total, false).into_iter().map(rendered));
            out
        }
        ("edit_file", Some(path)) => {
            let (old, new) = (
                str_arg(args, "old").unwrap_or(""),
                str_arg(args, "new").unwrap_or(""),
            );
            let (body, added, removed) = diff(old, new);
            let total = body.len();
            let mut out = header(format!("▶ {call} edit_file {path} (-{removed} +{added})"));
            out.extend(fold(body, total, false).into_iter().map(rendered));
            out
        }
        ("run_command", _) if str_arg(args, "command").is_some() => {
            let command = str_arg(args, "command").unwrap_or("");
            let mut lines = command.split('\n');
            let first = lines.next().unwrap_or("");
            let timeout = args
                .get("timeout_s")
                .and_then(Value::as_u64)
                .map(|s| format!("  (timeout {s}s)"))
                .unwrap_or_default();
            let mut head = header(format!("▶ {call} $ {first}{timeout}"));
            let block = Ctx::Code(CodeBlock::file("sh"));
            head.extend(
                lines
                    .take(MAX_BODY)
                    .map(|l| rendered(Line::new(LineKind::Code, l).ctx(block.clone()))),
            );
            head
        }
        ("read_file", Some(path)) => {
            let from = args.get("offset").and_then(Value::as_u64);
            let limit = args.get("limit").and_then(Value::as_u64);
            let range = match (from, limit) {
                (Some(f), Some(l)) => format!(" (lines {f}–{})", f + l.saturating_sub(1)),
                (Some(f), None) => format!(" (from line {f})"),
                (None, Some(l)) => format!(" (first {l} lines)"),
                (None, None) => String::new(),
            };
            header(format!("▶ {call} read_file {path}{range}"))
        }
        ("list_files", path) => header(format!("▶ {call} list_files {}", path.unwrap_or("."))),
        ("search_files", path) if str_arg(args, "pattern").is_some() => header(format!(
            "▶ {call} search_files /{}/ in {}",
            str_arg(args, "pattern").unwrap_or(""),
            path.unwrap_or(".")
        )),
        _ => header(format!("▶ {call} {tool}{}", key_values(args))),
    }
}

/// ` key=value …` of an object's fields, each value cut short; strings with spaces quoted.
fn key_values(args: &Value) -> String {
    let Some(map) = args.as_object() else {
        return match args {
            Value::Null => String::new(),
            v => format!(" {}", one_line(&v.to_string(), 120)),
        };
    };
    let mut out = String::new();
    for (k, v) in map {
        // Each value is cut once: a string inside its quotes, so the closing quote stays.
        let v = match v {
            Value::String(s) => {
                let s = one_line(s, 80);
                if s.is_empty() || s.contains(' ') {
                    format!("\"{s}\"")
                } else {
                    s
                }
            }
            Value::Array(items) if items.is_empty() => "[]".to_owned(),
            Value::Array(items) => one_line(
                &items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                82,
            ),
            v => one_line(&v.to_string(), 82),
        };
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&v);
    }
    out
}

/// An edit's lines as a diff: (lines, added, removed).
fn diff(old: &str, new: &str) -> (Vec<Line>, usize, usize) {
    let d = similar::TextDiff::from_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    let mut lines = Vec::new();
    for change in d.iter_all_changes() {
        let text = change.value();
        let text = text.strip_suffix('\n').unwrap_or(text);
        let (kind, sign) = match change.tag() {
            similar::ChangeTag::Delete => {
                removed += 1;
                (LineKind::Removed, '-')
            }
            similar::ChangeTag::Insert => {
                added += 1;
                (LineKind::Added, '+')
            }
            similar::ChangeTag::Equal => (LineKind::Context, ' '),
        };
        if lines.len() < MAX_BODY {
            lines.push(Line::new(kind, format!("{sign} {text}")).lead(2));
        }
    }
    (lines, added, removed)
}

/// The transcript lines of a tool's result. `tool` is the tool's name when the call is known.
pub fn finished(call: &str, tool: Option<&str>, ok: bool, output: &str) -> Vec<Line> {
    let (kind, mark) = if ok {
        (LineKind::ToolOk, "◀")
    } else {
        (LineKind::ToolErr, "◀ FAILED")
    };
    let (first, rest) = output.split_once('\n').unwrap_or((output, ""));
    let lead = mark.len() + call.len() + 2;
    let mut out = vec![Line::new(kind, format!("{mark} {call} {first}")).lead(lead)];
    let tail = tool == Some("run_command");
    let (lines, total) = body_lines(rest, tail);
    let body = lines
        .into_iter()
        .map(|l| Line::new(LineKind::Output, format!("  {l}")).lead(2 + numbered(l)))
        .collect();
    out.extend(fold(body, total, tail));
    out
}

/// Where an output line's text starts after its indent and, for a line that starts with a
/// number as the file tools print them (`     4 text`), that number: the rows it wraps onto
/// hang there.
fn numbered(line: &str) -> usize {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[spaces..];
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 && rest[digits..].starts_with(' ') {
        spaces + digits + 1
    } else {
        spaces
    }
}

#[cfg(test)]
mod tests;
