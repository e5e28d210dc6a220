//! The socket wire: length-delimited frames (a 4-byte big-endian length, then JSON) carrying
//! [`ClientMsg`] and [`ServerMsg`]. The exchange: the client says `Hello` and the server answers
//! `Welcome` (or `Refused`); then the client asks (attach, commands, listings) and the server
//! answers and streams live events.
//!
//! Bounded by bytes, whatever a run holds: recorded events travel in frames of about
//! [`RECORDS_FRAME_BYTES`] ([`pack`]), and a message whose encoding is larger than
//! [`PART_BYTES`] (a big snapshot, one large event) travels as consecutive [`ServerMsg::Part`]
//! frames ([`frames`]) that the client joins again ([`Assembler`]). No frame is ever larger
//! than [`MAX_SERVER_FRAME`], so no run is unreachable because of its size.

use super::Command;
use crate::domain::{EventRecord, RunId, RunMeta, RunState, RunStatus};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio_util::codec::LengthDelimitedCodec;

/// The largest frame a client may send (commands and requests are small).
pub const MAX_CLIENT_FRAME: usize = 1 << 20;
/// Encoded messages larger than this are sent in parts of at most this many bytes of JSON.
pub const PART_BYTES: usize = 1 << 20;
/// The largest frame a server sends: a part escaped as a JSON string is at most twice its
/// size, plus a few bytes.
pub const MAX_SERVER_FRAME: usize = 4 * PART_BYTES;
/// `Backlog` / `Records` frames are filled with recorded events up to about this many bytes
/// (always at least one event).
pub const RECORDS_FRAME_BYTES: usize = 1 << 20;
/// The largest message a client joins from parts; a larger one is an error, not an
/// allocation without end.
pub const MAX_MESSAGE: usize = 512 << 20;

/// Which run to attach to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "run", rename_all = "snake_case")]
pub enum AttachTarget {
    /// A run id, a unique prefix of one, or `last`.
    Run(String),
    /// The newest live run; else the newest run, read-only.
    Live,
    /// The newest live run; else resume the last unfinished run, or start the demo.
    Default,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First, and only once. `user` is informative: the server attributes commands to the
    /// account the socket's peer credentials name.
    Hello {
        protocol: u32,
        version: String,
        user: String,
        host: Option<String>,
        read_only: bool,
        /// The client approves on its own (`--yes`): its approvals are marked as automatic.
        #[serde(default)]
        auto: bool,
        /// The client shows recorded events only (a headless follower): the server sends it
        /// no live text.
        #[serde(default)]
        records_only: bool,
    },
    /// The snapshot of a run, up to `backlog` recent events, then its live events.
    Attach { target: AttachTarget, backlog: u64 },
    /// A command for the attached run; answered by `Reply` with the same `id`.
    Command { id: u64, command: Command },
    /// Every run's listing.
    Runs,
    /// One run's state.
    State { run: String },
    /// One run's recorded events from `from` (up to `to` when given), as `Records` frames.
    Events {
        run: String,
        from: u64,
        #[serde(default)]
        to: Option<u64>,
    },
    /// Start (or resume) a run: what to start is the CLI's business, so it travels as JSON
    /// the server hands to its starter. `resume` names the run a resume is for: when it is
    /// already live, the server answers with it instead of starting it twice.
    Start {
        request: serde_json::Value,
        #[serde(default)]
        resume: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Welcome {
        protocol: u32,
        version: String,
        pid: u32,
        /// Who the server takes this client to be.
        user: String,
    },
    Refused {
        reason: String,
    },
    /// The attached run's state; `Backlog` frames follow, the last with `last: true`.
    Snapshot {
        state: RunState,
        live: bool,
    },
    Backlog {
        records: Vec<EventRecord>,
        last: bool,
    },
    Event {
        record: EventRecord,
    },
    /// Live text of the attached run, ahead of its recorded events (a few milliseconds'
    /// worth per message).
    Live {
        deltas: Vec<super::LiveDelta>,
    },
    Reply {
        id: u64,
        result: Result<(), String>,
    },
    Runs {
        runs: Vec<RunMeta>,
    },
    State {
        state: RunState,
    },
    Records {
        records: Vec<EventRecord>,
        last: bool,
    },
    Started {
        run: RunId,
    },
    /// The attached run has ended: no more events will come.
    Ended {
        status: RunStatus,
        reason: String,
    },
    /// A request could not be answered.
    Error {
        message: String,
    },
    /// The server closes this connection, and says why (too slow, a bad frame, shutting down).
    Closing {
        reason: String,
    },
    /// A piece of the JSON of one message too large for a frame; the pieces of one message
    /// follow each other, the last with `last: true`.
    Part {
        data: String,
        last: bool,
    },
}

/// A frame codec for a side that receives frames of at most `max` bytes.
pub fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max)
        .new_codec()
}

