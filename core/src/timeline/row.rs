//! One connection's row: its state over time and its marks, driven by the analyser's events.
//! This is the state logic both renderers draw (the terminal timeline and the HTML report).

use std::net::SocketAddr;

use crate::analyze::{Event, EventKind, Exchange, Http2Event, Segment, Side, TcpFlags, TlsEvent};

/// Marks and detail lines kept per connection; more are counted, not kept.
pub(crate) const PER_ROW: usize = 10_000;
/// State changes kept per connection before request/idle flicker is thinned.
const STATES_PER_ROW: usize = 20_000;

/// The state of a connection during a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// SYN sent, not yet established.
    Handshake,
    /// A request is in flight.
    Active,
    /// Established, nothing in flight.
    Idle,
    /// Upgraded to WebSocket: messages may flow either way at any time.
    WebSocket,
    /// One side sent its FIN.
    HalfClosed,
    /// Both FINs crossed; a side holds TIME_WAIT.
    TimeWait,
    /// Gone (closed or reset).
    Closed,
}

/// A point event drawn on a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// The first request on the connection.
    Request,
    /// A request that reused the connection.
    Reused,
    /// A FIN: who sent it, and whether it was the connection's first (who closed).
    Fin {
        /// The sender.
        by: Side,
        /// The first FIN of the connection.
        first: bool,
    },
    /// An RST from one of the ends.
    Rst {
        /// The end that sent it.
        by: Side,
    },
    /// An RST a middlebox forged.
    MiddleboxRst,
    /// A TCP keepalive probe.
    Probe,
    /// A retransmitted segment.
    Retransmit,
    /// A frame the link dropped.
    Dropped,
    /// A WebSocket data message.
    WsMessage,
    /// A WebSocket ping.
    WsPing,
    /// A WebSocket pong.
    WsPong,
    /// A WebSocket close frame.
    WsClose,
    /// An HTTP/2 PING or its acknowledgement.
    H2Ping,
    /// An HTTP/2 GOAWAY.
    H2GoAway,
    /// An HTTP/2 RST_STREAM (one stream ended abruptly; the connection goes on).
    H2Reset,
    /// The client's goodbye in its protocol (PostgreSQL's Terminate, MySQL's COM_QUIT): it
    /// closes, whichever FIN comes first.
    Goodbye,
}

impl MarkKind {
    /// Which mark a renderer shows when several fall into one column (or one pixel): the one
    /// that matters most for the story. A dropped frame explains what follows it, an RST ends
    /// the connection, the first FIN says who closed (the peer's FIN often follows within the
    /// same millisecond), then the second FIN, a WebSocket close frame, retransmits, probes
    /// and pings, requests and messages.
    pub fn priority(self) -> u8 {
        match self {
            MarkKind::Dropped => 8,
            MarkKind::Rst { .. } | MarkKind::MiddleboxRst => 7,
            MarkKind::Fin { first: true, .. } => 6,
            MarkKind::Fin { first: false, .. } => 5,
            MarkKind::WsClose | MarkKind::H2GoAway | MarkKind::Goodbye => 4,
            MarkKind::Retransmit | MarkKind::H2Reset => 3,
            MarkKind::Probe | MarkKind::WsPing | MarkKind::WsPong | MarkKind::H2Ping => 2,
            MarkKind::Request | MarkKind::Reused | MarkKind::WsMessage => 1,
        }
    }

    /// One bit per kind of mark (a FIN or an RST is one whoever sent it), for fast filtering.
    fn bit(self) -> u16 {
        match self {
            MarkKind::Request => 1,
            MarkKind::Reused => 1 << 1,
            MarkKind::Fin { .. } => 1 << 2,
            MarkKind::Rst { .. } => 1 << 3,
            MarkKind::Probe => 1 << 4,
            MarkKind::Retransmit => 1 << 5,
            MarkKind::Dropped => 1 << 6,
            MarkKind::MiddleboxRst => 1 << 7,
            MarkKind::WsMessage => 1 << 8,
            MarkKind::WsPing => 1 << 9,
            MarkKind::WsPong => 1 << 10,
            MarkKind::WsClose => 1 << 11,
            MarkKind::H2Ping => 1 << 12,
            MarkKind::H2GoAway => 1 << 13,
            MarkKind::H2Reset => 1 << 14,
            MarkKind::Goodbye => 1 << 15,
        }
    }
}

