//! What TLS costs keep-alive: full handshakes on every reconnection (no resumption), and
//! short connections that spend their life in handshakes. Both are read from the cleartext
//! handshake, so they need no keys; whatever HTTP the keys reveal is diagnosed as in clear.

use std::net::{IpAddr, SocketAddr};

use super::evidence::{ms, Examples};
use super::finding::{Finding, MIN_CONNECTIONS};
use super::kind::FindingKind;
use super::sketch::Sketch;
use crate::analyze::TlsEvent;
use crate::words::plural;
use crate::FastSet;

/// Setup time (SYN to the client's first application data) over lifetime, over an
/// endpoint's closed TLS connections, that makes a finding.
const HANDSHAKE_SHARE: f64 = 0.25;

/// One TLS connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsConn {
    /// Its first frame (the SYN) to the client's first application data: the setup that
    /// keep-alive saves, TCP's handshake and TLS's.
    setup_ns: Option<u64>,
    /// Its ClientHello offered to resume a session.
    offered: bool,
}

/// An endpoint's TLS figures.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsEndpoint {
    /// Clients that had a TLS connection to the endpoint (bounded by the clients).
    clients: FastSet<IpAddr>,
    /// Reconnections (a client's second TLS connection and later) by how they went: a full
    /// handshake without an offer to resume, a full handshake although one was offered,
    /// resumed.
    pub full_not_offered: Examples,
    pub full_refused: Examples,
    pub resumed: u64,
    /// TLS handshake times.
    pub handshake_ns: Sketch,
    /// Closed connections with a handshake, and their setup time against their lifetime.
    pub handshakes: Examples,
    setup_total_ns: u64,
    lifetime_total_ns: u64,
}

impl TlsConn {
    /// A tls event of this connection (`client`: its address; `at`: conn and frame;
    /// `age_ns`: the connection's age).
    pub fn apply(
        &mut self,
        tls: &TlsEvent,
        (client, age_ns): (IpAddr, u64),
        at: (u64, u64),
        ep: &mut TlsEndpoint,
    ) {
        match tls {
            TlsEvent::ClientHello {
                offers_resumption, ..
            } => self.offered = *offers_resumption,
            TlsEvent::ServerHello { resumed, .. } => {
                let again = !ep.clients.insert(client);
                if !again {
                    return;
                }
                match (resumed, self.offered) {
                    (true, _) => ep.resumed += 1,
                    (false, false) => ep.full_not_offered.add(at.0, at.1),
                    (false, true) => ep.full_refused.add(at.0, at.1),
                }
            }
            TlsEvent::HandshakeDone { handshake_ns } => {
                self.setup_ns = Some(age_ns);
                ep.handshake_ns.add(*handshake_ns);
            }
            _ => {}
        }
    }

    /// The connection closed after `lifetime_ns`.
    pub fn closed(&self, lifetime_ns: u64, at: (u64, u64), ep: &mut TlsEndpoint) {
        let Some(setup) = self.setup_ns else {
            return;
        };
        ep.handshakes.add(at.0, at.1);
        ep.setup_total_ns += setup;
        ep.lifetime_total_ns += lifetime_ns.max(setup);
    }
}

fn conns(n: u64) -> String {
    plural(n, "connection", "connections")
}

/// The TLS findings on one endpoint.
pub(crate) fn findings(server: SocketAddr, tls: &TlsEndpoint, out: &mut Vec<Finding>) {
    let full = tls.full_not_offered.count + tls.full_refused.count;
    if full >= MIN_CONNECTIONS && tls.resumed == 0 {
        // Who keeps it from resuming: a client that never offers, or a server that refuses.
        let (examples, by, why) = if tls.full_not_offered.count >= tls.full_refused.count {
            (
                &tls.full_not_offered,
                "client",
                "the client offered no session to resume (no session cache)",
            )
        } else {
            (
                &tls.full_refused,
                "server",
                "the client offered to resume and the server refused (no ticket key or \
                 session cache)",
            )
        };
        let statement = format!(
            "{} to {server} reconnected with a full TLS handshake every time: {why}; each \
             costs a round trip more and the server's key exchange",
            conns(full),
        );
        out.push(Finding {
            by: Some(by),
            connections: full,
            handshake_ms: tls.handshake_ns.quantile(0.5).map(ms),
            ..Finding::new(FindingKind::TlsNoResumption, server, examples).says(statement)
        });
    }
    if tls.handshakes.count >= MIN_CONNECTIONS && tls.lifetime_total_ns > 0 {
        let share = tls.setup_total_ns as f64 / tls.lifetime_total_ns as f64;
        if share >= HANDSHAKE_SHARE {
            let median = tls.handshake_ns.quantile(0.5).map(ms);
            let statement = format!(
                "{} to {server} spent {:.0} % of their life setting up (TCP and TLS \
                 handshakes; TLS's median {:.1} ms): short connections pay a handshake each, \
                 keep-alive would pay it once",
                conns(tls.handshakes.count),
                share * 100.0,
                median.unwrap_or_default(),
            );
            out.push(Finding {
                share: Some((share * 1000.0).round() / 1000.0),
                handshake_ms: median,
                ..Finding::new(FindingKind::TlsHandshakeShare, server, &tls.handshakes)
                    .says(statement)
            });
        }
    }
}
