//! What a PostgreSQL connection says, in the protocol's own words. In JSON lines they are
//! `"kind": "postgres"` events, the story in `"postgres"` (`"postgres": "query"`).

use compact_str::CompactString;
use serde::Serialize;

use crate::analyze::vocabulary::{clean, Exchange, Side, Words};

/// A session's transaction status, as each ReadyForQuery reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// Not in a transaction (`I`).
    Idle,
    /// In a transaction block (`T`).
    InTransaction,
    /// In a failed transaction block (`E`): queries are refused until it ends.
    Failed,
}

impl TxStatus {
    /// The status a ReadyForQuery's byte gives.
    pub fn of(byte: u8) -> Option<TxStatus> {
        match byte {
            b'I' => Some(TxStatus::Idle),
            b'T' => Some(TxStatus::InTransaction),
            b'E' => Some(TxStatus::Failed),
            _ => None,
        }
    }

    fn words(self) -> &'static str {
        match self {
            TxStatus::Idle => "idle",
            TxStatus::InTransaction => "in a transaction",
            TxStatus::Failed => "in a failed transaction",
        }
    }
}

/// What a PostgreSQL connection said.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "postgres", rename_all = "snake_case")]
pub enum PgEvent {
    /// The client asked for TLS (SSLRequest) or GSSAPI encryption (GSSENCRequest), and the
    /// server said whether it agrees.
    Encryption {
        /// `ssl` or `gss`.
        what: &'static str,
        /// The server agreed (`S`, `G`): what follows is encrypted.
        accepted: bool,
    },
    /// The client's StartupMessage.
    Startup {
        /// The role it logs in as.
        user: CompactString,
        /// The database (the user's name where not given).
        database: CompactString,
        /// The `application_name` it gave, if any.
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        application_name: CompactString,
    },
    /// The server accepted the login (AuthenticationOk).
    Authenticated,
    /// The server's version (ParameterStatus `server_version`).
    ServerVersion {
        /// As the server reports it (`15.18 (Debian 15.18-0+deb12u1)`).
        version: CompactString,
    },
    /// The key a CancelRequest for this session must give (BackendKeyData).
    BackendKey {
        /// The server process.
        pid: u32,
        /// Its secret.
        key: u32,
    },
    /// A connection made only to cancel another session's query (CancelRequest).
    Cancel {
        /// The process of the session to cancel.
        pid: u32,
        /// Its secret.
        key: u32,
    },
    /// The client ran a query: a simple Query, or an Execute of the extended protocol.
    Query {
        /// 1-based index of the query on this connection.
        n: u32,
        /// The statement's first keyword, upper case (`SELECT`, `BEGIN`, ...).
        kind: CompactString,
        /// Sent by the extended protocol (Parse/Bind/Execute).
        extended: bool,
        /// The first query of its turn (up to a Sync): the turn is the request the
        /// connection's exchanges count, and ReadyForQuery its answer.
        opens_turn: bool,
        /// Whether an earlier query used this connection.
        reused: bool,
        /// Since the server's last message before it, on a reused connection.
        #[serde(skip_serializing_if = "Option::is_none")]
        idle_ns: Option<u64>,
        /// Turns sent and not yet answered, this one's included (1: no pipelining).
        depth: u32,
    },
    /// The server is ready for the next query (ReadyForQuery).
    Ready {
        /// The query whose turn it ends (0: the startup's, or a turn without a query).
        n: u32,
        /// The session's transaction status now.
        status: TxStatus,
    },
    /// The server reported an error (ErrorResponse).
    Error {
        /// Its severity, untranslated (`ERROR`, `FATAL`, `PANIC`).
        severity: CompactString,
        /// The SQLSTATE (`57P05`, `42703`, ...).
        code: CompactString,
        /// The message's start.
        message: CompactString,
    },
    /// The server sent a notice (NoticeResponse).
    Notice {
        /// Its severity (`WARNING`, `NOTICE`, ...).
        severity: CompactString,
        /// The SQLSTATE.
        code: CompactString,
    },
    /// A LISTENing session got a notification (NotificationResponse).
    Notification {
        /// The channel.
        channel: CompactString,
    },
    /// A COPY began (CopyInResponse, CopyOutResponse, CopyBothResponse).
    Copy {
        /// `in` (to the server), `out` or `both` (replication).
        direction: &'static str,
    },
    /// The client ended the session politely (Terminate).
    Terminate,
    /// Bytes that break the protocol (or connlab's bounds): nothing more of this direction
    /// is read.
    ProtocolError {
        /// Who sent them.
        by: Side,
        /// What is wrong.
        error: &'static str,
    },
    /// The capture lost bytes where a message header was due: nothing more of this
    /// direction is read rather than guessed.
    LostSync {
        /// Whose direction.
        by: Side,
    },
}

