//! Live text in the view model: streamed text is shown the moment it arrives
//! ([`LiveDelta`]), ahead of the recorded `AgentDelta` events that carry the same bytes after
//! the store's flush. Each agent's current request keeps a [`Cursor`]: how many of its bytes
//! are on screen and how many are recorded. A recorded piece shows only the bytes not shown
//! yet, so text is never shown twice, whatever arrived first.
//!
//! Invariants: live text is shown only for the request the view knows the start of (its live
//! header, or its recorded `llm_request_started`, so that offsets count from the same byte),
//! and only when it continues exactly where the screen stands (`offset <= shown < end`). A
//! piece past that (one went missing, or the view attached after it and its records have not
//! come yet) is not shown; the records fill the gap, and live text goes on once a piece meets
//! the screen again. So a control room that attaches while an agent's request streams shows it
//! live from the first piece that meets what its backlog recorded. The recorded copy always
//! wins in the end: a request's screen text is the recorded text.

use super::app::App;
use super::transcript::LineKind;
use super::view::View;
use crate::domain::{AgentId, DeltaKind, TaskId};
use crate::protocol::{Feed, LiveDelta};

/// Where an agent's current request stands on screen.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    task: Option<TaskId>,
    step: u32,
    /// Bytes of the request's text on screen.
    shown: u64,
    /// Bytes of it recorded.
    recorded: u64,
    /// The live header was shown and its recorded copy has not come yet.
    header_live: bool,
    /// The view saw where this request starts (its live header or its recorded start), so its
    /// bytes count from the same byte as live pieces' offsets.
    started: bool,
}

fn line_kind(kind: DeltaKind) -> LineKind {
    match kind {
        DeltaKind::Reasoning => LineKind::Reasoning,
        DeltaKind::Text => LineKind::Text,
    }
}

fn header(step: u32, model: &str) -> String {
    format!("── step {step} · {model} ──")
}

impl View {
    /// One item of the feed: a recorded event, or live text.
    pub fn feed(&mut self, item: &Feed) {
        match item {
            Feed::Record(rec) => self.ingest(rec),
            Feed::Live(d) => self.live(d),
        }
    }

    /// Live text from the feed.
    pub fn live(&mut self, delta: &LiveDelta) {
        match delta {
            LiveDelta::Step {
                agent,
                task,
                step,
                model,
            } => {
                self.transcript(agent)
                    .push(LineKind::Step, &header(*step, model));
                self.cursors.insert(
                    agent.clone(),
                    Cursor {
                        task: task.clone(),
                        step: *step,
                        header_live: true,
                        started: true,
                        ..Cursor::default()
                    },
                );
            }
            LiveDelta::Text {
                agent,
                task,
                step,
                offset,
                kind,
                text,
            } => {
                let Some(c) = self.cursors.get_mut(agent) else {
                    return;
                };
                if !c.started || c.task != *task || c.step != *step {
                    return;
                }
                let end = offset + text.len() as u64;
                // Past the screen: a gap the records fill. Behind it: shown already.
                if *offset > c.shown || end <= c.shown {
                    return;
                }
                let from = (c.shown - offset) as usize;
                c.shown = end;
                if let Some(rest) = text.get(from..) {
                    let rest = rest.to_owned();
                    self.transcript(agent).delta(line_kind(*kind), &rest);
                }
            }
        }
    }

    /// A recorded `llm_request_started`: its header, unless the live one is on screen.
    pub(super) fn recorded_step(
        &mut self,
        agent: &AgentId,
        task: &Option<TaskId>,
        step: u32,
        model: &str,
    ) {
        if let Some(c) = self.cursors.get_mut(agent) {
            if c.header_live && c.task == *task && c.step == step {
                c.header_live = false;
                return;
            }
        }
        self.cursors.insert(
            agent.clone(),
            Cursor {
                task: task.clone(),
                step,
                started: true,
                ..Cursor::default()
            },
        );
        self.transcript(agent)
            .push(LineKind::Step, &header(step, model));
    }

    /// A recorded `agent_delta`: only the bytes not on screen yet.
    pub(super) fn recorded_delta(&mut self, agent: &AgentId, kind: DeltaKind, text: &str) {
        let c = self.cursors.entry(agent.clone()).or_default();
        let start = c.recorded;
        c.recorded += text.len() as u64;
        if c.recorded <= c.shown {
            return;
        }
        let from = c.shown.saturating_sub(start) as usize;
        c.shown = c.recorded;
        // Live text stops here for this request: the records have overtaken it.
        if let Some(rest) = text.get(from..) {
            self.transcript(agent).delta(line_kind(kind), rest);
        }
    }
}

