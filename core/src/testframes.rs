//! Test helpers: real Ethernet/IPv4/IPv6/TCP frames built with pnet, and a
//! two-sided conversation that keeps sequence numbers, so tests read as the
//! exchange they describe. Public behind the `testframes` feature so benches
//! and the binary crate's tests build frames the same way.

use std::net::{IpAddr, SocketAddr};

use pnet_packet::ethernet::{EtherType, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::tcp::{self, MutableTcpPacket};

use crate::analyze::{decode, Analyzer, Decoded, Defragmenter, Event, EventKind, LinkType, Side};

/// TCP flag bits (`F::SYN | F::ACK`), for building frames.
pub use pnet_packet::tcp::TcpFlags as F;

/// A TCP header (no options) plus payload, checksummed for `src` → `dst`.
pub fn tcp_bytes(
    src: SocketAddr,
    dst: SocketAddr,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + payload.len()];
    let mut t = MutableTcpPacket::new(&mut buf).expect("tcp buffer");
    t.set_source(src.port());
    t.set_destination(dst.port());
    t.set_sequence(seq);
    t.set_acknowledgement(ack);
    t.set_data_offset(5);
    t.set_flags(flags);
    t.set_window(64240);
    t.set_payload(payload);
    let sum = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => tcp::ipv4_checksum(&t.to_immutable(), &s, &d),
        (IpAddr::V6(s), IpAddr::V6(d)) => tcp::ipv6_checksum(&t.to_immutable(), &s, &d),
        _ => panic!("mixed address families"),
    };
    t.set_checksum(sum);
    buf
}

/// An IPv4 or IPv6 packet (by address family) carrying `tcp`.
pub fn ip_packet(src: SocketAddr, dst: SocketAddr, tcp: &[u8]) -> Vec<u8> {
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut buf = vec![0u8; 20 + tcp.len()];
            let mut ip = MutableIpv4Packet::new(&mut buf).expect("ipv4 buffer");
            ip.set_version(4);
            ip.set_header_length(5);
            ip.set_total_length((20 + tcp.len()) as u16);
            ip.set_ttl(64);
            ip.set_next_level_protocol(IpNextHeaderProtocols::Tcp);
            ip.set_source(s);
            ip.set_destination(d);
            ip.set_payload(tcp);
            let sum = ipv4::checksum(&ip.to_immutable());
            ip.set_checksum(sum);
            buf
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut buf = vec![0u8; 40 + tcp.len()];
            let mut ip = MutableIpv6Packet::new(&mut buf).expect("ipv6 buffer");
            ip.set_version(6);
            ip.set_payload_length(tcp.len() as u16);
            ip.set_next_header(IpNextHeaderProtocols::Tcp);
            ip.set_hop_limit(64);
            ip.set_source(s);
            ip.set_destination(d);
            ip.set_payload(tcp);
            buf
        }
        _ => panic!("mixed address families"),
    }
}

/// The ethertype for an IP packet (by its version nibble).
pub fn ethertype_of(packet: &[u8]) -> u16 {
    if packet.first().map(|b| b >> 4) == Some(6) {
        0x86dd
    } else {
        0x0800
    }
}

/// An Ethernet frame, padded to the 60-byte minimum like a real NIC does.
pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; (14 + payload.len()).max(60)];
    let mut e = MutableEthernetPacket::new(&mut buf).expect("ethernet buffer");
    e.set_destination([2, 0, 0, 0, 0, 2].into());
    e.set_source([2, 0, 0, 0, 0, 1].into());
    e.set_ethertype(EtherType(ethertype));
    e.set_payload(payload);
    buf
}

/// A Linux cooked (SLL) frame.
pub fn sll(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    buf.extend_from_slice(&ethertype.to_be_bytes());
    buf.extend_from_slice(payload);
    buf
}

/// A Linux cooked v2 (SLL2) frame.
pub fn sll2(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = ethertype.to_be_bytes().to_vec();
    buf.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    buf.extend_from_slice(payload);
    buf
}

/// Both ends of one connection with their next sequence numbers.
pub struct Conv {
    /// The side that sends the SYN.
    pub client: SocketAddr,
    /// The side that answers it.
    pub server: SocketAddr,
    /// Next sequence number to send: `[client, server]`.
    pub next: [u32; 2],
}

