use super::*;
use crate::tui::transcript::Mode;
use serde_json::json;

const FOLDED: Mode = Mode {
    raw: false,
    unfolded: false,
};
const UNFOLDED: Mode = Mode {
    raw: false,
    unfolded: true,
};
const RAW: Mode = Mode {
    raw: true,
    unfolded: false,
};

fn shown(lines: &[Line], mode: Mode) -> Vec<String> {
    lines
        .iter()
        .filter(|l| mode.shows(l))
        .map(|l| l.text.clone())
        .collect()
}

#[test]
fn write_file_reads_as_path_and_line_count_with_the_content_folded() {
    let content: String = (1..=41).map(|i| format!("line {i}\n")).collect();
    let lines = call(
        "c12",
        "write_file",
        &json!({"path": "tests/test_core.py", "content": content}),
    );
    let folded = shown(&lines, FOLDED);
    assert_eq!(folded[0], "▶ c12 write_file tests/test_core.py (41 lines)");
    assert_eq!(
        &folded[1..7],
        ["line 1", "line 2", "line 3", "line 4", "line 5", "line 6"]
    );
    assert_eq!(folded[7], "  … 35 more lines");
    assert_eq!(folded.len(), 8);
    let open = shown(&lines, UNFOLDED);
    assert_eq!(open.len(), 42);
    assert_eq!(open[41], "line 41");
    // The content is code in the file's language.
    let code: Vec<&Line> = lines.iter().filter(|l| l.kind == LineKind::Code).collect();
    assert_eq!(code.len(), 41);
    assert!(
        code.iter()
            .all(|l| l.ctx.block().is_some_and(|b| &*b.lang == "py"))
    );
    // Raw: the JSON, one line, and nothing else.
    let raw = shown(&lines, RAW);
    assert_eq!(raw.len(), 1);
    assert!(
        raw[0].starts_with("▶ c12 write_file {\"content\":\"line 1\\nline 2"),
        "{}",
        raw[0]
    );
}

#[test]
fn a_huge_file_keeps_a_bounded_number_of_lines() {
    let content = "x\n".repeat(100_000);
    let lines = call(
        "c1",
        "write_file",
        &json!({"path": "big.txt", "content": content}),
    );
    assert!(lines.len() <= MAX_BODY + 4, "{}", lines.len());
    let open = shown(&lines, UNFOLDED);
    assert_eq!(open[0], "▶ c1 write_file big.txt (100000 lines)");
    assert_eq!(open.last().unwrap(), "  … 99600 more lines not kept");
    assert_eq!(
        shown(&lines, FOLDED).last().unwrap(),
        "  … 99994 more lines"
    );
}

#[test]
fn edit_file_is_a_diff_of_old_and_new() {
    let lines = call(
        "c3",
        "edit_file",
        &json!({"path": "a.py", "old": "x = 1\ny = 2\n", "new": "x = 1\ny = 3\nz = 4\n"}),
    );
    let got: Vec<(LineKind, String)> = lines
        .iter()
        .filter(|l| FOLDED.shows(l))
        .map(|l| (l.kind, l.text.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (LineKind::ToolCall, "▶ c3 edit_file a.py (-1 +2)".to_owned()),
            (LineKind::Context, "  x = 1".to_owned()),
            (LineKind::Removed, "- y = 2".to_owned()),
            (LineKind::Added, "+ y = 3".to_owned()),
            (LineKind::Added, "+ z = 4".to_owned()),
        ]
    );
}

#[test]
fn run_command_is_a_shell_line_and_its_result_the_exit_code_and_the_tail() {
    let lines = call(
        "c11",
        "run_command",
        &json!({"command": "cargo test", "timeout_s": 60}),
    );
    assert_eq!(shown(&lines, FOLDED), ["▶ c11 $ cargo test  (timeout 60s)"]);
    let output: String = std::iter::once("exit code 101".to_owned())
        .chain((1..=20).map(|i| format!("out {i}")))
        .collect::<Vec<_>>()
        .join("\n");
    let done = finished("c11", Some("run_command"), false, &output);
    assert_eq!(done[0].kind, LineKind::ToolErr);
    assert_eq!(
        shown(&done, FOLDED),
        [
            "◀ FAILED c11 exit code 101",
            "  … 14 earlier lines",
            "  out 15",
            "  out 16",
            "  out 17",
            "  out 18",
            "  out 19",
            "  out 20"
        ]
    );
    assert_eq!(shown(&done, UNFOLDED).len(), 21);
    // Another tool's result keeps its head.
    let other = finished("c2", Some("read_file"), true, &output);
    assert_eq!(shown(&other, FOLDED)[1], "  out 1");
    assert_eq!(shown(&other, FOLDED)[7], "  … 14 more lines");
}

