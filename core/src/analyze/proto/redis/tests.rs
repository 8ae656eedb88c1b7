//! Redis conversations as client libraries and redis-server write them, fed as frames.

use super::*;
use crate::analyze::EventKind as K;
use crate::diagnose::FindingKind;
use crate::testframes::{Conv, Lab, F, MS};

/// A RESP command of `args`, as every client library writes it.
fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn redis_conv(port: u16) -> Conv {
    Conv::new(&format!("10.0.0.1:{port}"), "10.0.0.2:6379", 100, 900)
}

/// The redis events of connection `conn`.
fn redis_events(lab: &Lab, conn: u64) -> Vec<RedisEvent> {
    lab.kinds(conn)
        .into_iter()
        .filter_map(|k| match k {
            K::Redis(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn commands_and_replies_in_order_with_the_library_named() {
    let (mut lab, mut c) = (Lab::default(), redis_conv(40_000));
    lab.handshake(&mut c, 0);
    let hello = command(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]);
    lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, &hello));
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, b"+OK\r\n"));
    lab.at(
        20,
        &c.send(Side::Client, F::PSH | F::ACK, &command(&["SET", "k", "v"])),
    );
    lab.at(21, &c.send(Side::Server, F::PSH | F::ACK, b"+OK\r\n"));
    lab.at(
        150,
        &c.send(Side::Client, F::PSH | F::ACK, &command(&["get", "k"])),
    );
    lab.at(151, &c.send(Side::Server, F::PSH | F::ACK, b"$1\r\nv\r\n"));
    let got = redis_events(&lab, 1);
    assert_eq!(
        got[..2],
        [
            RedisEvent::Client {
                name: "redis-py".into()
            },
            RedisEvent::Command {
                n: 1,
                name: "CLIENT".into(),
                reused: false,
                idle_ns: None,
                depth: 1
            },
        ]
    );
    assert_eq!(
        got.last(),
        Some(&RedisEvent::Reply {
            n: 3,
            error: None,
            message: "".into()
        })
    );
    assert!(got.contains(&RedisEvent::Command {
        n: 3,
        name: "GET".into(),
        reused: true,
        idle_ns: Some(129 * MS),
        depth: 1
    }));
    let stacks: Vec<(Side, Stack)> = lab
        .kinds(1)
        .into_iter()
        .filter_map(|k| match k {
            K::Stack { by, stack, .. } => Some((by, stack)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stacks,
        [
            (Side::Client, Stack::RedisPy),
            (Side::Server, Stack::RedisServer)
        ]
    );
    let s = lab.an.summary();
    assert_eq!(
        (s.redis.connections, s.redis.commands.total, s.redis.replies),
        (1, 3, 3)
    );
    assert_eq!(
        (
            s.redis.commands.by_name.get("GET"),
            s.redis.commands.by_name.get("CLIENT")
        ),
        (1, 1)
    );
    assert_eq!((s.requests, s.responses), (0, 0), "no HTTP was read");
}

#[test]
fn a_pipeline_is_measured_and_errors_counted_by_prefix() {
    let (mut lab, mut c) = (Lab::default(), redis_conv(40_001));
    lab.handshake(&mut c, 0);
    let pipeline = [
        command(&["INCR", "a"]),
        command(&["LPUSH", "a", "x"]),
        command(&["PING"]),
    ]
    .concat();
    lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, &pipeline));
    let replies =
        b":1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n+PONG\r\n";
    // Replies split mid-message across segments.
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, &replies[..9]));
    lab.at(12, &c.send(Side::Server, F::PSH | F::ACK, &replies[9..]));
    let s = lab.an.summary().redis;
    assert_eq!((s.commands.total, s.replies, s.deepest_pipeline), (3, 3, 3));
    assert_eq!(s.errors.get("WRONGTYPE"), 1);
}

#[test]
fn a_subscriber_gets_pushes_not_replies() {
    let (mut lab, mut c) = (Lab::default(), redis_conv(40_002));
    lab.handshake(&mut c, 0);
    lab.at(
        10,
        &c.send(
            Side::Client,
            F::PSH | F::ACK,
            &command(&["SUBSCRIBE", "news"]),
        ),
    );
    let confirm = b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n";
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, confirm));
    for ms in [100, 200, 300] {
        let message = b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n";
        lab.at(ms, &c.send(Side::Server, F::PSH | F::ACK, message));
    }
    let s = lab.an.summary().redis;
    assert_eq!((s.subscribers, s.pushes, s.replies), (1, 3, 1));
}

