//! PostgreSQL totals over a capture (`"postgres"` in the summary), folded from the postgres
//! events like every summary, so the live view and a later read agree by construction.

use serde::Serialize;

use super::event::{PgEvent, TxStatus};
use crate::analyze::event::{Event, EventKind};
use crate::analyze::vocabulary::ByName;
use crate::words::plural;
use crate::FastMap;

/// Queries: how many, and by the statement's first keyword.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Queries {
    /// Every query the clients ran (simple Queries and Executes).
    pub total: u64,
    /// By kind (`SELECT`, `INSERT`, `BEGIN`, ...).
    pub by_kind: ByName,
    /// Turns the server ended with ReadyForQuery (a query's result delivered).
    pub answered: u64,
}

/// How the sessions ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Ended {
    /// The client sent Terminate.
    pub terminate: u64,
    /// The server sent a FATAL error, then the connection closed.
    pub fatal_then_close: u64,
    /// A FIN with no word in the protocol before it.
    pub fin: u64,
    /// A reset.
    pub rst: u64,
    /// Still open when the capture ended.
    pub open: u64,
}

/// PostgreSQL totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PgSummary {
    /// Connections that began a session (a StartupMessage).
    pub sessions: u64,
    /// The clients' queries.
    pub queries: Queries,
    /// Transactions begun (a ReadyForQuery in a transaction after one that was not).
    pub transactions: u64,
    /// Time sessions sat idle in a transaction, waiting for the client, ms in all.
    pub idle_in_transaction_ms: f64,
    /// The longest such wait, ms.
    pub longest_idle_in_transaction_ms: f64,
    /// Errors by SQLSTATE (`57P05`, `42703`, ...).
    pub errors: ByName,
    /// Errors that ended their session (FATAL, PANIC).
    pub fatal: u64,
    /// Notices (NoticeResponse).
    pub notices: u64,
    /// How the sessions ended.
    pub ended: Ended,
    /// Connections that asked to cancel a query (CancelRequest).
    pub cancel_requests: u64,
    /// Of them, those whose key names a session in the capture.
    pub cancels_matched: u64,
    /// Notifications delivered to listening sessions.
    pub notifications: u64,
    /// COPY operations.
    pub copies: u64,
    /// Sessions whose client asked for TLS or GSSAPI encryption and got it.
    pub encrypted: u64,
    /// The servers' versions, by the sessions that reported each.
    pub server_versions: ByName,
    /// Byte runs that break the protocol.
    pub protocol_errors: u64,
    /// Directions whose framing was lost to a gap in the capture.
    pub lost_sync: u64,
    /// Open sessions, with what the summary needs of each until it closes.
    #[serde(skip)]
    open: FastMap<u64, Open>,
    /// Open sessions' cancel keys (process, secret), to match CancelRequests.
    #[serde(skip)]
    keys: FastMap<(u32, u32), u64>,
}

/// An open session as the summary follows it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Open {
    in_transaction: bool,
    /// When its wait for the client in a transaction began.
    waiting_since: Option<u64>,
    terminated: bool,
    fatal: bool,
    key: Option<(u32, u32)>,
}

fn ms(ns: u64) -> f64 {
    (ns / 1_000) as f64 / 1_000.0
}

impl PgSummary {
    /// Whether the capture held no PostgreSQL at all (the section is then left out).
    pub fn is_empty(&self) -> bool {
        self.sessions == 0 && self.cancel_requests == 0 && self.protocol_errors == 0
    }

    /// The section in words, for the text summary (None where no PostgreSQL was seen).
    pub fn text(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let e = &self.ended;
        let mut text = format!(
            "postgres: {} on {} ({}), {}, errors {}; sessions ended by Terminate {}, \
             FATAL then close {}, bare FIN {}, RST {}, open {}",
            plural(self.queries.total, "query", "queries"),
            plural(self.sessions, "session", "sessions"),
            self.queries.by_kind.busiest(6),
            plural(self.transactions, "transaction", "transactions"),
            self.errors.listed(),
            e.terminate,
            e.fatal_then_close,
            e.fin,
            e.rst,
            e.open,
        );
        if self.longest_idle_in_transaction_ms > 0.0 {
            text.push_str(&format!(
                "; idle in a transaction {:.1} ms in all, {:.1} ms at most",
                self.idle_in_transaction_ms, self.longest_idle_in_transaction_ms
            ));
        }
        if self.cancel_requests > 0 {
            text.push_str(&format!(
                "; {} ({} matched to a session)",
                plural(self.cancel_requests, "cancel request", "cancel requests"),
                self.cancels_matched
            ));
        }
        if self.protocol_errors + self.lost_sync > 0 {
            text.push_str(&format!(
                "; {} protocol errors, {} directions lost to capture gaps",
                self.protocol_errors, self.lost_sync
            ));
        }
        Some(text)
    }

