//! Diagnosis: from the lifecycle events of a whole capture, what went wrong, why, and which
//! knob changes it; plus the breakdown per server endpoint and the distributions behind it.
//!
//! Streaming like the analyser: [`Diagnosis::apply`] takes each event once, keeps state only
//! for open connections (folded into per-endpoint counters and fixed-precision sketches when
//! they close), and [`Diagnosis::report`] can be asked at any moment, so a live run, a replay
//! and `connlab inspect` give the same findings.

mod defaults;
mod evidence;
mod finding;
mod findings;
mod http2;
mod kind;
mod knobs;
mod legs;
mod sketch;
mod stacks;
mod tls;
mod track;
mod websocket;

use crate::FastMap;
use std::net::SocketAddr;

use serde::Serialize;

use crate::analyze::{BySide, Event, EventKind, Exchange, RstBy, Side};
pub use evidence::Evidence;
pub(crate) use evidence::Examples;
pub use finding::{Finding, MIN_CONNECTIONS};
pub use findings::MIN_SYN_RETRANSMITS;
pub use kind::FindingKind;
pub use knobs::{rows as knob_table, KnobRow};
use legs::{Around, Legs};
pub use sketch::{Bin, Sketch};
pub use stacks::StackReport;
use track::{ConnTrack, EndpointTrack};

/// The streaming diagnosis of one capture.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    open: FastMap<u64, ConnTrack>,
    /// Endpoints in order of first sight; a connection keeps its endpoint's index, so an event
    /// costs one lookup by connection id, not a hash of the server's address.
    endpoints: Vec<(SocketAddr, EndpointTrack)>,
    endpoint_index: FastMap<SocketAddr, usize>,
    /// Addresses that are servers and clients both: a proxy's two legs.
    legs: Legs,
    /// The highest connection id seen: a lower id that is not open was closed already.
    last_conn: u64,
    last_frame: u64,
    requests_per_conn: Sketch,
    lifetime: Sketch,
    idle_before_reuse: Sketch,
    idle_before_close: [Sketch; 2],
    ws_messages_per_conn: Sketch,
    ws_idle_between_frames: Sketch,
    h2_streams_per_conn: Sketch,
    /// Frames the capturing machine lost, and when the latest loss was.
    gaps: CaptureGaps,
    last_gap_ns: Option<u64>,
    /// Per endpoint (same index), what connections did after a capture gap touched them:
    /// kept apart, so nothing lost by the capturing machine is diagnosed as the network's.
    damaged: Vec<Option<Box<EndpointTrack>>>,
    /// The first connections with a hole in the capture.
    holes: Vec<CaptureHole>,
}

/// How long before a connection's first frame a capture gap may have eaten its start (a SYN
/// lost there is sent again a second later, and the connection's first frame is then that
/// copy).
const GAP_REACH_NS: u64 = 1_000_000_000;

/// Frames the capture misses because the capturing machine lost them (connlab's wire fell
/// behind: its ring or recorder full, or the kernel's input queues), and the connections they
/// may have belonged to: findings drawn from those are withheld, never reported as the
/// network's behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CaptureGaps {
    /// Places in the capture where frames are missing.
    pub gaps: u64,
    /// Frames missing.
    pub frames_lost: u64,
    /// Connections open (or just begun) when frames went missing.
    pub damaged_connections: u64,
    /// Holes in connections' sequence spaces: segments the capture missed (a tcpdump that
    /// dropped frames, a capture started late), found from what the peer acknowledged.
    pub holes: u64,
    /// Connections with a hole: what they did after a hole in their bytes is not diagnosed.
    pub holed_connections: u64,
}

/// One connection's first hole, as the summary names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CaptureHole {
    /// The connection (as numbered in the events).
    pub connection: u64,
    /// The side whose segments the capture missed.
    pub side: Side,
    /// Stream bytes missed (0: a segment without data, the SYN-ACK).
    pub bytes: u64,
    /// The frame where it showed.
    pub frame: u64,
}

