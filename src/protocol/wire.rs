//! The socket wire: length-delimited frames (a 4-byte big-endian length, then JSON) carrying
//! [`ClientMsg`] and [`ServerMsg`]. The exchange: the client says `Hello` and the server answers
//! `Welcome` (or `Refused`); then the client asks (attach, commands, listings) and the server
//! answers and streams live events.

use super::Command;
use crate::domain::{EventRecord, RunId, RunMeta, RunState, RunStatus};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio_util::codec::LengthDelimitedCodec;

/// The largest frame a client may send (commands and requests are small).
pub const MAX_CLIENT_FRAME: usize = 1 << 20;
/// The largest frame a server sends (a snapshot, a batch of recorded events).
pub const MAX_SERVER_FRAME: usize = 32 << 20;
/// Recorded events per `Backlog` / `Records` frame.
pub const RECORDS_PER_FRAME: usize = 2_000;

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
    },
    /// The snapshot of a run, up to `backlog` recent events, then its live events.
    Attach { target: AttachTarget, backlog: u64 },
    /// A command for the attached run; answered by `Reply` with the same `id`.
    Command { id: u64, command: Command },
    /// Every run's listing.
    Runs,
    /// One run's state.
    State { run: String },
    /// One run's recorded events from `from`, as `Records` frames.
    Events { run: String, from: u64 },
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
}
