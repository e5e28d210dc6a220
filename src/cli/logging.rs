//! Logs go to a file in the data directory, never to the terminal. Whatever a log line
//! carries (a goal, a person's name, an error a server sent) passes the terminal sanitiser, so
//! `tail -f` on the log cannot be made to run escape sequences; each event stays one line.

use crate::domain::sanitize;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Starts logging to `file` (level from `MACROHARD_LOG`, default `info`). Failing to open the
/// log is not fatal: the run is recorded in the store either way.
pub fn init(file: &Path) {
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MACROHARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(Sanitised(f)))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// A writer that sanitises each formatted event (the formatter writes one whole event per
/// call): terminal controls become visible marks and a newline inside an event shows as `␤`.
struct Sanitised<W>(W);

impl<W: Write> Write for Sanitised<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        let safe = sanitize::line(body);
        if matches!(text, std::borrow::Cow::Borrowed(_))
            && matches!(safe, std::borrow::Cow::Borrowed(_))
        {
            self.0.write_all(buf)?;
        } else {
            self.0.write_all(safe.as_bytes())?;
            self.0.write_all(end.as_bytes())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_keeps_no_terminal_control_and_stays_one_line() {
        let mut w = Sanitised(Vec::new());
        w.write_all(b"INFO goal=\x1b]52;c;eA==\x07 \xc2\x9b2J \xe2\x80\xaeevil\nfake line\n")
            .unwrap_or_default();
        w.write_all(b"INFO clean line\n").unwrap_or_default();
        let out = String::from_utf8(w.0).unwrap_or_default();
        assert_eq!(
            out,
            "INFO goal=␛]52;c;eA==␇ ␛[2J �evil␤fake line\nINFO clean line\n"
        );
    }
}
