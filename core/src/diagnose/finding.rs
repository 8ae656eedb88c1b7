//! One finding, the diagnosis's unit of output, and the threshold every pattern rule shares.
//! Apart from the rules (findings.rs, http2.rs, tls.rs) that make findings, so those rules
//! use it without using each other.

use std::net::SocketAddr;

use serde::Serialize;

use super::evidence::{Evidence, Examples};
use super::kind::FindingKind;
use crate::analyze::Side;

/// Connections a pattern needs before it is a finding.
pub const MIN_CONNECTIONS: u64 = 3;

/// One diagnosis: the cause in a sentence, the evidence, and the knob. Kind-specific figures
/// are fields of their own (absent when they do not apply), so `[expect]` and scripts reach
/// them by name (`findings.server_idle_close.after_ms`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The server endpoint (ip:port) it was seen on.
    pub server: SocketAddr,
    /// The finding in plain words.
    pub statement: String,
    /// Connections that show it.
    pub connections: u64,
    /// Median time of the pattern, ms (idle before the close, request to close).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<f64>,
    /// p90 − p10 of that time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread_ms: Option<f64>,
    /// The side that does it ("client" or "server").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// Who sent the resets ("server" or "middlebox").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
    /// How keep-alive is turned off (`connection_close_header`, `http10_without_keepalive`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    /// Share of the endpoint's connections (with a request) that show it, 0..1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Idle connections the client kept after a burst (its idle pool size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_idle: Option<u64>,
    /// Bursts seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bursts: Option<u64>,
    /// Requests per connection before the server closes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Unanswered keepalive probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<u64>,
    /// Retransmissions (of the same data, or of SYNs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits: Option<u64>,
    /// Pings that went unanswered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pings: Option<u64>,
    /// The status code the finding is about (the most common one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The connections' age when it happened, ms (median).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<f64>,
    /// The client's interval between PINGs, ms (median over the connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_interval_ms: Option<f64>,
    /// The limit reached (an HTTP/2 server's MAX_CONCURRENT_STREAMS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// The protocol's error code the finding is about (HTTP/2: `CANCEL`, `REFUSED_STREAM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// TLS handshake time, ms (median over the connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_ms: Option<f64>,
    /// The idle timeout the server's `Keep-Alive` header advertises, s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_s: Option<u64>,
    /// Where to look.
    pub evidence: Evidence,
    /// What to change, Go net/http names first.
    pub knobs: Vec<&'static str>,
    /// Drawn from connections the capturing machine lost frames of (a withheld finding).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub caused_by_wire_drops: bool,
}

impl Finding {
    pub(crate) fn new(kind: FindingKind, server: SocketAddr, examples: &Examples) -> Finding {
        Finding {
            kind,
            server,
            statement: String::new(),
            connections: examples.count,
            after_ms: None,
            spread_ms: None,
            side: None,
            by: None,
            via: None,
            share: None,
            kept_idle: None,
            bursts: None,
            requests: None,
            probes: None,
            retransmits: None,
            pings: None,
            status: None,
            age_ms: None,
            ping_interval_ms: None,
            limit: None,
            code: None,
            handshake_ms: None,
            advertised_s: None,
            evidence: examples.evidence.clone(),
            knobs: super::knobs::knobs(kind, None, super::knobs::NO_STACK),
            caused_by_wire_drops: false,
        }
    }

    pub(crate) fn says(mut self, statement: String) -> Finding {
        self.statement = statement;
        self
    }
}
