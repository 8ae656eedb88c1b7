//! Totals over a capture, folded from the event stream.
//!
//! Why from events: the live view (folding events as they are produced) and a
//! report built later from the JSON-lines file then agree by construction.

use std::collections::BTreeMap;

use crate::{FastMap, FastSet};

use serde::Serialize;

use super::defrag::FragmentSummary;
use super::event::{Event, EventKind, RstSender, Side, TimeWaitHolder};
use super::proto::bursts::BurstEvent;
use super::proto::http2::summary::Http2Summary;
use super::proto::mysql::summary::MySummary;
use super::proto::postgres::summary::PgSummary;
use super::proto::postgres::PgEvent;
use super::proto::redis::summary::RedisSummary;
use super::proto::redis::RedisEvent;
use super::proto::tls::summary::TlsSummary;
use super::vocabulary::BySide;

/// RST segments by sender: the ends, and a middlebox (frames the capture marks as forged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RstBy {
    /// Sent by the client.
    pub client: u64,
    /// Sent by the server.
    pub server: u64,
    /// Forged by a middlebox in the name of one end.
    pub middlebox: u64,
}

impl RstBy {
    /// The ends' own resets.
    pub fn ends(&self) -> BySide {
        BySide {
            client: self.client,
            server: self.server,
        }
    }

    /// Counts one for `sender`.
    pub fn add(&mut self, sender: RstSender) {
        match sender {
            RstSender::Client => self.client += 1,
            RstSender::Server => self.server += 1,
            RstSender::Middlebox => self.middlebox += 1,
        }
    }
}

/// WebSocket totals over a capture.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WebSocketSummary {
    /// Connections upgraded to WebSocket (a 101 seen).
    pub connections: u64,
    /// Data messages (a fragmented message counts once), per sender.
    pub messages: BySide,
    /// Data message payload bytes, per sender.
    pub bytes: BySide,
    /// Ping frames, per sender.
    pub pings: BySide,
    /// Pong frames, per sender.
    pub pongs: BySide,
    /// Pings that no pong answered (by the end of the connection or the capture).
    pub unanswered_pings: u64,
    /// Close frames, per sender.
    pub close_frames: BySide,
    /// Close frames by status code (`"none"`: a close frame without one).
    pub close_codes: BTreeMap<String, u64>,
    /// WebSocket connections whose TCP connection ended without a close frame from one side
    /// or both: the application saw an abnormal closure (1006).
    pub closed_without_close_frame: u64,
    /// Frames that break RFC 6455.
    pub protocol_errors: u64,
    /// Upgrade requests answered with a final status other than 101.
    pub upgrades_refused: u64,
    /// Message payload bytes the capture did not hold (snap length, missed segments).
    pub cut_bytes: u64,
    /// Directions whose framing was lost to a gap in the capture.
    pub lost_sync: u64,
    /// Per open WebSocket connection: the sides that sent a close frame (bit 0 client, 1
    /// server). Bounded by the open WebSocket connections.
    #[serde(skip)]
    open_closes: FastMap<u64, u8>,
    /// Pongs that answered a ping.
    #[serde(skip)]
    answered: u64,
}

impl WebSocketSummary {
    fn apply(&mut self, event: &Event) {
        let side_bit = |s: Side| if s == Side::Client { 1u8 } else { 2 };
        match &event.kind {
            EventKind::WsOpen { .. } => {
                self.connections += 1;
                self.open_closes.insert(event.conn, 0);
            }
            EventKind::WsUpgradeRefused { .. } => self.upgrades_refused += 1,
            EventKind::WsMessage { by, bytes, cut, .. } => {
                self.messages.add(*by);
                *self.bytes.get_mut(*by) += bytes;
                self.cut_bytes += cut;
            }
            EventKind::WsPing { by, .. } => self.pings.add(*by),
            EventKind::WsPong { by, answers, .. } => {
                self.pongs.add(*by);
                self.answered += u64::from(*answers);
            }
            EventKind::WsClose { by, code, .. } => {
                self.close_frames.add(*by);
                let code = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
                *self.close_codes.entry(code).or_default() += 1;
                if let Some(sent) = self.open_closes.get_mut(&event.conn) {
                    *sent |= side_bit(*by);
                }
            }
            EventKind::WsProtocolError { .. } => self.protocol_errors += 1,
            EventKind::WsLostSync { .. } => self.lost_sync += 1,
            EventKind::Closed { .. } => {
                if let Some(sent) = self.open_closes.remove(&event.conn) {
                    self.closed_without_close_frame += u64::from(sent != 3);
                }
            }
            _ => return,
        }
        self.unanswered_pings = self.pings.total().saturating_sub(self.answered);
    }
}

