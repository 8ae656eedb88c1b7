//! The analyser's throughput on a keep-alive conversation: the per-frame cost behind
//! `connlab inspect` and the live recorder.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};

use connlab::analyze::{Analyzer, LinkType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::MutableIpv4Packet;
use pnet_packet::tcp::{MutableTcpPacket, TcpFlags};

fn frame(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 54 + payload.len()];
    {
        let mut tcp = MutableTcpPacket::new(&mut f[34..]).expect("tcp");
        tcp.set_source(src.port());
        tcp.set_destination(dst.port());
        tcp.set_sequence(seq);
        tcp.set_acknowledgement(ack);
        tcp.set_data_offset(5);
        tcp.set_flags(flags);
        tcp.set_payload(payload);
    }
    {
        let mut ip = MutableIpv4Packet::new(&mut f[14..]).expect("ip");
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length(40 + payload.len() as u16);
        ip.set_next_level_protocol(IpNextHeaderProtocols::Tcp);
        ip.set_source(*src.ip());
        ip.set_destination(*dst.ip());
    }
    let mut eth = MutableEthernetPacket::new(&mut f).expect("eth");
    eth.set_ethertype(EtherTypes::Ipv4);
    f
}

/// 16 connections, each a handshake then `requests` request/response pairs, interleaved.
fn conversation(requests: u32) -> Vec<Vec<u8>> {
    let server = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut frames = Vec::new();
    let clients: Vec<SocketAddrV4> = (0..16)
        .map(|i| SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 40_000 + i))
        .collect();
    for c in &clients {
        frames.push(frame(*c, server, TcpFlags::SYN, 0, 0, b""));
        frames.push(frame(server, *c, TcpFlags::SYN | TcpFlags::ACK, 0, 1, b""));
        frames.push(frame(*c, server, TcpFlags::ACK, 1, 1, b""));
    }
    for n in 0..requests {
        for c in &clients {
            let (cs, ss) = (1 + n * req.len() as u32, 1 + n * resp.len() as u32);
            frames.push(frame(
                *c,
                server,
                TcpFlags::PSH | TcpFlags::ACK,
                cs,
                ss,
                req,
            ));
            frames.push(frame(
                server,
                *c,
                TcpFlags::PSH | TcpFlags::ACK,
                ss,
                cs + req.len() as u32,
                resp,
            ));
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