pub fn encode<T: Serialize>(msg: &T) -> Result<Bytes, String> {
    serde_json::to_vec(msg)
        .map(Bytes::from)
        .map_err(|e| format!("cannot encode a message: {e}"))
}

pub fn decode<'a, T: Deserialize<'a>>(frame: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(frame).map_err(|e| {
        let head: String = String::from_utf8_lossy(&frame[..frame.len().min(60)]).into();
        format!("a malformed frame ({e}): {head:?}")
    })
}

/// The frames that carry `msg`: one, or its JSON in [`ServerMsg::Part`]s when it is larger
/// than [`PART_BYTES`]. The parts are made one at a time, as they are sent.
pub fn frames(msg: &ServerMsg) -> Result<Frames, String> {
    let whole = encode(msg)?;
    Ok(Frames {
        split: whole.len() > PART_BYTES,
        whole,
        at: 0,
    })
}

/// The frames of one message; see [`frames`].
pub struct Frames {
    whole: Bytes,
    split: bool,
    at: usize,
}

impl Iterator for Frames {
    type Item = Result<Bytes, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.whole.len() {
            return None;
        }
        if !self.split {
            self.at = self.whole.len();
            return Some(Ok(self.whole.clone()));
        }
        let rest = &self.whole[self.at..];
        let mut end = rest.len().min(PART_BYTES);
        // JSON from serde_json is UTF-8: cut between characters, never inside one.
        while end < rest.len() && end > 0 && (rest[end] & 0xC0) == 0x80 {
            end -= 1;
        }
        if end == 0 {
            return Some(Err("cannot split a message: it is not UTF-8".into()));
        }
        let piece = match std::str::from_utf8(&rest[..end]) {
            Ok(p) => p.to_owned(),
            Err(e) => return Some(Err(format!("cannot split a message: {e}"))),
        };
        self.at += end;
        Some(encode(&ServerMsg::Part {
            data: piece,
            last: self.at >= self.whole.len(),
        }))
    }
}

/// Joins [`ServerMsg::Part`]s on the client: every frame goes in, whole messages come out.
#[derive(Default)]
pub struct Assembler {
    buf: String,
    joining: bool,
}

impl Assembler {
    /// The message `frame` completes, or `None` while parts are still coming.
    pub fn take(&mut self, frame: &[u8]) -> Result<Option<ServerMsg>, String> {
        match decode::<ServerMsg>(frame)? {
            ServerMsg::Part { data, last } => {
                if self.buf.len() + data.len() > MAX_MESSAGE {
                    *self = Self::default();
                    return Err(format!(
                        "the server sent a message over {} MiB",
                        MAX_MESSAGE >> 20
                    ));
                }
                self.buf.push_str(&data);
                self.joining = true;
                if !last {
                    return Ok(None);
                }
                let whole = std::mem::take(&mut self.buf);
                self.joining = false;
                match decode::<ServerMsg>(whole.as_bytes())? {
                    ServerMsg::Part { .. } => Err("a part inside a part".into()),
                    m => Ok(Some(m)),
                }
            }
            _ if self.joining => {
                *self = Self::default();
                Err("a message came between the parts of another".into())
            }
            m => Ok(Some(m)),
        }
    }
}

/// Groups recorded events into frames of at most `budget` bytes of JSON each, one event at
/// least (an event larger than `budget` travels alone). Reads `records` only as frames are
/// taken, so a run is never held whole.
pub fn pack<I, E>(records: I, budget: usize) -> Pack<I, E>
where
    I: Iterator<Item = Result<EventRecord, E>>,
{
    Pack {
        records,
        budget,
        held: None,
        failed: None,
    }
}

/// See [`pack`].
pub struct Pack<I, E> {
    records: I,
    budget: usize,
    /// The event that did not fit the previous frame, and its size.
    held: Option<(EventRecord, usize)>,
    /// An error met after some events of a frame; it comes after that frame.
    failed: Option<E>,
}