fn i(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl Conv {
    /// A conversation with the given ISNs.
    pub fn new(client: &str, server: &str, client_isn: u32, server_isn: u32) -> Conv {
        Conv {
            client: client.parse().expect("client addr"),
            server: server.parse().expect("server addr"),
            next: [client_isn, server_isn],
        }
    }

    /// An Ethernet frame from `from` with explicit numbers; no state change.
    pub fn frame(&self, from: Side, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
        let (src, dst) = match from {
            Side::Client => (self.client, self.server),
            Side::Server => (self.server, self.client),
        };
        let ip = ip_packet(src, dst, &tcp_bytes(src, dst, flags, seq, ack, payload));
        ethernet(ethertype_of(&ip), &ip)
    }

    /// The next segment from `from`, acknowledging everything the peer sent;
    /// advances the sender's sequence number by payload, SYN and FIN.
    pub fn send(&mut self, from: Side, flags: u8, payload: &[u8]) -> Vec<u8> {
        let seq = self.next[i(from)];
        let frame = self.frame(from, flags, seq, self.next[i(from.peer())], payload);
        let used =
            payload.len() as u32 + u32::from(flags & F::SYN != 0) + u32::from(flags & F::FIN != 0);
        self.next[i(from)] = seq.wrapping_add(used);
        frame
    }
}

/// An analyser plus the events it produced, fed with millisecond times.
#[derive(Default)]
pub struct Lab {
    /// The analyser under test.
    pub an: Analyzer,
    /// Every event it produced, in order.
    pub events: Vec<Event>,
    /// Every frame fed, with its time in ms (to replay a capture into another analyser).
    pub frames: Vec<(u64, Vec<u8>)>,
    /// Fragments held until their datagram is whole, as `connlab inspect`'s reader holds them.
    pub defrag: Defragmenter,
}

impl Lab {
    /// The diagnosis of every event so far, as `inspect` reports it at the end of a capture.
    pub fn report(&self) -> crate::diagnose::DiagnosisReport {
        let mut diagnosis = crate::diagnose::Diagnosis::new();
        for e in &self.events {
            diagnosis.apply(e);
        }
        diagnosis.report()
    }

    /// Feeds one Ethernet frame captured at `ms` milliseconds.
    pub fn at(&mut self, ms: u64, frame: &[u8]) {
        self.frames.push((ms, frame.to_vec()));
        self.at_link(ms, LinkType::Ethernet, frame);
    }

    /// Feeds one frame of another link type; a fragment goes through [`Lab::defrag`] first.
    pub fn at_link(&mut self, ms: u64, link: LinkType, frame: &[u8]) {
        let t_ns = ms * 1_000_000;
        let whole = match decode(link, frame) {
            Ok(None) => self.defrag.take(t_ns, (link, frame), false),
            _ => None,
        };
        match whole {
            None => self.an.handle_frame(t_ns, link, frame, &mut self.events),
            Some(held_or_whole) => {
                let decoded = match &held_or_whole {
                    Some(datagram) => Decoded::of(datagram.segment()),
                    None => Decoded::NotTcp,
                };
                self.an
                    .handle_decoded(t_ns, decoded, false, &mut self.events);
            }
        }
    }

    /// The analyser's summary, with what became of the fragments.
    pub fn summary(&self) -> crate::analyze::Summary {
        let mut summary = self.an.summary();
        summary.ip_fragments = self.defrag.summary();
        summary
    }

    /// The kinds of the events of connection `conn`, in order.
    pub fn kinds(&self, conn: u64) -> Vec<EventKind> {
        self.events
            .iter()
            .filter(|e| e.conn == conn)
            .map(|e| e.kind.clone())
            .collect()
    }

    /// SYN at `ms`, SYN-ACK at `ms + 1`, ACK at `ms + 2`.
    pub fn handshake(&mut self, conv: &mut Conv, ms: u64) {
        self.at(ms, &conv.send(Side::Client, F::SYN, b""));
        self.at(ms + 1, &conv.send(Side::Server, F::SYN | F::ACK, b""));
        self.at(ms + 2, &conv.send(Side::Client, F::ACK, b""));
    }

    /// Request from the client at `ms`, 200 response from the server at `ms + 1`.
    pub fn exchange(&mut self, conv: &mut Conv, ms: u64, path: &str) {
        let req = format!("GET {path} HTTP/1.1\r\nHost: lab\r\n\r\n");
        self.at(
            ms,
            &conv.send(Side::Client, F::PSH | F::ACK, req.as_bytes()),
        );
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        self.at(ms + 1, &conv.send(Side::Server, F::PSH | F::ACK, resp));
    }
}

/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

/// The conversation most tests use.
pub fn conv() -> Conv {
    Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000)
}

