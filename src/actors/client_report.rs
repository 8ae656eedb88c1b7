//! The client's own account of a run, the same for every built-in client (HTTP, raw TCP,
//! WebSocket), set beside the wire's account (the analyser's) in the summary. An external
//! client has none: its report is absent, not zero.

use std::collections::BTreeMap;

use serde::Serialize;

/// The client's own account of a run (the wire's account is the analyser's).
#[derive(Debug, Clone, Default, Serialize)]
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
}
