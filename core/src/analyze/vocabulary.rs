//! The words every layer of the analyser shares: which side did something, a count per side
//! (the summary's and each protocol's summary's), counts by name, how a message ends a connection, what an
//! event is to the connection's exchanges, and captured text made safe for a comment. A leaf:
//! the TCP layer and every protocol's events and summaries import it, it imports none of them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which end of a connection did something. The client is the side that sent
/// the SYN, because "who opened" is what keep-alive and pool questions need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The side that sent the SYN (or, mid-stream, the higher port).
    Client,
    /// The side that answered the SYN.
    Server,
}

impl Side {
    /// The other end, for "the peer acknowledges" transitions.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

/// A count per side of the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BySide {
    /// Done by the client.
    pub client: u64,
    /// Done by the server.
    pub server: u64,
}

impl BySide {
    /// Counts one for `side`.
    pub fn add(&mut self, side: Side) {
        *self.get_mut(side) += 1;
    }

    /// The count of `side`, to change.
    pub fn get_mut(&mut self, side: Side) -> &mut u64 {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// Both sides together.
    pub fn total(&self) -> u64 {
        self.client + self.server
    }
}

/// Distinct names a [`ByName`] keeps; past them a hostile or unusual stream's words are
/// counted under `other`, so a summary stays bounded.
const NAMES: usize = 64;

/// Counts by name (a protocol's commands, its error codes), at most [`NAMES`] of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ByName(BTreeMap<String, u64>);

impl ByName {
    pub fn add(&mut self, name: &str) {
        if let Some(n) = self.0.get_mut(name) {
            *n += 1;
        } else if self.0.len() < NAMES {
            self.0.insert(name.to_owned(), 1);
        } else {
            *self.0.entry("other".to_owned()).or_default() += 1;
        }
    }

    /// The names and their counts, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &u64)> {
        self.0.iter()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The count of `name`.
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// The busiest `limit` names with their counts, most first (ties by name), and `...`
    /// past them, for a text summary: `GET 19, SET 10, ...`.
    pub fn busiest(&self, limit: usize) -> String {
        let mut names: Vec<(&String, &u64)> = self.0.iter().collect();
        names.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut shown: Vec<String> = names
            .iter()
            .take(limit)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if names.len() > limit {
            shown.push("...".to_owned());
        }
        shown.join(", ")
    }

    /// Every name with its count, in name order, or `none`: `42703 1, 57P05 1`.
    pub fn listed(&self) -> String {
        if self.0.is_empty() {
            return "none".to_owned();
        }
        let all: Vec<String> = self.0.iter().map(|(k, n)| format!("{k} {n}")).collect();
        all.join(", ")
    }
}

/// Why an HTTP message says the connection ends after it: how a side turns keep-alive off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closing {
    /// A `Connection: close` header.
    ConnectionCloseHeader,
    /// HTTP/1.0 without `Connection: keep-alive` (HTTP/1.0 closes by default).
    Http10WithoutKeepalive,
}

impl Closing {
    /// The word used in JSON and findings (`via`).
    pub fn as_str(self) -> &'static str {
        match self {
            Closing::ConnectionCloseHeader => "connection_close_header",
            Closing::Http10WithoutKeepalive => "http10_without_keepalive",
        }
    }
}

/// What a protocol calls its exchanges, for the findings' sentences: HTTP's requests and
/// responses, Redis's commands and replies, plain TCP's client writes and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    /// One request (`request`, `command`).
    pub one: &'static str,
    /// Several (`requests`).
    pub many: &'static str,
    /// Their answers (`responses`).
    pub answers: &'static str,
    /// The knob table's family these exchanges stand for where no stack is named (`tcp`: a
    /// protocol connlab does not know, whose knobs are the pool's and the server's own).
    pub family: Option<&'static str>,
}

impl Words {
    /// HTTP's (and HTTP/2's, WebSocket's upgrade's).
    pub const HTTP: Words = Words {
        one: "request",
        many: "requests",
        answers: "responses",
        family: None,
    };
}

impl Default for Words {
    fn default() -> Words {
        Words::HTTP
    }
}

/// One step of a connection's exchanges, whatever its protocol: a request (an HTTP request, a
/// Redis command, an SQL query) or the answer to one. The diagnosis reasons over these, so its
/// pool, idle-close and race findings hold for every protocol whose events say which they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// The client asked.
    Request {
        /// An earlier request used this connection.
        reused: bool,
        /// Since the peer's last data before it, on a reused connection.
        idle_ns: Option<u64>,
        /// It asks to close the connection after its answer.
        closing: Option<Closing>,
    },
    /// The server answered.
    Answer {
        /// It says the connection ends after it.
        closing: Option<Closing>,
    },
    /// The client said it is leaving, with no answer to wait for (PostgreSQL's Terminate,
    /// MySQL's COM_QUIT): whichever side's FIN comes first, the client closed.
    Goodbye,
}

/// Makes captured text safe for a comment: percent-encodes `|`, `%`-unsafe
/// control bytes and the letter that would spell "reused" inside a path.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '|' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out.replace("reused", "reus%65d")
}
