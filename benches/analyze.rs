//! The analyser's throughput on a keep-alive conversation, on WebSocket traffic and on
//! HTTP/2: the per-frame cost behind `connlab inspect` and the live recorder.

use std::hint::black_box;

use connlab_core::analyze::{Analyzer, LinkType, Side};
use connlab_core::testframes::{Conv, F};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// 16 connections, each a handshake then `requests` request/response pairs, interleaved.
fn conversation(requests: u32) -> Vec<Vec<u8>> {
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut convs: Vec<Conv> = (0..16)
        .map(|i| Conv::new(&format!("198.18.0.1:{}", 40_000 + i), "198.18.0.2:80", 0, 0))
        .collect();
    let mut frames = Vec::new();
    for c in &mut convs {
        frames.push(c.send(Side::Client, F::SYN, b""));
        frames.push(c.send(Side::Server, F::SYN | F::ACK, b""));
        frames.push(c.send(Side::Client, F::ACK, b""));
    }
    for _ in 0..requests {
        for c in &mut convs {
            frames.push(c.send(Side::Client, F::PSH | F::ACK, req));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, resp));
        }
    }
    frames
}

/// A WebSocket frame of `payload`, masked when the client sends it (RFC 6455 5.2).
fn ws_frame(masked: bool, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![0x81, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// 16 connections, each upgraded to WebSocket, then `messages` text messages each way.
fn websocket(messages: u32) -> Vec<Vec<u8>> {
    let upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let switched = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let (to_server, to_client) = (
        ws_frame(true, b"message 123456"),
        ws_frame(false, b"message 123456"),
    );
    let mut convs: Vec<Conv> = (0..16)
        .map(|i| Conv::new(&format!("198.18.0.1:{}", 40_000 + i), "198.18.0.2:80", 0, 0))
        .collect();
    let mut frames = Vec::new();
    for c in &mut convs {
        frames.push(c.send(Side::Client, F::SYN, b""));
        frames.push(c.send(Side::Server, F::SYN | F::ACK, b""));
        frames.push(c.send(Side::Client, F::ACK, b""));
        frames.push(c.send(Side::Client, F::PSH | F::ACK, upgrade));
        frames.push(c.send(Side::Server, F::PSH | F::ACK, switched));
    }
    for _ in 0..messages {
        for c in &mut convs {
            frames.push(c.send(Side::Client, F::PSH | F::ACK, &to_server));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, &to_client));
        }
    }
    frames
}

/// An HTTP/2 frame.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// 16 HTTP/2 connections by prior knowledge, then `requests` streams on each: a HEADERS
/// (GET /, HPACK-indexed as a browser's repeat requests are) from the client, HEADERS and a
/// small DATA from the server, one request/response pair per segment as in the HTTP/1.1 case.
fn http2(requests: u32) -> Vec<Vec<u8>> {
    let preface = [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
        &h2_frame(4, 0, 0, &[]),
    ]
    .concat();
    let mut convs: Vec<Conv> = (0..16)
        .map(|i| Conv::new(&format!("198.18.0.1:{}", 40_000 + i), "198.18.0.2:80", 0, 0))
        .collect();
    let mut frames = Vec::new();
    for c in &mut convs {
        frames.push(c.send(Side::Client, F::SYN, b""));
        frames.push(c.send(Side::Server, F::SYN | F::ACK, b""));
        frames.push(c.send(Side::Client, F::ACK, b""));
        frames.push(c.send(Side::Client, F::PSH | F::ACK, &preface));
        frames.push(c.send(Side::Server, F::PSH | F::ACK, &h2_frame(4, 0, 0, &[])));
    }
    for n in 0..requests {
        let stream = 2 * n + 1;
        // :method GET, :scheme http, :path / from the static table; :authority "x" added to
        // the dynamic table by the first request and referred to (index 62) by the next ones,
        // as HPACK encoders do.
        let authority: &[u8] = if n == 0 { &[0x41, 0x01, b'x'] } else { &[0xbe] };
        let request = h2_frame(
            1,
            0x5,
            stream,
            &[&[0x82, 0x86, 0x84][..], authority].concat(),
        );
        let response = [
            h2_frame(1, 0x4, stream, &[0x88]),
            h2_frame(0, 0x1, stream, b"ok"),
        ]
        .concat();
        for c in &mut convs {
            frames.push(c.send(Side::Client, F::PSH | F::ACK, &request));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, &response));
        }
    }
    frames
}

fn analyse(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyser");
    group.sample_size(20);
    for (name, frames) in [
        ("keep-alive frames", conversation(3_000)),
        ("websocket frames", websocket(3_000)),
        ("http2 frames", http2(3_000)),
    ] {
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut analyzer = Analyzer::new();
                let mut events = Vec::new();
                for (i, f) in frames.iter().enumerate() {
                    events.clear();
                    analyzer.handle_frame(i as u64 * 1_000, LinkType::Ethernet, f, &mut events);
                }
                black_box(analyzer.summary())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, analyse);
criterion_main!(benches);
