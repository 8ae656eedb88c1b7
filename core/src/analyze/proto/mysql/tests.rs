//! MySQL conversations as PyMySQL and MariaDB 10.11 (and MySQL 8) write them, fed as frames.

use super::*;
use crate::analyze::EventKind as K;
use crate::analyze::{Clue, Stack};
use crate::diagnose::FindingKind;
use crate::testframes::{Conv, Lab, F, MS};

/// A packet of `payload` with sequence id `seq`.
fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// MariaDB 10.11's greeting (HandshakeV10), connection `id`, capabilities without
/// DEPRECATE_EOF.
fn greeting(id: u32) -> Vec<u8> {
    let mut p = vec![10];
    p.extend_from_slice(b"5.5.5-10.11.19-MariaDB-0+deb12u1-log\0");
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(b"abcdefgh\0");
    p.extend_from_slice(&0xf7feu16.to_le_bytes());
    p.push(45);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&0x81ffu16.to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    packet(0, &p)
}

/// PyMySQL's login: user app, database mysql, `_client_name` pymysql.
fn login() -> Vec<u8> {
    let caps: u32 =
        0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | (1 << 17) | (1 << 19) | (1 << 20) | (1 << 21);
    let mut p = caps.to_le_bytes().to_vec();
    p.extend_from_slice(&0xff_ffffu32.to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(b"app\0");
    p.push(20);
    p.extend_from_slice(&[7; 20]);
    p.extend_from_slice(b"mysql\0mysql_native_password\0");
    let mut attrs = Vec::new();
    for (k, v) in [("_client_name", "pymysql"), ("_client_version", "1.0.2")] {
        attrs.push(k.len() as u8);
        attrs.extend_from_slice(k.as_bytes());
        attrs.push(v.len() as u8);
        attrs.extend_from_slice(v.as_bytes());
    }
    p.push(attrs.len() as u8);
    p.extend(attrs);
    packet(1, &p)
}

fn ok(seq: u8) -> Vec<u8> {
    packet(seq, &[0, 0, 0, 2, 0, 0, 0])
}

fn query(sql: &str) -> Vec<u8> {
    packet(0, &[&[3u8][..], sql.as_bytes()].concat())
}

/// A text result set of one column and `rows` rows, with EOFs (no DEPRECATE_EOF).
fn result(rows: usize) -> Vec<u8> {
    let mut out = packet(1, &[1]);
    out.extend(packet(
        2,
        b"\x03def\0\0\0\x011\0\x0c?\0\x01\0\0\0\x08\x81\0\0\0\0",
    ));
    out.extend(packet(3, &[0xfe, 0, 0, 2, 0]));
    for i in 0..rows {
        out.extend(packet(4 + i as u8, b"\x011"));
    }
    out.extend(packet(4 + rows as u8, &[0xfe, 0, 0, 2, 0]));
    out
}

fn err(seq: u8, code: u16, state: &str, message: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    if !state.is_empty() {
        p.push(b'#');
        p.extend_from_slice(state.as_bytes());
    }
    p.extend_from_slice(message.as_bytes());
    packet(seq, &p)
}

fn my_conv(port: u16) -> Conv {
    Conv::new(&format!("10.0.0.1:{port}"), "10.0.0.2:3306", 100, 900)
}

fn my_events(lab: &Lab, conn: u64) -> Vec<MyEvent> {
    lab.kinds(conn)
        .into_iter()
        .filter_map(|k| match k {
            K::Mysql(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// The greeting, PyMySQL's login and the server's OK.
fn begin(lab: &mut Lab, c: &mut Conv, t0: u64) {
    lab.handshake(c, t0);
    lab.at(t0 + 1, &c.send(Side::Server, F::PSH | F::ACK, &greeting(4)));
    lab.at(t0 + 2, &c.send(Side::Client, F::PSH | F::ACK, &login()));
    lab.at(t0 + 3, &c.send(Side::Server, F::PSH | F::ACK, &ok(2)));
}

#[test]
fn a_pymysql_session_is_read_command_by_command() {
    let (mut lab, mut c) = (Lab::default(), my_conv(40_000));
    begin(&mut lab, &mut c, 0);
    lab.at(
        10,
        &c.send(Side::Client, F::PSH | F::ACK, &query("SET AUTOCOMMIT = 0")),
    );
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, &ok(1)));
    lab.at(
        20,
        &c.send(Side::Client, F::PSH | F::ACK, &query("select 1")),
    );
    lab.at(21, &c.send(Side::Server, F::PSH | F::ACK, &result(3)));
    lab.at(
        30,
        &c.send(Side::Client, F::PSH | F::ACK, &packet(0, &[0x0e])),
    );
    lab.at(31, &c.send(Side::Server, F::PSH | F::ACK, &ok(1)));
    lab.at(
        40,
        &c.send(Side::Client, F::PSH | F::ACK, &query("select bogus")),
    );
    let bogus = err(1, 1054, "42S22", "Unknown column 'bogus' in 'SELECT'");
    lab.at(41, &c.send(Side::Server, F::PSH | F::ACK, &bogus));
    lab.at(
        50,
        &c.send(Side::Client, F::PSH | F::ACK, &packet(0, &[0x01])),
    );
    lab.at(51, &c.send(Side::Client, F::FIN | F::ACK, b""));
    lab.at(52, &c.send(Side::Server, F::FIN | F::ACK, b""));
    lab.at(53, &c.send(Side::Client, F::ACK, b""));
    let got = my_events(&lab, 1);
    assert_eq!(
        got[..2],
        [
            MyEvent::Greeting {
                version: "5.5.5-10.11.19-MariaDB-0+deb12u1-log".into(),
                connection_id: 4
            },
            MyEvent::Login {
                user: "app".into(),
                database: "mysql".into(),
                client_name: "pymysql".into()
            },
        ]
    );
    assert!(got.contains(&MyEvent::Command {
        n: 2,
        name: "COM_QUERY",
        statement: "SELECT".into(),
        reused: true,
        idle_ns: Some(9 * MS)
    }));
    assert!(got.contains(&MyEvent::Reply {
        n: 2,
        error: None,
        rows: 3
    }));
    assert!(got.contains(&MyEvent::Reply {
        n: 4,
        error: Some(1054),
        rows: 0
    }));
    let stacks: Vec<_> = lab
        .kinds(1)
        .into_iter()
        .filter_map(|k| match k {
            K::Stack { by, stack, clue } => Some((by, stack, clue)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stacks,
        [
            (Side::Server, Stack::Mariadb, Clue::Protocol),
            (Side::Client, Stack::Pymysql, Clue::ClientName)
        ]
    );
    let s = lab.an.summary().mysql;
    assert_eq!(
        (s.sessions, s.commands.total, s.commands.answered),
        (1, 4, 4)
    );
    assert_eq!((s.pings, s.rows, s.errors.get("1054")), (1, 3, 1));
    assert_eq!(s.commands.by_statement.get("SET"), 1);
    assert_eq!((s.ended.quit, s.ended.open), (1, 0));
    assert_eq!(s.clients.get("pymysql"), 1);
}

#[test]
fn prepared_statements_and_several_result_sets_end_where_they_end() {
    let (mut lab, mut c) = (Lab::default(), my_conv(40_001));
    begin(&mut lab, &mut c, 0);
    let prepare = packet(0, b"\x16SELECT a FROM t WHERE id = ?");
    lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, &prepare));
    // OK: statement 7, 1 column, 1 parameter; then a parameter, EOF, a column, EOF.
    let mut answer = packet(1, &[0, 7, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    for seq in 2..=5 {
        let def: &[u8] = if seq % 2 == 1 {
            &[0xfe, 0, 0, 2, 0]
        } else {
            b"\x03def"
        };
        answer.extend(packet(seq, def));
    }
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, &answer));
    let execute = packet(0, &[0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0]);
    lab.at(20, &c.send(Side::Client, F::PSH | F::ACK, &execute));
    lab.at(21, &c.send(Side::Server, F::PSH | F::ACK, &result(2)));
    // A CALL's two result sets: the first EOF says more results exist (0x0008).
    lab.at(
        30,
        &c.send(Side::Client, F::PSH | F::ACK, &query("CALL p()")),
    );
    let mut two = result(1);
    let last = two.len() - 2;
    two[last] = 0x0a;
    two.extend(packet(1, &[0, 0, 0, 2, 0, 0, 0]));
    lab.at(31, &c.send(Side::Server, F::PSH | F::ACK, &two));
    let got = my_events(&lab, 1);
    let replies: Vec<(u32, u64)> = got
        .iter()
        .filter_map(|e| match e {
            MyEvent::Reply { n, rows, .. } => Some((*n, *rows)),
            _ => None,
        })
        .collect();
    assert_eq!(replies, [(1, 0), (2, 2), (3, 1)]);
    assert!(got.iter().any(|e| matches!(
        e,
        MyEvent::Command { name: "COM_STMT_EXECUTE", statement, .. } if statement == "SELECT"
    )));
}

#[test]
fn packets_split_anywhere_read_the_same() {
    let stream = [
        query("select 1"),
        query(&format!("select '{}'", "x".repeat(3 * wire::KEEP))),
    ];
    for cut in [1, 2, 3, 4, 7, 100, wire::KEEP + 5] {
        let (mut lab, mut c) = (Lab::default(), my_conv(40_002));
        begin(&mut lab, &mut c, 0);
        let mut t = 10;
        for (q, a) in stream.iter().zip([&result(2), &result(1)]) {
            for piece in q.chunks(cut) {
                t += 1;
                lab.at(t, &c.send(Side::Client, F::PSH | F::ACK, piece));
            }
            for piece in a.chunks(cut) {
                t += 1;
                lab.at(t, &c.send(Side::Server, F::PSH | F::ACK, piece));
            }
        }
        let s = lab.an.summary().mysql;
        assert_eq!(
            (s.commands.total, s.commands.answered, s.rows),
            (2, 2, 3),
            "cut {cut}"
        );
    }
}

#[test]
fn hostile_packets_are_bounded_not_panics() {
    let (mut lab, mut c) = (Lab::default(), my_conv(40_003));
    begin(&mut lab, &mut c, 0);
    lab.at(
        10,
        &c.send(Side::Client, F::PSH | F::ACK, &query("select 1")),
    );
    // A result set that says 2^32 columns, then rows of 16 MiB − 1 bytes that never end.
    let mut columns = vec![0xfe];
    columns.extend_from_slice(&(1u64 << 32).to_le_bytes());
    lab.at(
        11,
        &c.send(Side::Server, F::PSH | F::ACK, &packet(1, &columns)),
    );
    let mut huge = vec![0xff, 0xff, 0xff, 2];
    huge.extend(vec![b'x'; 1400]);
    lab.at(12, &c.send(Side::Server, F::PSH | F::ACK, &huge));
    for i in 0..50u64 {
        lab.at(
            13 + i,
            &c.send(Side::Server, F::PSH | F::ACK, &[b'y'; 1400]),
        );
    }
    let s = lab.an.summary().mysql;
    assert_eq!((s.commands.total, s.commands.answered), (1, 0));
}

/// The acceptance story: MariaDB with wait_timeout 3 closes three idle sessions without a
/// word; the idle close is timed from the last answer and says so, with wait_timeout first.
#[test]
fn a_bare_close_at_wait_timeout_is_a_server_idle_close() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = my_conv(41_000 + i);
        let t0 = u64::from(i) * 10_000;
        begin(&mut lab, &mut c, t0);
        lab.at(
            t0 + 10,
            &c.send(Side::Client, F::PSH | F::ACK, &query("select 1")),
        );
        lab.at(t0 + 11, &c.send(Side::Server, F::PSH | F::ACK, &result(1)));
        lab.at(t0 + 3_011, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(t0 + 3_012, &c.send(Side::Client, F::ACK, b""));
        lab.at(
            t0 + 5_000,
            &c.send(Side::Client, F::PSH | F::ACK, &query("select 2")),
        );
        lab.at(t0 + 5_001, &c.send(Side::Server, F::RST, b""));
    }
    let report = lab.report();
    let idle = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ServerIdleClose)
        .unwrap_or_else(|| panic!("no server_idle_close in {:#?}", report.findings));
    assert_eq!(idle.connections, 3);
    assert!(
        idle.statement.contains("without a word"),
        "{}",
        idle.statement
    );
    assert!(
        idle.knobs
            .first()
            .is_some_and(|k| k.contains("wait_timeout")),
        "{:?}",
        idle.knobs
    );
    let kinds: Vec<_> = report.findings.iter().map(|f| f.kind).collect();
    assert!(
        kinds.contains(&FindingKind::RequestOnClosingConnection),
        "{kinds:?}"
    );
}

#[test]
fn mysql_8_says_4031_and_a_full_server_says_1040() {
    let mut lab = Lab::default();
    let mut c = my_conv(42_000);
    begin(&mut lab, &mut c, 0);
    let gone = err(
        0,
        4031,
        "HY000",
        "The client was disconnected by the server because of inactivity.",
    );
    lab.at(3_003, &c.send(Side::Server, F::PSH | F::ACK, &gone));
    lab.at(3_004, &c.send(Side::Server, F::FIN | F::ACK, b""));
    lab.at(3_005, &c.send(Side::Client, F::FIN | F::ACK, b""));
    lab.at(3_006, &c.send(Side::Server, F::ACK, b""));
    let mut full = my_conv(42_001);
    lab.handshake(&mut full, 4_000);
    let refused = err(0, 1040, "", "Too many connections");
    lab.at(4_001, &full.send(Side::Server, F::PSH | F::ACK, &refused));
    lab.at(4_002, &full.send(Side::Server, F::FIN | F::ACK, b""));
    lab.at(4_003, &full.send(Side::Client, F::FIN | F::ACK, b""));
    lab.at(4_004, &full.send(Side::Server, F::ACK, b""));
    let s = lab.an.summary().mysql;
    assert_eq!((s.errors.get("4031"), s.errors.get("1040")), (1, 1));
    assert_eq!((s.sessions, s.ended.error_then_close), (1, 1));
    let report = lab.report();
    let full = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::TooManyConnections)
        .unwrap_or_else(|| panic!("no too_many_connections in {:#?}", report.findings));
    assert_eq!(full.code.as_deref(), Some("1040"));
}

#[test]
fn only_a_greeting_or_an_error_from_the_server_is_claimed() {
    assert!(claims(Side::Server, &greeting(1), 3306));
    assert!(claims(
        Side::Server,
        &err(0, 1040, "", "Too many connections"),
        3306
    ));
    assert!(!claims(Side::Client, &greeting(1), 3306));
    assert!(!claims(Side::Server, b"HTTP/1.1 200 OK\r\n\r\n", 3306));
    assert!(!claims(Side::Server, b"SSH-2.0-OpenSSH_9.2\r\n", 22));
}
