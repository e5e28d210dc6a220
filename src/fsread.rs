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
    #[error("{}: the file is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
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
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        // A FIFO opens at once instead of waiting for a writer; a terminal is not adopted.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match file {
        Ok(f) => f,
        // A socket cannot be opened; say what it is rather than "no such device".
        Err(e) => {
            return Err(match std::fs::metadata(path) {
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

/// The UTF-8 text of the regular file at `path`, at most `limit` bytes of it.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|_| ReadError::NotText {
        path: path.to_owned(),
    })
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
    fn bytes_that_are_not_utf8_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_text(&p, 100).unwrap_err(),
            ReadError::NotText { .. }
        ));
    }
}