/// Connections whose first hole is listed by name.
const HOLES_LISTED: usize = 10;

impl Diagnosis {
    /// An empty diagnosis.
    pub fn new() -> Self {
        Self::default()
    }

    fn endpoint(&mut self, server: SocketAddr) -> usize {
        *self.endpoint_index.entry(server).or_insert_with(|| {
            self.endpoints.push((server, EndpointTrack::default()));
            self.legs.serves(server, self.endpoints.len() - 1);
            self.endpoints.len() - 1
        })
    }

    /// Notes `frames` frames the capturing machine lost just before `t_ns` (in capture order
    /// with the events): every connection open then, or begun shortly after, is damaged.
    pub fn capture_gap(&mut self, t_ns: u64, frames: u64) {
        if frames == 0 {
            return;
        }
        self.gaps.gaps += 1;
        self.gaps.frames_lost += frames;
        self.last_gap_ns = Some(t_ns);
    }

    /// Takes one event (in capture order).
    pub fn apply(&mut self, e: &Event) {
        self.last_frame = self.last_frame.max(e.frame);
        if e.conn > self.last_conn {
            self.last_conn = e.conn;
            let i = self.endpoint(e.server);
            self.endpoints[i].1.count_connection();
            let mut conn = ConnTrack::new(i, e.client.ip(), e.t_ns);
            conn.from_server = self.legs.is_server(e.client.ip());
            self.open.insert(e.conn, conn);
        }
        let Some(conn) = self.open.get_mut(&e.conn) else {
            // A late segment of a closed connection: it still counts on its endpoint.
            if let EventKind::Rst { by, .. } = e.kind {
                let i = self.endpoint(e.server);
                self.endpoints[i].1.rst_by.add(by);
            }
            return;
        };
        if let Some(Exchange::Request {
            reused: true,
            idle_ns: Some(idle),
            ..
        }) = e.kind.exchange()
        {
            self.idle_before_reuse.add(idle);
        }
        match &e.kind {
            EventKind::Fin {
                by,
                idle_ns: Some(idle),
            } if !conn.has_fin() => self.idle_before_close[side_index(*by)].add(*idle),
            EventKind::Closed { lifetime_ns, .. } => self.lifetime.add(*lifetime_ns),
            EventKind::WsMessage { .. }
            | EventKind::WsPing { .. }
            | EventKind::WsPong { .. }
            | EventKind::WsClose { .. } => {
                if let Some(ws) = conn.ws() {
                    self.ws_idle_between_frames
                        .add(e.t_ns.saturating_sub(ws.last_frame_ns()));
                }
            }
            _ => {}
        }
        let gap_touches = self
            .last_gap_ns
            .is_some_and(|g| g.saturating_add(GAP_REACH_NS) >= conn.first_ns());
        // A hole in the bytes may have held requests, responses, closes: what follows is
        // set apart. A missed SYN-ACK only loses the handshake's time (not taken as the RTT).
        let mut hole_damages = false;
        if let EventKind::CaptureHole { side, bytes } = e.kind {
            hole_damages = bytes > 0;
            self.gaps.holes += 1;
            if !conn.holed() {
                conn.mark_holed();
                self.gaps.holed_connections += 1;
                if self.holes.len() < HOLES_LISTED {
                    self.holes.push(CaptureHole {
                        connection: e.conn,
                        side,
                        bytes,
                        frame: e.frame,
                    });
                }
            }
        }
        if (gap_touches || hole_damages) && !conn.damaged() {
            conn.mark_damaged();
            self.gaps.damaged_connections += 1;
            damaged_track(&mut self.damaged, conn.endpoint()).count_connection();
        }
        let i = conn.endpoint();
        // A proxy's other leg matters where a connection begins to close.
        let around = match e.kind {
            EventKind::Fin { .. } if !conn.has_fin() && !conn.damaged() && self.legs.any() => {
                let endpoints = &self.endpoints;
                let words = endpoints[i].1.words;
                self.legs.around(conn.client(), e.server.ip(), |j| {
                    let ep = &endpoints[j].1;
                    (ep.words == words).then(|| ep.open_used())
                })
            }
            _ => Around::default(),
        };
        let counted = conn.counted_open();
        let ep = match conn.damaged() {
            true => damaged_track(&mut self.damaged, i),
            false => &mut self.endpoints[i].1,
        };
        conn.apply(e, ep, around);
        if conn.from_server && conn.counted_open() != counted {
            self.legs.dialing(conn.client(), !counted);
        }
        if let EventKind::Closed { .. } = e.kind {
            if let Some(mut conn) = self.open.remove(&e.conn) {
                let ep = match conn.damaged() {
                    true => damaged_track(&mut self.damaged, i),
                    false => &mut self.endpoints[i].1,
                };
                if conn.from_server && conn.counted_open() {
                    self.legs.dialing(conn.client(), false);
                }
                conn.finish(e.conn, e.frame, false, ep);
                self.requests_per_conn.add(u64::from(conn.requests()));
                if let Some(ws) = conn.ws() {
                    self.ws_messages_per_conn.add(ws.messages());
                }
                if let Some(h2) = conn.h2() {
                    self.h2_streams_per_conn.add(h2.streams());
                }
            }
        }
    }