/// Capture-wide totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Connections seen (the highest connection id).
    pub connections: u64,
    /// HTTP requests.
    pub requests: u64,
    /// Requests of any protocol (HTTP requests, Redis commands, PostgreSQL turns, MySQL
    /// commands, plain TCP's client bursts):
    /// what the diagnosis reasons over. Said in each protocol's section, not on its own.
    #[serde(skip)]
    pub exchanges: u64,
    /// Requests on a connection that had served an earlier request.
    pub reused: u64,
    /// HTTP responses.
    pub responses: u64,
    /// Which side sent the first FIN of each connection.
    pub fin_first_by: BySide,
    /// Resets per sender.
    pub rst_by: RstBy,
    /// TIME_WAIT holders; a simultaneous close counts on each side.
    pub time_wait: BySide,
    /// TCP keepalive probes.
    pub keepalive_probes: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Frames handed to the analyser.
    pub frames: u64,
    /// Frames that decoded to a TCP segment.
    pub tcp_segments: u64,
    /// Frames whose headers were truncated or malformed.
    pub undecodable: u64,
    /// TCP segments the capture kept only the first bytes of (a snap length): HTTP lines in
    /// the bytes it left out are not seen.
    pub cut_segments: u64,
    /// Connections not closed (yet, or at the end of the capture).
    pub open: u64,
    /// Connections the capture joined after their SYN (left out when none did).
    #[serde(skip_serializing_if = "is_zero")]
    pub begun_before_capture: u64,
    /// What the WebSocket connections carried (all zero without WebSocket).
    pub websocket: WebSocketSummary,
    /// What the HTTP/2 connections carried (all zero without HTTP/2).
    pub http2: Http2Summary,
    /// What the TLS connections said (all zero without TLS).
    pub tls: TlsSummary,
    /// Redis totals (left out when the capture holds no Redis).
    #[serde(skip_serializing_if = "RedisSummary::is_empty")]
    pub redis: RedisSummary,
    /// PostgreSQL totals (left out when the capture holds no PostgreSQL).
    #[serde(skip_serializing_if = "PgSummary::is_empty")]
    pub postgres: PgSummary,
    /// MySQL and MariaDB totals (left out when the capture holds neither).
    #[serde(skip_serializing_if = "MySummary::is_empty")]
    pub mysql: MySummary,
    /// Fragmented IP datagrams: put together, or dropped (left out without fragments);
    /// counted by whoever holds the fragments, a [`crate::analyze::Defragmenter`].
    #[serde(skip_serializing_if = "FragmentSummary::is_empty")]
    pub ip_fragments: FragmentSummary,
    /// Connections with exactly one FIN so far: tells a first FIN from a
    /// second one. Bounded by the half-closed live connections.
    #[serde(skip)]
    one_fin: FastSet<u64>,
}