/// A TCP frame, as the detail view lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Sequence number (absolute).
    pub seq: u32,
    /// Payload bytes.
    pub len: u32,
    /// Its number in the capture, as Wireshark counts (1-based; 0 until the model numbers it).
    pub number: u64,
}

impl FrameInfo {
    /// The frame's TCP segment, for the timeline.
    pub fn of(seg: &Segment<'_>) -> FrameInfo {
        FrameInfo {
            src: seg.src,
            dst: seg.dst,
            flags: seg.flags,
            seq: seg.seq,
            number: 0,
            len: seg.payload.len() as u32,
        }
    }

    /// `40000 > 80 [SA] seq 123 len 0`.
    pub fn describe(&self) -> String {
        let f = self.flags;
        let flags: String = [
            (f.syn, 'S'),
            (f.fin, 'F'),
            (f.rst, 'R'),
            (f.psh, 'P'),
            (f.ack, 'A'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
        format!(
            "frame {}: {} > {} [{flags}] seq {} len {}",
            self.number,
            self.src.port(),
            self.dst.port(),
            self.seq,
            self.len
        )
    }
}

/// One connection's row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Events applied to it (its weight when only the most eventful rows are kept).
    pub events: u32,
    /// Analyser connection id.
    pub id: u64,
    /// The side that sent the SYN.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Requests seen.
    pub requests: u32,
    /// State changes: (from this time, state), in time order.
    pub states: Vec<(u64, ConnState)>,
    /// Point marks, in time order.
    pub marks: Vec<(u64, MarkKind, u64)>,
    /// Detail lines (time, text).
    pub details: Vec<(u64, String)>,
    /// The connection's frames (time, what), for the detail view.
    pub frames: Vec<(u64, FrameInfo)>,
    /// Marks and detail lines not kept (over the cap).
    pub elided: u64,
    /// Which mark kinds occurred (bits), for fast filtering.
    kinds: u16,
    /// Set once TIME_WAIT was entered.
    time_wait: bool,
    /// It speaks HTTP/2, with this many streams in flight.
    http2: Option<u32>,
}

impl Row {
    /// The state at time `t`, None before the connection was seen.
    pub fn state_at(&self, t: u64) -> Option<ConnState> {
        let i = self.states.partition_point(|(from, _)| *from <= t);
        i.checked_sub(1).map(|i| self.states[i].1)
    }

    /// True when a mark of this kind occurred on the row (any FIN for a FIN).
    pub fn has(&self, kind: MarkKind) -> bool {
        self.kinds & kind.bit() != 0
    }

    /// True when the row ever held TIME_WAIT.
    pub fn had_time_wait(&self) -> bool {
        self.time_wait
    }

    /// The latest state.
    pub fn state(&self) -> Option<ConnState> {
        self.states.last().map(|s| s.1)
    }

    fn set_state(&mut self, t: u64, state: ConnState) {
        if self.state() != Some(state) {
            if self.states.len() >= STATES_PER_ROW {
                self.thin_states();
            }
            self.states.push((t, state));
        }
    }

    /// Halves the request/idle flicker of a very busy row (every other active stretch goes),
    /// so a connection with millions of requests stays bounded; handshake and close states
    /// are always kept. Renderers sample states per column, so what goes is finer than a
    /// column long before this matters.
    fn thin_states(&mut self) {
        let mut drop_next_active = false;
        self.states.retain(|(_, s)| match s {
            ConnState::Active => {
                drop_next_active = !drop_next_active;
                !drop_next_active
            }
            _ => true,
        });
        self.states.dedup_by(|b, a| a.1 == b.1);
    }

    fn mark(&mut self, (t, frame): (u64, u64), kind: MarkKind) {
        self.kinds |= kind.bit();
        if self.marks.len() < PER_ROW {
            self.marks.push((t, kind, frame));
        } else {
            self.elided += 1;
        }
    }
}

impl Row {
    /// A row for the connection of `e`, first seen at its time.
    pub(crate) fn new(e: &Event) -> Row {
        Row {
            events: 0,
            id: e.conn,
            client: e.client,
            server: e.server,
            requests: 0,
            states: vec![(e.t_ns, ConnState::Idle)],
            marks: Vec::new(),
            details: Vec::new(),
            frames: Vec::new(),
            elided: 0,
            kinds: 0,
            time_wait: false,
            http2: None,
        }
    }

