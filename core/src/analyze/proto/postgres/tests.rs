//! PostgreSQL conversations as libpq (psycopg2, psql), the extended protocol's drivers and
//! postgres 15 write them, fed as frames.

use super::event::TxStatus;
use super::wire::KEEP;
use super::*;
use crate::analyze::EventKind as K;
use crate::analyze::{Clue, Stack};
use crate::diagnose::FindingKind;
use crate::testframes::{Conv, Lab, F, MS};

/// A typed message.
pub(super) fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![ty];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An untyped startup message with `code` and `body` after it.
pub(super) fn untyped(code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32 + 8).to_be_bytes().to_vec();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub(super) fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    untyped(196_608, &body)
}

pub(super) fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

pub(super) fn query(sql: &str) -> Vec<u8> {
    msg(b'Q', &cstr(sql))
}

pub(super) fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}

/// What postgres 15 answers a startup with under `trust`: AuthenticationOk, its parameters,
/// BackendKeyData and ReadyForQuery, in one segment.
pub(super) fn welcome(pid: u32) -> Vec<u8> {
    welcome_with(
        &[
            ("application_name", ""),
            ("client_encoding", "UTF8"),
            ("server_version", "15.18 (Debian 15.18-0+deb12u1)"),
        ],
        pid,
    )
}

/// A server's answer to a startup: AuthenticationOk, `parameters` in the order given,
/// BackendKeyData for process `pid`, and ReadyForQuery.
pub(super) fn welcome_with(parameters: &[(&str, &str)], pid: u32) -> Vec<u8> {
    let mut out = msg(b'R', &0u32.to_be_bytes());
    for (k, v) in parameters {
        out.extend(msg(b'S', &[cstr(k), cstr(v)].concat()));
    }
    out.extend(msg(b'K', &[pid.to_be_bytes(), 7u32.to_be_bytes()].concat()));
    out.extend(ready(b'I'));
    out
}

pub(super) fn error(severity: &str, code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (tag, v) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', message),
    ] {
        body.push(tag);
        body.extend(cstr(v));
    }
    body.push(0);
    msg(b'E', &body)
}

pub(super) fn pg_conv(port: u16) -> Conv {
    Conv::new(&format!("10.0.0.1:{port}"), "10.0.0.2:5432", 100, 900)
}

