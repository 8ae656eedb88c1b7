//! The lifecycle of one TCP connection, driven segment by segment.
//!
//! Plain data plus transitions: `on_segment` reads the segment against the
//! two sequence spaces and appends the events it implies. The bytes it carries go, in order,
//! to the connection's protocol layer (`proto`), which says what they mean. Time only moves
//! through the `t_ns` the caller passes in.

use std::net::SocketAddr;

use super::event::{Event, EventKind, RstSender, Side, TimeWaitHolder};
use super::frame::Segment;
use super::proto::http1::head;
use super::proto::Secrets;
use super::proto::{Cx, Proto};
use super::reassembly::Piece;
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
    /// Both FINs seen; waiting for the final ACK, which puts `holder` in TIME_WAIT (a reset
    /// instead means no TIME_WAIT: the kernel that sends or takes it drops the socket).
    TimeWait {
        since_ns: u64,
        holder: TimeWaitHolder,
    },
    /// `Closed` emitted at `at_ns`.
    Closed { at_ns: u64 },
}

/// One connection's state.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    client: SocketAddr,
    server: SocketAddr,
    pub(super) started_ns: u64,
    handshake: Handshake,
    /// Indexed by `idx(side)`: client stream, server stream.
    pub(super) streams: [Option<Stream>; 2],
    /// What the streams' bytes are read as: HTTP/1.x first, then what it switches to.
    proto: Proto,
    /// Time of the newest payload of either side: the start of an idle stretch.
    pub(super) last_data_ns: Option<u64>,
    pub(super) first_fin: Option<Side>,
    pub life: Life,
    /// Per side (`idx`): it sent a keepalive probe its peer has not acknowledged yet.
    probing: [bool; 2],
    /// Client and server were guessed from the ports: the first payload may correct them.
    guessed: bool,
    /// Whether the capture joined the connection after its SYN, still to be said.
    begun: Begun,
}

/// How much of its opening the capture holds, until said (`BegunBeforeCapture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Begun {
    /// Its SYN (nothing to say), or said already.
    Told,
    /// The first frame came after the handshake: said at once.
    MidStream,
    /// The first frame was the SYN-ACK. Said with the next frame unless that is the client's
    /// SYN: a capture may record a SYN-ACK a moment before its SYN.
    SynAckFirst,
    /// The SYN-ACK was read; the next frame decides.
    AfterSynAck,
}

/// Whether a payload's sender is the client (it starts with a request line) or the server
/// (a status line); None when it shows neither.
fn told_by_payload(payload: &[u8]) -> Option<bool> {
    if payload.starts_with(b"HTTP/1.") {
        Some(false)
    } else {
        head::request_line(payload).map(|_| true)
    }
}