impl App {
    /// One item of the feed: a recorded event, or live text.
    pub fn on_feed(&mut self, item: &Feed) {
        match item {
            Feed::Record(rec) => self.on_record(rec),
            Feed::Live(d) => {
                let before = self.selected_len();
                self.view.live(d);
                if self.reasoning_scroll > 0 {
                    self.reasoning_scroll += self.selected_len().saturating_sub(before);
                }
                self.dirty = true;
            }
        }
    }

    /// Lines in the selected agent's transcript.
    fn selected_len(&self) -> usize {
        self.selected_agent()
            .and_then(|a| self.view.transcripts.get(a))
            .map_or(0, |t| t.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Event, EventRecord, RunId};
    use proptest::prelude::*;

    fn agent() -> AgentId {
        AgentId::from("engineer-1")
    }

    fn step_live(step: u32) -> LiveDelta {
        LiveDelta::Step {
            agent: agent(),
            task: Some(TaskId::from("T1")),
            step,
            model: "m".into(),
        }
    }

    fn text_live(step: u32, offset: u64, text: &str) -> LiveDelta {
        LiveDelta::Text {
            agent: agent(),
            task: Some(TaskId::from("T1")),
            step,
            offset,
            kind: DeltaKind::Reasoning,
            text: text.into(),
        }
    }

    struct Log(u64);

    impl Log {
        fn rec(&mut self, event: Event) -> EventRecord {
            self.0 += 1;
            EventRecord {
                v: crate::domain::SCHEMA_VERSION,
                run: RunId::from("01run"),
                seq: self.0,
                ts_ms: 0,
                event,
            }
        }

        fn started(&mut self, step: u32) -> EventRecord {
            self.rec(Event::LlmRequestStarted {
                agent: agent(),
                task: Some(TaskId::from("T1")),
                model: "m".into(),
                prompt_hash: String::new(),
                step,
                context_window: 0,
            })
        }

        fn delta(&mut self, text: &str) -> EventRecord {
            self.rec(Event::AgentDelta {
                agent: agent(),
                kind: DeltaKind::Reasoning,
                text: text.into(),
            })
        }
    }

    fn screen(v: &View) -> Vec<String> {
        v.transcripts[&agent()]
            .lines()
            .map(|l| l.text.clone())
            .collect()
    }

    #[test]
    fn live_text_shows_at_once_and_its_records_add_nothing() {
        let mut v = View::default();
        let mut log = Log(0);
        v.live(&step_live(1));
        v.live(&text_live(1, 0, "Hello "));
        v.live(&text_live(1, 6, "world"));
        assert_eq!(screen(&v), ["── step 1 · m ──", "Hello world"]);
        v.ingest(&log.started(1));
        v.ingest(&log.delta("Hello wor"));
        v.ingest(&log.delta("ld"));
        assert_eq!(screen(&v), ["── step 1 · m ──", "Hello world"]);
        // The records overtake live text that is late: each byte still shows once.
        v.live(&step_live(2));
        v.ingest(&log.started(2));
        v.ingest(&log.delta("abc"));
        v.live(&text_live(2, 0, "ab"));
        v.live(&text_live(2, 2, "cd"));
        v.ingest(&log.delta("d"));
        assert_eq!(
            screen(&v),
            [
                "── step 1 · m ──",
                "Hello world",
                "── step 2 · m ──",
                "abcd"
            ]
        );
    }

    #[test]
    fn a_viewer_that_missed_the_start_of_a_request_shows_it_from_its_records() {
        let mut v = View::default();
        let mut log = Log(0);
        // Attached after the live header and the first piece went by.
        v.live(&text_live(1, 5, "later"));
        v.ingest(&log.started(1));
        v.live(&text_live(1, 10, " still"));
        v.ingest(&log.delta("firstlater still"));
        assert_eq!(screen(&v), ["── step 1 · m ──", "firstlater still"]);
        // A live piece lost in the middle: the rest of the request comes from the records.
        v.live(&step_live(2));
        v.live(&text_live(2, 0, "one "));
        v.live(&text_live(2, 8, "three"));
        assert_eq!(screen(&v).last().unwrap(), "one ");
        v.ingest(&log.started(2));
        v.ingest(&log.delta("one two three"));
        assert_eq!(screen(&v).last().unwrap(), "one two three");
    }

    #[test]
    fn a_viewer_that_attached_mid_request_shows_it_live_from_where_its_records_end() {
        let mut v = View::default();
        let mut log = Log(0);
        // The backlog: the request's start and its first recorded bytes.
        v.ingest(&log.started(1));
        v.ingest(&log.delta("Hello "));
        // A piece that overlaps what is recorded shows its new bytes at once.
        v.live(&text_live(1, 3, "lo wor"));
        assert_eq!(screen(&v), ["── step 1 · m ──", "Hello wor"]);
        v.live(&text_live(1, 9, "ld"));
        assert_eq!(screen(&v), ["── step 1 · m ──", "Hello world"]);
        // Its records then add nothing.
        v.ingest(&log.delta("Hello world"[6..].into()));
        assert_eq!(screen(&v), ["── step 1 · m ──", "Hello world"]);
        // A piece past the screen waits for the records; live text goes on after them.
        v.live(&text_live(1, 14, "!!"));
        assert_eq!(screen(&v), ["── step 1 · m ──", "Hello world"]);
        v.ingest(&log.delta(", x"));
        v.live(&text_live(1, 14, "!!"));
        assert_eq!(screen(&v), ["── step 1 · m ──", "Hello world, x!!"]);
        // A request whose start the view never saw is never shown live: its offsets count
        // from a byte the view cannot place.
        let mut w = View::default();
        w.ingest(&log.delta("tail of a request"));
        w.live(&text_live(1, 0, "tail of a request and more"));
        assert_eq!(screen(&w), ["tail of a request"]);
    }

    /// `text` cut at `cuts` (each taken modulo its length), as (offset, piece).
    fn pieces(text: &str, cuts: &[usize]) -> Vec<(usize, String)> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
        cuts.push(0);
        cuts.push(text.len());
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2)
            .map(|w| (w[0], text[w[0]..w[1]].to_owned()))
            .collect()
    }

    proptest! {
        /// A viewer that attaches at any point of a request (its backlog recorded up to any
        /// point at or behind the live text) ends with the text exactly once.
        #[test]
        fn a_viewer_joining_mid_request_shows_every_byte_once(
            text in "[a-z \\n]{0,200}",
            live_cuts in proptest::collection::vec(0usize..200, 0..12),
            record_cuts in proptest::collection::vec(0usize..200, 0..6),
            joined in 0usize..14,
            behind in 0usize..6,
        ) {
            let (live, records) = (pieces(&text, &live_cuts), pieces(&text, &record_cuts));
            let joined = joined.min(live.len());
            // Where the live text stood when the viewer attached.
            let at = live.get(joined).map_or(text.len(), |p| p.0);
            let mut v = View::default();
            let mut log = Log(0);
            v.ingest(&log.started(1));
            // The backlog holds the records up to the live point, `behind` fewer at most.
            let upto = records.iter().take_while(|r| r.0 + r.1.len() <= at).count();
            let mut next_record = upto.saturating_sub(behind);
            for (_, piece) in &records[..next_record] {
                v.ingest(&log.delta(piece));
            }
            for (offset, piece) in &live[joined..] {
                v.live(&text_live(1, *offset as u64, piece));
                let live_end = offset + piece.len();
                while next_record < records.len()
                    && records[next_record].0 + records[next_record].1.len() <= live_end
                {
                    v.ingest(&log.delta(&records[next_record].1));
                    next_record += 1;
                }
            }
            for (_, piece) in &records[next_record..] {
                v.ingest(&log.delta(piece));
            }
            let shown = screen(&v)[1..].join("\n");
            prop_assert_eq!(shown, text.clone());
        }


        /// However the text is cut into live pieces and records, and however far the records
        /// lag behind the live text, the screen ends with the text exactly once.
        #[test]
        fn every_byte_is_shown_once(
            text in "[a-z \\n]{0,200}",
            live_cuts in proptest::collection::vec(0usize..200, 0..12),
            record_cuts in proptest::collection::vec(0usize..200, 0..6),
            lag in 0usize..20,
        ) {
            let (live, records) = (pieces(&text, &live_cuts), pieces(&text, &record_cuts));
            let mut v = View::default();
            let mut log = Log(0);
            v.live(&step_live(1));
            // Records follow their live text, `lag` live pieces later at most.
            let mut next_record = 0;
            let mut started = false;
            for (i, (offset, piece)) in live.iter().enumerate() {
                v.live(&text_live(1, *offset as u64, piece));
                if i >= lag {
                    if !started {
                        v.ingest(&log.started(1));
                        started = true;
                    }
                    let live_end = offset + piece.len();
                    while next_record < records.len()
                        && records[next_record].0 + records[next_record].1.len() <= live_end
                    {
                        v.ingest(&log.delta(&records[next_record].1));
                        next_record += 1;
                    }
                }
            }
            if !started {
                v.ingest(&log.started(1));
            }
            for (_, piece) in &records[next_record..] {
                v.ingest(&log.delta(piece));
            }
            let shown = screen(&v)[1..].join("\n");
            prop_assert_eq!(shown, text.clone());
        }
    }
}