/// A `200` response event, the `n`-th on its connection.
pub fn resp(n: u32) -> EventKind {
    EventKind::Response {
        n,
        status: 200,
        closing: None,
    }
}

/// A side's first FIN after `idle_ms` without data (None: no data was ever sent).
pub fn fin(by: Side, idle_ms: Option<u64>) -> EventKind {
    EventKind::Fin {
        by,
        idle_ns: idle_ms.map(|ms| ms * MS),
    }
}

/// The `Closed` event of an orderly close after `lifetime_ms`.
pub fn closed(lifetime_ms: u64) -> EventKind {
    EventKind::Closed {
        by_rst: false,
        lifetime_ns: lifetime_ms * MS,
    }
}

/// An analyser event on connection `conn` (client 198.18.0.1 port 40000 + conn for the first
/// 20,000 connections, then 198.18.1.1 and so on; server 198.18.0.2:80) at `ms`, for timeline
/// and report tests that need events, not frames.
pub fn ev(conn: u64, ms: u64, kind: EventKind) -> Event {
    Event {
        t_ns: ms * MS,
        frame: 0,
        conn,
        client: format!("198.18.{}.1:{}", conn / 20_000, 40_000 + conn % 20_000)
            .parse()
            .expect("addr"),
        server: "198.18.0.2:80".parse().expect("addr"),
        kind,
    }
}

/// A `GET /` request event, the `n`-th on its connection.
pub fn req(n: u32, reused: bool) -> EventKind {
    EventKind::Request {
        n,
        method: "GET",
        path: "/".into(),
        reused,
        idle_ns: reused.then_some(MS),
        closing: None,
    }
}

/// What reading a capture's frames gave, with or without a reader decrypting ahead.
pub struct AheadRead {
    /// The analyser's events, in order.
    pub events: Vec<Event>,
    /// TLS records the reader opened for the analyser.
    pub opened: usize,
}

/// Reads `frames` (time in ms, Ethernet bytes) with the TLS `keys`, as `connlab inspect`
/// does: with `lag`, a reader decrypting ahead reads each frame `lag` frames before the
/// analyser and gets the analyser's key notes only once it has read the frames that gave
/// them; `spoil` sees each frame's opened records before the analyser does (tests change
/// them). Without `lag`, the analyser alone.
pub fn read_ahead(
    frames: &[(u64, Vec<u8>)],
    keys: &[u8],
    lag: Option<usize>,
    mut spoil: impl FnMut(&mut crate::analyze::OpenedRecords, std::ops::Range<u32>),
) -> AheadRead {
    use crate::analyze::{decode, Ahead, Decoded, OpenedRecords};
    let mut an = Analyzer::new();
    an.add_keys(keys);
    an.decrypt_ahead();
    let mut reader = Ahead::default();
    let mut out = OpenedRecords::default();
    let (mut ranges, mut notes, mut events, mut opened) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let decoded = |i: usize| Decoded::of(decode(LinkType::Ethernet, &frames[i].1));
    for i in 0..frames.len() + lag.unwrap_or(0) {
        if let (Some(_), Some(Decoded::Tcp(seg))) = (lag, (i < frames.len()).then(|| decoded(i))) {
            ranges.push(reader.segment(&seg, true, &mut out));
        } else if i < frames.len() {
            ranges.push(0..0);
        }
        let Some(at) = i.checked_sub(lag.unwrap_or(0)) else {
            continue;
        };
        let range = ranges[at].clone();
        spoil(&mut out, range.clone());
        opened += range.len();
        let t_ns = frames[at].0 * 1_000_000;
        an.handle_opened(t_ns, decoded(at), false, out.of(range), &mut events);
        an.take_key_notes(&mut notes);
        reader.follow(notes.drain(..));
    }
    AheadRead { events, opened }
}