/// Array index of a side's stream (client 0, server 1).
pub(super) fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl Conn {
    /// A connection first seen at `seg`. A SYN names its sender the client, a
    /// SYN-ACK its receiver; otherwise the capture began mid-connection: a request line
    /// names its sender the client, a status line the server, and without either the higher
    /// (ephemeral) port is taken as the client until the first payload tells.
    pub fn new(id: u64, t_ns: u64, seg: &Segment) -> Conn {
        let f = seg.flags;
        let told = match (f.syn, f.ack) {
            (true, false) => Some(true),
            (true, true) => Some(false),
            _ => told_by_payload(seg.payload),
        };
        let sender_is_client = told.unwrap_or(seg.src.port() >= seg.dst.port());
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
            proto: Proto::default(),
            last_data_ns: None,
            first_fin: None,
            life: Life::Open,
            probing: [false; 2],
            guessed: told.is_none(),
            begun: match (f.syn, f.ack) {
                (true, false) => Begun::Told,
                (true, true) => Begun::SynAckFirst,
                _ => Begun::MidStream,
            },
        }
    }

    /// Its id, its client and its server, as known now.
    pub(super) fn ends(&self) -> (u64, SocketAddr, SocketAddr) {
        (self.id, self.client, self.server)
    }

    /// Whether a SYN without ACK means a new connection on this 4-tuple: this
    /// one is over, or the SYN is not a copy of the one that opened it (a
    /// client only sends a fresh SYN on a tuple it considers free). A SYN
    /// from the client of a connection known only from its SYN-ACK is the
    /// opening SYN arriving late (captures merged from two interfaces can
    /// swap them), not a new connection.
    pub fn replaced_by(&self, seg: &Segment) -> bool {
        let original = seg.src == self.client
            && self.streams[0]
                .as_ref()
                .is_some_and(|s| s.base == seg.seq && s.seen.contains(0));
        let late_original = seg.src == self.client
            && self.handshake == Handshake::SynAcked
            && self.streams[idx(Side::Client)].is_none();
        self.life != Life::Open || !(original || late_original)
    }

    /// Appends an event stamped with this connection's id and endpoints.
    /// The frame number is stamped by the tracker, which knows which frame it is handling.
    pub(super) fn emit(&self, t_ns: u64, kind: EventKind, out: &mut Vec<Event>) {
        out.push(Event {
            t_ns,
            frame: 0,
            conn: self.id,
            client: self.client,
            server: self.server,
            kind,
        });
    }

    /// Advances the connection by one segment it carried, in this order: RST,
    /// keepalive probe, sequence bookkeeping (retransmit), handshake, new
    /// data (HTTP), new FIN, final ACK. Only never-seen sequence space drives
    /// transitions, so duplicates cannot double-count requests or FINs.
    /// `forged` marks a segment a middlebox made in the name of one end (a forged RST).
    pub fn on_segment(
        &mut self,
        t_ns: u64,
        (seg, forged): (&Segment, bool),
        secrets: &mut Secrets<'_>,
        out: &mut Vec<Event>,
    ) {
        if self.guessed && !seg.payload.is_empty() {
            self.guessed = false;
            let from_client = seg.src == self.client;
            if told_by_payload(seg.payload).is_some_and(|client| client != from_client)
                && self.first_fin.is_none()
            {
                // The ports guessed wrong (a client on a low port, after SNAT say).
                std::mem::swap(&mut self.client, &mut self.server);
                self.streams.swap(0, 1);
                self.probing.swap(0, 1);
            }
        }
        if self.begun != Begun::Told {
            self.begun_before_capture(t_ns, seg, out);
        }
        let side = if seg.src == self.client {
            Side::Client
        } else {
            Side::Server
        };
        if seg.flags.rst {
            let by = if forged {
                RstSender::Middlebox
            } else {
                side.into()
            };
            return self.on_rst(t_ns, by, secrets, out);
        }
        let f = seg.flags;
        if f.ack && std::mem::take(&mut self.probing[idx(side.peer())]) {
            self.emit(t_ns, EventKind::KeepaliveAck { by: side }, out);
        }
        let stream = self.streams[idx(side)].get_or_insert_with(|| Stream::new(seg.seq));
        let lo = stream.offset(seg.seq);
        // A bare FIN on its SYN's own sequence number (a stack closing before its handshake
        // completed that did not count the SYN, a scanner's SYN then FIN) is the FIN after
        // that SYN, not a copy of it.
        let bare_fin = f.fin && !f.syn && seg.len == 0;
        let lo = match bare_fin && lo == 0 && self.handshake != Handshake::Done {
            true if stream.seen.contains(0) => 1,
            _ => lo,
        };
        let data_lo = lo + i64::from(f.syn);
        let data_hi = data_lo + i64::from(seg.len);
        let hi = data_hi + i64::from(f.fin);

        let ack_only = f.ack && !f.syn && !f.fin;
        if ack_only
            && self.handshake == Handshake::Done
            && self.life == Life::Open
            && stream.fin_end.is_none()
            && seg.len <= 1
            && lo == stream.next - 1
        {
            self.probing[idx(side)] = true;
            return self.emit(t_ns, EventKind::KeepaliveProbe { by: side }, out);
        }

        let syn_new = f.syn && !stream.seen.contains(lo);
        let fin_new = f.fin && stream.fin_end.is_none() && !stream.seen.contains(hi - 1);
        if syn_new {
            stream.bytes.start_at(data_lo);
        }
        if hi > lo {
            let ins = stream.seen.insert(lo, hi);
            if ins.overlap {
                let (seq, len) = (stream.relative(seg.seq), seg.len);
                self.emit(t_ns, EventKind::Retransmit { by: side, seq, len }, out);
            }
        }
        if let Some(s) = self.streams[idx(side)].as_mut() {
            s.next = s.next.max(hi);
        }

        let closed = matches!(self.life, Life::Closed { .. });
        // A handshake's last ACK that arrives after a reset closed the connection (an RST
        // injected while the ACK was on its way) establishes nothing: `closed` came first.
        if !closed {
            self.on_handshake(t_ns, side, seg, syn_new, out);
        }
        let mut quiet = false;
        if !closed {
            // The peer's bytes wait for a hole to fill: an ACK beyond the hole says the
            // capture missed them. (An ACK beyond the peer's bytes with nothing held is no
            // hole yet: a capture may record the two directions slightly out of order.)
            let peer_holds = self.streams[idx(side.peer())]
                .as_ref()
                .is_some_and(|s| s.bytes.holding());
            if f.ack && peer_holds {
                self.read(t_ns, side.peer(), Read::Acked(seg.ack), secrets, out);
            }
            if seg.len > 0 {
                let segment = Read::Segment(data_lo, seg.len, seg.payload);
                quiet = self.read(t_ns, side, segment, secrets, out);
            }
        }
        if seg.len > 0 && !quiet {
            self.last_data_ns = Some(t_ns);
        }
        if fin_new && !closed {
            self.read(t_ns, side, Read::End(Some(data_hi)), secrets, out);
            self.on_fin(t_ns, side, seg, hi, out);
        }
        self.on_final_ack(t_ns, side, seg, out);
    }

    /// Hands `side`'s stream bytes, in order, to the protocol layer; true when what it read
    /// only closed the connection politely (not activity: see [`Cx::quiet`]).
    pub(super) fn read(
        &mut self,
        t_ns: u64,
        side: Side,
        what: Read<'_>,
        secrets: &mut Secrets<'_>,
        out: &mut Vec<Event>,
    ) -> bool {
        let isn = [0, 1].map(|i| self.streams[i].as_ref().map_or(0, |s| s.base));
        let Some(stream) = self.streams[idx(side)].as_mut() else {
            return false;
        };
        let ids = (self.id, self.client, self.server);
        let mut cx = Cx::new(t_ns, ids, secrets.reborrow(), out);
        cx.isn = isn;
        let proto = &mut self.proto;
        // Gaps outside a segment's own cut (snap length) are segments the capture missed.
        let mut missed = 0u64;
        let mut each = |piece: Piece<'_>| {
            if let Piece::Gap(n) = piece {
                missed = missed.saturating_add(n);
            }
            proto.piece(&mut cx, side, piece)
        };
        match what {
            Read::Segment(lo, len, payload) => {
                stream.bytes.segment(lo, len, payload, &mut each);
                missed = 0;
            }
            Read::Acked(ack) => {
                let ack = stream.offset(ack);
                stream.bytes.acknowledged(ack, &mut each);
            }
            Read::End(fin_at) => stream.bytes.end(fin_at, &mut each),
        }
        let quiet = cx.was_quiet();
        if missed > 0 {
            cx.emit(EventKind::CaptureHole {
                side,
                bytes: missed,
            });
        }
        quiet
    }

    /// Says the capture began after the connection did, when it knows (see [`Begun`]).
    #[cold]
    #[inline(never)]
    fn begun_before_capture(&mut self, t_ns: u64, seg: &Segment, out: &mut Vec<Event>) {
        let (syn_ack, say) = match self.begun {
            Begun::Told => return,
            Begun::MidStream => (false, true),
            Begun::SynAckFirst => (true, false),
            // Not the client's SYN (a SYN without ACK).
            Begun::AfterSynAck => (true, !seg.flags.syn || seg.flags.ack),
        };
        self.begun = match self.begun {
            Begun::SynAckFirst => Begun::AfterSynAck,
            _ => Begun::Told,
        };
        if say {
            self.emit(t_ns, EventKind::BegunBeforeCapture { syn_ack }, out);
        }
    }

    /// SYN → `Syn`; the client's first ACK after the SYN-ACK → `Established`.
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
            // The client ACKs after its SYN only once the SYN-ACK came: the capture missed it.
            (Handshake::SynSent, Side::Client) if f.ack && !f.syn => {
                let hole = EventKind::CaptureHole {
                    side: Side::Server,
                    bytes: 0,
                };
                self.emit(t_ns, hole, out);
                self.handshake = Handshake::Done;
                let handshake_ns = t_ns.saturating_sub(self.started_ns);
                self.emit(t_ns, EventKind::Established { handshake_ns }, out);
            }
            (Handshake::SynSent, Side::Server) if syn_new && f.ack => {
                self.handshake = Handshake::SynAcked;
            }
            (Handshake::SynAcked, Side::Client) if syn_new && !f.ack => {
                self.emit(t_ns, EventKind::Syn, out);
            }
            (Handshake::SynAcked, Side::Client) if f.ack && !f.syn => {
                self.handshake = Handshake::Done;
                let handshake_ns = t_ns.saturating_sub(self.started_ns);
                self.emit(t_ns, EventKind::Established { handshake_ns }, out);
            }
            _ => {}
        }
    }
}