    /// Folds a connection's `Closed` event: nothing to do (and no call) where no session
    /// is open, as in a capture without PostgreSQL.
    #[inline]
    pub fn close(&mut self, event: &Event) {
        if !self.open.is_empty() {
            self.apply(event);
        }
    }

    /// Folds one event (the postgres events, and `Closed` to settle a session's end).
    pub fn apply(&mut self, event: &Event) {
        let pg = match &event.kind {
            EventKind::Postgres(pg) => pg,
            EventKind::Closed { by_rst, .. } => {
                self.closed(event.conn, *by_rst);
                return;
            }
            _ => return,
        };
        let t = event.t_ns;
        match pg {
            PgEvent::Startup { .. } => {
                self.sessions += 1;
                self.ended.open += 1;
                self.open.insert(event.conn, Open::default());
            }
            PgEvent::Encryption { accepted: true, .. } => self.encrypted += 1,
            PgEvent::ServerVersion { version } => self.server_versions.add(version),
            PgEvent::BackendKey { pid, key } => {
                if let Some(open) = self.open.get_mut(&event.conn) {
                    open.key = Some((*pid, *key));
                    self.keys.insert((*pid, *key), event.conn);
                }
            }
            PgEvent::Cancel { pid, key } => {
                self.cancel_requests += 1;
                self.cancels_matched += u64::from(self.keys.contains_key(&(*pid, *key)));
            }
            PgEvent::Query { kind, .. } => {
                self.queries.total += 1;
                self.queries.by_kind.add(kind);
                self.waited(event.conn, t);
            }
            PgEvent::Ready { n, status } => {
                self.queries.answered += u64::from(*n > 0);
                if let Some(open) = self.open.get_mut(&event.conn) {
                    let in_transaction = *status != TxStatus::Idle;
                    self.transactions += u64::from(in_transaction && !open.in_transaction);
                    open.in_transaction = in_transaction;
                    open.waiting_since = in_transaction.then_some(t);
                }
            }
            PgEvent::Error { severity, code, .. } => {
                self.errors.add(code);
                if matches!(severity.as_str(), "FATAL" | "PANIC") {
                    self.fatal += 1;
                    self.waited(event.conn, t);
                    if let Some(open) = self.open.get_mut(&event.conn) {
                        open.fatal = true;
                    }
                }
            }
            PgEvent::Notice { .. } => self.notices += 1,
            PgEvent::Notification { .. } => self.notifications += 1,
            PgEvent::Copy { .. } => self.copies += 1,
            PgEvent::Terminate => {
                self.waited(event.conn, t);
                if let Some(open) = self.open.get_mut(&event.conn) {
                    open.terminated = true;
                }
            }
            PgEvent::ProtocolError { .. } => self.protocol_errors += 1,
            PgEvent::LostSync { .. } => self.lost_sync += 1,
            PgEvent::Authenticated | PgEvent::Encryption { .. } => {}
        }
    }

    /// The wait of `conn`'s session in a transaction, if one was under way, ends at `t`.
    fn waited(&mut self, conn: u64, t: u64) {
        let Some(since) = self
            .open
            .get_mut(&conn)
            .and_then(|open| open.waiting_since.take())
        else {
            return;
        };
        let waited = ms(t.saturating_sub(since));
        self.idle_in_transaction_ms += waited;
        self.longest_idle_in_transaction_ms = self.longest_idle_in_transaction_ms.max(waited);
    }

    fn closed(&mut self, conn: u64, by_rst: bool) {
        // Every connection's close comes here: a capture without PostgreSQL pays no lookup.
        if self.open.is_empty() {
            return;
        }
        let Some(open) = self.open.remove(&conn) else {
            return;
        };
        if let Some(key) = open.key {
            self.keys.remove(&key);
        }
        self.ended.open -= 1;
        let e = &mut self.ended;
        *(if open.terminated {
            &mut e.terminate
        } else if open.fatal {
            &mut e.fatal_then_close
        } else if by_rst {
            &mut e.rst
        } else {
            &mut e.fin
        }) += 1;
    }
}
