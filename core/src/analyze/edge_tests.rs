//! The edges real captures have that connlab's own labs do not make (issue: captures nobody
//! here made): each a crafted capture that went wrong before.

use crate::analyze::event::{EventKind as K, Side};
use crate::testframes::{Conv, Lab, F};

const C: Side = Side::Client;
const S: Side = Side::Server;

/// The client's FIN of connection 1 was read as one, and nothing as a retransmission.
fn a_fin_not_a_retransmit(lab: &Lab) {
    let kinds = lab.kinds(1);
    let fin = |k: &K| {
        matches!(
            k,
            K::Fin {
                by: Side::Client,
                ..
            }
        )
    };
    assert!(kinds.iter().any(fin), "{kinds:?}");
    let retransmit = |k: &K| matches!(k, K::Retransmit { .. });
    assert!(!kinds.iter().any(retransmit), "{kinds:?}");
}

fn conv() -> Conv {
    Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1_000, 5_000)
}

/// The SYN, then a FIN with the same sequence number before any answer (a stack that closes
/// before its handshake completes without counting its SYN; a scanner's SYN then FIN): a
/// FIN, not a retransmission of the SYN.
#[test]
fn a_fin_on_the_syns_sequence_number_is_a_fin() {
    let (mut lab, c) = (Lab::default(), conv());
    lab.at(0, &c.frame(C, F::SYN, 1_000, 0, b""));
    lab.at(1, &c.frame(C, F::FIN, 1_000, 0, b""));
    a_fin_not_a_retransmit(&lab);
}

/// A FIN sent before the handshake completed, on the next sequence number: a FIN.
#[test]
fn a_fin_before_the_handshake_completes_is_a_fin() {
    let (mut lab, c) = (Lab::default(), conv());
    lab.at(0, &c.frame(C, F::SYN, 1_000, 0, b""));
    lab.at(1, &c.frame(S, F::SYN | F::ACK, 5_000, 1_001, b""));
    lab.at(2, &c.frame(C, F::FIN | F::ACK, 1_001, 5_001, b""));
    a_fin_not_a_retransmit(&lab);
}

/// An RST (injected in the server's name) that overtakes the client's last ACK of the
/// handshake: the connection closed; the ACK arriving after establishes nothing, and no event
/// comes after `closed`.
#[test]
fn closed_never_comes_before_established() {
    let (mut lab, c) = (Lab::default(), conv());
    lab.at(0, &c.frame(C, F::SYN, 1_000, 0, b""));
    lab.at(1, &c.frame(S, F::SYN | F::ACK, 5_000, 1_001, b""));
    lab.at(2, &c.frame(S, F::RST, 5_001, 0, b""));
    lab.at(3, &c.frame(C, F::ACK, 1_001, 5_001, b""));
    let kinds = lab.kinds(1);
    let closed = kinds
        .iter()
        .position(|k| matches!(k, K::Closed { .. }))
        .unwrap_or_else(|| panic!("no closed in {kinds:?}"));
    assert_eq!(closed, kinds.len() - 1, "{kinds:?}");
    assert!(!kinds.iter().any(|k| matches!(k, K::Established { .. })));
}

/// The paths of the requests of connection `conn`, in order.
fn requests_of(lab: &Lab, conn: u64) -> Vec<String> {
    lab.kinds(conn)
        .into_iter()
        .filter_map(|k| match k {
            K::Request { path, .. } => Some(path.to_string()),
            _ => None,
        })
        .collect()
}

/// The paths of the requests of connection 1, in order, and whether each asked to close.
fn requests(lab: &Lab) -> Vec<(String, bool)> {
    lab.kinds(1)
        .into_iter()
        .filter_map(|k| match k {
            K::Request { path, closing, .. } => Some((path.to_string(), closing.is_some())),
            _ => None,
        })
        .collect()
}

/// A request sent a byte at a time (a slow client, a test tool): one request, its headers
/// read (it asks to close), at the frame of its last byte.
#[test]
fn a_request_a_byte_at_a_time_is_one_request() {
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.handshake(&mut c, 0);
    let request = b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (i, byte) in request.iter().enumerate() {
        lab.at(10 + i as u64, &c.send(C, F::PSH | F::ACK, &[*byte]));
    }
    assert_eq!(requests(&lab), [("/slow".to_owned(), true)]);
    let at = lab
        .events
        .iter()
        .find(|e| matches!(e.kind, K::Request { .. }));
    assert_eq!(at.map(|e| e.frame), Some(3 + request.len() as u64));
}

