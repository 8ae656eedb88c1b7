//! IPv6 extension headers and fragments (issue: captures nobody here made, item 1): frames
//! whose TCP segment sits behind an extension chain or across fragments, each of which was
//! dropped without a count before.

use crate::analyze::event::{EventKind as K, Side};
use crate::testframes::{ethernet, Conv, Lab, F};

const C: Side = Side::Client;
const S: Side = Side::Server;
const GET: &[u8] = b"GET /a-path-long-enough-to-split HTTP/1.1\r\nHost: x\r\n\r\n";

fn v6() -> Conv {
    Conv::new("[2001:db8::1]:40000", "[2001:db8::2]:80", 1_000, 5_000)
}

fn v4() -> Conv {
    Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1_000, 5_000)
}

/// The IP packet inside an Ethernet frame of [`Conv`], without the padding.
fn ip_of(frame: &[u8]) -> Vec<u8> {
    let ip = &frame[14..];
    let len = if ip[0] >> 4 == 6 {
        40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]))
    } else {
        usize::from(u16::from_be_bytes([ip[2], ip[3]]))
    };
    ip[..len].to_vec()
}

/// An IPv6 packet with `headers` (each: its next-header number and its body after the two
/// first bytes) inserted between the fixed header and the payload.
fn with_extensions(packet: &[u8], headers: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = packet[..40].to_vec();
    let mut chain = Vec::new();
    for (i, (kind, body)) in headers.iter().enumerate() {
        if i == 0 {
            out[6] = *kind;
        }
        let next = headers.get(i + 1).map_or(packet[6], |(k, _)| *k);
        let words = if *kind == 51 {
            (body.len() + 2) / 4 - 2
        } else {
            (body.len() + 2) / 8 - 1
        };
        chain.push(next);
        chain.push(u8::try_from(words).expect("short header"));
        chain.extend_from_slice(body);
    }
    out.extend_from_slice(&chain);
    out.extend_from_slice(&packet[40..]);
    let payload = u16::try_from(out.len() - 40).expect("small packet");
    out[4..6].copy_from_slice(&payload.to_be_bytes());
    out
}

/// The pieces of a `len`-byte payload cut at `cuts`: each one's start and end, and whether more
/// follow.
fn pieces(len: usize, cuts: &[usize]) -> Vec<([usize; 2], bool)> {
    let mut edges = vec![0];
    edges.extend_from_slice(cuts);
    edges.push(len);
    edges
        .windows(2)
        .map(|w| ([w[0], w[1]], w[1] < len))
        .collect()
}

/// The IPv6 packet's payload cut into fragments at `cuts` (byte offsets, multiples of 8).
fn v6_fragments(packet: &[u8], id: u32, cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &packet[40..];
    pieces(payload.len(), cuts)
        .into_iter()
        .map(|(w, more)| {
            let mut out = packet[..40].to_vec();
            out[6] = 44;
            let offset = u16::try_from(w[0]).expect("offset") | u16::from(more);
            out.extend_from_slice(&[packet[6], 0]);
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&payload[w[0]..w[1]]);
            let length = u16::try_from(out.len() - 40).expect("small packet");
            out[4..6].copy_from_slice(&length.to_be_bytes());
            out
        })
        .collect()
}

