//! Server-sent events framing: `event:` and `data:` fields, `:` comments ignored, CRLF
//! tolerated, events split across reads reassembled.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        // Lines are read in place and the buffer is shifted once, so a big read of many
        // events costs linear time.
        let mut start = 0;
        let pending = std::mem::take(&mut self.pending);
        while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
            let mut line = &pending[start..start + nl];
            start += nl + 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            let line = String::from_utf8_lossy(line);
            if let Some(ev) = self.line(&line) {
                out.push(ev);
            }
        }
        self.pending = pending;
        self.pending.drain(..start);
        out
    }

    /// The last event when the stream ends without a blank line.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.pending.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            let rest = rest.trim_end_matches('\r').to_owned();
            if let Some(ev) = self.line(&rest) {
                return Some(ev);
            }
        }
        self.dispatch()
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if self.data.is_empty() {
            self.event = None;
            return None;
        }
        Some(SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data).join("\n"),
        })
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => self.data.push(value.to_owned()),
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_comments_and_crlf() {
        let mut p = SseParser::default();
        let mut got = p.push(b": OPENROUTER PROCESSING\r\n\r\ndata: {\"a\":");
        assert!(got.is_empty());
        got.extend(p.push(b"1}\r\n\r\nevent: ping\ndata:{}\n\n"));
        got.extend(p.push(b"data: [DONE]"));
        got.extend(p.finish());
        assert_eq!(
            got,
            vec![
                SseEvent {
                    event: None,
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: Some("ping".into()),
                    data: "{}".into()
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
    }
}
