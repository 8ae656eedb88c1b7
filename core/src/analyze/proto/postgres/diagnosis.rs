//! PostgreSQL's part of the diagnosis: what its sessions say beyond their exchanges. The
//! TCP-level findings (an idle close, a pool's burst, a query on a closed session, a dead
//! peer) come from the exchanges like every protocol's; this adds what only PostgreSQL says:
//! the reason a server gives before it closes (FATAL 57P05 `idle_session_timeout`, 25P03
//! `idle_in_transaction_session_timeout`, 57P01 an administrator's shutdown, 53300 too many
//! connections), and sessions left idle inside a transaction.

use std::net::SocketAddr;

use compact_str::CompactString;

use super::event::{PgEvent, TxStatus};
use crate::diagnose::{Examples, Finding, FindingKind};
use crate::words::plural;

/// A session that waits this long for its client inside a transaction is left idle in it: a
/// transaction holds its locks and its snapshot while it waits, and OLTP transactions wait
/// milliseconds.
pub(crate) const IDLE_IN_TRANSACTION_NS: u64 = 1_000_000_000;
/// SQLSTATEs of FATAL errors kept apart per endpoint; past them a hostile stream's codes
/// are not followed.
const CODES: usize = 16;

/// Why a server ends a session, by the SQLSTATE of the FATAL error it sends first.
fn reason(code: &str) -> Option<&'static str> {
    Some(match code {
        "57P05" => "idle_session_timeout",
        "25P03" => "idle_in_transaction_session_timeout",
        "57P01" => "an administrator's command (a fast shutdown, pg_terminate_backend)",
        "57P02" => "a crash of another server process",
        "57P03" => "the server not accepting connections yet (starting or shutting down)",
        "53300" => "too many connections (max_connections, or the role's limit)",
        _ => return None,
    })
}

/// One session as the diagnosis follows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PgConn {
    /// When (and at which frame) the session began to wait for its client in a transaction.
    waiting: Option<(u64, u64)>,
    /// Its longest such wait, and the frame it began at.
    longest: Option<(u64, u64)>,
    /// The FATAL error that ended it, and its frame.
    fatal: Option<(CompactString, u64)>,
}

impl PgConn {
    /// Follows one event of the session, at `t` and `frame`.
    pub fn apply(&mut self, pg: &PgEvent, t: u64, frame: u64) {
        match pg {
            PgEvent::Ready { status, .. } => {
                self.until(t);
                if *status != TxStatus::Idle {
                    self.waiting = Some((t, frame));
                }
            }
            PgEvent::Query { .. } | PgEvent::Terminate => self.until(t),
            PgEvent::Error { severity, code, .. }
                if matches!(severity.as_str(), "FATAL" | "PANIC") =>
            {
                self.until(t);
                self.fatal.get_or_insert((code.clone(), frame));
            }
            _ => {}
        }
    }

    /// The wait in a transaction under way, if any, ends at `t` (the client spoke, or the
    /// connection closed).
    pub fn until(&mut self, t: u64) {
        if let Some((since, frame)) = self.waiting.take() {
            let waited = t.saturating_sub(since);
            if self.longest.is_none_or(|(longest, _)| waited > longest) {
                self.longest = Some((waited, frame));
            }
        }
    }

    /// Folds the closed session into its endpoint.
    pub fn finish(&self, conn: u64, ep: &mut PgEndpoint) {
        ep.sessions += 1;
        if let Some((waited, frame)) = self.longest {
            if waited >= IDLE_IN_TRANSACTION_NS {
                ep.idle_in_transaction.add(conn, frame);
                ep.longest_idle_in_transaction_ns = ep.longest_idle_in_transaction_ns.max(waited);
            }
        }
        if let Some((code, frame)) = &self.fatal {
            if let Some((_, examples)) = ep.fatal.iter_mut().find(|(c, _)| c == code) {
                examples.add(conn, *frame);
            } else if ep.fatal.len() < CODES {
                let mut examples = Examples::default();
                examples.add(conn, *frame);
                ep.fatal.push((code.clone(), examples));
            }
        }
    }
}

