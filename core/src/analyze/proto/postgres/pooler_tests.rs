//! pgbouncer in a capture: told by what it says (its ParameterStatus order), its two legs
//! joined (it serves PostgreSQL and dials PostgreSQL), and a Terminate that makes the client
//! the closer whoever's FIN comes first, as pgbouncer's and postgres's quick FINs race it.

use super::tests::{cstr, msg, query, ready, startup, welcome_with};
use crate::analyze::EventKind as K;
use crate::analyze::{Clue, Side, Stack};
use crate::diagnose::FindingKind;
use crate::testframes::{Conv, Lab, F};

/// What pgbouncer 1.18 answers its clients' startup with: the server's parameters it relays,
/// then its own tracked ones, out of PostgreSQL's sorted order.
fn pgbouncer_welcome() -> Vec<u8> {
    welcome_with(
        &[
            ("default_transaction_read_only", "off"),
            ("is_superuser", "on"),
            ("server_version", "15.18 (Debian 15.18-0+deb12u1)"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("TimeZone", "Etc/UTC"),
            ("application_name", ""),
        ],
        1,
    )
}

/// PostgreSQL's own answer: its parameters sorted by name, whatever their case.
fn postgres_welcome() -> Vec<u8> {
    welcome_with(
        &[
            ("application_name", ""),
            ("DateStyle", "ISO, MDY"),
            ("integer_datetimes", "on"),
            ("IntervalStyle", "postgres"),
            ("server_version", "15.18 (Debian 15.18-0+deb12u1)"),
            ("TimeZone", "Etc/UTC"),
        ],
        3,
    )
}

/// A session from `client` to `server` begun at `t0` and answered with `welcome`, then one
/// query answered at once.
fn session(lab: &mut Lab, client: &str, server: &str, t0: u64, welcome: &[u8]) -> Conv {
    let mut c = Conv::new(client, server, 100, 900);
    lab.handshake(&mut c, t0);
    let hello = startup(&[("user", "app"), ("database", "shop")]);
    lab.at(t0 + 3, &c.send(Side::Client, F::PSH | F::ACK, &hello));
    lab.at(t0 + 4, &c.send(Side::Server, F::PSH | F::ACK, welcome));
    lab.at(
        t0 + 5,
        &c.send(Side::Client, F::PSH | F::ACK, &query("select 1")),
    );
    let answer = [msg(b'C', &cstr("SELECT 1")), ready(b'I')].concat();
    lab.at(t0 + 6, &c.send(Side::Server, F::PSH | F::ACK, &answer));
    c
}

/// Terminate at `t`, then `first`'s FIN, the peer's, and the last ACK.
fn goodbye(lab: &mut Lab, c: &mut Conv, t: u64, first: Side) {
    lab.at(t, &c.send(Side::Client, F::PSH | F::ACK, &msg(b'X', b"")));
    lab.at(t, &c.send(first, F::FIN | F::ACK, b""));
    lab.at(t + 1, &c.send(first.peer(), F::FIN | F::ACK, b""));
    lab.at(t + 2, &c.send(first, F::ACK, b""));
}

fn server_stacks(lab: &Lab, conn: u64) -> Vec<(Stack, Clue)> {
    lab.kinds(conn)
        .into_iter()
        .filter_map(|k| match k {
            K::Stack {
                by: Side::Server,
                stack,
                clue,
            } => Some((stack, clue)),
            _ => None,
        })
        .collect()
}

#[test]
fn pgbouncer_is_told_from_postgres_by_its_parameter_order() {
    let mut lab = Lab::default();
    session(
        &mut lab,
        "10.0.0.1:40000",
        "10.0.0.2:6432",
        0,
        &pgbouncer_welcome(),
    );
    session(
        &mut lab,
        "10.0.0.1:40001",
        "10.0.0.3:5432",
        10,
        &postgres_welcome(),
    );
    assert_eq!(
        server_stacks(&lab, 1),
        [(Stack::Pgbouncer, Clue::ParameterOrder)]
    );
    assert_eq!(server_stacks(&lab, 2), [(Stack::Postgres, Clue::Protocol)]);
}

#[test]
fn a_terminate_makes_the_client_the_closer_even_when_the_server_fins_first() {
    // pgbouncer closes at once on a client's Terminate: its FIN often leaves before the
    // client's. Three sessions of two queries each closed so are no request limit.
    let mut lab = Lab::default();
    for i in 0..3u64 {
        let client = format!("10.0.0.1:{}", 40_000 + i);
        let mut c = session(
            &mut lab,
            &client,
            "10.0.0.2:6432",
            100 * i,
            &pgbouncer_welcome(),
        );
        lab.at(
            100 * i + 20,
            &c.send(Side::Client, F::PSH | F::ACK, &query("select 2")),
        );
        let answer = [msg(b'C', &cstr("SELECT 1")), ready(b'I')].concat();
        lab.at(
            100 * i + 21,
            &c.send(Side::Server, F::PSH | F::ACK, &answer),
        );
        goodbye(&mut lab, &mut c, 100 * i + 22, Side::Server);
    }
    let report = lab.report();
    assert_eq!(report.findings, [], "{:#?}", report.findings);
    // The wire's fact stays: the server's FIN came first.
    assert_eq!(report.endpoints[0].fin_first_by.server, 3);
}

#[test]
fn a_pooler_closing_its_idle_server_connections_while_its_clients_stay_is_one_story() {
    // Three clients hold sessions with the pooler at 10.0.0.2:6432, which ran their
    // transactions on three server connections of its own to 10.0.0.3:5432; 2.1 s after their
    // last use it closes those (Terminate, then its FIN) while its clients stay connected.
    let mut lab = Lab::default();
    let mut upstream = Vec::new();
    for i in 0..3u64 {
        let client = format!("10.0.0.1:{}", 40_000 + i);
        session(&mut lab, &client, "10.0.0.2:6432", i, &pgbouncer_welcome());
        let pooler = format!("10.0.0.2:{}", 50_000 + i);
        upstream.push(session(
            &mut lab,
            &pooler,
            "10.0.0.3:5432",
            10 + i,
            &postgres_welcome(),
        ));
    }
    for (i, c) in upstream.iter_mut().enumerate() {
        goodbye(&mut lab, c, 2_116 + i as u64, Side::Client);
    }
    let report = lab.report();
    let kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [FindingKind::ProxyUpstreamIdleClose],
        "{:#?}",
        report.findings
    );
    let f = &report.findings[0];
    assert_eq!(
        (f.server, f.connections),
        ("10.0.0.3:5432".parse().unwrap(), 3)
    );
    assert!(
        (2_090.0..=2_110.0).contains(&f.after_ms.unwrap_or(0.0)),
        "{f:?}"
    );
    assert!(
        f.statement.contains("the proxy 10.0.0.2"),
        "{}",
        f.statement
    );
    assert!(
        f.statement.contains("while 3 clients of its own"),
        "{}",
        f.statement
    );
    assert!(
        f.knobs
            .iter()
            .any(|k| k.contains("pgbouncer server_idle_timeout")),
        "{:?}",
        f.knobs
    );
}

#[test]
fn a_client_closing_idle_sessions_of_its_own_is_no_pooler() {
    // The same closes from an address that serves nothing: the client's own idle timeout.
    let mut lab = Lab::default();
    let mut sessions: Vec<Conv> = (0..3u64)
        .map(|i| {
            let client = format!("10.0.0.1:{}", 40_000 + i);
            session(&mut lab, &client, "10.0.0.3:5432", i, &postgres_welcome())
        })
        .collect();
    for (i, c) in sessions.iter_mut().enumerate() {
        goodbye(&mut lab, c, 2_106 + i as u64, Side::Client);
    }
    let kinds: Vec<FindingKind> = lab.report().findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::ClientIdleClose]);
}
