//! Lines as the tools show them to a model: numbered like `cat -n` (the number right-aligned
//! in six columns, then a tab), each cut at a length a model can use, split out of a byte
//! stream in bounded memory (a line of a gigabyte keeps its first bytes and a count).

/// Bytes kept of one line; the rest is counted and marked.
pub const LINE_CAP: usize = 2000;

/// `text` as line `n`.
pub fn numbered(n: u64, text: &str) -> String {
    format!("{n:>6}\t{text}")
}

/// A line as kept: its first bytes (without the newline) and how many bytes were cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    pub bytes: Vec<u8>,
    pub cut: u64,
}

impl Kept {
    /// The bytes kept and the cut, counted as the line's size in memory and on screen.
    pub fn len(&self) -> usize {
        self.bytes.len() + if self.cut > 0 { 32 } else { 0 }
    }

    /// The line as text: invalid UTF-8 replaced, a character split by the cut dropped, a
    /// carriage return before the newline left out, and the cut marked.
    pub fn text(&self) -> String {
        let mut bytes = self.bytes.as_slice();
        if self.cut > 0 {
            if let Err(e) = std::str::from_utf8(bytes) {
                if e.error_len().is_none() {
                    bytes = &bytes[..e.valid_up_to()];
                }
            }
        } else if let Some(b) = bytes.strip_suffix(b"\r") {
            bytes = b;
        }
        let text = String::from_utf8_lossy(bytes);
        if self.cut > 0 {
            let cut = self.cut + (self.bytes.len() - bytes.len()) as u64;
            format!("{text} [… {cut} bytes cut]")
        } else {
            text.into_owned()
        }
    }
}

/// Splits a stream of bytes into lines, keeping at most `cap` bytes of each.
#[derive(Debug)]
pub struct Splitter {
    cap: usize,
    current: Kept,
    /// Bytes of the current line seen, kept or not.
    started: bool,
}

impl Splitter {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            current: Kept::default(),
            started: false,
        }
    }

    /// Feeds the next bytes; `each` receives every line they complete, in order.
    pub fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(Kept)) {
        while !bytes.is_empty() {
            let (piece, ends) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&bytes[..i], Some(i + 1)),
                None => (bytes, None),
            };
            self.started = true;
            let room = self.cap.saturating_sub(self.current.bytes.len());
            let n = room.min(piece.len());
            self.current.bytes.extend_from_slice(&piece[..n]);
            self.current.cut += (piece.len() - n) as u64;
            match ends {
                Some(i) => {
                    each(std::mem::take(&mut self.current));
                    self.started = false;
                    bytes = &bytes[i..];
                }
                None => return,
            }
        }
    }

    /// The last line, when the stream did not end with a newline.
    pub fn finish(&mut self) -> Option<Kept> {
        let started = std::mem::take(&mut self.started);
        started.then(|| std::mem::take(&mut self.current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], cap: usize) -> Vec<String> {
        let mut s = Splitter::new(cap);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, |k| out.push(k.text()));
        }
        out.extend(s.finish().map(|k| k.text()));
        out
    }

    #[test]
    fn lines_are_split_across_chunks_and_long_ones_cut_with_a_count() {
        assert_eq!(split(&[b"ab", b"c\nd", b"\n"], 10), ["abc", "d"]);
        assert_eq!(split(&[b"abc\nlast"], 10), ["abc", "last"]);
        assert_eq!(split(&[b"\n\n"], 10), ["", ""]);
        assert_eq!(split(&[b"windows\r\n"], 10), ["windows"]);
        assert_eq!(
            split(&[b"0123456789", b"abcdef\nok\n"], 4),
            ["0123 [… 12 bytes cut]", "ok"]
        );
        assert!(split(&[], 4).is_empty());
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // "é" is two bytes; a cap of 2 after "a" splits it.
        assert_eq!(split(&["aé b\n".as_bytes()], 2), ["a [… 4 bytes cut]"]);
        assert_eq!(numbered(7, "x"), "     7\tx");
    }
}