/// What an endpoint's PostgreSQL sessions said, over the closed ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct PgEndpoint {
    /// Sessions closed.
    sessions: u64,
    /// FATAL errors by SQLSTATE, with the sessions they ended.
    fatal: Vec<(CompactString, Examples)>,
    /// Sessions that waited for their client inside a transaction for a second or more.
    idle_in_transaction: Examples,
    longest_idle_in_transaction_ns: u64,
}

impl PgEndpoint {
    fn fatal(&self, code: &str) -> Option<&Examples> {
        self.fatal
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, examples)| examples)
    }
}

/// Whether PostgreSQL said why it closed at least `closes` idle sessions (FATAL 57P05
/// idle_session_timeout, 25P03 idle_in_transaction_session_timeout): then they are its idle
/// timeout whatever their timing, which a busy server scatters (its timers fire late: 3.08 to
/// 3.56 s for a 3 s timeout with every core taken).
pub(crate) fn said_idle_closes(ep: &PgEndpoint, closes: u64) -> bool {
    let said: u64 = ["57P05", "25P03"]
        .into_iter()
        .filter_map(|code| ep.fatal(code))
        .map(|e| e.count)
        .sum();
    closes > 0 && said >= closes
}

/// Says, on an idle close found by the exchanges, whether PostgreSQL gave its reason first
/// (FATAL 57P05 or 25P03: its own timeout) or said nothing (a pooler or a middlebox closed).
pub(crate) fn amend(ep: &PgEndpoint, out: &mut [Finding]) {
    if ep.sessions == 0 {
        return;
    }
    for f in out
        .iter_mut()
        .filter(|f| f.kind == FindingKind::ServerIdleClose)
    {
        let said = ["57P05", "25P03"]
            .into_iter()
            .find_map(|code| ep.fatal(code).map(|e| (code, e.count)));
        if let Some((code, n)) = said {
            f.code = Some(code.to_owned());
            f.statement.push_str(&format!(
                "; PostgreSQL said why before closing {}: FATAL {code}, its {}",
                plural(n, "session", "sessions"),
                reason(code).unwrap_or_default()
            ));
        } else {
            f.statement.push_str(
                "; PostgreSQL sent no FATAL before the closes, as its own timeouts do: a pooler \
                 (pgbouncer) or a middlebox between them closed",
            );
        }
    }
}

/// The findings only PostgreSQL's messages show: shutdowns, refusals, and sessions left
/// idle in a transaction (each a direct observation: one session is enough).
pub(crate) fn findings(server: SocketAddr, ep: &PgEndpoint, out: &mut Vec<Finding>) {
    for (code, examples) in &ep.fatal {
        let (kind, what) = match code.as_str() {
            "53300" => (
                FindingKind::TooManyConnections,
                "refused at startup: the server's connections are all taken",
            ),
            "57P01" | "57P02" | "57P03" => (
                FindingKind::ServerShutdown,
                "ended by the server going down or refusing while it starts or stops",
            ),
            _ => continue,
        };
        let statement = format!(
            "{} with {server} {what}: FATAL {code}, {}",
            plural(examples.count, "session", "sessions"),
            reason(code).unwrap_or_default()
        );
        out.push(Finding {
            code: Some(code.to_string()),
            ..Finding::new(kind, server, examples).says(statement)
        });
    }
    let idle = &ep.idle_in_transaction;
    if idle.count > 0 {
        let longest = (ep.longest_idle_in_transaction_ns / 1_000) as f64 / 1_000.0;
        let mut statement = format!(
            "{} with {server} sat idle inside a transaction, waiting for the client, up to \
             {longest:.1} ms: the transaction holds its locks and snapshot all that time",
            plural(idle.count, "session", "sessions"),
        );
        let ended = ep.fatal("25P03");
        if let Some(ended) = ended {
            statement.push_str(&format!(
                ", and the server ended {} for it (FATAL 25P03)",
                plural(ended.count, "session", "sessions")
            ));
        }
        out.push(Finding {
            after_ms: Some(longest),
            code: ended.map(|_| "25P03".to_owned()),
            ..Finding::new(FindingKind::IdleInTransaction, server, idle).says(statement)
        });
    }
}