    /// True when the connection speaks HTTP/2.
    pub fn is_http2(&self) -> bool {
        self.http2.is_some()
    }

    /// HTTP/2: a stream opened or ended, `open` now in flight: a request in flight while
    /// any is, idle otherwise.
    fn h2_streams(&mut self, t: u64, open: u32) {
        self.http2 = Some(open);
        self.set_state(
            t,
            if open > 0 {
                ConnState::Active
            } else {
                ConnState::Idle
            },
        );
    }

    fn apply_h2(&mut self, (t, frame): (u64, u64), h2: &Http2Event) {
        let at = (t, frame);
        match h2 {
            Http2Event::Preface { .. } => self.http2 = Some(0),
            Http2Event::StreamOpen { concurrent, .. } => {
                // Streams are HTTP/2's reuse: the first one, then the reusing ones.
                let kind = if self.requests == 0 {
                    MarkKind::Request
                } else {
                    MarkKind::Reused
                };
                self.requests += 1;
                self.mark(at, kind);
                self.h2_streams(t, *concurrent);
            }
            Http2Event::StreamEnd { .. } | Http2Event::Reset { .. } => {
                if matches!(h2, Http2Event::Reset { .. }) {
                    self.mark(at, MarkKind::H2Reset);
                }
                let open = self.http2.unwrap_or(1).saturating_sub(1);
                self.h2_streams(t, open);
            }
            Http2Event::Ping { .. } | Http2Event::PingAck { .. } => self.mark(at, MarkKind::H2Ping),
            Http2Event::GoAway { .. } => self.mark(at, MarkKind::H2GoAway),
            _ => {}
        }
    }

    /// Applies one of its events; `detail` is the line kept for the detail view (none when
    /// details are not kept).
    pub(crate) fn apply(&mut self, e: &Event, detail: Option<String>) {
        self.events += 1;
        if let Some(text) = detail {
            if self.details.len() < PER_ROW {
                self.details.push((e.t_ns, text));
            } else {
                self.elided += 1;
            }
        }
        let t = e.t_ns;
        let at = (t, e.frame);
        // A request of any protocol (an HTTP request, a Redis command) is a mark; its answer
        // leaves the connection idle.
        match e.kind.exchange() {
            Some(Exchange::Request { reused, .. }) => {
                self.requests += 1;
                let kind = if reused {
                    MarkKind::Reused
                } else {
                    MarkKind::Request
                };
                self.mark(at, kind);
                return self.set_state(t, ConnState::Active);
            }
            Some(Exchange::Answer { .. }) => return self.set_state(t, ConnState::Idle),
            Some(Exchange::Goodbye) => return self.mark(at, MarkKind::Goodbye),
            None => {}
        }
        match &e.kind {
            EventKind::Syn => self.set_state(t, ConnState::Handshake),
            EventKind::Established { .. } | EventKind::BegunBeforeCapture { .. } => {
                self.set_state(t, ConnState::Idle)
            }
            EventKind::Request { .. }
            | EventKind::Response { .. }
            | EventKind::Redis(_)
            | EventKind::Postgres(_)
            | EventKind::Mysql(_)
            | EventKind::Burst(_) => {}
            EventKind::WsOpen { .. } => self.set_state(t, ConnState::WebSocket),
            EventKind::WsMessage { .. } => self.mark(at, MarkKind::WsMessage),
            EventKind::WsPing { .. } => self.mark(at, MarkKind::WsPing),
            EventKind::WsPong { .. } => self.mark(at, MarkKind::WsPong),
            EventKind::WsClose { .. } => self.mark(at, MarkKind::WsClose),
            // Counted by the summary and diagnosis; the detail view lists them.
            EventKind::WsUpgradeRefused { .. }
            | EventKind::Stack { .. }
            | EventKind::KeepAliveHint { .. }
            | EventKind::CaptureHole { .. }
            | EventKind::WsProtocolError { .. }
            | EventKind::WsLostSync { .. } => {}
            // The handshake is the TCP handshake's continuation; the rest is in the details.
            EventKind::Tls(TlsEvent::ClientHello { .. }) => self.set_state(t, ConnState::Handshake),
            EventKind::Tls(TlsEvent::HandshakeDone { .. }) if self.requests == 0 => {
                self.set_state(t, ConnState::Idle)
            }
            EventKind::Tls(_) => {}
            EventKind::Http2(h2) => self.apply_h2(at, h2),
            EventKind::Fin { by, .. } => {
                let first = !self.has(MarkKind::Fin {
                    by: *by,
                    first: true,
                });
                self.mark(at, MarkKind::Fin { by: *by, first });
                if !self.time_wait {
                    self.set_state(t, ConnState::HalfClosed);
                }
            }
            EventKind::TimeWait { .. } => {
                self.time_wait = true;
                self.set_state(t, ConnState::TimeWait);
            }
            EventKind::Rst { by, .. } => {
                let mark = match by.side() {
                    Some(by) => MarkKind::Rst { by },
                    None => MarkKind::MiddleboxRst,
                };
                self.mark(at, mark);
                self.set_state(t, ConnState::Closed);
            }
            EventKind::KeepaliveProbe { .. } => self.mark(at, MarkKind::Probe),
            // The probe's mark says enough; its answer only matters to the diagnosis.
            EventKind::KeepaliveAck { .. } => {}
            EventKind::Retransmit { .. } => self.mark(at, MarkKind::Retransmit),
            EventKind::Closed { .. } => {
                // TIME_WAIT outlives the capture's view of the close: keep showing it.
                if !self.time_wait {
                    self.set_state(t, ConnState::Closed);
                }
            }
        }
    }