/// What a RESP reader made of one direction's bytes fed in `pieces`: how many top-level
/// values, a digest of their kinds, counts and kept words in order (FNV-1a), and why the
/// framing broke, if it did. For the RESP fuzz target: none of it may depend on where pieces
/// end.
pub fn resp_read<'a>(
    client: bool,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> (u64, u64, Option<&'static str>) {
    use crate::analyze::proto::redis::resp::{Resp, WORDS};
    let mut reader = Resp::new(client);
    let (mut values, mut digest) = (0u64, 0xcbf2_9ce4_8422_2325_u64);
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            digest = (digest ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for piece in pieces {
        let fed = reader.feed(piece, &mut |m| {
            values += 1;
            mix(&[m.kind as u8]);
            mix(&m.count.to_le_bytes());
            for i in 0..WORDS {
                mix(m.word(i));
                mix(&[0xff]);
            }
        });
        if let Err(why) = fed {
            return (values, digest, Some(why.as_str()));
        }
    }
    (values, digest, None)
}

/// How many top-level RESP values `data` holds, read in one piece (the RESP bench's loop,
/// with nothing kept).
pub fn resp_count(client: bool, data: &[u8]) -> u64 {
    let mut reader = crate::analyze::proto::redis::resp::Resp::new(client);
    let mut n = 0;
    let _ = reader.feed(data, &mut |_| n += 1);
    n
}

/// What the PostgreSQL framing made of one direction's bytes fed in `pieces`: how many
/// messages, a digest of their types and kept bodies in order (FNV-1a), and why the framing
/// broke, if it did. A client's direction turns typed after its StartupMessage, as a session
/// makes it. For the PostgreSQL fuzz target: none of it may depend on where pieces end.
pub fn pg_read<'a>(
    client: bool,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> (u64, u64, Option<&'static str>) {
    use crate::analyze::proto::postgres::wire::{u32_at, Wire};
    let mut wire = Wire::new(client);
    let (mut messages, mut digest) = (0u64, 0xcbf2_9ce4_8422_2325_u64);
    for piece in pieces {
        let fed = wire.feed(piece, &mut |wire, m| {
            messages += 1;
            for &b in std::iter::once(&m.ty).chain(m.body) {
                digest = (digest ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            if m.ty == 0 && u32_at(m.body, 0).is_some_and(|code| code >> 16 == 3) {
                wire.typed();
            }
            true
        });
        if let Err(why) = fed {
            return (messages, digest, Some(why.as_str()));
        }
    }
    (messages, digest, None)
}

/// How many PostgreSQL messages `data` holds, read in pieces of `piece` bytes (a TCP
/// segment's payload) as a server's or a typed client's direction (the PostgreSQL bench's
/// loop, with nothing kept).
pub fn pg_count(client: bool, data: &[u8], piece: usize) -> u64 {
    let mut wire = crate::analyze::proto::postgres::wire::Wire::new(client);
    wire.typed();
    let mut n = 0;
    for piece in data.chunks(piece) {
        let _ = wire.feed(piece, &mut |_, _| {
            n += 1;
            true
        });
    }
    n
}

/// What the MySQL framing made of one direction's bytes fed in `pieces`: how many packets, a
/// digest of their sequence ids, lengths, continuation marks and kept payloads in order
/// (FNV-1a). For the MySQL fuzz target: none of it may depend on where pieces end.
pub fn my_read<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (u64, u64) {
    let mut wire = crate::analyze::proto::mysql::wire::Wire::default();
    let (mut packets, mut digest) = (0u64, 0xcbf2_9ce4_8422_2325_u64);
    for piece in pieces {
        wire.feed(piece, &mut |_, p| {
            packets += 1;
            let head = [p.seq, u8::from(p.continuation)];
            for &b in head.iter().chain(&p.len.to_le_bytes()).chain(p.body) {
                digest = (digest ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            true
        });
    }
    (packets, digest)
}
