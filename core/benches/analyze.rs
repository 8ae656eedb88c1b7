//! The analyser's throughput on a keep-alive conversation, on WebSocket traffic, on HTTP/2,
//! on short connections and on TLS decrypted with its key log (the same keep-alive conversation inside TLS 1.3,
//! and bulk records for the decryption's bytes per second): the per-frame cost behind
//! `connlab inspect` and the live recorder.

mod workloads;

use std::hint::black_box;

use connlab_core::analyze::{Analyzer, LinkType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use workloads::{
    conversation, http2, mysql, postgres, redis, short_connections, tls_bulk, tls_conversation,
    websocket,
};

/// Runs the analyser over `frames` with `keys`, as `inspect --keylog` does.
fn analyse_frames(frames: &[Vec<u8>], keys: &str) -> connlab_core::analyze::Summary {
    let mut analyzer = Analyzer::new();
    if !keys.is_empty() {
        analyzer.add_keys(keys.as_bytes());
    }
    let mut events = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        events.clear();
        analyzer.handle_frame(i as u64 * 1_000, LinkType::Ethernet, f, &mut events);
    }
    analyzer.summary()
}

fn analyse(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyser");
    group.sample_size(20);
    for (name, frames) in [
        ("keep-alive frames", conversation(3_000)),
        ("websocket frames", websocket(3_000)),
        ("http2 frames", http2(3_000)),
        ("short connection frames", short_connections(10_000)),
        ("redis frames", redis(3_000)),
        ("postgres frames", postgres(3_000)),
        ("mysql frames", mysql(3_000)),
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
    let (frames, keys) = tls_conversation(3_000);
    let check = analyse_frames(&frames, &keys);
    assert_eq!((check.requests, check.tls.decrypted), (48_000, 16));
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("tls keep-alive frames, decrypted", |b| {
        b.iter(|| black_box(analyse_frames(&frames, &keys)))
    });
    let (frames, keys, bytes) = tls_bulk(4_000);
    assert_eq!(analyse_frames(&frames, &keys).tls.decrypted, 1);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("tls bulk bytes, decrypted", |b| {
        b.iter(|| black_box(analyse_frames(&frames, &keys)))
    });
    group.finish();
}

criterion_group!(benches, analyse);
criterion_main!(benches);