impl<I, E> Iterator for Pack<I, E>
where
    I: Iterator<Item = Result<EventRecord, E>>,
{
    type Item = Result<Vec<EventRecord>, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        let mut frame = Vec::new();
        let mut used = 0;
        if let Some((r, n)) = self.held.take() {
            frame.push(r);
            used = n;
        }
        for r in self.records.by_ref() {
            let r = match r {
                Ok(r) => r,
                Err(e) if frame.is_empty() => return Some(Err(e)),
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            };
            // The separating comma counts too.
            let n = crate::domain::json_len(&r) + 1;
            if !frame.is_empty() && used + n > self.budget {
                self.held = Some((r, n));
                break;
            }
            used += n;
            frame.push(r);
        }
        (!frame.is_empty()).then_some(Ok(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_an_error() {
        let m = ClientMsg::Command {
            id: 7,
            command: Command::PauseRun { now: true },
        };
        let b = encode(&m).unwrap();
        assert_eq!(decode::<ClientMsg>(&b).unwrap(), m);
        let r = ServerMsg::Reply {
            id: 7,
            result: Err("read-only".into()),
        };
        assert_eq!(decode::<ServerMsg>(&encode(&r).unwrap()).unwrap(), r);
        let e = decode::<ClientMsg>(b"\x00\xffgarbage").unwrap_err();
        assert!(e.contains("malformed"), "{e}");
        let t = ClientMsg::Attach {
            target: AttachTarget::Run("last".into()),
            backlog: 10,
        };
        assert_eq!(decode::<ClientMsg>(&encode(&t).unwrap()).unwrap(), t);
    }

    fn rec(seq: u64, text_len: usize) -> EventRecord {
        EventRecord {
            v: crate::domain::SCHEMA_VERSION,
            run: RunId::from("01run"),
            seq,
            ts_ms: 1,
            event: crate::domain::Event::log(
                crate::domain::LogLevel::Info,
                "t",
                "é".repeat(text_len / 2),
            ),
        }
    }

    fn ok(v: Vec<EventRecord>) -> impl Iterator<Item = Result<EventRecord, String>> {
        v.into_iter().map(Ok)
    }

    #[test]
    fn records_are_packed_by_bytes_never_empty_and_an_oversized_one_travels_alone() {
        let budget = 10_000;
        // Small records, then one far over the budget, then small ones again.
        let mut all: Vec<EventRecord> = (1..=100).map(|i| rec(i, 300)).collect();
        all.push(rec(101, 50_000));
        all.extend((102..=150).map(|i| rec(i, 300)));
        let frames: Vec<Vec<EventRecord>> = pack(ok(all.clone()), budget)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(frames.len() > 3, "{} frames", frames.len());
        for f in &frames {
            assert!(!f.is_empty(), "never an empty frame");
            let size = crate::domain::json_len(f);
            assert!(
                f.len() == 1 || size <= budget + 2,
                "{} records in {size} bytes",
                f.len()
            );
        }
        let alone = frames.iter().find(|f| f.iter().any(|r| r.seq == 101));
        assert_eq!(alone.map(Vec::len), Some(1), "the big one is alone");
        // Every record, in order, exactly once.
        let seqs: Vec<u64> = frames.iter().flatten().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=150).collect::<Vec<_>>());
        // Frames are filled, not one record each.
        assert!(frames[0].len() > 10, "{}", frames[0].len());
        assert_eq!(pack(ok(Vec::new()), budget).count(), 0);
    }

    #[test]
    fn an_error_comes_after_the_records_read_before_it() {
        let items: Vec<Result<EventRecord, String>> =
            vec![Ok(rec(1, 10)), Ok(rec(2, 10)), Err("bad".into())];
        let got: Vec<Result<Vec<EventRecord>, String>> = pack(items.into_iter(), 1000).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().len(), 2);
        assert_eq!(got[1].as_ref().unwrap_err(), "bad");
    }

    #[test]
    fn a_message_larger_than_a_frame_goes_in_parts_and_is_joined_again() {
        let big = ServerMsg::Records {
            // Multi-byte characters and quotes: parts are cut between characters and
            // escaping at most doubles them.
            records: vec![rec(1, 3 * PART_BYTES), rec(2, 10)],
            last: true,
        };
        let parts: Vec<Bytes> = frames(&big).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(parts.len() >= 3, "{} parts", parts.len());
        let mut joiner = Assembler::default();
        let mut out = Vec::new();
        for p in &parts {
            assert!(p.len() <= MAX_SERVER_FRAME, "a frame of {} bytes", p.len());
            out.extend(joiner.take(p).unwrap());
        }
        assert_eq!(out, vec![big]);
        // A small message is one frame, as it always was.
        let small = ServerMsg::Error {
            message: "x".into(),
        };
        let one: Vec<_> = frames(&small).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(joiner.take(&one[0]).unwrap(), Some(small));
        // A quote-heavy message: escaped parts still fit a frame.
        let quotes = ServerMsg::Error {
            message: "\"\\".repeat(PART_BYTES),
        };
        for p in frames(&quotes).unwrap() {
            assert!(p.unwrap().len() <= MAX_SERVER_FRAME);
        }
    }

    #[test]
    fn broken_parts_are_errors() {
        let part = |data: &str, last| {
            encode(&ServerMsg::Part {
                data: data.into(),
                last,
            })
            .unwrap()
        };
        let mut j = Assembler::default();
        assert_eq!(j.take(&part("{\"type\":", false)).unwrap(), None);
        let e = j.take(&encode(&ServerMsg::Runs { runs: vec![] }).unwrap());
        assert!(e.unwrap_err().contains("between the parts"));
        let mut j = Assembler::default();
        assert!(
            j.take(&part("not json", true))
                .unwrap_err()
                .contains("malformed")
        );
        let mut j = Assembler::default();
        let inner = String::from_utf8(part("x", true).to_vec()).unwrap();
        assert!(
            j.take(&part(&inner, true))
                .unwrap_err()
                .contains("inside a part")
        );
    }
}