    /// Notes one of its frames: a drop mark, and the frame for the detail view when kept.
    pub(crate) fn apply_frame(&mut self, t_ns: u64, frame: FrameInfo, dropped: bool, keep: bool) {
        if dropped {
            self.mark((t_ns, frame.number), MarkKind::Dropped);
        }
        if !keep {
            return;
        }
        if self.frames.len() < PER_ROW {
            self.frames.push((t_ns, frame));
        } else {
            self.elided += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testframes::{ev, req, resp};

    #[test]
    fn a_busy_row_thins_its_request_flicker_but_keeps_the_close() {
        let mut row = Row::new(&ev(1, 0, EventKind::Syn));
        row.apply(&ev(1, 0, EventKind::Syn), None);
        for n in 1..=30_000u32 {
            let t = u64::from(n) * 10;
            row.apply(&ev(1, t, req(n, n > 1)), None);
            row.apply(&ev(1, t + 5, resp(n)), None);
        }
        let fin = crate::testframes::fin(Side::Client, None);
        row.apply(&ev(1, 400_000, fin), None);
        assert!(row.states.len() <= STATES_PER_ROW, "{}", row.states.len());
        assert_eq!(row.state_at(0), Some(ConnState::Handshake));
        assert_eq!(row.state(), Some(ConnState::HalfClosed));
        assert!(row
            .states
            .windows(2)
            .all(|w| w[0].1 != w[1].1 && w[0].0 <= w[1].0));
        assert_eq!(row.requests, 30_000);
    }

    #[test]
    fn http2_streams_in_flight_are_the_active_state_with_ping_and_goaway_marks() {
        let h2 = |t: u64, h: Http2Event| ev(1, t, EventKind::Http2(h));
        let open = |stream: u32, concurrent: u32| Http2Event::StreamOpen {
            stream,
            method: "GET".into(),
            path: "/".into(),
            grpc: false,
            concurrent,
        };
        let end = |stream: u32| Http2Event::StreamEnd {
            stream,
            grpc_status: None,
        };
        let mut row = Row::new(&ev(1, 0, EventKind::Syn));
        for e in [
            h2(1, Http2Event::Preface { upgraded: false }),
            h2(10, open(1, 1)),
            h2(11, open(3, 2)),
            h2(20, end(1)),
            h2(30, end(3)),
            h2(40, Http2Event::Ping { by: Side::Client }),
            h2(
                50,
                Http2Event::GoAway {
                    by: Side::Server,
                    last_stream: 3,
                    code: crate::analyze::H2Code::NO_ERROR,
                    debug: "".into(),
                },
            ),
        ] {
            row.apply(&e, None);
        }
        assert!(row.is_http2());
        let ms = 1_000_000;
        assert_eq!(row.state_at(15 * ms), Some(ConnState::Active));
        assert_eq!(
            row.state_at(25 * ms),
            Some(ConnState::Active),
            "stream 3 open"
        );
        assert_eq!(row.state_at(35 * ms), Some(ConnState::Idle));
        assert_eq!(row.requests, 2);
        assert!(row.has(MarkKind::Reused) && row.has(MarkKind::H2Ping));
        assert!(row.has(MarkKind::H2GoAway));
    }
}
