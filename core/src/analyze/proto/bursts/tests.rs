//! Plain TCP conversations (a line protocol nobody here parses), fed as frames.

use super::*;
use crate::analyze::EventKind as K;
use crate::diagnose::{Diagnosis, DiagnosisReport, FindingKind};
use crate::testframes::{Conv, Lab, F, MS};

fn line_conv(port: u16) -> Conv {
    Conv::new(&format!("10.0.0.1:{port}"), "10.0.0.2:7000", 100, 900)
}

/// The burst events of connection `conn`.
fn bursts(lab: &Lab, conn: u64) -> Vec<BurstEvent> {
    lab.kinds(conn)
        .into_iter()
        .filter_map(|k| match k {
            K::Burst(b) => Some(b),
            _ => None,
        })
        .collect()
}

fn diagnose(lab: &Lab) -> DiagnosisReport {
    let mut diagnosis = Diagnosis::new();
    for e in &lab.events {
        diagnosis.apply(e);
    }
    diagnosis.report()
}

#[test]
fn turns_make_exchanges_whatever_the_segments() {
    let (mut lab, mut c) = (Lab::default(), line_conv(40_000));
    lab.handshake(&mut c, 0);
    // A greeting first: it answers nothing.
    lab.at(1, &c.send(Side::Server, F::PSH | F::ACK, b"220 ready\n"));
    lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, b"query one\n"));
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, b"row 1\n"));
    lab.at(12, &c.send(Side::Server, F::PSH | F::ACK, b"row 2\n"));
    // The next query comes in two segments: one burst.
    lab.at(100, &c.send(Side::Client, F::PSH | F::ACK, b"query "));
    lab.at(101, &c.send(Side::Client, F::PSH | F::ACK, b"two\n"));
    lab.at(102, &c.send(Side::Server, F::PSH | F::ACK, b"ok\n"));
    assert_eq!(
        bursts(&lab, 1),
        [
            BurstEvent::Sent {
                n: 1,
                reused: false,
                idle_ns: None
            },
            BurstEvent::Answered { n: 1 },
            BurstEvent::Sent {
                n: 2,
                reused: true,
                idle_ns: Some(88 * MS)
            },
            BurstEvent::Answered { n: 2 },
        ]
    );
}

#[test]
fn http_keeps_its_reader_and_a_partial_method_is_not_taken() {
    let (mut lab, mut c) = (Lab::default(), line_conv(40_001));
    lab.handshake(&mut c, 0);
    lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, b"GE"));
    lab.at(
        11,
        &c.send(
            Side::Client,
            F::PSH | F::ACK,
            b"T / HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
    );
    lab.at(
        12,
        &c.send(Side::Server, F::PSH | F::ACK, b"HTTP/1.1 200 OK\r\n\r\n"),
    );
    let kinds = lab.kinds(1);
    assert!(bursts(&lab, 1).is_empty(), "{kinds:?}");
    assert!(
        kinds.iter().any(|k| matches!(k, K::Response { .. })),
        "{kinds:?}"
    );
}

/// The `pool-burst` story on a protocol connlab does not know: ten connections each carry one
/// exchange, then the client closes eight right after their answers and keeps two.
#[test]
fn a_burst_closed_down_to_two_idle_is_pool_overflow_on_plain_tcp() {
    let mut lab = Lab::default();
    let mut convs: Vec<Conv> = (0..10).map(|i| line_conv(41_000 + i)).collect();
    for (i, c) in convs.iter_mut().enumerate() {
        lab.handshake(c, i as u64);
    }
    for c in &mut convs {
        lab.at(20, &c.send(Side::Client, F::PSH | F::ACK, b"select 1\n"));
        lab.at(21, &c.send(Side::Server, F::PSH | F::ACK, b"1\n"));
    }
    for (i, c) in convs.iter_mut().enumerate().skip(2) {
        let t = 22 + i as u64 / 4;
        lab.at(t, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(t, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(t, &c.send(Side::Client, F::ACK, b""));
    }
    let r = diagnose(&lab);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::PoolOverflow)
        .unwrap_or_else(|| panic!("no pool_overflow in {:#?}", r.findings));
    assert_eq!(
        (f.connections, f.kept_idle, f.bursts),
        (8, Some(2), Some(1))
    );
}

/// A server closing connections left idle 3 s after their answer is found without knowing
/// the protocol.
#[test]
fn a_server_idle_close_is_found_on_plain_tcp() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = line_conv(42_000 + i);
        let t0 = u64::from(i) * 10_000;
        lab.handshake(&mut c, t0);
        lab.at(t0 + 10, &c.send(Side::Client, F::PSH | F::ACK, b"get k\n"));
        lab.at(t0 + 11, &c.send(Side::Server, F::PSH | F::ACK, b"v\n"));
        lab.at(t0 + 3_011, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(t0 + 3_012, &c.send(Side::Client, F::ACK, b""));
        lab.at(t0 + 7_000, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(t0 + 7_001, &c.send(Side::Server, F::ACK, b""));
    }
    let r = diagnose(&lab);
    let all: Vec<_> = r.findings.iter().chain(&r.observations).collect();
    let idle = all
        .iter()
        .find(|f| f.kind == FindingKind::ServerIdleClose)
        .unwrap_or_else(|| panic!("no server_idle_close in {all:#?}"));
    assert_eq!(idle.connections, 3);
}

/// Long connections (c500k's): each is dialed to be held and speaks only later, so dials go on
/// while earlier ones have talked and sit idle. Nothing was passed over or left unused: no
/// leak, no single-request connections.
#[test]
fn long_connections_dialed_while_others_sit_idle_are_no_leak_nor_single_use() {
    let mut lab = Lab::default();
    let mut convs: Vec<Conv> = (0..10).map(|i| line_conv(44_000 + i)).collect();
    for (i, c) in convs.iter_mut().enumerate() {
        lab.handshake(c, i as u64 * 100);
    }
    for (i, c) in convs.iter_mut().enumerate() {
        let t = 450 + i as u64 * 100;
        lab.at(t, &c.send(Side::Client, F::PSH | F::ACK, b"ping\n"));
        lab.at(t + 1, &c.send(Side::Server, F::PSH | F::ACK, b"ping\n"));
    }
    // Then the client exits and closes them all (one act: bulk_close, which is right).
    for c in &mut convs {
        lab.at(2_000, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(2_001, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(2_002, &c.send(Side::Client, F::ACK, b""));
    }
    let r = diagnose(&lab);
    let wrong = [
        FindingKind::ConnectionLeak,
        FindingKind::SingleRequestConnections,
    ];
    assert!(
        !r.findings.iter().any(|f| wrong.contains(&f.kind)),
        "{:#?}",
        r.findings
    );
}

/// A client that dials for each query while its earlier connections sit idle and open (rows
/// never closed, a body never read) leaks them, whatever the protocol.
#[test]
fn dialing_for_each_write_while_others_sit_idle_is_a_leak() {
    let mut lab = Lab::default();
    let mut convs: Vec<Conv> = (0..6).map(|i| line_conv(45_000 + i)).collect();
    for (i, c) in convs.iter_mut().enumerate() {
        let t = i as u64 * 100;
        lab.handshake(c, t);
        lab.at(t + 3, &c.send(Side::Client, F::PSH | F::ACK, b"select 1\n"));
        lab.at(t + 4, &c.send(Side::Server, F::PSH | F::ACK, b"1\n"));
    }
    let r = diagnose(&lab);
    let leak = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ConnectionLeak)
        .unwrap_or_else(|| panic!("no connection_leak in {:#?}", r.findings));
    assert_eq!(leak.connections, 5);
}
