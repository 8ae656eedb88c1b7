//! The lifecycle of one TCP connection, driven segment by segment.
//!
//! Plain data plus transitions: `on_segment` reads the segment against the
//! two sequence spaces and appends the events it implies. Time only moves
//! through the `t_ns` the caller passes in.

use std::net::SocketAddr;

use super::event::{Event, EventKind, Side, TimeWaitHolder};
use super::frame::Segment;
use super::http;
use super::stream::Stream;

/// Where the three-way handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    /// SYN seen, waiting for the SYN-ACK.
    SynSent,
    /// SYN-ACK seen, waiting for the client's ACK.
    SynAcked,
    /// Done (or the capture started after it).
    Done,
}

/// Whether the connection is still in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Carrying traffic (possibly half-closed).
    Open,
    /// Both FINs seen; waiting for the final ACK.
    TimeWait { since_ns: u64 },
    /// `Closed` emitted at `at_ns`.
    Closed { at_ns: u64 },
}

/// One connection's state.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    id: u64,
    client: SocketAddr,
    server: SocketAddr,
    started_ns: u64,
    handshake: Handshake,
    /// Indexed by `idx(side)`: client stream, server stream.
    streams: [Option<Stream>; 2],
    requests: u32,
    responses: u32,
    last_server_data_ns: Option<u64>,
    first_fin: Option<Side>,
    pub life: Life,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl Conn {
    /// A connection first seen at `seg`. A SYN names its sender the client, a
    /// SYN-ACK its receiver; otherwise the capture began mid-connection and
    /// the higher (ephemeral) port is taken as the client.
    pub fn new(id: u64, t_ns: u64, seg: &Segment) -> Conn {
        let f = seg.flags;
        let sender_is_client = match (f.syn, f.ack) {
            (true, false) => true,
            (true, true) => false,
            _ => seg.src.port() >= seg.dst.port(),
        };
        let (client, server) = if sender_is_client {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let handshake = match (f.syn, f.ack) {
            (true, false) => Handshake::SynSent,
            (true, true) => Handshake::SynAcked,
            _ => Handshake::Done,
        };
        Conn {
            id,
            client,
            server,
            started_ns: t_ns,
            handshake,
            streams: [None, None],
            requests: 0,
            responses: 0,
            last_server_data_ns: None,
            first_fin: None,
            life: Life::Open,
        }
    }

    /// Whether a SYN without ACK means a new connection on this 4-tuple: this
    /// one is over, or the SYN is not a copy of the one that opened it (a
    /// client only sends a fresh SYN on a tuple it considers free).
    pub fn replaced_by(&self, seg: &Segment) -> bool {
        let original = seg.src == self.client
            && self.streams[0]
                .as_ref()
                .is_some_and(|s| s.base == seg.seq && s.seen.contains(0));
        self.life != Life::Open || !original
    }

    /// Closes a connection that was replaced or expired before its final ACK
    /// was seen, so every connection that got an id also ends. Its lifetime
    /// ends at the second FIN when there was one.
    pub fn abandon(&mut self, t_ns: u64, out: &mut Vec<Event>) {
        let end_ns = match self.life {
            Life::Closed { .. } => return,
            Life::TimeWait { since_ns } => since_ns,
            Life::Open => t_ns,
        };
        let lifetime_ns = end_ns.saturating_sub(self.started_ns);
        let kind = EventKind::Closed {
            by_rst: false,
            lifetime_ns,
        };
        self.emit(t_ns, kind, out);
        self.life = Life::Closed { at_ns: t_ns };
    }

    fn emit(&self, t_ns: u64, kind: EventKind, out: &mut Vec<Event>) {
        out.push(Event {
            t_ns,
            conn: self.id,
            client: self.client,
            server: self.server,
            kind,
        });
    }

    fn close(&mut self, t_ns: u64, by_rst: bool, out: &mut Vec<Event>) {
        let lifetime_ns = t_ns.saturating_sub(self.started_ns);
        self.emit(
            t_ns,
            EventKind::Closed {
                by_rst,
                lifetime_ns,
            },
            out,
        );
        self.life = Life::Closed { at_ns: t_ns };
    }

    /// Advances the connection by one segment it carried.
    pub fn on_segment(&mut self, t_ns: u64, seg: &Segment, out: &mut Vec<Event>) {
        let side = if seg.src == self.client {
            Side::Client
        } else {
            Side::Server
        };
        if seg.flags.rst {
            return self.on_rst(t_ns, side, out);
        }
        let stream = self.streams[idx(side)].get_or_insert_with(|| Stream::new(seg.seq));
        let f = seg.flags;
        let lo = stream.offset(seg.seq);
        let data_lo = lo + i64::from(f.syn);
        let data_hi = data_lo + seg.payload.len() as i64;
        let hi = data_hi + i64::from(f.fin);

        let ack_only = f.ack && !f.syn && !f.fin;
        if ack_only
            && self.handshake == Handshake::Done
            && self.life == Life::Open
            && stream.fin_end.is_none()
            && seg.payload.len() <= 1
            && lo == stream.next - 1
        {
            return self.emit(t_ns, EventKind::KeepaliveProbe { by: side }, out);
        }

        let syn_new = f.syn && !stream.seen.contains(lo);
        let fin_new = f.fin && stream.fin_end.is_none() && !stream.seen.contains(hi - 1);
        let mut data_new = None;
        if hi > lo {
            let ins = stream.seen.insert(lo, hi);
            if ins.overlap {
                let (seq, len) = (stream.relative(seg.seq), seg.payload.len() as u32);
                self.emit(t_ns, EventKind::Retransmit { by: side, seq, len }, out);
            }
            data_new = ins
                .first_new
                .map(|off| off.max(data_lo))
                .filter(|&off| off < data_hi);
        }
        if let Some(s) = self.streams[idx(side)].as_mut() {
            s.next = s.next.max(hi);
        }

        self.on_handshake(t_ns, side, seg, syn_new, out);
        let closed = matches!(self.life, Life::Closed { .. });
        if let Some(off) = data_new.filter(|_| !closed) {
            let start = usize::try_from(off - data_lo).unwrap_or(0);
            self.on_data(t_ns, side, seg.payload.get(start..).unwrap_or(&[]), out);
        }
        if fin_new && !closed {
            self.on_fin(t_ns, side, seg, hi, out);
        }
        self.on_final_ack(t_ns, side, seg, out);
    }

    fn on_handshake(
        &mut self,
        t_ns: u64,
        side: Side,
        seg: &Segment,
        syn_new: bool,
        out: &mut Vec<Event>,
    ) {
        let f = seg.flags;
        match (self.handshake, side) {
            (Handshake::SynSent, Side::Client) if syn_new && !f.ack => {
                self.emit(t_ns, EventKind::Syn, out);
            }
            (Handshake::SynSent, Side::Server) if syn_new && f.ack => {
                self.handshake = Handshake::SynAcked;
            }
            (Handshake::SynAcked, Side::Client) if f.ack && !f.syn => {
                self.handshake = Handshake::Done;
                let handshake_ns = t_ns.saturating_sub(self.started_ns);
                self.emit(t_ns, EventKind::Established { handshake_ns }, out);
            }
            _ => {}
        }
    }

    fn on_data(&mut self, t_ns: u64, side: Side, data: &[u8], out: &mut Vec<Event>) {
        match side {
            Side::Client => {
                for req in http::messages(data, http::request_line) {
                    self.requests += 1;
                    let n = self.requests;
                    let reused = n > 1;
                    let idle_ns = self
                        .last_server_data_ns
                        .filter(|_| reused)
                        .map(|last| t_ns.saturating_sub(last));
                    let kind = EventKind::Request {
                        n,
                        method: req.method.to_string(),
                        path: req.path,
                        reused,
                        idle_ns,
                    };
                    self.emit(t_ns, kind, out);
                }
            }
            Side::Server => {
                for status in http::messages(data, http::status_line) {
                    self.responses += 1;
                    let n = self.responses;
                    self.emit(t_ns, EventKind::Response { n, status }, out);
                }
                self.last_server_data_ns = Some(t_ns);
            }
        }
    }

    fn on_fin(&mut self, t_ns: u64, side: Side, seg: &Segment, fin_end: i64, out: &mut Vec<Event>) {
        if let Some(s) = self.streams[idx(side)].as_mut() {
            s.fin_end = Some(fin_end);
        }
        self.emit(t_ns, EventKind::Fin { by: side }, out);
        let Some(first) = self.first_fin else {
            self.first_fin = Some(side);
            return;
        };
        if first == side || self.life != Life::Open {
            return;
        }
        // Normal close: this FIN acknowledges the first one. Otherwise both
        // FINs crossed on the wire and both kernels hold TIME_WAIT.
        let acked = self.streams[idx(first)]
            .as_ref()
            .and_then(|peer| Some((peer.offset(seg.ack), peer.fin_end?)))
            .is_some_and(|(ack, fin)| seg.flags.ack && ack >= fin);
        let holder = if acked {
            first.into()
        } else {
            TimeWaitHolder::Both
        };
        self.emit(t_ns, EventKind::TimeWait { holder }, out);
        self.life = Life::TimeWait { since_ns: t_ns };
    }

    /// The first closer acknowledging the second FIN ends the connection.
    fn on_final_ack(&mut self, t_ns: u64, side: Side, seg: &Segment, out: &mut Vec<Event>) {
        if !matches!(self.life, Life::TimeWait { .. })
            || Some(side) != self.first_fin
            || !seg.flags.ack
        {
            return;
        }
        let acked = self.streams[idx(side.peer())]
            .as_ref()
            .and_then(|peer| Some((peer.offset(seg.ack), peer.fin_end?)))
            .is_some_and(|(ack, fin)| ack >= fin);
        if acked {
            self.close(t_ns, false, out);
        }
    }

    /// A reset ends an open connection; one arriving in TIME_WAIT only ends
    /// the wait (the close was a FIN exchange); later ones are just counted.
    fn on_rst(&mut self, t_ns: u64, side: Side, out: &mut Vec<Event>) {
        self.emit(t_ns, EventKind::Rst { by: side }, out);
        match self.life {
            Life::Open => self.close(t_ns, true, out),
            Life::TimeWait { .. } => self.close(t_ns, false, out),
            Life::Closed { .. } => {}
        }
    }
}
