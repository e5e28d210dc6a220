//! Coalesces token deltas into `AgentDelta` events of a useful size: one event per ~40 ms or
//! per few hundred bytes, never one per token, and never more than [`MAX_CHUNK`] bytes in one
//! (a provider that sends a whole 40 MB answer at once still makes many small events). Text
//! held is due [`MAX_AGE`] after it came ([`Coalescer::due`]): the agent loop records it then
//! even when no more text follows, so a durable copy never lags its delta by much more.
//! Viewers do not wait for it: they see each delta at once on the live feed.

use crate::domain::{AgentId, DeltaKind, Event};
use std::time::{Duration, Instant};

const MAX_BYTES: usize = 480;
const MAX_AGE: Duration = Duration::from_millis(40);
/// The most text one `AgentDelta` carries.
pub const MAX_CHUNK: usize = 64 * 1024;

pub struct Coalescer {
    agent: AgentId,
    kind: DeltaKind,
    buf: String,
    since: Instant,
}

impl Coalescer {
    pub fn new(agent: AgentId) -> Self {
        Self {
            agent,
            kind: DeltaKind::Reasoning,
            buf: String::new(),
            since: Instant::now(),
        }
    }

    /// Adds text; returns the events that are due.
    pub fn push(&mut self, kind: DeltaKind, text: &str) -> Vec<Event> {
        let mut out = Vec::new();
        if kind != self.kind {
            out.extend(self.flush());
            self.kind = kind;
        }
        if self.buf.is_empty() {
            self.since = Instant::now();
        }
        self.buf.push_str(text);
        if self.buf.len() >= MAX_BYTES || self.since.elapsed() >= MAX_AGE {
            while self.buf.len() > MAX_CHUNK {
                let mut end = MAX_CHUNK;
                while !self.buf.is_char_boundary(end) {
                    end -= 1;
                }
                let rest = self.buf.split_off(end);
                out.extend(self.flush());
                self.buf = rest;
            }
            out.extend(self.flush());
        }
        out
    }

    /// When the text held must be recorded, if any is held.
    pub fn due(&self) -> Option<tokio::time::Instant> {
        (!self.buf.is_empty()).then(|| tokio::time::Instant::from_std(self.since + MAX_AGE))
    }

    pub fn flush(&mut self) -> Option<Event> {
        if self.buf.is_empty() {
            return None;
        }
        Some(Event::AgentDelta {
            agent: self.agent.clone(),
            kind: self.kind,
            text: std::mem::take(&mut self.buf),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_deltas_are_batched_and_kinds_are_kept_apart() {
        let mut c = Coalescer::new(AgentId::from("a"));
        let mut events = Vec::new();
        for _ in 0..50 {
            events.extend(c.push(DeltaKind::Reasoning, "word "));
        }
        events.extend(c.push(DeltaKind::Text, "answer"));
        events.extend(c.flush());
        let texts: Vec<(DeltaKind, usize)> = events
            .iter()
            .map(|e| match e {
                Event::AgentDelta { kind, text, .. } => (*kind, text.len()),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            texts,
            vec![(DeltaKind::Reasoning, 250), (DeltaKind::Text, 6)]
        );
    }

    #[test]
    fn one_huge_piece_of_text_becomes_many_bounded_events_with_nothing_lost() {
        let mut c = Coalescer::new(AgentId::from("a"));
        // Two-byte characters, so a cut inside one would show.
        let huge = "é".repeat(MAX_CHUNK * 3 + 7);
        let mut events = c.push(DeltaKind::Text, &huge);
        events.extend(c.flush());
        assert!(events.len() >= 6, "{} events", events.len());
        let mut joined = String::new();
        for e in &events {
            let Event::AgentDelta { text, .. } = e else {
                unreachable!()
            };
            assert!(
                !text.is_empty() && text.len() <= MAX_CHUNK,
                "{}",
                text.len()
            );
            joined.push_str(text);
        }
        assert_eq!(joined, huge);
    }

    #[test]
    fn held_text_is_due_its_age_after_it_came() {
        let mut c = Coalescer::new(AgentId::from("a"));
        assert!(c.due().is_none());
        let before = tokio::time::Instant::now();
        assert!(c.push(DeltaKind::Reasoning, "a few words").is_empty());
        let due = c.due().expect("text is held");
        assert!(due >= before + MAX_AGE && due <= tokio::time::Instant::now() + MAX_AGE);
        assert!(c.flush().is_some());
        assert!(c.due().is_none());
    }
}
