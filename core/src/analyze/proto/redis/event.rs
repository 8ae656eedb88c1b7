//! What a Redis connection's RESP says: commands and their replies, in Redis's own words. In
//! JSON lines they are `"kind": "redis"` events, the story in `"redis"` (`"redis": "command"`).

use compact_str::CompactString;
use serde::Serialize;

use crate::analyze::vocabulary::{clean, Exchange, Side, Words};

/// What a Redis connection said.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "redis", rename_all = "snake_case")]
pub enum RedisEvent {
    /// The client sent a command.
    Command {
        /// 1-based index of the command on this connection.
        n: u32,
        /// Its name, upper case (`GET`, `CLIENT`, ...).
        name: CompactString,
        /// Whether an earlier command used this connection.
        reused: bool,
        /// Since the last reply before it, on a reused connection that had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        idle_ns: Option<u64>,
        /// Commands sent and not yet answered, this one included (1: no pipelining).
        depth: u32,
    },
    /// The server answered the oldest command waiting.
    Reply {
        /// The command it answers.
        n: u32,
        /// The error's first word (`ERR`, `WRONGTYPE`, `NOAUTH`, ...) for an error reply.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<CompactString>,
        /// The error's text (its start), for an error reply.
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        message: CompactString,
    },
    /// A message the server pushed without being asked: a pub/sub message to a subscriber
    /// (RESP2's `message` arrays in subscribed mode, RESP3's `>` pushes).
    Push {
        /// Its first word (`message`, `pmessage`, `invalidate`, ...).
        what: CompactString,
    },
    /// The client chose its protocol version (`HELLO 3`).
    Hello {
        /// 2 or 3.
        protocol: u8,
    },
    /// The client named its library (`CLIENT SETINFO LIB-NAME`, or `CLIENT SETNAME`).
    Client {
        /// The name it gave.
        name: CompactString,
    },
    /// Bytes that break RESP (or connlab's bounds): nothing more of this direction is read.
    ProtocolError {
        /// Who sent them.
        by: Side,
        /// What is wrong.
        error: &'static str,
    },
    /// The capture lost bytes where a message was being framed: nothing more of this
    /// direction is read rather than guessed.
    LostSync {
        /// Whose direction.
        by: Side,
    },
}

impl RedisEvent {
    /// Redis's words for its exchanges.
    pub const WORDS: Words = Words {
        one: "command",
        many: "commands",
        answers: "replies",
        family: None,
    };

    /// A command is a request, a reply to one its answer (a push or an unsolicited reply is
    /// neither).
    // Not inlined into `EventKind::exchange`, which every event of every capture asks: a
    // protocol missing from a capture must cost nothing there.
    #[inline(never)]
    pub(crate) fn exchange(&self) -> Option<Exchange> {
        match self {
            RedisEvent::Command {
                reused, idle_ns, ..
            } => Some(Exchange::Request {
                reused: *reused,
                idle_ns: *idle_ns,
                closing: None,
            }),
            RedisEvent::Reply { n, .. } if *n > 0 => Some(Exchange::Answer { closing: None }),
            _ => None,
        }
    }

    /// The event in words, for packet comments.
    pub fn describe(&self) -> String {
        let ms = |ns: u64| format!("{} ms", (ns / 1_000) as f64 / 1_000.0);
        match self {
            RedisEvent::Command {
                n,
                name,
                reused,
                idle_ns,
                depth,
            } => {
                let mut line = format!("Redis command {n} {}", clean(name));
                match (reused, idle_ns) {
                    (true, Some(idle)) => {
                        line.push_str(&format!(", reused after {} idle", ms(*idle)))
                    }
                    (true, None) => line.push_str(", reused"),
                    _ => {}
                }
                if *depth > 1 {
                    line.push_str(&format!(", {depth} in the pipeline"));
                }
                line
            }
            RedisEvent::Reply { n, error: None, .. } => format!("Redis reply to command {n}"),
            RedisEvent::Reply {
                n,
                error: Some(_),
                message,
            } => format!("Redis error reply to command {n}: {}", clean(message)),
            RedisEvent::Push { what } => format!("Redis push ({})", clean(what)),
            RedisEvent::Hello { protocol } => format!("Redis HELLO, RESP{protocol}"),
            RedisEvent::Client { name } => format!("Redis client names itself {}", clean(name)),
            RedisEvent::ProtocolError { by, error } => {
                format!("Redis protocol error from {by}: {error}")
            }
            RedisEvent::LostSync { by } => {
                format!("Redis framing from {by} lost (bytes are not in the capture)")
            }
        }
    }
}