    /// What the capture shows so far: findings (most connections first), endpoints (most
    /// connections first) and distributions. Connections still open count as they stand.
    pub fn report(&self) -> DiagnosisReport {
        let mut endpoints: Vec<EndpointTrack> =
            self.endpoints.iter().map(|(_, ep)| ep.clone()).collect();
        let mut damaged: Vec<Option<EndpointTrack>> = (0..endpoints.len())
            .map(|i| self.damaged.get(i).and_then(|d| d.as_deref().cloned()))
            .collect();
        let mut requests_per_conn = self.requests_per_conn.clone();
        let mut ws_messages_per_conn = self.ws_messages_per_conn.clone();
        let mut h2_streams_per_conn = self.h2_streams_per_conn.clone();
        // Oldest first, so the examples of connections still open are the first ones too.
        let mut open: Vec<(&u64, &ConnTrack)> = self.open.iter().collect();
        open.sort_unstable_by_key(|(id, _)| **id);
        for (id, conn) in open {
            let mut conn = conn.clone();
            let i = conn.endpoint();
            let ep = match conn.damaged() {
                true => damaged[i].get_or_insert_with(Default::default),
                false => &mut endpoints[i],
            };
            conn.finish(*id, self.last_frame, true, ep);
            requests_per_conn.add(u64::from(conn.requests()));
            if let Some(ws) = conn.ws() {
                ws_messages_per_conn.add(ws.messages());
            }
            if let Some(h2) = conn.h2() {
                h2_streams_per_conn.add(h2.streams());
            }
        }
        let mut findings = Vec::new();
        let mut observations = Vec::new();
        let mut withheld = Vec::new();
        let mut rows = Vec::new();
        for (((server, _), ep), damaged) in self.endpoints.iter().zip(&endpoints).zip(&damaged) {
            let ep = ep.settled();
            let found = findings::findings(*server, &ep);
            observations.extend(findings::observations(*server, &ep));
            let mut kinds: Vec<FindingKind> = found.iter().map(|f| f.kind).collect();
            kinds.dedup();
            let mut row = EndpointReport {
                server: *server,
                connections: ep.connections,
                requests: ep.requests,
                reused: ep.reused,
                fin_first_by: ep.fin_first_by,
                rst_by: ep.rst_by,
                time_wait: ep.time_wait,
                websocket_connections: ep.ws.connections,
                websocket_messages: ep.ws.messages,
                http2_connections: ep.h2.connections,
                http2_streams: ep.h2.streams,
                findings: kinds,
                client_stack: ep.stacks.report(Side::Client),
                server_stack: ep.stacks.report(Side::Server),
            };
            if let Some(d) = damaged {
                // What damaged connections did still happened on the wire and counts; what
                // it would mean is withheld.
                let d = d.settled();
                row.add_counts(&d);
                withheld.extend(findings::findings(*server, &d).into_iter().map(|mut f| {
                    f.caused_by_wire_drops = true;
                    f
                }));
            }
            rows.push(row);
            findings.extend(found);
        }
        for list in [&mut findings, &mut withheld] {
            list.sort_by(|a, b| {
                (b.connections, a.kind, a.server).cmp(&(a.connections, b.kind, b.server))
            });
        }
        rows.sort_by(|a, b| (b.connections, a.server).cmp(&(a.connections, b.server)));
        DiagnosisReport {
            findings,
            capture_gaps: self.gaps,
            capture_holes: self.holes.clone(),
            withheld_findings: withheld,
            observations,
            endpoints: rows,
            distributions: Distributions {
                requests_per_connection: Quantiles::counts(&requests_per_conn),
                lifetime_ms: Quantiles::times(&self.lifetime),
                idle_before_reuse_ms: Quantiles::times(&self.idle_before_reuse),
                idle_before_close_ms: IdleBeforeClose {
                    client: Quantiles::times(&self.idle_before_close[0]),
                    server: Quantiles::times(&self.idle_before_close[1]),
                },
                websocket_messages_per_connection: Quantiles::counts(&ws_messages_per_conn),
                websocket_idle_between_frames_ms: Quantiles::times(&self.ws_idle_between_frames),
                http2_streams_per_connection: Quantiles::counts(&h2_streams_per_conn),
            },
            sketches: DistributionSketches {
                requests_per_connection: requests_per_conn,
                lifetime_ns: self.lifetime.clone(),
                idle_before_reuse_ns: self.idle_before_reuse.clone(),
                idle_before_close_ns: self.idle_before_close.clone(),
            },
        }
    }

