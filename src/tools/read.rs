//! `read_file`: a window of a file's lines, numbered, with the way on when there is more. A
//! file of any size is read in bounded memory: the window is kept, the rest only counted.

use super::lines::{LINE_CAP, Splitter, numbered};
use super::{ToolError, ToolOutput, Workspace};
use std::io::Read;

/// Lines shown when the call names no `limit`.
pub const DEFAULT_LINES: u64 = 400;
/// Bytes of text shown at most by one call, whatever the `limit`.
pub const READ_BYTES: usize = 48 * 1024;
/// Bytes past the window read to count the file's lines; past that the count is a floor.
const COUNT_BYTES: u64 = 256 << 20;
/// Bytes looked at to tell a binary file.
const SNIFF: usize = 8192;

/// What one call shows of a file.
struct Window {
    first: u64,
    limit: u64,
    text: String,
    /// The last line shown, 0 before any.
    last: u64,
    /// The window is full: by its line count or its byte cap.
    full: bool,
    /// Lines of the file (newlines seen, then one more for an unterminated last line).
    lines: u64,
}

impl Window {
    fn take(&mut self, line: u64, text: String) {
        if self.full || line < self.first {
            return;
        }
        let shown = numbered(line, &text);
        if line >= self.first + self.limit
            || (self.last > 0 && self.text.len() + shown.len() + 1 > READ_BYTES)
        {
            self.full = true;
            return;
        }
        self.text.push_str(&shown);
        self.text.push('\n');
        self.last = line;
    }
}

fn io_err(rel: &str, e: std::io::Error) -> ToolError {
    ToolError::failed(format!("cannot read {rel}: {e}"))
}

/// Opens a regular file without blocking on a FIFO or a device a command may have left.
pub(super) fn open_regular(path: &std::path::Path, rel: &str) -> Result<std::fs::File, ToolError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.is_dir() {
        return Err(ToolError::failed(format!(
            "{rel} is a folder; use list_files"
        )));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io_err(rel, e))?;
    let meta = file.metadata().map_err(|e| io_err(rel, e))?;
    if !meta.is_file() {
        return Err(ToolError::failed(format!(
            "{rel} is not a regular file (a pipe, socket or device); read_file reads files only"
        )));
    }
    Ok(file)
}

/// Lines `offset..offset + limit` of `rel` (1-based; defaults 1 and [`DEFAULT_LINES`]).
pub fn read_file(
    ws: &Workspace,
    rel: &str,
    offset: Option<u64>,
    limit: Option<u64>,
) -> Result<ToolOutput, ToolError> {
    let path = ws.resolve(rel)?;
    let mut file = open_regular(&path, rel)?;
    let size = file.metadata().map_err(|e| io_err(rel, e))?.len();
    let mut w = Window {
        first: offset.unwrap_or(1).max(1),
        limit: limit.unwrap_or(DEFAULT_LINES).max(1),
        text: String::new(),
        last: 0,
        full: false,
        lines: 0,
    };
    let mut splitter = Splitter::new(LINE_CAP);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut read, mut counted, mut last_byte) = (0u64, 0u64, b'\n');
    let mut complete = true;
    loop {
        let n = file.read(&mut buf).map_err(|e| io_err(rel, e))?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if read == 0 && memchr::memchr(0, &chunk[..n.min(SNIFF)]).is_some() {
            return Ok(ToolOutput::ok(format!(
                "{rel} is a binary file ({size} bytes); read_file shows text only (try run_command with `file` or `xxd {rel} | head`)"
            )));
        }
        read += n as u64;
        last_byte = chunk[n - 1];
        if w.full {
            w.lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
            counted += n as u64;
            if counted > COUNT_BYTES {
                complete = false;
                break;
            }
            continue;
        }
        splitter.feed(chunk, |kept| {
            w.lines += 1;
            w.take(w.lines, kept.text());
        });
    }
    if complete && last_byte != b'\n' {
        w.lines += 1;
        if let Some(kept) = splitter.finish() {
            w.take(w.lines, kept.text());
        }
    }
    Ok(ToolOutput::ok(shown(rel, w, complete)?))
}

