//! HTTP/2 from built frames: what each conversation must give, split however the segments
//! fall, and what a damaged or hostile one must not do.

use super::frame::{END_HEADERS, END_STREAM, PREFACE};
use crate::analyze::event::{EventKind, Side};
use crate::analyze::h2_event::{H2Code, Http2Event as H};
use crate::testframes::{conv, Conv, Lab, F};

const HEADERS: u8 = 1;
const DATA: u8 = 0;
const RST: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// A header block for `fields`, encoded as a peer would (one encoder per direction).
fn block(encoder: &mut loona_hpack::Encoder<'static>, fields: &[(&str, &str)]) -> Vec<u8> {
    encoder.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = pairs
        .iter()
        .flat_map(|(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes()))
        .collect();
    frame(SETTINGS, 0, 0, &payload)
}

/// The two peers of one HTTP/2 conversation, their encoders and the lab it is fed to.
struct Peers {
    lab: Lab,
    c: Conv,
    enc: [loona_hpack::Encoder<'static>; 2],
    ms: u64,
}

impl Peers {
    /// The handshake only: nothing sent yet.
    fn connected() -> Peers {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        Peers {
            lab,
            c,
            enc: [loona_hpack::Encoder::new(), loona_hpack::Encoder::new()],
            ms: 10,
        }
    }

    /// Handshake, then the client's preface with its SETTINGS and the server's SETTINGS.
    fn new() -> Peers {
        let mut p = Peers::connected();
        p.send(
            Side::Client,
            &[PREFACE.as_slice(), &settings(&[(4, 1 << 20)])].concat(),
        );
        p.send(Side::Server, &settings(&[(3, 100)]));
        p
    }

    fn send(&mut self, side: Side, bytes: &[u8]) {
        self.lab
            .at(self.ms, &self.c.send(side, F::PSH | F::ACK, bytes));
        self.ms += 1;
    }

    /// An empty ACK from `side`: it acknowledges all the peer sent, seen or not.
    fn ack(&mut self, side: Side) {
        self.lab.at(self.ms, &self.c.send(side, F::ACK, b""));
        self.ms += 1;
    }

    fn headers(&mut self, side: Side, stream: u32, flags: u8, fields: &[(&str, &str)]) -> Vec<u8> {
        let i = usize::from(side == Side::Server);
        let b = block(&mut self.enc[i], fields);
        frame(HEADERS, flags | END_HEADERS, stream, &b)
    }

    fn request(&mut self, stream: u32, path: &str) -> Vec<u8> {
        let fields = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "lab"),
        ];
        self.headers(Side::Client, stream, END_STREAM, &fields)
    }

    fn response(&mut self, stream: u32) -> Vec<u8> {
        let head = self.headers(Side::Server, stream, 0, &[(":status", "200")]);
        [head, frame(DATA, END_STREAM, stream, b"ok")].concat()
    }

    fn h2(&self) -> Vec<H> {
        self.lab
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Http2(h) => Some(h.clone()),
                _ => None,
            })
            .collect()
    }
}

fn open(stream: u32, path: &str, concurrent: u32) -> H {
    H::StreamOpen {
        stream,
        method: "GET".into(),
        path: path.into(),
        grpc: false,
        concurrent,
    }
}

fn end(stream: u32) -> H {
    H::StreamEnd {
        stream,
        grpc_status: None,
    }
}

#[test]
fn a_request_and_its_response_by_prior_knowledge() {
    let mut p = Peers::new();
    let req = p.request(1, "/a");
    p.send(Side::Client, &req);
    let resp = p.response(1);
    p.send(Side::Server, &resp);
    assert_eq!(
        p.h2(),
        [
            H::Preface { upgraded: false },
            H::Settings {
                by: Side::Client,
                max_concurrent_streams: None,
                initial_window_size: Some(1 << 20)
            },
            H::Settings {
                by: Side::Server,
                max_concurrent_streams: Some(100),
                initial_window_size: None
            },
            open(1, "/a", 1),
            H::Response {
                stream: 1,
                status: 200
            },
            end(1),
        ]
    );
    let s = p.lab.an.summary();
    assert_eq!((s.http2.connections, s.http2.streams), (1, 1));
    assert_eq!(s.http2.streams_per_connection.max, 1);
    // Its bytes are not HTTP/1.1 requests.
    assert_eq!(s.requests, 0);
}

