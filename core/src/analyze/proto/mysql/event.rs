//! What a MySQL or MariaDB connection says, in the protocol's own words. In JSON lines they
//! are `"kind": "mysql"` events, the story in `"mysql"` (`"mysql": "command"`).

use compact_str::CompactString;
use serde::Serialize;

use crate::analyze::vocabulary::{clean, Exchange, Side, Words};

/// Whether the server answers a command at all (a statement's close and its long data get
/// no answer; COM_QUIT ends the session).
pub(crate) fn answered(name: &str) -> bool {
    !matches!(
        name,
        "COM_QUIT" | "COM_STMT_CLOSE" | "COM_STMT_SEND_LONG_DATA"
    )
}

/// What a MySQL connection said.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mysql", rename_all = "snake_case")]
pub enum MyEvent {
    /// The server's greeting (HandshakeV10).
    Greeting {
        /// Its version string (`5.5.5-10.11.19-MariaDB-0+deb12u1-log`, `8.0.36`).
        version: CompactString,
        /// The connection's id (the thread id of the server's general log).
        connection_id: u32,
    },
    /// The client's login (HandshakeResponse41).
    Login {
        /// The user it logs in as.
        user: CompactString,
        /// The database it asks for, if any.
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        database: CompactString,
        /// Its library, as its connection attributes name it (`_client_name`), if sent.
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        client_name: CompactString,
    },
    /// The client asked to switch to TLS (an SSL request): nothing more is read.
    SslRequest,
    /// Both sides agreed on the compressed protocol: counted, and nothing more is read.
    Compressed,
    /// The server accepted the login (its OK to the handshake).
    Authenticated,
    /// The client sent a command.
    Command {
        /// 1-based index of the command on this connection.
        n: u32,
        /// Its name (`COM_QUERY`, `COM_PING`, `COM_STMT_EXECUTE`, ...).
        name: &'static str,
        /// For a query or a prepared statement, its first keyword (`SELECT`, `SET`, ...).
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        statement: CompactString,
        /// Whether an earlier command used this connection.
        reused: bool,
        /// Since the server's last packet before it, on a reused connection.
        #[serde(skip_serializing_if = "Option::is_none")]
        idle_ns: Option<u64>,
    },
    /// The server's answer to a command is complete.
    Reply {
        /// The command it answers.
        n: u32,
        /// The error code, for an error (`1054`, `4031`, ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<u16>,
        /// Rows of the result sets.
        rows: u64,
    },
    /// The server sent an error (ERR packet): to a command, at connect, or unasked.
    Error {
        /// The error code (`1040`, `1054`, `4031`, ...).
        code: u16,
        /// The SQL state (`08S01`, ...), where given.
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        sql_state: CompactString,
        /// The message's start.
        message: CompactString,
        /// No command waited for it: the server ends the session with it (at connect, or an
        /// idle session's 4031).
        unasked: bool,
    },
    /// The client ended the session politely (COM_QUIT).
    Quit,
    /// The capture lost bytes where a packet header was due: nothing more of this direction
    /// is read rather than guessed.
    LostSync {
        /// Whose direction.
        by: Side,
    },
}

impl MyEvent {
    /// MySQL's words for its exchanges.
    pub const WORDS: Words = Words {
        one: "command",
        many: "commands",
        answers: "results",
        family: None,
    };

    /// A command the server answers is a request, its complete answer the answer (a
    /// statement's close gets none).
    // Not inlined into `EventKind::exchange`, which every event of every capture asks: a
    // protocol missing from a capture must cost nothing there.
    #[inline(never)]
    pub(crate) fn exchange(&self) -> Option<Exchange> {
        match self {
            MyEvent::Command {
                name,
                reused,
                idle_ns,
                ..
            } if answered(name) => Some(Exchange::Request {
                reused: *reused,
                idle_ns: *idle_ns,
                closing: None,
            }),
            MyEvent::Reply { n, .. } if *n > 0 => Some(Exchange::Answer { closing: None }),
            MyEvent::Quit => Some(Exchange::Goodbye),
            _ => None,
        }
    }

    /// The event in words, for packet comments.
    pub fn describe(&self) -> String {
        let ms = |ns: u64| format!("{} ms", (ns / 1_000) as f64 / 1_000.0);
        match self {
            MyEvent::Greeting {
                version,
                connection_id,
            } => format!(
                "MySQL greeting: server {}, connection {connection_id}",
                clean(version)
            ),
            MyEvent::Login {
                user, client_name, ..
            } => {
                let mut line = format!("MySQL login as {}", clean(user));
                if !client_name.is_empty() {
                    line.push_str(&format!(" by {}", clean(client_name)));
                }
                line
            }
            MyEvent::SslRequest => "MySQL SSL request".to_owned(),
            MyEvent::Compressed => "MySQL compressed protocol".to_owned(),
            MyEvent::Authenticated => "MySQL login accepted".to_owned(),
            MyEvent::Command {
                n,
                name,
                statement,
                reused,
                idle_ns,
            } => {
                let mut line = format!("MySQL command {n} {name}");
                if !statement.is_empty() {
                    line.push_str(&format!(" {}", clean(statement)));
                }
                match (reused, idle_ns) {
                    (true, Some(idle)) => {
                        line.push_str(&format!(", reused after {} idle", ms(*idle)))
                    }
                    (true, None) => line.push_str(", reused"),
                    _ => {}
                }
                line
            }
            MyEvent::Reply {
                n,
                error: Some(code),
                ..
            } => format!("MySQL error {code} for command {n}"),
            MyEvent::Reply { n, rows, .. } => format!("MySQL result of command {n}, {rows} rows"),
            MyEvent::Error { code, message, .. } => {
                format!("MySQL ERR {code}: {}", clean(message))
            }
            MyEvent::Quit => "MySQL COM_QUIT".to_owned(),
            MyEvent::LostSync { by } => {
                format!("MySQL framing from {by} lost (bytes are not in the capture)")
            }
        }
    }
}