/// The window with its closing line: where it sits in the file and how to read on.
fn shown(rel: &str, w: Window, complete: bool) -> Result<String, ToolError> {
    let total = if complete {
        w.lines.to_string()
    } else {
        format!("more than {}", w.lines)
    };
    if w.lines == 0 {
        return Ok(format!("{rel} is empty"));
    }
    if w.last == 0 {
        return Err(ToolError::failed(format!(
            "offset {} is past the end of {rel}, which has {total} lines",
            w.first
        )));
    }
    let mut text = w.text;
    if w.first == 1 && w.last == w.lines && complete {
        return Ok(text);
    }
    if w.last < w.lines || !complete {
        text.push_str(&format!(
            "[lines {}-{} of {total}; call read_file with offset {} to read on]",
            w.first,
            w.last,
            w.last + 1
        ));
    } else {
        text.push_str(&format!(
            "[lines {}-{} of {total}: the end of the file]",
            w.first, w.last
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws_with(name: &str, content: &[u8]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        std::fs::write(ws.root().join(name), content).unwrap();
        (dir, ws)
    }

    fn lines(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn a_small_file_is_shown_whole_with_line_numbers() {
        let (_d, ws) = ws_with("a.py", b"x = 1\ny = 2");
        let out = read_file(&ws, "a.py", None, None).unwrap();
        assert_eq!(out.text, "     1\tx = 1\n     2\ty = 2\n");
    }

    #[test]
    fn the_default_window_ends_with_the_way_on() {
        let (_d, ws) = ws_with("big.txt", lines(1234).as_bytes());
        let out = read_file(&ws, "big.txt", None, None).unwrap().text;
        assert!(out.starts_with("     1\tline 1\n"), "{out}");
        assert!(out.contains("   400\tline 400\n"), "{out}");
        assert!(!out.contains("line 401\n"), "{out}");
        assert!(
            out.ends_with("[lines 1-400 of 1234; call read_file with offset 401 to read on]"),
            "{out}"
        );
        let out = read_file(&ws, "big.txt", Some(1201), None).unwrap().text;
        assert!(out.starts_with("  1201\tline 1201\n"), "{out}");
        assert!(
            out.ends_with("  1234\tline 1234\n[lines 1201-1234 of 1234: the end of the file]"),
            "{out}"
        );
    }

    #[test]
    fn a_range_is_exactly_its_lines() {
        let (_d, ws) = ws_with("big.txt", lines(50).as_bytes());
        let out = read_file(&ws, "big.txt", Some(10), Some(3)).unwrap().text;
        assert_eq!(
            out,
            "    10\tline 10\n    11\tline 11\n    12\tline 12\n[lines 10-12 of 50; call read_file with offset 13 to read on]"
        );
        let err = read_file(&ws, "big.txt", Some(51), None).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        assert!(err.to_string().contains("50 lines"), "{err}");
    }

    #[test]
    fn long_lines_are_cut_and_the_byte_cap_shortens_the_window() {
        let line = format!("{}\n", "x".repeat(5000));
        let (_d, ws) = ws_with("wide.txt", line.repeat(100).as_bytes());
        let out = read_file(&ws, "wide.txt", None, None).unwrap().text;
        assert!(out.contains("[… 3000 bytes cut]"), "{}", &out[..200]);
        assert!(out.len() <= READ_BYTES + 200, "{}", out.len());
        let last = out.lines().last().unwrap();
        assert!(last.starts_with("[lines 1-2"), "{last}");
        assert!(
            last.contains("of 100; call read_file with offset 2"),
            "{last}"
        );
    }

    #[test]
    fn binary_empty_and_special_files_say_so() {
        let (_d, ws) = ws_with("img.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        let out = read_file(&ws, "img.png", None, None).unwrap().text;
        assert!(out.contains("binary file"), "{out}");
        std::fs::write(ws.root().join("empty.txt"), "").unwrap();
        assert_eq!(
            read_file(&ws, "empty.txt", None, None).unwrap().text,
            "empty.txt is empty"
        );
        std::fs::create_dir(ws.root().join("d")).unwrap();
        assert!(read_file(&ws, "d", None, None).is_err());
        let fifo = std::ffi::CString::new(ws.root().join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string naming a path in the test's own directory.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = read_file(&ws, "fifo", None, None).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