#[test]
fn frames_split_at_every_byte_give_the_same_events() {
    let mut whole = Peers::new();
    let mut split = Peers::new();
    let mut client = Vec::new();
    let mut server = Vec::new();
    for stream in [1, 3, 5] {
        client.extend(whole.request(stream, "/x"));
        server.extend(whole.response(stream));
    }
    split.enc = [loona_hpack::Encoder::new(), loona_hpack::Encoder::new()];
    whole.send(Side::Client, &client);
    whole.send(Side::Server, &server);
    for b in &client {
        split.send(Side::Client, &[*b]);
    }
    for b in &server {
        split.send(Side::Server, &[*b]);
    }
    assert_eq!(split.h2(), whole.h2());
    assert_eq!(split.lab.an.summary().http2.streams, 3);
}

#[test]
fn streams_open_at_once_are_counted() {
    let mut p = Peers::new();
    let mut reqs = Vec::new();
    for stream in [1, 3, 5, 7] {
        reqs.extend(p.request(stream, "/slow"));
    }
    p.send(Side::Client, &reqs);
    for stream in [1, 3, 5, 7] {
        let resp = p.response(stream);
        p.send(Side::Server, &resp);
    }
    let opens: Vec<u32> = p
        .h2()
        .iter()
        .filter_map(|h| match h {
            H::StreamOpen { concurrent, .. } => Some(*concurrent),
            _ => None,
        })
        .collect();
    assert_eq!(opens, [1, 2, 3, 4]);
    let s = p.lab.an.summary().http2;
    assert_eq!((s.streams, s.max_concurrent_streams_seen), (4, 4));
    assert_eq!(s.streams_per_connection.p50, 4);
}

#[test]
fn a_ping_is_matched_to_its_ack_by_its_data() {
    let mut p = Peers::new();
    p.send(Side::Client, &frame(PING, 0, 0, b"12345678"));
    p.ms += 40;
    p.send(Side::Server, &frame(PING, 1, 0, b"12345678"));
    let h = p.h2();
    assert_eq!(h[h.len() - 2], H::Ping { by: Side::Client });
    assert_eq!(
        h[h.len() - 1],
        H::PingAck {
            by: Side::Server,
            rtt_ns: Some(41_000_000)
        }
    );
    let s = p.lab.an.summary().http2;
    assert_eq!((s.pings.client, s.ping_acks.server), (1, 1));
}

#[test]
fn goaway_with_debug_data_and_resets_by_code() {
    let mut p = Peers::new();
    let req = p.request(1, "/");
    p.send(Side::Client, &req);
    p.send(Side::Client, &frame(RST, 0, 1, &8u32.to_be_bytes()));
    let goaway = [1u32.to_be_bytes(), 11u32.to_be_bytes()].concat();
    p.send(
        Side::Server,
        &frame(GOAWAY, 0, 0, &[&goaway[..], b"too_many_pings"].concat()),
    );
    let h = p.h2();
    assert!(h.contains(&H::Reset {
        by: Side::Client,
        stream: 1,
        code: H2Code::CANCEL
    }));
    assert_eq!(
        h.last(),
        Some(&H::GoAway {
            by: Side::Server,
            last_stream: 1,
            code: H2Code::ENHANCE_YOUR_CALM,
            debug: "too_many_pings".into()
        })
    );
    let s = p.lab.an.summary().http2;
    assert_eq!(s.rst_streams.get("CANCEL"), Some(&1));
    assert_eq!(s.goaways.server.get("ENHANCE_YOUR_CALM"), Some(&1));
}

