//! TLS totals over a capture, folded from the tls events like every summary: the live view and
//! a later read agree by construction.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analyze::event::{Event, EventKind, Side};
use crate::analyze::tls_event::TlsEvent;

/// Handshake durations are kept in buckets of this many ns (0.1 ms).
const BUCKET_NS: u64 = 100_000;

/// Handshake time (client hello to the client's first application data), ms: p50, p90 and
/// the longest, to 0.1 ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HandshakeMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Longest.
    pub max: f64,
}

/// Alerts per sender, by description.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Alerts {
    /// Sent by the client.
    pub client: BTreeMap<&'static str, u64>,
    /// Sent by the server.
    pub server: BTreeMap<&'static str, u64>,
}

/// TLS totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TlsSummary {
    /// Connections that spoke TLS (a ClientHello seen).
    pub connections: u64,
    /// Handshakes with a certificate and a full key exchange.
    pub full_handshakes: u64,
    /// Resumed sessions (TLS 1.2 session id or ticket, TLS 1.3 pre-shared key).
    pub resumed: u64,
    /// Connections by the version chosen (`"1.0"` to `"1.3"`, `"ssl3"`).
    pub versions: BTreeMap<&'static str, u64>,
    /// Connections by the application protocol ALPN chose (`"h2"`, `"http/1.1"`, `"none"`;
    /// `"hidden"`: TLS 1.3 without keys, which says it encrypted).
    pub alpn: BTreeMap<String, u64>,
    /// Handshake time over the connections whose client sent application data.
    pub handshake_ms: HandshakeMs,
    /// Connections whose keys were found: their HTTP is read as in clear.
    pub decrypted: u64,
    /// TLS connections without keys: records counted, not read.
    pub undecrypted: u64,
    /// Connections with a record that did not decrypt with the keys found (wrong keys, a
    /// damaged record): read up to there, no further.
    pub decrypt_failed: u64,
    /// Session tickets the servers issued (TLS 1.2; TLS 1.3 only when decrypted).
    pub session_tickets: u64,
    /// Alerts, per sender (`encrypted` when TLS 1.2 hid the description and no key was given).
    pub alerts: Alerts,
    /// KeyUpdates (TLS 1.3, decrypted).
    pub key_updates: u64,
    /// Records that break TLS (or connlab's bounds).
    pub protocol_errors: u64,
    /// Directions whose record framing was lost to a gap in the capture.
    pub lost_sync: u64,
    /// Handshake durations by bucket of 0.1 ms (bounded by the distinct durations).
    #[serde(skip)]
    handshakes: BTreeMap<u64, u64>,
}

impl TlsSummary {
    /// Folds one tls event.
    pub fn apply(&mut self, event: &Event) {
        let EventKind::Tls(tls) = &event.kind else {
            return;
        };
        match tls {
            TlsEvent::ClientHello { .. } => self.connections += 1,
            TlsEvent::ServerHello {
                version,
                alpn,
                resumed,
                ..
            } => {
                if *resumed {
                    self.resumed += 1;
                } else {
                    self.full_handshakes += 1;
                }
                *self.versions.entry(version).or_default() += 1;
                let alpn = match (alpn.is_empty(), *version) {
                    (true, "1.3") => "hidden",
                    (true, _) => "none",
                    (false, _) => alpn,
                };
                *self.alpn.entry(alpn.to_owned()).or_default() += 1;
            }
            TlsEvent::Protocol { alpn } => {
                // Known now: no longer hidden.
                if let Some(n) = self.alpn.get_mut("hidden") {
                    *n -= 1;
                    if *n == 0 {
                        self.alpn.remove("hidden");
                    }
                }
                let alpn = if alpn.is_empty() { "none" } else { alpn };
                *self.alpn.entry(alpn.to_owned()).or_default() += 1;
            }
            TlsEvent::HandshakeDone { handshake_ns } => {
                *self.handshakes.entry(handshake_ns / BUCKET_NS).or_default() += 1;
            }
            TlsEvent::SessionTicket => self.session_tickets += 1,
            TlsEvent::Alert { by, description } => {
                let table = match by {
                    Side::Client => &mut self.alerts.client,
                    Side::Server => &mut self.alerts.server,
                };
                *table.entry(description).or_default() += 1;
            }
            TlsEvent::Decrypting => self.decrypted += 1,
            TlsEvent::NoKeys => {}
            TlsEvent::DecryptFailed { .. } => self.decrypt_failed += 1,
            TlsEvent::KeyUpdate { .. } => self.key_updates += 1,
            TlsEvent::ProtocolError { .. } => self.protocol_errors += 1,
            TlsEvent::LostSync { .. } => self.lost_sync += 1,
        }
    }

    /// Works out what is not a running total (when the summary is asked for).
    pub(crate) fn settle(&mut self) {
        self.undecrypted = self.connections.saturating_sub(self.decrypted);
        let total: u64 = self.handshakes.values().sum();
        let at = |q: f64| {
            let rank = ((total as f64 * q).ceil() as u64).max(1);
            let mut seen = 0;
            self.handshakes
                .iter()
                .find(|(_, n)| {
                    seen += **n;
                    seen >= rank
                })
                .map_or(0.0, |(bucket, _)| ms(*bucket))
        };
        self.handshake_ms = HandshakeMs {
            p50: at(0.5),
            p90: at(0.9),
            max: self.handshakes.keys().next_back().map_or(0.0, |b| ms(*b)),
        };
    }
}

fn ms(bucket: u64) -> f64 {
    (bucket * BUCKET_NS) as f64 / 1e6
}