/// For fields left out of the JSON while zero: a capture without the edge says nothing of it.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Summary {
    /// The sections the protocols in folders write for the text summary, in the registry's
    /// order: renderers ask for them instead of knowing each protocol.
    pub fn protocol_text(&self) -> Vec<String> {
        [self.redis.text(), self.postgres.text(), self.mysql.text()]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Folds one event into the totals. Frame counters (`frames`,
    /// `tcp_segments`, `undecodable`, `cut_segments`) are not events; the analyser bumps them.
    pub fn apply(&mut self, event: &Event) {
        if event.conn > self.connections {
            self.open += event.conn - self.connections;
            self.connections = event.conn;
        }
        match &event.kind {
            EventKind::Syn | EventKind::Established { .. } => {}
            EventKind::BegunBeforeCapture { .. } => self.begun_before_capture += 1,
            EventKind::Request { reused, .. } => {
                self.exchanges += 1;
                self.requests += 1;
                self.reused += u64::from(*reused);
            }
            EventKind::Response { .. } => self.responses += 1,
            EventKind::Fin { by, .. } => {
                if !self.one_fin.remove(&event.conn) {
                    self.one_fin.insert(event.conn);
                    self.fin_first_by.add(*by);
                }
            }
            EventKind::Rst { by, .. } => self.rst_by.add(*by),
            EventKind::TimeWait { holder } => match holder {
                TimeWaitHolder::Client => self.time_wait.add(Side::Client),
                TimeWaitHolder::Server => self.time_wait.add(Side::Server),
                TimeWaitHolder::Both => {
                    self.time_wait.add(Side::Client);
                    self.time_wait.add(Side::Server);
                }
            },
            EventKind::KeepaliveProbe { .. } => self.keepalive_probes += 1,
            EventKind::KeepaliveAck { .. } => {}
            EventKind::Retransmit { .. } => self.retransmits += 1,
            EventKind::Closed { .. } => {
                self.one_fin.remove(&event.conn);
                self.open = self.open.saturating_sub(1);
                self.websocket.apply(event);
                self.http2.apply(event);
                self.redis.close(event);
                self.postgres.close(event);
                self.mysql.close(event);
            }
            EventKind::Http2(_) => self.http2.apply(event),
            EventKind::Tls(_) => self.tls.apply(event),
            EventKind::Redis(redis) => {
                self.exchanges += u64::from(matches!(redis, RedisEvent::Command { .. }));
                self.redis.apply(event);
            }
            EventKind::Postgres(pg) => {
                let opens = matches!(
                    pg,
                    PgEvent::Query {
                        opens_turn: true,
                        ..
                    }
                );
                self.exchanges += u64::from(opens);
                self.postgres.apply(event);
            }
            EventKind::Mysql(my) => {
                let asks = my
                    .exchange()
                    .is_some_and(|x| matches!(x, super::event::Exchange::Request { .. }));
                self.exchanges += u64::from(asks);
                self.mysql.apply(event);
            }
            // A plain TCP connection's turns are exchanges, nothing more.
            EventKind::Burst(BurstEvent::Sent { .. }) => self.exchanges += 1,
            EventKind::Burst(BurstEvent::Answered { .. }) => {}
            EventKind::Stack { .. }
            | EventKind::KeepAliveHint { .. }
            | EventKind::CaptureHole { .. } => {}
            EventKind::WsOpen { .. }
            | EventKind::WsUpgradeRefused { .. }
            | EventKind::WsMessage { .. }
            | EventKind::WsPing { .. }
            | EventKind::WsPong { .. }
            | EventKind::WsClose { .. }
            | EventKind::WsProtocolError { .. }
            | EventKind::WsLostSync { .. } => self.websocket.apply(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testframes::fin;

    fn ev(conn: u64, kind: EventKind) -> Event {
        Event {
            t_ns: 0,
            frame: 0,
            conn,
            client: "10.0.0.1:40000".parse().expect("addr"),
            server: "10.0.0.2:80".parse().expect("addr"),
            kind,
        }
    }

    #[test]
    fn counts_first_fin_once_and_tracks_open() {
        let mut s = Summary::default();
        let events = [
            ev(1, EventKind::Syn),
            ev(2, EventKind::Syn),
            ev(1, fin(Side::Server, None)),
            ev(2, fin(Side::Client, None)),
            ev(1, fin(Side::Client, None)),
            ev(
                1,
                EventKind::TimeWait {
                    holder: TimeWaitHolder::Both,
                },
            ),
            ev(
                1,
                EventKind::Closed {
                    by_rst: false,
                    lifetime_ns: 9,
                },
            ),
        ];
        for e in &events {
            s.apply(e);
        }
        assert_eq!(s.connections, 2);
        assert_eq!(s.open, 1);
        assert_eq!(
            s.fin_first_by,
            BySide {
                client: 1,
                server: 1
            }
        );
        assert_eq!(
            s.time_wait,
            BySide {
                client: 1,
                server: 1
            }
        );
        let json = serde_json::to_value(&s).expect("json");
        assert!(json.get("one_fin").is_none());
        assert_eq!(json["fin_first_by"]["server"], 1);
    }
}