#[test]
fn grpc_calls_and_their_status_from_the_trailers() {
    let mut p = Peers::new();
    let call = p.headers(
        Side::Client,
        1,
        0,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/helloworld.Greeter/SayHello"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ],
    );
    let message = frame(DATA, END_STREAM, 1, &[0, 0, 0, 0, 2, 8, 1]);
    p.send(Side::Client, &[call, message].concat());
    let head = p.headers(
        Side::Server,
        1,
        0,
        &[(":status", "200"), ("content-type", "application/grpc")],
    );
    let trailers = p.headers(
        Side::Server,
        1,
        END_STREAM,
        &[("grpc-status", "14"), ("grpc-message", "unavailable")],
    );
    p.send(Side::Server, &[head, trailers].concat());
    let h = p.h2();
    assert!(matches!(h[3], H::StreamOpen { grpc: true, .. }), "{h:?}");
    assert_eq!(
        h.last(),
        Some(&H::StreamEnd {
            stream: 1,
            grpc_status: Some(14)
        })
    );
    assert_eq!(p.lab.an.summary().http2.grpc_status.get("14"), Some(&1));
}

#[test]
fn an_h2c_upgrade_continues_stream_one_in_http2() {
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.handshake(&mut c, 0);
    let up = b"GET /up HTTP/1.1\r\nHost: lab\r\nConnection: Upgrade, HTTP2-Settings\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, up));
    let mut enc = loona_hpack::Encoder::new();
    let head = frame(
        HEADERS,
        END_HEADERS,
        1,
        &block(&mut enc, &[(":status", "200")]),
    );
    let switched = [
        &b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"[..],
        &settings(&[]),
        &head,
        &frame(DATA, END_STREAM, 1, b"ok"),
    ]
    .concat();
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, &switched));
    lab.at(
        12,
        &c.send(
            Side::Client,
            F::PSH | F::ACK,
            &[PREFACE.as_slice(), &settings(&[])].concat(),
        ),
    );
    let h: Vec<H> = lab
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Http2(h) => Some(h.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(h[0], H::Preface { upgraded: true });
    assert!(h.contains(&H::Response {
        stream: 1,
        status: 200
    }));
    assert!(h.contains(&end(1)), "{h:?}");
    let s = lab.an.summary();
    assert_eq!((s.requests, s.http2.connections), (1, 1));
}

#[test]
fn a_gap_in_data_is_skipped_and_a_gap_at_a_frame_header_loses_the_framing() {
    let mut p = Peers::new();
    let req = p.request(1, "/big");
    p.send(Side::Client, &req);
    let head = p.headers(Side::Server, 1, 0, &[(":status", "200")]);
    p.send(Side::Server, &head);
    // DATA of 100 bytes whose middle 60 the capture missed: the framing goes on.
    let data = frame(DATA, END_STREAM, 1, &[b'x'; 100]);
    p.send(Side::Server, &data[..29]);
    p.c.next[1] = p.c.next[1].wrapping_add(60);
    p.send(Side::Server, &data[89..]);
    // The client's ACK says the missed bytes were on the wire.
    p.ack(Side::Client);
    assert_eq!(p.h2().last(), Some(&end(1)));
    // A gap where a frame header is: nothing after it is read.
    let req = p.request(3, "/lost");
    p.c.next[0] = p.c.next[0].wrapping_add(5);
    p.send(Side::Client, &req[5..]);
    p.ack(Side::Server);
    assert_eq!(p.h2().last(), Some(&H::LostSync { by: Side::Client }));
    assert_eq!(p.lab.an.summary().http2.streams, 1);
}