/// The IPv4 packet cut into fragments at `cuts` (payload offsets, multiples of 8).
fn v4_fragments(packet: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &packet[20..];
    pieces(payload.len(), cuts)
        .into_iter()
        .map(|(w, more)| {
            let mut out = packet[..20].to_vec();
            out[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            let field = u16::try_from(w[0] / 8).expect("offset") | if more { 0x2000 } else { 0 };
            out[6..8].copy_from_slice(&field.to_be_bytes());
            out.extend_from_slice(&payload[w[0]..w[1]]);
            let total = u16::try_from(out.len()).expect("small packet");
            out[2..4].copy_from_slice(&total.to_be_bytes());
            out
        })
        .collect()
}

fn eth(ip: &[u8]) -> Vec<u8> {
    let ethertype = if ip[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
    ethernet(ethertype, ip)
}

/// The handshake of `c`, fed at 0, 1 and 2 ms.
fn handshake(lab: &mut Lab, c: &mut Conv) {
    lab.at(0, &c.send(C, F::SYN, b""));
    lab.at(1, &c.send(S, F::SYN | F::ACK, b""));
    lab.at(2, &c.send(C, F::ACK, b""));
}

fn requests(lab: &Lab) -> usize {
    lab.kinds(1)
        .iter()
        .filter(|k| matches!(k, K::Request { .. }))
        .count()
}

/// A request split over three IPv6 fragments, the last arriving first: one request, at the
/// frame that completed it.
#[test]
fn a_request_in_ipv6_fragments_out_of_order_is_put_back_together() {
    let (mut lab, mut c) = (Lab::default(), v6());
    handshake(&mut lab, &mut c);
    let pieces = v6_fragments(&ip_of(&c.send(C, F::PSH | F::ACK, GET)), 7, &[24, 48]);
    for (ms, piece) in [(3, &pieces[2]), (4, &pieces[0]), (5, &pieces[1])] {
        lab.at(ms, &eth(piece));
    }
    assert_eq!(requests(&lab), 1, "{:?}", lab.kinds(1));
    let summary = lab.summary();
    assert_eq!(summary.ip_fragments.reassembled, 1);
    assert_eq!(summary.frames, 6);
}

/// Hop-by-hop, routing, destination options and an Authentication Header before TCP, and an
/// atomic fragment: every segment of the connection is read.
#[test]
fn segments_behind_an_ipv6_extension_chain_are_read() {
    let (mut lab, mut c) = (Lab::default(), v6());
    let chain = |packet: &[u8]| {
        with_extensions(
            packet,
            &[
                (0, vec![1, 4, 0, 0, 0, 0]),
                (43, vec![0, 0, 0, 0, 0, 0]),
                (60, vec![1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                (
                    51,
                    vec![
                        0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    ],
                ),
            ],
        )
    };
    let syn = c.send(C, F::SYN, b"");
    lab.at(0, &eth(&chain(&ip_of(&syn))));
    lab.at(1, &c.send(S, F::SYN | F::ACK, b""));
    let atomic = v6_fragments(&ip_of(&c.send(C, F::ACK, b"")), 9, &[]);
    lab.at(2, &eth(&atomic[0]));
    lab.at(3, &eth(&chain(&ip_of(&c.send(C, F::PSH | F::ACK, GET)))));
    let kinds = lab.kinds(1);
    assert!(
        kinds.iter().any(|k| matches!(k, K::Established { .. })),
        "{kinds:?}"
    );
    assert_eq!(requests(&lab), 1, "{kinds:?}");
    let summary = lab.summary();
    assert_eq!((summary.tcp_segments, summary.undecodable), (4, 0));
}

/// An extension header nothing says the length of (RFC 3692's experimental 253): counted as
/// undecodable, not dropped in silence.
#[test]
fn an_unknown_extension_header_is_counted_undecodable() {
    let (mut lab, mut c) = (Lab::default(), v6());
    let mut packet = ip_of(&c.send(C, F::SYN, b""));
    packet[6] = 253;
    lab.at(0, &eth(&packet));
    assert_eq!(lab.summary().undecodable, 1);
}

/// Two pieces that overlap: the datagram is dropped and counted, and its other pieces never
/// make it whole.
#[test]
fn overlapping_fragments_are_an_anomaly_never_reassembled() {
    let (mut lab, mut c) = (Lab::default(), v6());
    handshake(&mut lab, &mut c);
    let packet = ip_of(&c.send(C, F::PSH | F::ACK, GET));
    let first = v6_fragments(&packet, 7, &[32]);
    let other = v6_fragments(&packet, 7, &[16]);
    lab.at(3, &eth(&first[0]));
    lab.at(4, &eth(&other[1]));
    lab.at(5, &eth(&first[1]));
    lab.at(6, &eth(&other[0]));
    assert_eq!(requests(&lab), 0);
    let fragments = lab.summary().ip_fragments;
    assert_eq!((fragments.overlapping, fragments.reassembled), (1, 0));
}

/// The wait for a datagram's pieces is bounded (30 s of capture time, as Linux's
/// ipfrag_time): a piece after that starts a new wait, and the first is counted incomplete.
#[test]
fn a_datagram_whose_pieces_come_too_late_is_incomplete() {
    let (mut lab, mut c) = (Lab::default(), v6());
    handshake(&mut lab, &mut c);
    let pieces = v6_fragments(&ip_of(&c.send(C, F::PSH | F::ACK, GET)), 7, &[24]);
    lab.at(3, &eth(&pieces[0]));
    lab.at(40_000, &eth(&pieces[1]));
    assert_eq!(requests(&lab), 0);
    assert_eq!(lab.summary().ip_fragments.incomplete, 2);
}

/// A piece a snap length cut cannot be put back: the datagram is incomplete.
#[test]
fn a_cut_fragment_makes_its_datagram_incomplete() {
    let (mut lab, mut c) = (Lab::default(), v6());
    handshake(&mut lab, &mut c);
    let pieces = v6_fragments(&ip_of(&c.send(C, F::PSH | F::ACK, GET)), 7, &[24]);
    let mut cut = pieces[0].clone();
    cut.truncate(cut.len() - 8);
    let frame = eth(&cut);
    // The IPv6 length still claims the whole piece: a whole frame that holds less is damage.
    lab.at(3, &frame);
    assert_eq!(lab.summary().undecodable, 1);
    // Read as cut by a snap length, it is a fragment that cannot be put back.
    let mut defrag = crate::analyze::Defragmenter::default();
    let frame = (crate::analyze::LinkType::Ethernet, frame.as_slice());
    assert_eq!(defrag.take(3_000_000, frame, true), Some(None));
    assert_eq!(defrag.summary().incomplete, 1);
}

/// IPv4 fragments too: the request arrives whole.
#[test]
fn a_request_in_ipv4_fragments_is_put_back_together() {
    let (mut lab, mut c) = (Lab::default(), v4());
    handshake(&mut lab, &mut c);
    let pieces = v4_fragments(&ip_of(&c.send(C, F::PSH | F::ACK, GET)), &[40]);
    lab.at(3, &eth(&pieces[1]));
    lab.at(4, &eth(&pieces[0]));
    assert_eq!(requests(&lab), 1, "{:?}", lab.kinds(1));
    assert_eq!(lab.summary().ip_fragments.reassembled, 1);
}
