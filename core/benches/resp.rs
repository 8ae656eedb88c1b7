//! RESP framing's bytes per second on one core (`cargo bench -p connlab-core --features
//! testframes --bench resp`): the reader every Redis connection's two directions go through.
//! Two streams: pipelined small commands (`GET key:N`, where framing is all the work) and
//! pipelined 1 KiB writes (`SET key:N <1024 bytes>`, bodies skipped), each 64 MiB.

use std::hint::black_box;

use connlab_core::testframes::resp_count;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Commands of `args`, as every client library writes them, until `size` bytes.
fn stream(size: usize, args: impl Fn(usize) -> Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 2048);
    let mut i = 0;
    while out.len() < size {
        let args = args(i);
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in &args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        i += 1;
    }
    out
}

fn resp(c: &mut Criterion) {
    let size = 64 << 20;
    let small = stream(size, |i| {
        vec![b"GET".to_vec(), format!("key:{i}").into_bytes()]
    });
    let body = vec![b'x'; 1024];
    let writes = stream(size, |i| {
        vec![
            b"SET".to_vec(),
            format!("key:{i}").into_bytes(),
            body.clone(),
        ]
    });
    let mut group = c.benchmark_group("resp");
    group.sample_size(10);
    for (name, data) in [("small commands", &small), ("1 KiB writes", &writes)] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| b.iter(|| resp_count(true, black_box(data))));
    }
    group.finish();
}

criterion_group!(benches, resp);
criterion_main!(benches);