/// The postgres events of connection `conn`.
pub(super) fn pg_events(lab: &Lab, conn: u64) -> Vec<PgEvent> {
    lab.kinds(conn)
        .into_iter()
        .filter_map(|k| match k {
            K::Postgres(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// A session's start as libpq makes it with sslmode=prefer against a server without TLS:
/// SSLRequest refused, then the startup.
pub(super) fn begin(lab: &mut Lab, c: &mut Conv, t0: u64, pid: u32) {
    lab.handshake(c, t0);
    lab.at(
        t0 + 1,
        &c.send(Side::Client, F::PSH | F::ACK, &untyped(80_877_103, b"")),
    );
    lab.at(t0 + 2, &c.send(Side::Server, F::PSH | F::ACK, b"N"));
    let hello = startup(&[("user", "app"), ("database", "shop")]);
    lab.at(t0 + 3, &c.send(Side::Client, F::PSH | F::ACK, &hello));
    lab.at(
        t0 + 4,
        &c.send(Side::Server, F::PSH | F::ACK, &welcome(pid)),
    );
}

#[test]
fn a_psycopg2_session_is_read_query_by_query() {
    let (mut lab, mut c) = (Lab::default(), pg_conv(40_000));
    begin(&mut lab, &mut c, 0, 15_563);
    for (i, sql) in ["BEGIN", "select 1", "COMMIT"].iter().enumerate() {
        let t = 10 + 10 * i as u64;
        lab.at(t, &c.send(Side::Client, F::PSH | F::ACK, &query(sql)));
        let status = if *sql == "COMMIT" { b'I' } else { b'T' };
        let answer = [msg(b'C', &cstr(sql)), ready(status)].concat();
        lab.at(t + 1, &c.send(Side::Server, F::PSH | F::ACK, &answer));
    }
    lab.at(50, &c.send(Side::Client, F::PSH | F::ACK, &msg(b'X', b"")));
    let got = pg_events(&lab, 1);
    assert_eq!(
        got[..3],
        [
            PgEvent::Encryption {
                what: "ssl",
                accepted: false
            },
            PgEvent::Startup {
                user: "app".into(),
                database: "shop".into(),
                application_name: "".into()
            },
            PgEvent::Authenticated,
        ]
    );
    assert!(got.contains(&PgEvent::BackendKey {
        pid: 15_563,
        key: 7
    }));
    assert!(got.contains(&PgEvent::Query {
        n: 2,
        kind: "SELECT".into(),
        extended: false,
        opens_turn: true,
        reused: true,
        idle_ns: Some(9 * MS),
        depth: 1
    }));
    assert!(got.contains(&PgEvent::Ready {
        n: 3,
        status: TxStatus::Idle
    }));
    assert_eq!(got.last(), Some(&PgEvent::Terminate));
    let stacks: Vec<_> = lab
        .kinds(1)
        .into_iter()
        .filter_map(|k| match k {
            K::Stack { by, stack, .. } => Some((by, stack)),
            _ => None,
        })
        .collect();
    assert_eq!(stacks, [(Side::Server, Stack::Postgres)]);
    let s = lab.an.summary().postgres;
    assert_eq!((s.sessions, s.queries.total, s.queries.answered), (1, 3, 3));
    assert_eq!(s.queries.by_kind.get("BEGIN"), 1);
    assert_eq!(s.transactions, 1);
    assert_eq!(s.server_versions.get("15.18 (Debian 15.18-0+deb12u1)"), 1);
}

#[test]
fn extended_queries_are_one_turn_per_sync_and_pipelines_are_followed() {
    let (mut lab, mut c) = (Lab::default(), pg_conv(40_001));
    lab.handshake(&mut c, 0);
    let hello = startup(&[("user", "app"), ("database", "shop")]);
    lab.at(1, &c.send(Side::Client, F::PSH | F::ACK, &hello));
    lab.at(2, &c.send(Side::Server, F::PSH | F::ACK, &welcome(1)));
    // Two pipelined turns, as pgx's batch writes them: Parse/Bind/Describe/Execute/Sync.
    let turn = |sql: &str| {
        [
            msg(b'P', &[cstr(""), cstr(sql), vec![0, 0]].concat()),
            msg(b'B', &[cstr(""), cstr(""), vec![0; 6]].concat()),
            msg(b'D', b"P\0"),
            msg(b'E', &[cstr(""), vec![0; 4]].concat()),
            msg(b'S', b""),
        ]
        .concat()
    };
    let both = [
        turn("insert into t values ($1)"),
        turn("  /* x */ update t set a=1"),
    ]
    .concat();
    lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, &both));
    let answer = [
        msg(b'1', b""),
        msg(b'2', b""),
        msg(b'n', b""),
        msg(b'C', b"INSERT 0 1\0"),
        ready(b'I'),
    ]
    .concat();
    lab.at(
        11,
        &c.send(
            Side::Server,
            F::PSH | F::ACK,
            &[answer.clone(), answer].concat(),
        ),
    );
    let got = pg_events(&lab, 1);
    let queries: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            PgEvent::Query {
                n,
                kind,
                extended: true,
                depth,
                ..
            } => Some((*n, kind.as_str(), *depth)),
            _ => None,
        })
        .collect();
    assert_eq!(queries, [(1, "INSERT", 1), (2, "UPDATE", 2)]);
    let answered: Vec<u32> = got
        .iter()
        .filter_map(|e| match e {
            PgEvent::Ready { n, .. } => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(answered, [0, 1, 2]);
}

#[test]
fn messages_split_anywhere_read_the_same() {
    let hello = startup(&[
        ("user", "u"),
        ("database", "d"),
        ("application_name", "psql"),
    ]);
    let long = format!("select '{}'", "x".repeat(3 * KEEP));
    let stream = [query(&long), query("select 2"), msg(b'X', b"")].concat();
    for cut in [1, 3, 5, 8, 100, KEEP + 3] {
        let (mut lab, mut c) = (Lab::default(), pg_conv(40_002));
        lab.handshake(&mut c, 0);
        // The startup whole, as every client writes it (its first bytes tell the protocol);
        // the messages after it in pieces of `cut` bytes.
        lab.at(1, &c.send(Side::Client, F::PSH | F::ACK, &hello));
        for (i, piece) in stream.chunks(cut).enumerate() {
            lab.at(2 + i as u64, &c.send(Side::Client, F::PSH | F::ACK, piece));
        }
        let s = lab.an.summary().postgres;
        assert_eq!(
            (s.sessions, s.queries.total, s.protocol_errors),
            (1, 2, 0),
            "cut {cut}"
        );
        assert_eq!(s.queries.by_kind.get("SELECT"), 2, "cut {cut}");
        let psql = lab.kinds(1).contains(&K::Stack {
            by: Side::Client,
            stack: Stack::Psql,
            clue: Clue::ApplicationName,
        });
        assert!(psql, "cut {cut}");
    }
}

/// Each driver's StartupMessage as Debian's builds send it (captured against a listener on
/// loopback): lib/pq's in two of its random orders, pgjdbc 42.5's, tokio-postgres 0.7's; and
/// libpq's (psycopg2, pgx send the same), which names no driver.
#[test]
fn drivers_are_told_by_their_startup_parameters() {
    let lib_pq = [
        ("datestyle", "ISO, MDY"),
        ("extra_float_digits", "2"),
        ("user", "postgres"),
        ("database", "postgres"),
        ("client_encoding", "UTF8"),
    ];
    let mut lib_pq_reordered = lib_pq;
    lib_pq_reordered.rotate_left(3);
    let pgjdbc = [
        ("user", "postgres"),
        ("database", "postgres"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO"),
        ("TimeZone", "Etc/UTC"),
        ("extra_float_digits", "2"),
    ];
    let tokio_postgres = [
        ("client_encoding", "UTF8"),
        ("user", "postgres"),
        ("database", "postgres"),
    ];
    let libpq = [("user", "postgres"), ("database", "postgres")];
    type Startup<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Startup, Option<Stack>); 5] = [
        (&lib_pq, Some(Stack::LibPq)),
        (&lib_pq_reordered, Some(Stack::LibPq)),
        (&pgjdbc, Some(Stack::Pgjdbc)),
        (&tokio_postgres, Some(Stack::TokioPostgres)),
        (&libpq, None),
    ];
    for (i, (params, want)) in cases.into_iter().enumerate() {
        let (mut lab, mut c) = (Lab::default(), pg_conv(40_100 + i as u16));
        lab.handshake(&mut c, 0);
        lab.at(1, &c.send(Side::Client, F::PSH | F::ACK, &startup(params)));
        let told: Vec<Stack> = lab
            .kinds(1)
            .into_iter()
            .filter_map(|k| match k {
                K::Stack {
                    by: Side::Client,
                    stack,
                    clue: Clue::StartupParameters,
                } => Some(stack),
                _ => None,
            })
            .collect();
        assert_eq!(told, Vec::from_iter(want), "{params:?}");
    }
}

#[test]
fn hostile_lengths_are_protocol_errors_not_panics() {
    for bytes in [
        vec![0x40, 0, 0, 0, 0, 3, 0, 0],
        [startup(&[("user", "u")]), vec![b'Q', 0, 0, 0, 2]].concat(),
        [
            startup(&[("user", "u")]),
            vec![b'Q', 0x7f, 0xff, 0xff, 0xff],
        ]
        .concat(),
        [startup(&[("user", "u")]), vec![b'!', 0, 0, 0, 4]].concat(),
    ] {
        let (mut lab, mut c) = (Lab::default(), pg_conv(40_003));
        lab.handshake(&mut c, 0);
        lab.at(1, &c.send(Side::Client, F::PSH | F::ACK, &bytes));
        lab.at(
            2,
            &c.send(Side::Client, F::PSH | F::ACK, &query("select 1")),
        );
        let s = lab.an.summary().postgres;
        assert_eq!((s.protocol_errors, s.queries.total), (1, 0), "{bytes:?}");
    }
    // A 1 GB startup packet is claimed, then refused at its header, before any of it is
    // buffered (the first case above).
    assert!(claims(Side::Client, &[0x40, 0, 0, 0, 0, 3, 0, 0], 5432));
}

#[test]
fn an_accepted_ssl_request_hands_the_connection_to_tls() {
    let (mut lab, mut c) = (Lab::default(), pg_conv(40_004));
    lab.handshake(&mut c, 0);
    lab.at(
        1,
        &c.send(Side::Client, F::PSH | F::ACK, &untyped(80_877_103, b"")),
    );
    lab.at(2, &c.send(Side::Server, F::PSH | F::ACK, b"S"));
    // A bare TLS 1.2 ClientHello record: one suite, no extensions.
    let mut body = vec![3, 3];
    body.extend([7u8; 32]);
    body.extend([0, 0, 2, 0x13, 0x01, 1, 0, 0, 0]);
    let mut hs = vec![1, 0, 0, body.len() as u8];
    hs.extend(body);
    let mut hello = vec![0x16, 3, 1, 0, hs.len() as u8];
    hello.extend(hs);
    lab.at(3, &c.send(Side::Client, F::PSH | F::ACK, &hello));
    let kinds = lab.kinds(1);
    assert!(kinds.contains(&K::Postgres(PgEvent::Encryption {
        what: "ssl",
        accepted: true
    })));
    assert!(kinds.iter().any(|k| matches!(k, K::Tls(_))), "{kinds:#?}");
    assert_eq!(lab.an.summary().postgres.encrypted, 1);
}

#[test]
fn a_cancel_request_is_matched_to_its_session() {
    let mut lab = Lab::default();
    let mut c = pg_conv(40_005);
    begin(&mut lab, &mut c, 0, 4242);
    lab.at(
        10,
        &c.send(Side::Client, F::PSH | F::ACK, &query("select pg_sleep(10)")),
    );
    let mut cancel = pg_conv(40_006);
    lab.handshake(&mut cancel, 20);
    let key = [4242u32.to_be_bytes(), 7u32.to_be_bytes()].concat();
    lab.at(
        21,
        &cancel.send(Side::Client, F::PSH | F::ACK, &untyped(80_877_102, &key)),
    );
    let s = lab.an.summary().postgres;
    assert_eq!(
        (s.cancel_requests, s.cancels_matched, s.sessions),
        (1, 1, 1)
    );
}

/// One session that ran `select 1` at `t0` + 10 ms, then sat idle `idle_ms` until PostgreSQL
/// ended it with FATAL 57P05 and its FIN.
fn ended_by_idle_session_timeout(lab: &mut Lab, c: &mut Conv, t0: u64, pid: u32, idle_ms: u64) {
    begin(lab, c, t0, pid);
    lab.at(
        t0 + 10,
        &c.send(Side::Client, F::PSH | F::ACK, &query("select 1")),
    );
    let answer = [msg(b'C', b"SELECT 1\0"), ready(b'I')].concat();
    lab.at(t0 + 11, &c.send(Side::Server, F::PSH | F::ACK, &answer));
    let fatal = error(
        "FATAL",
        "57P05",
        "terminating connection due to idle-session timeout",
    );
    let closed = t0 + 11 + idle_ms;
    lab.at(closed, &c.send(Side::Server, F::PSH | F::ACK, &fatal));
    lab.at(closed + 1, &c.send(Side::Server, F::FIN | F::ACK, b""));
    lab.at(closed + 2, &c.send(Side::Client, F::ACK, b""));
}

/// The capture's `server_idle_close` finding.
fn server_idle_close(lab: &Lab) -> crate::diagnose::Finding {
    let findings = lab.report().findings;
    let found = findings
        .iter()
        .find(|f| f.kind == FindingKind::ServerIdleClose);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no server_idle_close in {findings:#?}"))
}

/// The acceptance story: postgres with idle_session_timeout = 2 s ends each idle session with
/// FATAL 57P05, then FIN; the idle close is timed from the last answer, not from the FATAL,
/// and the finding says PostgreSQL's reason and its knob.
#[test]
fn idle_session_timeout_is_a_server_idle_close_with_its_reason() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = pg_conv(41_000 + i);
        let t0 = u64::from(i) * 10_000;
        ended_by_idle_session_timeout(&mut lab, &mut c, t0, 100 + u32::from(i), 2_000);
        // The client's next query meets the closed session: a RST.
        lab.at(
            t0 + 3_000,
            &c.send(Side::Client, F::PSH | F::ACK, &query("select 2")),
        );
        lab.at(t0 + 3_001, &c.send(Side::Server, F::RST, b""));
    }
    let s = lab.an.summary().postgres;
    assert_eq!(
        (s.ended.fatal_then_close, s.fatal, s.errors.get("57P05")),
        (3, 3, 3)
    );
    let idle = server_idle_close(&lab);
    assert_eq!(idle.connections, 3);
    assert!(
        (1_999.0..=2_001.0).contains(&idle.after_ms.unwrap_or(0.0)),
        "{idle:?}"
    );
    assert_eq!(idle.code.as_deref(), Some("57P05"));
    assert!(
        idle.statement.contains("idle_session_timeout"),
        "{}",
        idle.statement
    );
    assert!(
        idle.knobs
            .first()
            .is_some_and(|k| k.contains("idle_session_timeout")),
        "{:?}",
        idle.knobs
    );
}