/// Lines ended with a bare LF (`GET / HTTP/1.0\n\n`): the request, HTTP/1.0's close, and a
/// second request pipelined after the first's blank line.
#[test]
fn requests_with_bare_lf_line_ends_are_read() {
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.handshake(&mut c, 0);
    let pipelined = b"GET /a HTTP/1.1\nHost: x\n\nGET /b HTTP/1.0\n\n";
    lab.at(10, &c.send(C, F::PSH | F::ACK, pipelined));
    lab.at(
        11,
        &c.send(
            S,
            F::PSH | F::ACK,
            b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        ),
    );
    assert_eq!(
        requests(&lab),
        [("/a".to_owned(), false), ("/b".to_owned(), true)]
    );
    assert_eq!(lab.an.summary().responses, 1);
}

/// Empty lines before a request line (RFC 9112 §2.2: a server ignores them), in the request's
/// piece or in a piece of their own: the request is found, and the connection stays HTTP.
#[test]
fn empty_lines_before_a_request_are_padding() {
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.handshake(&mut c, 0);
    lab.at(10, &c.send(C, F::PSH | F::ACK, b"\r\n"));
    lab.at(
        11,
        &c.send(
            C,
            F::PSH | F::ACK,
            b"\r\nGET /p HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
    );
    lab.at(
        12,
        &c.send(S, F::PSH | F::ACK, b"HTTP/1.1 204 No Content\r\n\r\n"),
    );
    lab.at(
        13,
        &c.send(C, F::PSH | F::ACK, b"\nGET /q HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    assert_eq!(
        requests(&lab),
        [("/p".to_owned(), false), ("/q".to_owned(), false)]
    );
}

/// A capture that began after the SYN (its first frames the SYN-ACK and the client's ACK:
/// a SYN-ACK alone could be one recorded a moment before its SYN) and one that began
/// mid-stream: each is a connection, marked as begun before the capture, and the mid-stream
/// one's request is read.
#[test]
fn connections_begun_before_the_capture_are_counted_and_marked() {
    let mut lab = Lab::default();
    let syn_acked = conv();
    lab.at(0, &syn_acked.frame(S, F::SYN | F::ACK, 5_000, 1_001, b""));
    lab.at(1, &syn_acked.frame(C, F::ACK, 1_001, 5_001, b""));
    let mut mid = Conv::new("10.0.0.1:40001", "10.0.0.2:80", 7_000, 9_000);
    let request = mid.send(C, F::PSH | F::ACK, b"GET /m HTTP/1.1\r\nHost: x\r\n\r\n");
    lab.at(1, &request);
    let begun = |conn: u64| {
        lab.kinds(conn).into_iter().find_map(|k| match k {
            K::BegunBeforeCapture { syn_ack } => Some(syn_ack),
            _ => None,
        })
    };
    assert_eq!((begun(1), begun(2)), (Some(true), Some(false)));
    let summary = lab.an.summary();
    assert_eq!((summary.connections, summary.begun_before_capture), (2, 2));
    assert_eq!(requests_of(&lab, 2), ["/m"]);
}

/// The response was not captured, the server's FIN after it was, and the client ACKs that FIN:
/// the bytes before the FIN are a capture hole at the end of the server's stream.
#[test]
fn bytes_missing_before_a_fin_are_a_hole_at_the_end() {
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.handshake(&mut c, 0);
    lab.at(
        10,
        &c.send(C, F::PSH | F::ACK, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    let _lost = c.send(S, F::PSH | F::ACK, &[b'x'; 100]);
    lab.at(12, &c.send(S, F::FIN | F::ACK, b""));
    lab.at(13, &c.send(C, F::ACK, b""));
    let kinds = lab.kinds(1);
    let hole = K::CaptureHole {
        side: S,
        bytes: 100,
    };
    assert!(kinds.contains(&hole), "{kinds:?}");
}
