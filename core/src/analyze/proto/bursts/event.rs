//! What a plain TCP connection's turns say. In JSON lines they are `"kind": "burst"` events,
//! the story in `"burst"` (`"burst": "sent"`).

use serde::Serialize;

use crate::analyze::vocabulary::{Exchange, Words};

/// A turn of a connection no protocol claimed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "burst", rename_all = "snake_case")]
pub enum BurstEvent {
    /// The client sent bytes after the server last spoke (or first): a request, in TCP's
    /// words.
    Sent {
        /// 1-based index of the burst on this connection.
        n: u32,
        /// Whether an earlier burst used this connection.
        reused: bool,
        /// Since the server last sent bytes, on a reused connection.
        #[serde(skip_serializing_if = "Option::is_none")]
        idle_ns: Option<u64>,
    },
    /// The server sent bytes after burst `n`: its answer.
    Answered {
        /// The burst answered.
        n: u32,
    },
}

impl BurstEvent {
    /// TCP's words, where the protocol is not known.
    pub const WORDS: Words = Words {
        one: "write",
        many: "writes",
        answers: "answers",
        family: Some("tcp"),
    };

    /// A burst is a request, the server's turn after it the answer.
    pub(crate) fn exchange(&self) -> Option<Exchange> {
        Some(match self {
            BurstEvent::Sent {
                reused, idle_ns, ..
            } => Exchange::Request {
                reused: *reused,
                idle_ns: *idle_ns,
                closing: None,
            },
            BurstEvent::Answered { .. } => Exchange::Answer { closing: None },
        })
    }

    /// The event in words, for packet comments.
    pub fn describe(&self) -> String {
        let ms = |ns: u64| format!("{} ms", (ns / 1_000) as f64 / 1_000.0);
        match self {
            BurstEvent::Sent { n, reused, idle_ns } => match (reused, idle_ns) {
                (false, _) => format!("client burst {n} (new connection)"),
                (true, Some(idle)) => format!("client burst {n}, reused after {} idle", ms(*idle)),
                (true, None) => format!("client burst {n}, reused"),
            },
            BurstEvent::Answered { n } => format!("server answers burst {n}"),
        }
    }
}
