//! Identifiers. Runs are ULIDs (sortable by creation time); tasks are `T1`, `T2`, … within a
//! run; agents are `<role>-<n>`; tool calls and approvals are numbered within a run.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// A run: a ULID string, so ids sort by creation time.
    RunId
);
string_id!(
    /// A task within a run: `T1`, `T2`, …
    TaskId
);
string_id!(
    /// An agent within a run: `<role>-<n>`, e.g. `engineer-1`.
    AgentId
);
string_id!(
    /// A tool call within a run: `c1`, `c2`, …
    CallId
);
string_id!(
    /// An approval request within a run: `A1`, `A2`, …
    ApprovalId
);

impl RunId {
    /// A fresh run id for a run created at `unix_ms`.
    pub fn generate(unix_ms: u64, random: u128) -> Self {
        Self(
            ulid::Ulid::from_parts(unix_ms, random)
                .to_string()
                .to_lowercase(),
        )
    }
}

impl TaskId {
    pub fn numbered(n: usize) -> Self {
        Self(format!("T{n}"))
    }
}