#[test]
fn other_tools_read_as_one_line_never_json() {
    let one = |tool: &str, args: Value| shown(&call("c1", tool, &args), FOLDED).join("|");
    assert_eq!(
        one(
            "read_file",
            json!({"path": "src/a.rs", "offset": 10, "limit": 5})
        ),
        "▶ c1 read_file src/a.rs (lines 10–14)"
    );
    assert_eq!(one("list_files", json!({})), "▶ c1 list_files .");
    assert_eq!(
        one("search_files", json!({"pattern": "fn main", "path": "src"})),
        "▶ c1 search_files /fn main/ in src"
    );
    assert_eq!(
        one(
            "create_task",
            json!({"title": "Build the store", "role": "engineer", "depends_on": ["T1", "T2"]})
        ),
        "▶ c1 create_task depends_on=T1,T2 role=engineer title=\"Build the store\""
    );
    // A long string is cut once, inside its quotes; an empty list reads as one.
    let long = "word ".repeat(40);
    assert_eq!(
        one(
            "create_task",
            json!({"depends_on": [], "description": long})
        ),
        format!(
            "▶ c1 create_task depends_on=[] description=\"{}…\"",
            &long[..80]
        )
    );
    assert_eq!(one("finish_run", json!(null)), "▶ c1 finish_run");
    assert_eq!(
        one("odd", json!({"n": 3, "o": {"a": 1}})),
        "▶ c1 odd n=3 o={\"a\":1}"
    );
    // A write_file without the arguments it needs falls back to key=value.
    assert_eq!(
        one("write_file", json!({"content": "x"})),
        "▶ c1 write_file content=x"
    );
}

#[test]
fn a_newline_in_a_path_or_command_forges_no_line() {
    let lines = call(
        "c1",
        "write_file",
        &json!({"path": "a\n◀ c1 ok\u{1b}[2J", "content": "a\nb"}),
    );
    let header = &shown(&lines, FOLDED)[0];
    assert_eq!(header, "▶ c1 write_file a\n◀ c1 ok\u{1b}[2J (2 lines)");
    assert_eq!(shown(&lines, FOLDED).len(), 3, "the header stays one line");
    let cmd = call("c2", "run_command", &json!({"command": "echo a\necho b"}));
    let texts = shown(&cmd, FOLDED);
    assert_eq!(texts, ["▶ c2 $ echo a", "echo b"]);
    assert_eq!(cmd[2].kind, LineKind::Code);
}

#[test]
fn wrapped_rows_of_an_entry_hang_after_its_mark_and_call_id_or_its_number() {
    fn lead(l: &Line) -> &str {
        &l.text[..usize::from(l.lead)]
    }
    let header = call("c3", "create_task", &json!({"role": "qa"}));
    let rendered: Vec<&Line> = header.iter().filter(|l| FOLDED.shows(l)).collect();
    assert_eq!(lead(rendered[0]), "▶ c3 ");
    let ok = finished(
        "c3",
        None,
        true,
        "created T3\n     4 # Halved\n  a.py:8: def\n42 apples\nplain",
    );
    let leads: Vec<&str> = ok.iter().map(lead).collect();
    assert_eq!(leads, ["◀ c3 ", "       4 ", "    ", "  42 ", "  "]);
    let failed = finished("c12", None, false, "error: x");
    assert_eq!(lead(&failed[0]), "◀ FAILED c12 ");
    // An edit's diff lines hang after their sign.
    let edit = call(
        "c4",
        "edit_file",
        &json!({"path": "a.py", "old": "x = 1", "new": "x = 2"}),
    );
    assert!(
        edit.iter()
            .filter(|l| l.kind == LineKind::Added)
            .all(|l| lead(l) == "+ "),
        "{edit:?}"
    );
}