#[test]
fn a_missed_header_block_loses_the_table_but_frames_still_count() {
    let mut p = Peers::new();
    let first = p.request(1, "/first");
    // The middle of the block is missed (its frame header is whole).
    p.send(Side::Client, &first[..10]);
    p.c.next[0] = p.c.next[0].wrapping_add(first.len() as u32 - 11);
    p.send(Side::Client, &first[first.len() - 1..]);
    p.ack(Side::Server);
    let second = p.request(3, "/second");
    p.send(Side::Client, &second);
    let h = p.h2();
    assert!(h.contains(&H::HpackLost { by: Side::Client }), "{h:?}");
    let opens = h
        .iter()
        .filter(|e| matches!(e, H::StreamOpen { path, .. } if path.is_empty()))
        .count();
    assert_eq!(
        opens, 2,
        "both streams counted, neither path guessed: {h:?}"
    );
}

#[test]
fn window_used_up_is_a_stall_until_an_update() {
    let mut p = Peers::new();
    let req = p.request(1, "/download");
    p.send(Side::Client, &req);
    let head = p.headers(Side::Server, 1, 0, &[(":status", "200")]);
    p.send(Side::Server, &head);
    // The client gave streams 1 MiB but the connection keeps 65,535 bytes.
    for _ in 0..4 {
        p.send(Side::Server, &frame(DATA, 0, 1, &[0; 16_384]));
    }
    let stalls = |p: &Peers| {
        p.h2()
            .iter()
            .filter(|h| matches!(h, H::WindowStall { .. }))
            .count()
    };
    assert_eq!(
        p.h2().last(),
        Some(&H::WindowStall {
            by: Side::Server,
            stream: 0
        })
    );
    p.send(
        Side::Client,
        &frame(WINDOW_UPDATE, 0, 0, &100_000u32.to_be_bytes()),
    );
    p.send(Side::Server, &frame(DATA, 0, 1, &[0; 100]));
    assert_eq!(stalls(&p), 1, "no new stall while the window lasts");
}

#[test]
fn a_body_that_exactly_fills_the_window_is_no_stall() {
    let mut p = Peers::new();
    let req = p.request(1, "/exact");
    p.send(Side::Client, &req);
    let head = p.headers(Side::Server, 1, 0, &[(":status", "200")]);
    p.send(Side::Server, &head);
    // 65,535 bytes: the connection's whole initial window, the last frame ending the stream.
    for _ in 0..3 {
        p.send(Side::Server, &frame(DATA, 0, 1, &[0; 16_384]));
    }
    p.send(Side::Server, &frame(DATA, END_STREAM, 1, &[0; 16_383]));
    let stalls = p
        .h2()
        .iter()
        .filter(|h| matches!(h, H::WindowStall { .. }))
        .count();
    assert_eq!(stalls, 0, "nothing was left to send: {:?}", p.h2());
}

#[test]
fn hostile_frames_are_errors_with_bounded_memory() {
    let mut p = Peers::new();
    // A header block that never ends: CONTINUATION after CONTINUATION.
    let start = frame(HEADERS, 0, 1, &[0x82]);
    p.send(Side::Client, &start);
    for _ in 0..10 {
        p.send(Side::Client, &frame(CONTINUATION, 0, 1, &[0x40; 16_000]));
    }
    let h = p.h2();
    assert!(h.contains(&H::ProtocolError {
        by: Side::Client,
        error: "header block over 64 KiB"
    }));
    // Bad lengths of control frames, and a reset of stream 0.
    p.send(Side::Server, &frame(PING, 0, 0, b"short"));
    p.send(Side::Server, &frame(RST, 0, 1, b"xx"));
    let errors = p
        .h2()
        .iter()
        .filter(|h| {
            matches!(
                h,
                H::ProtocolError {
                    by: Side::Server,
                    ..
                }
            )
        })
        .count();
    assert_eq!(errors, 2);
    // A connection whose first bytes begin the preface and then break it.
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.handshake(&mut c, 0);
    lab.at(
        10,
        &c.send(Side::Client, F::PSH | F::ACK, b"PRI * HTTP/2.0\r\n\r\nXX"),
    );
    assert!(lab.events.iter().any(|e| matches!(
        e.kind,
        EventKind::Http2(H::ProtocolError {
            error: "not the HTTP/2 connection preface",
            ..
        })
    )));
}