/// What a segment gives a stream's reader.
pub(super) enum Read<'a> {
    /// Bytes at stream offset `.0` (`.1` on the wire, `.2` captured).
    Segment(i64, u32, &'a [u8]),
    /// The peer acknowledged up to this sequence number.
    Acked(u32),
    /// The stream ends: its FIN after the bytes up to this offset, or a reset (None).
    End(Option<i64>),
}

#[cfg(test)]
mod tests {
    use crate::analyze::event::{EventKind as K, Side};
    use crate::testframes::{closed, conv, Conv, Lab, F, MS};

    fn request(n: u32, path: &str, idle_ms: Option<u64>) -> K {
        K::Request {
            n,
            method: "GET",
            path: path.into(),
            reused: n > 1,
            idle_ns: idle_ms.map(|ms| ms * MS),
            closing: None,
        }
    }

    fn response(n: u32) -> K {
        K::Response {
            n,
            status: 200,
            closing: None,
        }
    }

    #[test]
    fn handshake_gives_syn_and_established() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 10);
        let handshake_ns = 2 * MS;
        assert_eq!(lab.kinds(1), [K::Syn, K::Established { handshake_ns }]);
        let syn = &lab.events[0];
        assert_eq!(
            (syn.t_ns, syn.client, syn.server),
            (10 * MS, c.client, c.server)
        );
        assert_eq!(lab.an.open_connections(), 1);
    }

    #[test]
    fn three_requests_on_one_connection_are_reused_with_idle_time() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.exchange(&mut c, 10, "/a");
        lab.exchange(&mut c, 131, "/b");
        lab.exchange(&mut c, 200, "/c");
        let kinds = lab.kinds(1);
        assert_eq!(
            kinds[2..],
            [
                request(1, "/a", None),
                response(1),
                request(2, "/b", Some(120)),
                response(2),
                request(3, "/c", Some(68)),
                response(3),
            ]
        );
        let s = lab.an.summary();
        assert_eq!(
            (s.connections, s.requests, s.reused, s.responses),
            (1, 3, 2, 3)
        );
        let text = lab.events[4].describe();
        assert_eq!(text, "conn 1: request 2 GET /b, reused after 120 ms idle");
    }

    #[test]
    fn keepalive_probes_of_zero_and_one_byte_and_their_acks() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.exchange(&mut c, 10, "/");
        let before = lab.events.len();
        lab.at(
            7_000,
            &c.frame(Side::Client, F::ACK, c.next[0] - 1, c.next[1], b""),
        );
        lab.at(7_001, &c.send(Side::Server, F::ACK, b""));
        lab.at(
            8_000,
            &c.frame(Side::Client, F::ACK, c.next[0] - 1, c.next[1], b"\0"),
        );
        lab.at(8_001, &c.send(Side::Server, F::ACK, b""));
        lab.at(
            9_000,
            &c.frame(Side::Server, F::ACK, c.next[1] - 1, c.next[0], b""),
        );
        let probes: Vec<K> = lab.events[before..]
            .iter()
            .map(|e| e.kind.clone())
            .collect();
        let (probe, answer) = (|by| K::KeepaliveProbe { by }, |by| K::KeepaliveAck { by });
        // The server's last probe is not answered in the capture.
        assert_eq!(
            probes,
            [
                probe(Side::Client),
                answer(Side::Server),
                probe(Side::Client),
                answer(Side::Server),
                probe(Side::Server)
            ]
        );
        let s = lab.an.summary();
        assert_eq!((s.keepalive_probes, s.retransmits), (3, 0));
    }

    #[test]
    fn data_retransmits_whole_and_partial() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        let req = b"GET / HTTP/1.1\r\n\r\n";
        let seq = c.next[0];
        lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, req));
        lab.at(
            210,
            &c.frame(Side::Client, F::PSH | F::ACK, seq, c.next[1], req),
        );
        // Partial: 4 old bytes plus a pipelined request after a blank line.
        let overlap = [&req[req.len() - 4..], b"GET /2 HTTP/1.1\r\n\r\n"].concat();
        lab.at(
            400,
            &c.frame(
                Side::Client,
                F::PSH | F::ACK,
                c.next[0] - 4,
                c.next[1],
                &overlap,
            ),
        );
        let retransmit = |seq, len| K::Retransmit {
            by: Side::Client,
            seq,
            len,
        };
        // The new part of the partial retransmit is still analysed.
        let expected = [
            request(1, "/", None),
            retransmit(1, 18),
            retransmit(15, 23),
            request(2, "/2", None),
        ];
        assert_eq!(lab.kinds(1)[2..], expected);
        assert_eq!(lab.an.summary().retransmits, 2);
    }

    #[test]
    fn out_of_order_delivery_is_not_a_retransmit() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        let req = b"GET /ooo HTTP/1.1\r\nHost: lab\r\nAccept: */*\r\n\r\n";
        let (first, second) = req.split_at(20);
        let seq = c.next[0];
        let ack = c.next[1];
        lab.at(10, &c.frame(Side::Client, F::ACK, seq + 20, ack, second));
        lab.at(11, &c.frame(Side::Client, F::ACK, seq, ack, first));
        c.next[0] += req.len() as u32;
        lab.exchange(&mut c, 20, "/next");
        let s = lab.an.summary();
        assert_eq!((s.retransmits, s.requests, s.reused), (0, 2, 1));
        assert_eq!(lab.kinds(1)[2], request(1, "/ooo", None));
    }

    #[test]
    fn sequence_numbers_wrap_across_2_pow_32() {
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", u32::MAX - 2, u32::MAX);
        let mut lab = Lab::default();
        lab.handshake(&mut c, 0);
        for i in 0..3 {
            lab.exchange(&mut c, 10 + i * 10, "/wrap");
        }
        assert!(
            c.next[0] < 1000 && c.next[1] < 1000,
            "both directions wrapped"
        );
        // A retransmit of the first request, sent before the wrap.
        let req = b"GET /wrap HTTP/1.1\r\nHost: lab\r\n\r\n";
        lab.at(
            100,
            &c.frame(Side::Client, F::PSH | F::ACK, u32::MAX - 1, c.next[1], req),
        );
        lab.at(200, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(201, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(202, &c.send(Side::Client, F::ACK, b""));
        let s = lab.an.summary();
        assert_eq!(
            (s.requests, s.reused, s.responses, s.retransmits),
            (3, 2, 3, 1)
        );
        assert_eq!((s.time_wait.client, s.open), (1, 0));
        let len = req.len() as u32;
        assert!(lab.kinds(1).contains(&K::Retransmit {
            by: Side::Client,
            seq: 1,
            len
        }));
    }

    #[test]
    fn mid_stream_start_on_a_low_client_port_is_told_by_the_payload() {
        // After SNAT the client has port 2000, below the server's 8080.
        for first_payload_from in [Side::Client, Side::Server] {
            let mut c = Conv::new("10.0.0.1:2000", "10.0.0.2:8080", 5_000, 9_000);
            let mut lab = Lab::default();
            // A bare ACK first: the ports guess, the first payload corrects.
            lab.at(1, &c.send(Side::Server, F::ACK, b""));
            match first_payload_from {
                Side::Client => lab.exchange(&mut c, 5, "/a"),
                Side::Server => {
                    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    lab.at(5, &c.send(Side::Server, F::PSH | F::ACK, resp));
                    lab.exchange(&mut c, 10, "/b");
                }
            }
            // The capture's first frame is marked at once, with the ends the ports guess; the
            // first payload corrects the ends of what follows.
            assert_eq!(lab.kinds(1)[0], K::BegunBeforeCapture { syn_ack: false });
            let first = &lab.events[1];
            assert_eq!((first.client, first.server), (c.client, c.server));
            let s = lab.an.summary();
            assert!(
                s.requests >= 1,
                "{first_payload_from:?}: {:?}",
                lab.kinds(1)
            );
        }
    }

    #[test]
    fn mid_stream_start_guesses_client_by_port() {
        // Capture starts with the server's response; the server has the low port.
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 77_777, 999);
        let mut lab = Lab::default();
        lab.at(
            5,
            &c.send(
                Side::Server,
                F::PSH | F::ACK,
                b"HTTP/1.1 204 No Content\r\n\r\n",
            ),
        );
        lab.exchange(&mut c, 10, "/later");
        lab.at(20, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(21, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(22, &c.send(Side::Client, F::ACK, b""));
        let first = &lab.events[0];
        assert_eq!((first.client, first.server), (c.client, c.server));
        let kinds = lab.kinds(1);
        assert_eq!(kinds[0], K::BegunBeforeCapture { syn_ack: false });
        assert_eq!(
            kinds[1],
            K::Response {
                n: 1,
                status: 204,
                closing: None
            }
        );
        assert_eq!(kinds[2], request(1, "/later", None));
        assert!(!kinds.contains(&K::Syn));
        assert_eq!(kinds.last(), Some(&closed(17)));
        // Equal ports: the sender of the first segment is taken as the client.
        let mut same = Conv::new("10.0.0.3:5000", "10.0.0.4:5000", 1, 1);
        lab.at(
            30,
            &same.send(Side::Server, F::PSH | F::ACK, b"GET /tie HTTP/1.1\r\n\r\n"),
        );
        let tie = lab.events.last().expect("an event");
        assert_eq!((tie.conn, tie.client), (2, same.server));
    }
}