impl PgEvent {
    /// PostgreSQL's words for its exchanges.
    pub const WORDS: Words = Words {
        one: "query",
        many: "queries",
        answers: "results",
        family: None,
    };

    /// A turn's first query is a request, the ReadyForQuery that ends it its answer.
    // Not inlined into `EventKind::exchange`, which every event of every capture asks: a
    // protocol missing from a capture must cost nothing there.
    #[inline(never)]
    pub(crate) fn exchange(&self) -> Option<Exchange> {
        match self {
            PgEvent::Query {
                opens_turn: true,
                reused,
                idle_ns,
                ..
            } => Some(Exchange::Request {
                reused: *reused,
                idle_ns: *idle_ns,
                closing: None,
            }),
            PgEvent::Ready { n, .. } if *n > 0 => Some(Exchange::Answer { closing: None }),
            PgEvent::Terminate => Some(Exchange::Goodbye),
            _ => None,
        }
    }

    /// The event in words, for packet comments.
    pub fn describe(&self) -> String {
        let ms = |ns: u64| format!("{} ms", (ns / 1_000) as f64 / 1_000.0);
        match self {
            PgEvent::Encryption { what, accepted } => format!(
                "PostgreSQL {} request, {}",
                if *what == "ssl" { "SSL" } else { "GSSAPI" },
                if *accepted { "accepted" } else { "refused" }
            ),
            PgEvent::Startup {
                user,
                database,
                application_name,
            } => {
                let mut line = format!(
                    "PostgreSQL startup: user {}, database {}",
                    clean(user),
                    clean(database)
                );
                if !application_name.is_empty() {
                    line.push_str(&format!(", application {}", clean(application_name)));
                }
                line
            }
            PgEvent::Authenticated => "PostgreSQL login accepted".to_owned(),
            PgEvent::ServerVersion { version } => {
                format!("PostgreSQL server version {}", clean(version))
            }
            PgEvent::BackendKey { pid, .. } => format!("PostgreSQL session of process {pid}"),
            PgEvent::Cancel { pid, .. } => {
                format!("PostgreSQL cancel request for process {pid}")
            }
            PgEvent::Query {
                n,
                kind,
                extended,
                reused,
                idle_ns,
                depth,
                ..
            } => {
                let mut line = format!("PostgreSQL query {n} {}", clean(kind));
                if *extended {
                    line.push_str(" (extended)");
                }
                match (reused, idle_ns) {
                    (true, Some(idle)) => {
                        line.push_str(&format!(", reused after {} idle", ms(*idle)))
                    }
                    (true, None) => line.push_str(", reused"),
                    _ => {}
                }
                if *depth > 1 {
                    line.push_str(&format!(", {depth} turns in the pipeline"));
                }
                line
            }
            PgEvent::Ready { n, status } if *n > 0 => {
                format!("PostgreSQL ready after query {n}, {}", status.words())
            }
            PgEvent::Ready { status, .. } => format!("PostgreSQL ready, {}", status.words()),
            PgEvent::Error {
                severity,
                code,
                message,
            } => format!(
                "PostgreSQL {} {}: {}",
                clean(severity),
                clean(code),
                clean(message)
            ),
            PgEvent::Notice { severity, code } => {
                format!("PostgreSQL {} {}", clean(severity), clean(code))
            }
            PgEvent::Notification { channel } => {
                format!("PostgreSQL notification on {}", clean(channel))
            }
            PgEvent::Copy { direction } => format!("PostgreSQL COPY {direction}"),
            PgEvent::Terminate => "PostgreSQL Terminate".to_owned(),
            PgEvent::ProtocolError { by, error } => {
                format!("PostgreSQL protocol error from {by}: {error}")
            }
            PgEvent::LostSync { by } => {
                format!("PostgreSQL framing from {by} lost (bytes are not in the capture)")
            }
        }
    }
}