#[test]
fn max_clients_is_an_error_before_any_command() {
    let (mut lab, mut c) = (Lab::default(), redis_conv(40_003));
    lab.handshake(&mut c, 0);
    lab.at(
        3,
        &c.send(
            Side::Server,
            F::PSH | F::ACK,
            b"-ERR max number of clients reached\r\n",
        ),
    );
    lab.at(4, &c.send(Side::Server, F::FIN | F::ACK, b""));
    lab.at(
        5,
        &c.send(Side::Client, F::PSH | F::ACK, &command(&["PING"])),
    );
    let got = redis_events(&lab, 1);
    assert_eq!(
        got.first(),
        Some(&RedisEvent::Reply {
            n: 0,
            error: Some("ERR".into()),
            message: "ERR max number of clients reached".into()
        })
    );
    // The server's bytes came first: still Redis once the client's command tells.
    assert!(got.iter().any(|e| matches!(e, RedisEvent::Command { .. })));
}

#[test]
fn inline_commands_only_to_redis_port_and_never_an_http_request() {
    for (port, line, redis) in [
        (6379, &b"PING\r\n"[..], true),
        (6380, b"PING\r\n", false),
        (6379, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false),
    ] {
        let mut c = Conv::new("10.0.0.1:40000", &format!("10.0.0.2:{port}"), 1, 1);
        let mut lab = Lab::default();
        lab.handshake(&mut c, 0);
        lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, line));
        let s = lab.an.summary();
        assert_eq!(s.redis.commands.total, u64::from(redis), "{port} {line:?}");
    }
}

#[test]
fn a_hostile_stream_is_a_protocol_error_not_a_panic() {
    let (mut lab, mut c) = (Lab::default(), redis_conv(40_004));
    lab.handshake(&mut c, 0);
    lab.at(
        10,
        &c.send(Side::Client, F::PSH | F::ACK, b"*1\r\n$99999999999\r\n"),
    );
    lab.at(
        11,
        &c.send(Side::Client, F::PSH | F::ACK, &command(&["PING"])),
    );
    let s = lab.an.summary().redis;
    assert_eq!((s.protocol_errors, s.commands.total), (1, 0));
}

/// The acceptance story: a client idle past the server's `timeout 3` finds its connection
/// closed by the server; the diagnosis names the server's idle close with Redis's knob first.
#[test]
fn a_server_idle_close_names_redis_timeout_first() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = redis_conv(41_000 + i);
        let t0 = u64::from(i) * 10_000;
        lab.handshake(&mut c, t0);
        let setinfo = command(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]);
        lab.at(t0 + 5, &c.send(Side::Client, F::PSH | F::ACK, &setinfo));
        lab.at(t0 + 6, &c.send(Side::Server, F::PSH | F::ACK, b"+OK\r\n"));
        lab.at(
            t0 + 10,
            &c.send(Side::Client, F::PSH | F::ACK, &command(&["GET", "k"])),
        );
        lab.at(t0 + 11, &c.send(Side::Server, F::PSH | F::ACK, b"$-1\r\n"));
        // redis-server closes 3 s after the last reply (its timeout is checked by serverCron).
        lab.at(t0 + 3_011, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(t0 + 3_012, &c.send(Side::Client, F::ACK, b""));
        lab.at(t0 + 7_000, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(t0 + 7_001, &c.send(Side::Server, F::ACK, b""));
    }
    let report = lab.report();
    let all: Vec<_> = report.findings.iter().chain(&report.observations).collect();
    let idle = all
        .iter()
        .find(|f| f.kind == FindingKind::ServerIdleClose)
        .unwrap_or_else(|| panic!("no server_idle_close in {all:#?}"));
    assert_eq!(idle.connections, 3);
    assert!(
        idle.knobs
            .first()
            .is_some_and(|k| k.contains("redis-server timeout")),
        "{:?}",
        idle.knobs
    );
}

#[test]
fn the_text_summary_says_the_commands_busiest_first() {
    let (mut lab, mut c) = (Lab::default(), redis_conv(43_000));
    lab.handshake(&mut c, 0);
    for (i, args) in [
        &["SET", "a", "1"][..],
        &["GET", "a"],
        &["GET", "b"],
        &["NOPE"],
    ]
    .iter()
    .enumerate()
    {
        let t = 10 + 2 * i as u64;
        lab.at(t, &c.send(Side::Client, F::PSH | F::ACK, &command(args)));
        let reply: &[u8] = if args[0] == "NOPE" {
            b"-ERR unknown command 'NOPE'\r\n"
        } else {
            b"+OK\r\n"
        };
        lab.at(t + 1, &c.send(Side::Server, F::PSH | F::ACK, reply));
    }
    let mut summary = crate::analyze::Summary::default();
    for e in &lab.events {
        summary.apply(e);
    }
    assert_eq!(
        summary.protocol_text(),
        [
            "redis: 4 commands on 1 connection (GET 2, NOPE 1, SET 1), deepest pipeline 1, \
          errors ERR 1, subscribers 0"
        ]
    );
    assert!(crate::analyze::Summary::default()
        .protocol_text()
        .is_empty());
}
