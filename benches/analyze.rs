//! The analyser's throughput on a keep-alive conversation: the per-frame cost behind
//! `connlab inspect` and the live recorder.

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

fn analyse(c: &mut Criterion) {
    let frames = conversation(3_000);
    let mut group = c.benchmark_group("analyser");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.sample_size(20);
    group.bench_function("keep-alive frames", |b| {
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
    group.finish();
}

criterion_group!(benches, analyse);
criterion_main!(benches);
