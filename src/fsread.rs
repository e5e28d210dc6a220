//! Reading a file someone else provides (a config, a theme, a prompt) into memory, safely:
//! opening never blocks (a FIFO would wait for a writer forever), only regular files are read
//! (a device such as `/dev/zero` never ends), and at most `limit` bytes are read.
//!
//! This module depends on nothing of the crate, so every layer that may do I/O (cli, tui,
//! engine, store) can use it.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The size limit for configuration, theme and prompt files.
pub const TEXT_FILE_LIMIT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: this is a {kind}, not a regular file; give the path of a file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: the file is {} and the limit for it is {}; use a smaller file",
        path.display(),
        size_text(*size),
        size_text(*limit)
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error(
        "{} line {line}: the file is not UTF-8 text (byte {offset} is not); save it as UTF-8",
        path.display()
    )]
    NotText {
        path: PathBuf,
        /// The 1-based line of the first byte that is not UTF-8.
        line: usize,
        /// Its offset from the start of the file.
        offset: usize,
    },
}

impl ReadError {
    /// Whether the file does not exist (callers that have a default use it then).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// A size for people: bytes below 1 KiB, else KiB or MiB.
fn size_text(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB {
        format!("{:.1} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO (named pipe)"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_bytes_with(path, limit, 0)
}

/// Like [`read_text`], but a symbolic link at `path` is refused rather than followed: for a
/// file in a directory someone else controls (a workspace), whose link could point anywhere.
pub fn read_text_no_follow(path: &Path, limit: u64) -> Result<String, ReadError> {
    decode(path, read_bytes_with(path, limit, libc::O_NOFOLLOW)?)
}

fn read_bytes_with(path: &Path, limit: u64, flags: i32) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        // A FIFO opens at once instead of waiting for a writer; a terminal is not adopted.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | flags)
        .open(path);
    let file = match file {
        Ok(f) => f,
        // A socket cannot be opened; say what it is rather than "no such device".
        Err(e) => {
            let meta = if flags & libc::O_NOFOLLOW != 0 {
                std::fs::symlink_metadata(path)
            } else {
                std::fs::metadata(path)
            };
            return Err(match meta {
                Ok(m) if m.file_type().is_symlink() => ReadError::NotRegular {
                    path: path.to_owned(),
                    kind: "symbolic link",
                },
                Ok(m) if !m.is_file() => ReadError::NotRegular {
                    path: path.to_owned(),
                    kind: kind_of(m.file_type()),
                },
                _ => io(e),
            });
        }
    };
    // The opened file itself, not the path again: it cannot be swapped in between.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_owned(),
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte past the limit tells a file that grew since it was measured.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// The UTF-8 text of the regular file at `path`, at most `limit` bytes of it. A byte order
/// mark (some Windows editors write one) is dropped; bytes that are not UTF-8 are an error
/// naming the line and the offset of the first one.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    decode(path, read_bytes(path, limit)?)
}

fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, ReadError> {
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        ReadError::NotText {
            path: path.to_owned(),
            line,
            offset,
        }
    })
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The table a TOML line opens (`[a.b]` → `a.b`), if it is a table header.
fn table_header(line: &str) -> Option<String> {
    let l = line.trim();
    let l = l.split(" #").next().unwrap_or(l).trim();
    if !l.starts_with('[') {
        return None;
    }
    Some(l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
}

/// The dotted key a `key = value` line sets under `table`.
fn key_on(table: &str, line: &str) -> Option<String> {
    let l = line.trim();
    if !l.contains('=') || l.starts_with('#') {
        return None;
    }
    let key = l.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() {
        return None;
    }
    Some(if table.is_empty() {
        key.to_owned()
    } else {
        format!("{table}.{key}")
    })
}

/// The dotted key (with its table) set on line `line_no` of TOML `text`, or the table a
/// header line opens.
pub fn toml_key_at(text: &str, line_no: usize) -> Option<String> {
    let mut table = String::new();
    for (i, line) in text.lines().enumerate().take(line_no) {
        if let Some(t) = table_header(line) {
            table = t;
            if i + 1 == line_no {
                return Some(table);
            }
        } else if i + 1 == line_no {
            return key_on(&table, line);
        }
    }
    None
}

/// The 1-based line of TOML `text` that sets the dotted `key` (`budget.roles.qa.usd`), if
/// it is written as `key = …` under its table.
pub fn toml_key_line(text: &str, key: &str) -> Option<usize> {
    let mut table = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(t) = table_header(line) {
            table = t;
        } else if key_on(&table, line).as_deref() == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

/// A TOML error as people read it: `line N: key `a.b`: what is wrong. fix`. `first_line` is
/// the line of the file `text` starts on (front matter starts on line 2).
pub fn describe_toml(text: &str, e: &toml::de::Error, first_line: usize) -> String {
    let msg = e.message().trim().trim_end_matches('.').to_owned();
    let Some(span) = e.span() else { return msg };
    let line_no = line_of(text, span.start);
    let key = toml_key_at(text, line_no);
    let fix = if msg.contains("unknown field") {
        "Remove it or fix its spelling; `macrohard-tui init` writes a commented config with every key."
    } else if msg.contains("invalid type")
        || msg.contains("invalid value")
        || msg.contains("unknown variant")
    {
        "Give it a value of the type shown; `macrohard-tui init` writes a commented config with every key."
    } else if msg.contains("missing field") {
        "Add it."
    } else {
        "Fix the TOML syntax at that line."
    };
    let shown = line_no + first_line - 1;
    match key {
        Some(k) => format!("line {shown}: key `{k}`: {msg}. {fix}"),
        None => format!("line {shown}: {msg}. {fix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_small_file_is_read_and_a_missing_one_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        std::fs::write(&p, "x = 1\n").unwrap();
        assert_eq!(read_text(&p, 100).unwrap(), "x = 1\n");
        let missing = read_text(&dir.path().join("none"), 100).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_with_the_limit_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.toml");
        std::fs::write(&p, vec![b'#'; 3 << 20]).unwrap();
        let e = read_text(&p, TEXT_FILE_LIMIT).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("3.0 MiB") && text.contains("limit for it is 1.0 MiB"),
            "{text}"
        );
        assert!(text.contains("big.toml"), "{text}");
        // Exactly at the limit is fine.
        std::fs::write(&p, vec![b'#'; 1024]).unwrap();
        assert_eq!(read_bytes(&p, 1024).unwrap().len(), 1024);
    }

    #[test]
    fn a_fifo_a_device_and_a_directory_are_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = Instant::now();
        let e = read_text(&fifo, TEXT_FILE_LIMIT).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert!(e.to_string().contains("pipe"), "{e}");
        let e = read_text(Path::new("/dev/zero"), TEXT_FILE_LIMIT).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_text(dir.path(), TEXT_FILE_LIMIT).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular { .. }), "{e}");
    }