/// A busy server's timers fire late and scattered (CI, every core taken: 3.08, 3.32 and
/// 3.56 s for `idle_session_timeout = 3s`): too spread for a timing pattern, but PostgreSQL
/// said FATAL 57P05 before each close, so it is its idle timeout all the same.
#[test]
fn idle_closes_the_server_explained_need_no_steady_timing() {
    let mut lab = Lab::default();
    for (i, idle_ms) in [3_080u64, 3_320, 3_560].into_iter().enumerate() {
        let mut c = pg_conv(41_100 + i as u16);
        ended_by_idle_session_timeout(&mut lab, &mut c, i as u64 * 10_000, 200 + i as u32, idle_ms);
    }
    let idle = server_idle_close(&lab);
    assert_eq!((idle.connections, idle.code.as_deref()), (3, Some("57P05")));
    assert!(
        (3_300.0..=3_340.0).contains(&idle.after_ms.unwrap_or(0.0)),
        "{idle:?}"
    );
}

#[test]
fn a_session_idle_in_a_transaction_and_a_full_server_are_findings() {
    let mut lab = Lab::default();
    let mut c = pg_conv(42_000);
    begin(&mut lab, &mut c, 0, 1);
    lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, &query("BEGIN")));
    let answer = [msg(b'C', b"BEGIN\0"), ready(b'T')].concat();
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, &answer));
    let fatal = error(
        "FATAL",
        "25P03",
        "terminating connection due to idle-in-transaction timeout",
    );
    lab.at(5_011, &c.send(Side::Server, F::PSH | F::ACK, &fatal));
    lab.at(5_012, &c.send(Side::Server, F::FIN | F::ACK, b""));
    lab.at(5_013, &c.send(Side::Client, F::FIN | F::ACK, b""));
    lab.at(5_014, &c.send(Side::Server, F::ACK, b""));
    let mut full = pg_conv(42_001);
    lab.handshake(&mut full, 6_000);
    let hello = startup(&[("user", "app")]);
    lab.at(6_001, &full.send(Side::Client, F::PSH | F::ACK, &hello));
    let fatal = error("FATAL", "53300", "sorry, too many clients already");
    lab.at(6_002, &full.send(Side::Server, F::PSH | F::ACK, &fatal));
    lab.at(6_003, &full.send(Side::Server, F::FIN | F::ACK, b""));
    lab.at(6_004, &full.send(Side::Client, F::FIN | F::ACK, b""));
    lab.at(6_005, &full.send(Side::Server, F::ACK, b""));
    let report = lab.report();
    let kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
    assert!(
        kinds.contains(&FindingKind::TooManyConnections),
        "{kinds:?}"
    );
    let idle = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::IdleInTransaction)
        .unwrap_or_else(|| panic!("no idle_in_transaction in {:#?}", report.findings));
    assert_eq!((idle.connections, idle.code.as_deref()), (1, Some("25P03")));
    assert!(
        (4_999.0..=5_001.0).contains(&idle.after_ms.unwrap_or(0.0)),
        "{idle:?}"
    );
    let s = lab.an.summary().postgres;
    assert!((4_999.0..=5_001.0).contains(&s.longest_idle_in_transaction_ms));
}

#[test]
fn the_text_summary_says_the_queries_and_how_sessions_ended() {
    let (mut lab, mut c) = (Lab::default(), pg_conv(43_000));
    begin(&mut lab, &mut c, 0, 1);
    lab.at(
        10,
        &c.send(Side::Client, F::PSH | F::ACK, &query("select bogus")),
    );
    let answer = [
        error("ERROR", "42703", "column \"bogus\" does not exist"),
        ready(b'I'),
    ]
    .concat();
    lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, &answer));
    lab.at(12, &c.send(Side::Client, F::PSH | F::ACK, &msg(b'X', b"")));
    lab.at(13, &c.send(Side::Client, F::FIN | F::ACK, b""));
    lab.at(14, &c.send(Side::Server, F::FIN | F::ACK, b""));
    lab.at(15, &c.send(Side::Client, F::ACK, b""));
    let mut summary = crate::analyze::Summary::default();
    for e in &lab.events {
        summary.apply(e);
    }
    assert_eq!(
        summary.protocol_text(),
        [
            "postgres: 1 query on 1 session (SELECT 1), 0 transactions, errors 42703 1; sessions \
          ended by Terminate 1, FATAL then close 0, bare FIN 0, RST 0, open 0"
        ]
    );
}