/// The findings of `p`'s capture.
fn findings(p: &Peers) -> Vec<crate::diagnose::Finding> {
    let mut d = crate::diagnose::Diagnosis::new();
    for e in &p.lab.events {
        d.apply(e);
    }
    d.report().findings
}

fn goaway_frame(last: u32, code: u32, debug: &[u8]) -> Vec<u8> {
    let payload = [&last.to_be_bytes()[..], &code.to_be_bytes(), debug].concat();
    frame(GOAWAY, 0, 0, &payload)
}

#[test]
fn pings_answered_by_enhance_your_calm_are_too_many_pings() {
    let mut p = Peers::new();
    for i in 0..3u8 {
        p.send(Side::Client, &frame(PING, 0, 0, &[i; 8]));
        p.send(Side::Server, &frame(PING, 1, 0, &[i; 8]));
        p.ms += 98;
    }
    p.send(Side::Server, &goaway_frame(0, 11, b"too_many_pings"));
    let f = findings(&p);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind.as_str(), "grpc_too_many_pings");
    assert_eq!(f[0].ping_interval_ms, Some(100.0));
}

#[test]
fn an_idle_goaway_and_an_unanswered_ping_are_findings() {
    // The server's GOAWAY one second after the last stream ended.
    let mut p = Peers::new();
    let req = p.request(1, "/");
    p.send(Side::Client, &req);
    let resp = p.response(1);
    p.send(Side::Server, &resp);
    p.ms += 999;
    p.send(Side::Server, &goaway_frame(1, 0, b""));
    let f = findings(&p);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind.as_str(), "h2_idle_close");
    assert_eq!(f[0].by, Some("server"));
    let after = f[0].after_ms.expect("after");
    assert!((999.0..1_001.0).contains(&after), "{after}");
    // A client whose PING gets no answer, which closes 15 s later.
    let mut p = Peers::new();
    p.send(Side::Client, &frame(PING, 0, 0, b"deadbeef"));
    p.ms += 14_999;
    p.lab
        .at(p.ms, &p.c.send(Side::Client, F::FIN | F::ACK, b""));
    let f = findings(&p);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind.as_str(), "h2_ping_timeout");
    assert_eq!(f[0].after_ms, Some(15_000.0));
}

#[test]
fn a_vanished_peer_never_pinged_is_a_dead_connection_not_a_dead_peer() {
    let mut p = Peers::new();
    let req = p.request(1, "/");
    let seq = p.c.next[0];
    for ms in [100, 300, 700, 1_500] {
        let f =
            p.c.frame(Side::Client, F::PSH | F::ACK, seq, p.c.next[1], &req);
        p.lab.at(ms, &f);
    }
    let f = findings(&p);
    let kinds: Vec<&str> = f.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["h2_dead_connection"], "{f:#?}");
}

/// nghttpd sends its SETTINGS as soon as the connection is up, before the client's preface
/// arrives (captures nobody here made, item 4): they are read, and the server's
/// MAX_CONCURRENT_STREAMS is known.
#[test]
fn server_settings_before_the_clients_preface_are_read() {
    let mut p = Peers::connected();
    p.send(Side::Server, &settings(&[(3, 128)]));
    p.send(Side::Client, &[PREFACE.as_slice(), &settings(&[])].concat());
    let req = p.request(1, "/a");
    p.send(Side::Client, &req);
    let resp = p.response(1);
    p.send(Side::Server, &resp);
    let h2 = p.h2();
    let server_settings = H::Settings {
        by: Side::Server,
        max_concurrent_streams: Some(128),
        initial_window_size: None,
    };
    assert!(h2.contains(&server_settings), "{h2:?}");
    assert!(h2.contains(&end(1)), "{h2:?}");
    let s = p.lab.an.summary();
    assert_eq!((s.http2.connections, s.http2.streams), (1, 1));
}