    #[test]
    fn a_link_is_refused_where_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secret");
        std::fs::write(&target, "key").unwrap();
        let link = dir.path().join("AGENTS.md");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_text(&link, 100).unwrap(), "key");
        let e = read_text_no_follow(&link, 100).unwrap_err();
        assert!(
            matches!(e, ReadError::NotRegular { kind, .. } if kind == "symbolic link"),
            "{e}"
        );
        assert_eq!(read_text_no_follow(&target, 100).unwrap(), "key");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_text(&p, 100).unwrap_err(),
            ReadError::NotText { .. }
        ));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_named_by_line_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("theme.toml");
        std::fs::write(&p, b"a = 1\nb = \"\xff\"\n").unwrap();
        let e = read_text(&p, 100).unwrap_err().to_string();
        assert!(e.contains("theme.toml line 2"), "{e}");
        assert!(e.contains("byte 11"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, b"\xEF\xBB\xBFx = 1\n").unwrap();
        assert_eq!(read_text(&p, 100).unwrap(), "x = 1\n");
    }

    #[test]
    fn toml_errors_name_the_line_and_the_key() {
        let text = "[run]\nprovider = \"sim\"\n\n[budget.roles.qa]\nusd = \"lots\"\n";
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Qa {
            usd: f64,
        }
        let e = toml::from_str::<toml::Table>(text)
            .map(|t| t["budget"]["roles"]["qa"].clone().try_into::<Qa>())
            .unwrap()
            .unwrap_err();
        // A nested error has no span: the message stands alone.
        assert!(!describe_toml(text, &e, 1).is_empty());
        let e = toml::from_str::<toml::Table>("a = 1\nb = = 2\n").unwrap_err();
        let d = describe_toml("a = 1\nb = = 2\n", &e, 1);
        assert!(d.starts_with("line 2: key `b`"), "{d}");
        assert_eq!(toml_key_line(text, "budget.roles.qa.usd"), Some(5));
        assert_eq!(toml_key_line(text, "run.provider"), Some(2));
        assert_eq!(toml_key_line(text, "run.model"), None);
    }
}
