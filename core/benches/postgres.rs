//! PostgreSQL framing's bytes per second on one core (`cargo bench -p connlab-core --features
//! testframes --bench postgres`): the reader both directions of every PostgreSQL connection go
//! through, fed in TCP segments' pieces. Two streams of 64 MiB: a bulk COPY as psql sends it (CopyData messages of 8 KiB,
//! its buffer's size; bodies skipped uncopied) and a server's result rows (DataRow messages
//! of 3 short columns, where framing is all the work).

use std::hint::black_box;

use connlab_core::testframes::pg_count;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The pieces the bytes come in: a TCP segment's payload on an Ethernet path, as the analyser
/// gets them from reassembly.
const MSS: usize = 1448;

/// Messages of type `ty` with the bodies `body` gives, until `size` bytes.
fn stream(size: usize, ty: u8, body: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + (16 << 10));
    let mut i = 0;
    while out.len() < size {
        let body = body(i);
        out.push(ty);
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(&body);
        i += 1;
    }
    out
}

fn postgres(c: &mut Criterion) {
    let size = 64 << 20;
    let line = b"4711\tsome name\t2026-12-07 15:00:00+00\n";
    let copy = stream(size, b'd', |_| line.repeat(8192 / line.len()));
    let rows = stream(size, b'D', |i| {
        let mut row = 3u16.to_be_bytes().to_vec();
        for col in [i.to_string(), "some name".to_owned(), "t".to_owned()] {
            row.extend_from_slice(&(col.len() as u32).to_be_bytes());
            row.extend_from_slice(col.as_bytes());
        }
        row
    });
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    for (name, client, data) in [("bulk COPY", true, &copy), ("result rows", false, &rows)] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| b.iter(|| pg_count(client, black_box(data), MSS)));
    }
    group.finish();
}

criterion_group!(benches, postgres);
criterion_main!(benches);