    /// Connections being followed (open ones): what the diagnosis holds in memory.
    pub fn open_connections(&self) -> usize {
        self.open.len()
    }
}

/// The track of endpoint `i`'s damaged connections, made on first use.
fn damaged_track(damaged: &mut Vec<Option<Box<EndpointTrack>>>, i: usize) -> &mut EndpointTrack {
    if damaged.len() <= i {
        damaged.resize_with(i + 1, || None);
    }
    damaged[i].get_or_insert_with(Default::default)
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// The diagnosis of a capture, as printed and as in the JSON summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiagnosisReport {
    /// What went wrong, most connections first.
    pub findings: Vec<Finding>,
    /// Frames the capturing machine lost, and the connections they may have belonged to.
    pub capture_gaps: CaptureGaps,
    /// The first connections with a hole in the capture, each with its first hole.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capture_holes: Vec<CaptureHole>,
    /// What those damaged connections would have been diagnosed with: withheld, because
    /// lost frames make retransmissions, resets and silences that the network never caused
    /// (each marked `caused_by_wire_drops`).
    pub withheld_findings: Vec<Finding>,
    /// What fewer connections than a finding needs showed clearly (one idle close measured
    /// exactly): low confidence, each with its count of connections.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<Finding>,
    /// Per server endpoint (ip:port), most connections first.
    pub endpoints: Vec<EndpointReport>,
    /// Distributions over the whole capture.
    pub distributions: Distributions,
    /// The same distributions as histograms, for charts.
    #[serde(skip)]
    pub sketches: DistributionSketches,
}

/// The distributions' full histograms (times in ns).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DistributionSketches {
    /// Requests each connection carried.
    pub requests_per_connection: Sketch,
    /// Connection lifetimes.
    pub lifetime_ns: Sketch,
    /// Idle time before a reuse.
    pub idle_before_reuse_ns: Sketch,
    /// Idle time before the first FIN, by the client and by the server.
    pub idle_before_close_ns: [Sketch; 2],
}

