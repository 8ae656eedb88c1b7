//! HTTP/2 totals over a capture, folded from the http2 events (and the `Closed` event of each
//! HTTP/2 connection), like every summary: the live view and a later read agree by
//! construction.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analyze::event::{Event, EventKind, Side};
use crate::analyze::h2_event::Http2Event;
use crate::analyze::vocabulary::BySide;
use crate::FastMap;

/// Streams per connection: p50, p90 and the largest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StreamsPerConnection {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// Largest.
    pub max: u64,
}

/// HTTP/2 totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Http2Summary {
    /// Connections that spoke HTTP/2 (a client preface seen).
    pub connections: u64,
    /// Streams the clients opened (requests, gRPC calls).
    pub streams: u64,
    /// Over the HTTP/2 connections, closed or still open at the end.
    pub streams_per_connection: StreamsPerConnection,
    /// The most streams open at once on one connection.
    pub max_concurrent_streams_seen: u64,
    /// PINGs (not acknowledgements), per sender.
    pub pings: BySide,
    /// PING acknowledgements, per sender.
    pub ping_acks: BySide,
    /// GOAWAY frames per sender, by error code (`NO_ERROR`, `ENHANCE_YOUR_CALM`, ...).
    pub goaways: GoAways,
    /// RST_STREAM frames by error code (`CANCEL`, `REFUSED_STREAM`, ...).
    pub rst_streams: BTreeMap<String, u64>,
    /// Streams by the gRPC status of their trailers (`"0"` OK, `"14"` UNAVAILABLE, ...).
    pub grpc_status: BTreeMap<String, u64>,
    /// Times a side used up the flow-control window its peer gave it.
    pub window_stalls: u64,
    /// Frames that break RFC 9113 (or connlab's bounds).
    pub protocol_errors: u64,
    /// Directions whose framing was lost to a gap in the capture.
    pub lost_sync: u64,
    /// Directions whose HPACK table was lost (a header block missed).
    pub hpack_lost: u64,
    /// Per open HTTP/2 connection, its streams so far (bounded by the open connections).
    #[serde(skip)]
    open: FastMap<u64, u64>,
    /// Connections by their stream count, once closed.
    #[serde(skip)]
    closed: BTreeMap<u64, u64>,
}

/// GOAWAY frames per sender, by error code.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GoAways {
    /// Sent by the client.
    pub client: BTreeMap<String, u64>,
    /// Sent by the server.
    pub server: BTreeMap<String, u64>,
}

impl Http2Summary {
    /// Folds one event (http2 events, and `Closed` for the connection's stream count).
    pub fn apply(&mut self, event: &Event) {
        let h2 = match &event.kind {
            EventKind::Http2(h2) => h2,
            EventKind::Closed { .. } => {
                if let Some(streams) = self.open.remove(&event.conn) {
                    *self.closed.entry(streams).or_default() += 1;
                }
                return;
            }
            _ => return,
        };
        match h2 {
            Http2Event::Preface { .. } => {
                self.connections += 1;
                self.open.insert(event.conn, 0);
            }
            Http2Event::StreamOpen { concurrent, .. } => {
                self.streams += 1;
                *self.open.entry(event.conn).or_default() += 1;
                self.max_concurrent_streams_seen =
                    self.max_concurrent_streams_seen.max(u64::from(*concurrent));
            }
            Http2Event::StreamEnd { grpc_status, .. } => {
                if let Some(s) = grpc_status {
                    *self.grpc_status.entry(s.to_string()).or_default() += 1;
                }
            }
            Http2Event::Reset { code, .. } => {
                *self
                    .rst_streams
                    .entry(code.name().into_owned())
                    .or_default() += 1;
            }
            Http2Event::Ping { by } => self.pings.add(*by),
            Http2Event::PingAck { by, .. } => self.ping_acks.add(*by),
            Http2Event::GoAway { by, code, .. } => {
                let table = match by {
                    Side::Client => &mut self.goaways.client,
                    Side::Server => &mut self.goaways.server,
                };
                *table.entry(code.name().into_owned()).or_default() += 1;
            }
            Http2Event::WindowStall { .. } => self.window_stalls += 1,
            Http2Event::ProtocolError { .. } => self.protocol_errors += 1,
            Http2Event::LostSync { .. } => self.lost_sync += 1,
            Http2Event::HpackLost { .. } => self.hpack_lost += 1,
            Http2Event::Settings { .. } | Http2Event::Response { .. } => {}
        }
    }

    /// Works out streams per connection over closed and open connections alike (when the
    /// summary is asked for, not per event).
    pub(crate) fn settle(&mut self) {
        let mut counts = self.closed.clone();
        for n in self.open.values() {
            *counts.entry(*n).or_default() += 1;
        }
        let total: u64 = counts.values().sum();
        let at = |q: f64| {
            let rank = ((total as f64 * q).ceil() as u64).max(1);
            let mut seen = 0;
            counts
                .iter()
                .find(|(_, n)| {
                    seen += **n;
                    seen >= rank
                })
                .map_or(0, |(streams, _)| *streams)
        };
        self.streams_per_connection = StreamsPerConnection {
            p50: at(0.5),
            p90: at(0.9),
            max: counts.keys().next_back().copied().unwrap_or(0),
        };
    }
}
