//! Older history, read back on demand. The view model keeps a bounded window of each pane
//! (recent transcripts and log lines, from a bounded backlog); when a person scrolls the
//! reasoning or the logs near the top of what is kept, the loop asks the session for the
//! events just before the oldest one shown, and they are put in front, drawn exactly as live
//! ones would be. Memory stays bounded: each transcript holds at most
//! [`MAX_WITH_HISTORY`](super::transcript::MAX_WITH_HISTORY) lines and the logs twice their
//! usual bound; scrolling further back reads on.

use super::app::{App, Focus};
use super::view::{LogLine, MAX_LOG_LINES, View};
use crate::domain::EventRecord;

/// Events read per request (about 20 ms of a server's time).
pub const CHUNK: u64 = 5_000;
/// Lines from the top of what is kept at which older events are asked for.
const NEAR_TOP: usize = 200;
/// Log lines kept at most once older ones are read back.
const MAX_LOGS_WITH_HISTORY: usize = 2 * MAX_LOG_LINES;

impl View {
    /// Whether events older than the ones shown exist.
    pub fn has_older(&self) -> bool {
        self.first_seq > 1
    }

    /// The events `first_seq - CHUNK .. first_seq - 1`, to ask for next.
    pub fn older_range(&self) -> Option<(u64, u64)> {
        let to = self.first_seq.checked_sub(1).filter(|t| *t >= 1)?;
        Some((to.saturating_sub(CHUNK - 1).max(1), to))
    }

    /// Older records (in order, all before `first_seq`), drawn in front of what is shown.
    pub fn older(&mut self, records: &[EventRecord]) {
        let Some(first) = records.first().map(|r| r.seq) else {
            return;
        };
        if first >= self.first_seq {
            return; // not older: a late answer to an earlier request
        }
        let records: Vec<&EventRecord> =
            records.iter().filter(|r| r.seq < self.first_seq).collect();
        // Drawn by the same code as live records, against today's state (titles, approvals).
        let mut then = View {
            state: self.state.clone(),
            ..View::default()
        };
        for r in &records {
            then.record(r);
        }
        for (agent, t) in then.transcripts {
            if let Some(now) = self.transcripts.get_mut(&agent) {
                now.prepend(t);
            }
        }
        let room = MAX_LOGS_WITH_HISTORY.saturating_sub(self.logs.len());
        let older: Vec<LogLine> = then.logs.into_iter().collect();
        for line in older.into_iter().rev().take(room) {
            self.logs.push_front(line);
        }
        self.first_seq = first;
    }
}

impl App {
    /// The older events to read, when the focused pane is scrolled near the top of what the
    /// view keeps and none are being read.
    pub fn wants_older(&self) -> Option<(u64, u64)> {
        if self.reading_older || !self.view.has_older() {
            return None;
        }
        let near = match self.focus {
            Focus::Reasoning => self
                .selected_agent()
                .and_then(|a| self.view.transcripts.get(a))
                .is_some_and(|t| self.reasoning_scroll + NEAR_TOP >= t.len()),
            Focus::Logs => self.log_scroll + NEAR_TOP >= super::panes::logs::visible(self).len(),
            _ => false,
        };
        near.then(|| self.view.older_range()).flatten()
    }

    /// The answer to a read of older events.
    pub fn on_older(&mut self, got: Result<Vec<EventRecord>, String>) {
        self.reading_older = false;
        match got {
            Ok(records) if !records.is_empty() => {
                self.view.older(&records);
                self.dirty = true;
            }
            // Nothing older after all: not asked for again.
            Ok(_) => self.view.first_seq = 1,
            Err(e) => {
                // Not asked for again in this view.
                self.view.first_seq = 1;
                self.say(format!("older events cannot be read: {e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventRecord, RunId};
    use crate::tui::transcript::MAX_WITH_HISTORY;

    async fn run(events: u64) -> (tempfile::TempDir, Vec<EventRecord>, crate::domain::RunState) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let run = RunId::from("01HISTORY");
        let state = crate::store::synthetic::write_run(&store, &run, events)
            .await
            .unwrap();
        let records = store
            .events(&run, 1)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        (dir, records, state)
    }

    /// An agent's text, whatever lines it was cut into.
    fn text(v: &View) -> Vec<String> {
        let mut agents: Vec<_> = v.transcripts.iter().collect();
        agents.sort_by_key(|(a, _)| a.to_string());
        agents
            .into_iter()
            .map(|(_, t)| t.lines().map(|l| l.text.as_str()).collect::<String>())
            .collect()
    }

    #[tokio::test]
    async fn older_events_read_back_show_as_if_they_had_been_there() {
        let (_dir, records, state) = run(3_000).await;
        let whole = View::new(state.clone(), &records[1_000..]);
        let mut part = View::new(state, &records[2_500..]);
        assert_eq!(part.first_seq, 2_501);
        assert_eq!(part.older_range(), Some((1, 2_500)));
        let before: usize = part.transcripts.values().map(|t| t.len()).sum();
        part.older(&records[1_000..2_500]);
        assert_eq!(part.first_seq, 1_001);
        assert!(part.transcripts.values().map(|t| t.len()).sum::<usize>() > before);
        assert_eq!(text(&part), text(&whole));
        assert_eq!(part.logs.len(), whole.logs.len());
        assert_eq!(
            part.logs.front().map(|l| l.seq),
            whole.logs.front().map(|l| l.seq)
        );
        // A late answer for what is already shown changes nothing.
        part.older(&records[2_000..2_500]);
        assert_eq!(text(&part), text(&whole));
    }

    #[tokio::test]
    async fn reading_back_stays_bounded_however_far() {
        let (_dir, records, state) = run(60_000).await;
        let mut v = View::new(state, &records[55_000..]);
        while let Some((from, to)) = v.older_range() {
            v.older(&records[(from - 1) as usize..to as usize]);
        }
        assert_eq!(v.first_seq, 1);
        assert!(!v.has_older());
        for t in v.transcripts.values() {
            assert!(t.len() <= MAX_WITH_HISTORY, "{}", t.len());
        }
        assert!(v.logs.len() <= MAX_LOGS_WITH_HISTORY);
    }
}