/// One server endpoint's share of the capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointReport {
    /// The server's address and port.
    pub server: SocketAddr,
    /// Connections to it.
    pub connections: u64,
    /// HTTP requests.
    pub requests: u64,
    /// Requests on a connection that had served one before.
    pub reused: u64,
    /// Which side sent each connection's first FIN.
    pub fin_first_by: BySide,
    /// RST segments by sender.
    pub rst_by: RstBy,
    /// TIME_WAIT holders.
    pub time_wait: BySide,
    /// Its connections that became WebSockets.
    pub websocket_connections: u64,
    /// WebSocket data messages on its connections.
    pub websocket_messages: u64,
    /// Its connections that spoke HTTP/2.
    pub http2_connections: u64,
    /// HTTP/2 streams on its connections.
    pub http2_streams: u64,
    /// The kinds of the findings seen on it.
    pub findings: Vec<FindingKind>,
    /// The client stack its traffic named, if it named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_stack: Option<StackReport>,
    /// The server stack its traffic named, if it named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_stack: Option<StackReport>,
}

impl EndpointReport {
    /// Adds the plain counts of `other` (the endpoint's damaged connections) to this row.
    fn add_counts(&mut self, other: &EndpointTrack) {
        self.requests += other.requests;
        self.reused += other.reused;
        self.fin_first_by.client += other.fin_first_by.client;
        self.fin_first_by.server += other.fin_first_by.server;
        self.rst_by.client += other.rst_by.client;
        self.rst_by.server += other.rst_by.server;
        self.rst_by.middlebox += other.rst_by.middlebox;
        self.time_wait.client += other.time_wait.client;
        self.time_wait.server += other.time_wait.server;
        self.websocket_connections += other.ws.connections;
        self.websocket_messages += other.ws.messages;
        self.http2_connections += other.h2.connections;
        self.http2_streams += other.h2.streams;
    }

    /// WebSocket messages per WebSocket, when it had any.
    pub fn messages_per_websocket(&self) -> Option<f64> {
        per(self.websocket_messages, self.websocket_connections)
    }

    /// HTTP/2 streams per HTTP/2 connection, when it had any.
    pub fn streams_per_http2_connection(&self) -> Option<f64> {
        per(self.http2_streams, self.http2_connections)
    }
}

/// `n` per `of`, when there is any `of`.
fn per(n: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

/// p50, p90, p99 and max of one quantity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Quantiles {
    /// Values measured.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Quantiles {
    fn of(s: &Sketch, scale: f64) -> Quantiles {
        let q = |p: f64| s.quantile(p).map(|v| v as f64 / scale).unwrap_or(0.0);
        Quantiles {
            count: s.count(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: q(1.0),
        }
    }

    fn counts(s: &Sketch) -> Quantiles {
        Quantiles::of(s, 1.0)
    }

    /// ns values as ms, rounded to µs.
    fn times(s: &Sketch) -> Quantiles {
        let ms = Quantiles::of(s, 1e6);
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        Quantiles {
            p50: r(ms.p50),
            p90: r(ms.p90),
            p99: r(ms.p99),
            max: r(ms.max),
            ..ms
        }
    }
}

/// Idle time before the first FIN, by the side that sent it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct IdleBeforeClose {
    /// Closes the client started.
    pub client: Quantiles,
    /// Closes the server started.
    pub server: Quantiles,
}

/// The distributions behind the findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Distributions {
    /// Requests each connection carried.
    pub requests_per_connection: Quantiles,
    /// From the first segment to the close, ms.
    pub lifetime_ms: Quantiles,
    /// Idle time before a connection was reused, ms.
    pub idle_before_reuse_ms: Quantiles,
    /// Idle time before a connection's first FIN, ms, per closing side.
    pub idle_before_close_ms: IdleBeforeClose,
    /// WebSocket data messages each WebSocket connection carried.
    pub websocket_messages_per_connection: Quantiles,
    /// Time between consecutive WebSocket frames (data and control) of a connection, ms.
    pub websocket_idle_between_frames_ms: Quantiles,
    /// Streams each HTTP/2 connection carried.
    pub http2_streams_per_connection: Quantiles,
}

#[cfg(test)]
mod tests;
