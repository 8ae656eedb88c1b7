//! The client's own account of a run, the same for every built-in client (HTTP, raw TCP,
//! WebSocket), set beside the wire's account (the analyser's) in the summary. An external
//! client has none: its report is absent, not zero.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::db_pool::policy::Stats as PoolStats;
use super::ws_session::WsCounts;

/// The client's own account of a run (the wire's account is the analyser's).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientReport {
    /// Requests answered.
    pub ok: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Connections dialed.
    pub dialed: u64,
    /// Requests served on a reused connection.
    pub reused: u64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Time from the first request to the last answer, ns.
    pub elapsed_ns: u64,
    /// Raw TCP client: time from the first dial to the last connection up, ns (its dial
    /// rate is `dialed` over this).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dial_ns: u64,
    /// Time the client's pace waited for connlab's wire to catch up, ns: the raw TCP client's
    /// dials, the HTTP client's longest-waiting request slot (a pace is a ceiling; the wire
    /// falling behind slows it down rather than losing frames).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wire_wait_ns: u64,
    /// WebSocket client: what its WebSockets carried and how they ended, by its own count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WsCounts>,
    /// Database pool client: `db.Stats()` at the end, as Go's database/sql reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolStats>,
    /// Why the first failed request failed, in the client's words (the rest are in the
    /// events file): what a lab's summary says when requests failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ClientReport {
    /// Counts a failed request, keeping the first reason.
    pub fn failure(&mut self, why: impl std::fmt::Display) {
        self.failed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why.to_string());
        }
    }

    /// Adds another worker's account to this one (the elapsed time is the longest).
    pub fn add(&mut self, other: &ClientReport) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.dialed += other.dialed;
        self.reused += other.reused;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.elapsed_ns = self.elapsed_ns.max(other.elapsed_ns);
        self.dial_ns = self.dial_ns.max(other.dial_ns);
        self.wire_wait_ns = self.wire_wait_ns.max(other.wire_wait_ns);
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        if let Some(theirs) = &other.websocket {
            self.websocket
                .get_or_insert_with(Default::default)
                .add(theirs);
        }
    }
}
