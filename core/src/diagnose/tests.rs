//! Each finding from built frames: the conversation that shows it, and one that must not.

use super::*;
use crate::analyze::{Side, Stack};
use crate::testframes::{Conv, Lab, F};

const REQ_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n";
const RESP_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

fn diagnose(lab: &Lab) -> DiagnosisReport {
    let mut d = Diagnosis::new();
    for e in &lab.events {
        d.apply(e);
    }
    d.report()
}

fn kinds(r: &DiagnosisReport) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.kind.as_str()).collect()
}

fn only(r: &DiagnosisReport, kind: FindingKind) -> &Finding {
    let found: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == kind).collect();
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    found[0]
}

/// Connection `i` (client port 40000 + i) to 10.0.0.2:80.
fn conv(i: u16) -> Conv {
    Conv::new(
        &format!("10.0.0.1:{}", 40000 + i),
        "10.0.0.2:80",
        1000,
        5000,
    )
}

/// `closer` sends FIN at `ms`, the peer answers FIN at `ms + 1`, then the last ACK.
fn close(lab: &mut Lab, c: &mut Conv, closer: Side, ms: u64) {
    lab.at(ms, &c.send(closer, F::FIN | F::ACK, b""));
    lab.at(ms + 1, &c.send(closer.peer(), F::FIN | F::ACK, b""));
    lab.at(ms + 2, &c.send(closer, F::ACK, b""));
}

#[test]
fn a_healthy_keep_alive_connection_gives_no_finding() {
    let mut lab = Lab::default();
    let mut c = conv(1);
    lab.handshake(&mut c, 0);
    for i in 0..100 {
        lab.exchange(&mut c, 10 + i * 10, "/");
    }
    let r = diagnose(&lab);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.endpoints.len(), 1);
    let ep = &r.endpoints[0];
    assert_eq!((ep.connections, ep.requests, ep.reused), (1, 100, 99));
    assert_eq!(r.distributions.requests_per_connection.p50, 100.0);
    assert_eq!(r.distributions.idle_before_reuse_ms.count, 99);
}

#[test]
fn the_server_closing_idle_connections_after_one_second() {
    let mut lab = Lab::default();
    for i in 0..4u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 1_500;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 10, "/");
        // Last response byte at t + 11; the server's FIN 1000 ms (and a little) later.
        close(&mut lab, &mut c, Side::Server, t + 1_011 + u64::from(i % 2));
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["server_idle_close"]);
    let f = only(&r, FindingKind::ServerIdleClose);
    assert_eq!(f.connections, 4);
    let after = f.after_ms.expect("after_ms");
    assert!((999.0..=1_002.0).contains(&after), "{after}");
    assert!(f.spread_ms.expect("spread") <= 1.01, "{f:#?}");
    assert_eq!(f.evidence.conns, [1, 2, 3, 4]);
    // The FIN of connection 1 is its 6th frame (3 handshake, request, response, FIN).
    assert_eq!(f.evidence.frames[0], 6);
    assert!(
        f.knobs.iter().any(|k| k.contains("IdleTimeout")),
        "{:?}",
        f.knobs
    );
    assert!(f.statement.contains("idle"), "{}", f.statement);
    let close = r.distributions.idle_before_close_ms.server;
    assert_eq!(close.count, 4);
}

#[test]
fn scattered_idle_closes_are_no_timeout() {
    let mut lab = Lab::default();
    for (i, idle) in [200u64, 900, 3_000, 7_000].into_iter().enumerate() {
        let mut c = conv(i as u16);
        let t = i as u64 * 10_000;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 10, "/");
        close(&mut lab, &mut c, Side::Server, t + 11 + idle);
    }
    let r = diagnose(&lab);
    assert!(
        !kinds(&r).contains(&"server_idle_close"),
        "{:#?}",
        r.findings
    );
}

/// Ten connections dialed at once, each with one exchange at 20 ms.
fn a_burst_of_ten(lab: &mut Lab) -> Vec<Conv> {
    let mut convs: Vec<Conv> = (0..10).map(conv).collect();
    for (i, c) in convs.iter_mut().enumerate() {
        lab.handshake(c, i as u64);
    }
    for c in &mut convs {
        lab.exchange(c, 20, "/");
    }
    convs
}

#[test]
fn a_burst_closed_by_the_client_down_to_two_idle() {
    let mut lab = Lab::default();
    let mut convs = a_burst_of_ten(&mut lab);
    // Eight are closed by the client within a millisecond of their response; two stay.
    for (i, c) in convs.iter_mut().enumerate().skip(2) {
        close(&mut lab, c, Side::Client, 22 + i as u64 / 4);
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["pool_overflow"]);
    let f = only(&r, FindingKind::PoolOverflow);
    assert_eq!(
        (f.connections, f.kept_idle, f.bursts),
        (8, Some(2), Some(1))
    );
    assert_eq!(r.endpoints[0].time_wait.client, 8);
    // The program exits two seconds later and closes the two it kept: a shutdown, not a
    // second overflow.
    for c in convs.iter_mut().take(2) {
        lab.at(2_000, &c.send(Side::Client, F::FIN | F::ACK, b""));
    }
    let f = only(&diagnose(&lab), FindingKind::PoolOverflow).clone();
    assert_eq!(
        (f.connections, f.kept_idle, f.bursts),
        (8, Some(2), Some(1))
    );
}

/// On a machine with every core busy a burst's closes came more than half a second apart
/// (pg-pool-burst under load counted 3 bursts for 2): without a dial between them they are
/// still one burst.
#[test]
fn a_bursts_late_closes_without_a_dial_between_are_one_burst() {
    let mut lab = Lab::default();
    let mut convs = a_burst_of_ten(&mut lab);
    // Each answered, then closed at once, but the answers straggle 600 ms apart.
    for (i, c) in convs.iter_mut().enumerate().skip(2) {
        let t = 1_000 + i as u64 * 600;
        lab.exchange(c, t, "/late");
        close(&mut lab, c, Side::Client, t + 2);
    }
    let f = only(&diagnose(&lab), FindingKind::PoolOverflow).clone();
    assert_eq!((f.connections, f.bursts), (8, Some(1)));
}

#[test]
fn a_client_closing_everything_when_it_exits_is_no_pool_overflow() {
    let mut lab = Lab::default();
    let mut convs: Vec<Conv> = (0..5).map(conv).collect();
    for c in &mut convs {
        lab.handshake(c, 0);
    }
    for c in &mut convs {
        lab.exchange(c, 10, "/");
    }
    for c in &mut convs {
        close(&mut lab, c, Side::Client, 12);
    }
    let r = diagnose(&lab);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn closes_at_one_instant_after_scattered_idle_times_are_one_act() {
    let mut lab = Lab::default();
    // Five connections open at once, used last at scattered times, then the server restarts.
    let mut convs: Vec<Conv> = (0..5).map(conv).collect();
    for (i, c) in convs.iter_mut().enumerate() {
        lab.handshake(c, i as u64);
    }
    for (i, c) in convs.iter_mut().enumerate() {
        lab.exchange(c, 10 + i as u64 * 300, "/");
    }
    for (i, c) in convs.iter_mut().enumerate() {
        close(&mut lab, c, Side::Server, 2_000 + i as u64);
    }
    let r = diagnose(&lab);
    let f = only(&r, FindingKind::BulkClose);
    assert_eq!((f.side, f.connections), (Some(Side::Server), 5));
    assert!(f.spread_ms.is_some_and(|s| s <= 5.0), "{f:#?}");
    assert!(
        !kinds(&r).contains(&"server_idle_close"),
        "{:#?}",
        r.findings
    );
}

#[test]
fn a_client_that_redials_after_the_servers_idle_close_is_not_blamed() {
    // Node behind haproxy, or any short server idle timeout: each connection idles out, the
    // client's next request needs a new one. Nothing was left by the client.
    let mut lab = Lab::default();
    for i in 0..5u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 2_000;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 2, "/");
        close(&mut lab, &mut c, Side::Server, t + 1_002);
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["server_idle_close"], "{:#?}", r.findings);
}

#[test]
fn a_keep_alive_header_that_says_another_timeout_than_the_closes() {
    // haproxy (timeout http-keep-alive 2s) in front of Node, whose header says 5 s.
    let mut lab = Lab::default();
    for i in 0..4u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 3_000;
        lab.handshake(&mut c, t);
        lab.at(
            t + 1,
            &c.send(
                Side::Client,
                F::PSH | F::ACK,
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            ),
        );
        lab.at(
            t + 2,
            &c.send(
                Side::Server,
                F::PSH | F::ACK,
                b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n",
            ),
        );
        close(&mut lab, &mut c, Side::Server, t + 2_002);
    }
    let r = diagnose(&lab);
    let f = only(&r, FindingKind::KeepaliveHeaderMismatch);
    assert_eq!(f.advertised_s, Some(5));
    assert!(
        f.after_ms
            .is_some_and(|ms| (1_990.0..2_010.0).contains(&ms)),
        "{f:#?}"
    );
    assert!(f.statement.contains("keep-alive race"), "{}", f.statement);
    let stack = &r.endpoints[0].server_stack;
    assert_eq!(
        stack.map(|s| s.stack),
        Some(crate::analyze::Stack::Node),
        "the header's shape"
    );
    // Node says 5 s and closes at 6 s: closing sooner is the proxy in front, whose knobs
    // come first, and Node's keepAliveTimeout is no cause.
    for f in [&r.findings[0], &r.findings[1]] {
        assert!(f.knobs[0].contains("in front"), "{f:#?}");
        assert!(!f.knobs.iter().any(|k| k.contains("Node")), "{:?}", f.knobs);
    }
    let idle = only(&r, FindingKind::ServerIdleClose);
    assert!(
        idle.statement.contains("a proxy in front"),
        "{}",
        idle.statement
    );
}

#[test]
fn one_idle_close_measured_exactly_is_an_observation_not_nothing() {
    let mut lab = Lab::default();
    let mut c = conv(0);
    lab.handshake(&mut c, 0);
    lab.exchange(&mut c, 2, "/");
    close(&mut lab, &mut c, Side::Server, 1_002);
    let r = diagnose(&lab);
    assert!(r.findings.is_empty(), "one connection is no pattern");
    let o = &r.observations;
    assert_eq!(o.len(), 1, "{o:#?}");
    assert_eq!(
        (o[0].kind, o[0].connections),
        (FindingKind::ServerIdleClose, 1)
    );
    assert!(
        o[0].after_ms
            .is_some_and(|ms| (999.0..1_001.0).contains(&ms)),
        "{o:#?}"
    );
}

#[test]
fn a_leak_closed_when_the_process_exits_stays_a_leak() {
    // A Go client that never closes its bodies: 20 connections dialed one after another,
    // each left open, all closed by the process exit at one instant.
    let mut lab = Lab::default();
    let mut convs: Vec<Conv> = Vec::new();
    for i in 0..20u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 25;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 2, "/");
        convs.push(c);
    }
    for c in &mut convs {
        close(&mut lab, c, Side::Client, 1_000);
    }
    let r = diagnose(&lab);
    let f = only(&r, FindingKind::ConnectionLeak);
    assert_eq!(f.connections, 19, "the last one was never passed over");
    assert!(
        !kinds(&r).contains(&"client_idle_close"),
        "one instant is no idle timeout: {:#?}",
        r.findings
    );
}

#[test]
fn new_dials_while_earlier_connections_sit_idle_are_a_leak() {
    let mut lab = Lab::default();
    for i in 0..5u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 100;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 10, "/");
    }
    let r = diagnose(&lab);
    let f = only(&r, FindingKind::ConnectionLeak);
    assert_eq!(f.connections, 4, "the last one was never passed over");
    assert!(!kinds(&r).contains(&"single_request_connections"));
}

#[test]
fn a_server_that_closes_after_three_requests() {
    let mut lab = Lab::default();
    for i in 0..5u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 100;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 10, "/");
        lab.exchange(&mut c, t + 20, "/");
        lab.at(
            t + 30,
            &c.send(Side::Client, F::PSH | F::ACK, b"GET / HTTP/1.1\r\n\r\n"),
        );
        lab.at(t + 31, &c.send(Side::Server, F::PSH | F::ACK, RESP_CLOSE));
        close(&mut lab, &mut c, Side::Server, t + 31);
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["server_request_limit"]);
    let f = only(&r, FindingKind::ServerRequestLimit);
    assert_eq!((f.requests, f.connections), (Some(3), 5));
}

/// Apache's MaxKeepAliveRequests 100 on one long-used connection: the 100th response says
/// Connection: close and the server closes. One connection is no pattern, but it is said.
#[test]
fn a_request_limit_on_one_connection_is_an_observation() {
    let mut lab = Lab::default();
    let mut c = conv(0);
    lab.handshake(&mut c, 0);
    for i in 0..99u64 {
        lab.exchange(&mut c, 10 + i * 10, "/");
    }
    lab.at(
        2_000,
        &c.send(Side::Client, F::PSH | F::ACK, b"GET / HTTP/1.1\r\n\r\n"),
    );
    lab.at(2_001, &c.send(Side::Server, F::PSH | F::ACK, RESP_CLOSE));
    close(&mut lab, &mut c, Side::Server, 2_001);
    let r = diagnose(&lab);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let o = &r.observations;
    assert_eq!(o.len(), 1, "{o:#?}");
    assert_eq!(
        (o[0].kind, o[0].connections, o[0].requests),
        (FindingKind::ServerRequestLimit, 1, Some(100))
    );
    assert!(
        o[0].statement.contains("100th response"),
        "{}",
        o[0].statement
    );
}

/// Five connections 100 ms apart, each carrying `request` and a response that announces the
/// close, then closed by the server.
fn closed_after_one_request(request: &[u8]) -> Lab {
    let mut lab = Lab::default();
    for i in 0..5u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 100;
        lab.handshake(&mut c, t);
        lab.at(t + 10, &c.send(Side::Client, F::PSH | F::ACK, request));
        lab.at(t + 11, &c.send(Side::Server, F::PSH | F::ACK, RESP_CLOSE));
        close(&mut lab, &mut c, Side::Server, t + 11);
    }
    lab
}

#[test]
fn requests_with_connection_close_turn_keep_alive_off() {
    let r = diagnose(&closed_after_one_request(REQ_CLOSE));
    assert_eq!(kinds(&r), ["keepalive_off"]);
    let f = only(&r, FindingKind::KeepaliveOff);
    assert_eq!(f.side, Some(Side::Client));
    assert_eq!(f.via, Some("connection_close_header"));
    // Closed by the server before the next dial: not leaked, not unexplained single requests.
    assert_eq!((f.connections, f.share), (5, Some(1.0)));
}

#[test]
fn a_proxy_that_opens_a_connection_per_request_is_named_as_the_proxy() {
    let nginx = b"GET / HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\
                  User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
    let r = diagnose(&closed_after_one_request(nginx));
    assert_eq!(
        kinds(&r),
        ["proxy_no_upstream_keepalive"],
        "not curl's keepalive_off"
    );
    let f = only(&r, FindingKind::ProxyNoUpstreamKeepalive);
    assert_eq!((f.connections, f.share), (5, Some(1.0)));
    assert!(f.statement.contains("nginx"), "{}", f.statement);
    assert!(f.knobs[0].contains("keepalive 16"), "{:?}", f.knobs);
    assert!(!f.knobs.iter().any(|k| k.contains("curl")), "{:?}", f.knobs);
    let stack = r.endpoints[0].client_stack.expect("the proxy");
    assert_eq!((stack.stack, stack.confidence), (Stack::Nginx, "medium"));
}

#[test]
fn http10_requests_without_keep_alive() {
    let mut lab = Lab::default();
    for i in 0..4u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 100;
        lab.handshake(&mut c, t);
        let req = b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n";
        lab.at(t + 10, &c.send(Side::Client, F::PSH | F::ACK, req));
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        lab.at(t + 11, &c.send(Side::Server, F::PSH | F::ACK, resp));
        close(&mut lab, &mut c, Side::Server, t + 11);
    }
    let f = only(&diagnose(&lab), FindingKind::KeepaliveOff).clone();
    assert_eq!(f.via, Some("http10_without_keepalive"));
    assert_eq!(f.side, Some(Side::Client));
}

#[test]
fn a_request_crossing_the_servers_idle_close_is_reset() {
    let mut lab = Lab::default();
    let mut c = conv(1);
    lab.handshake(&mut c, 0);
    lab.exchange(&mut c, 10, "/");
    lab.at(511, &c.send(Side::Server, F::FIN | F::ACK, b""));
    // The client's next request was already on its way.
    let req = b"GET /next HTTP/1.1\r\n\r\n";
    let seq = c.next[0];
    lab.at(
        512,
        &c.frame(Side::Client, F::PSH | F::ACK, seq, c.next[1] - 1, req),
    );
    c.next[0] += req.len() as u32;
    lab.at(513, &c.send(Side::Server, F::RST, b""));
    let r = diagnose(&lab);
    let f = only(&r, FindingKind::RequestOnClosingConnection);
    assert_eq!(f.connections, 1);
    // Handshake 1-3, request 4, response 5, FIN 6, request 7, RST 8.
    assert_eq!(f.evidence.frames, [8]);
}

/// Three connections a second apart, each serving one request at +10 ms, then `end` with
/// the time the exchange was over.
fn three_served_then(end: impl Fn(&mut Lab, &mut Conv, u64)) -> Lab {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 1_000;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 10, "/");
        end(&mut lab, &mut c, t + 10);
    }
    lab
}

#[test]
fn idle_connections_reset_by_the_server() {
    let lab = three_served_then(|lab, c, t| {
        lab.at(t + 500, &c.send(Side::Server, F::RST | F::ACK, b""));
    });
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["abortive_close"]);
    let f = only(&r, FindingKind::AbortiveClose);
    assert_eq!((f.side, f.connections), (Some(Side::Server), 3));
}

#[test]
fn a_reset_after_the_peers_fin_is_no_abortive_close() {
    // The client closes each idle connection with FIN; the server answers with RST instead of
    // its own FIN (SO_LINGER 0 or not, the client had closed: nothing is lost).
    let lab = three_served_then(|lab, c, t| {
        lab.at(t + 500, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(t + 501, &c.send(Side::Server, F::RST | F::ACK, b""));
    });
    let r = diagnose(&lab);
    assert!(!kinds(&r).contains(&"abortive_close"), "{:?}", kinds(&r));
}

#[test]
fn a_body_closed_unread_is_reset_by_the_client() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 100;
        lab.handshake(&mut c, t);
        lab.at(
            t + 10,
            &c.send(Side::Client, F::PSH | F::ACK, b"GET / HTTP/1.1\r\n\r\n"),
        );
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nxxxx";
        lab.at(t + 11, &c.send(Side::Server, F::ACK, head));
        lab.at(t + 12, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(t + 13, &c.send(Side::Server, F::ACK, &[b'x'; 1000]));
        lab.at(t + 13, &c.send(Side::Client, F::RST, b""));
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["unread_body_reset"]);
    assert_eq!(only(&r, FindingKind::UnreadBodyReset).connections, 3);
}

#[test]
fn a_body_reset_unread_without_a_fin() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 100;
        lab.handshake(&mut c, t);
        lab.at(
            t + 10,
            &c.send(Side::Client, F::PSH | F::ACK, b"GET / HTTP/1.1\r\n\r\n"),
        );
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nxxxx";
        lab.at(t + 11, &c.send(Side::Server, F::ACK, head));
        lab.at(t + 11, &c.send(Side::Server, F::ACK, &[b'x'; 1000]));
        // Unread data in its receive buffer: the client's close is an RST, not a FIN.
        lab.at(t + 12, &c.send(Side::Client, F::RST | F::ACK, b""));
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["unread_body_reset"]);
}

#[test]
fn unanswered_keepalive_probes_then_a_reset_are_a_dead_peer() {
    let mut lab = Lab::default();
    let mut c = conv(1);
    lab.handshake(&mut c, 0);
    lab.exchange(&mut c, 10, "/");
    for i in 0..3 {
        let probe = c.frame(Side::Client, F::ACK, c.next[0] - 1, c.next[1], b"");
        lab.at(1_011 + i * 1_000, &probe);
    }
    lab.at(4_011, &c.send(Side::Client, F::RST | F::ACK, b""));
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["dead_peer"]);
    let f = only(&r, FindingKind::DeadPeer);
    assert_eq!((f.connections, f.probes), (1, Some(3)));
}

#[test]
fn answered_keepalive_probes_are_healthy() {
    let mut lab = Lab::default();
    let mut c = conv(1);
    lab.handshake(&mut c, 0);
    lab.exchange(&mut c, 10, "/");
    for i in 0..3 {
        let probe = c.frame(Side::Client, F::ACK, c.next[0] - 1, c.next[1], b"");
        lab.at(1_011 + i * 1_000, &probe);
        lab.at(1_012 + i * 1_000, &c.send(Side::Server, F::ACK, b""));
    }
    lab.exchange(&mut c, 5_000, "/");
    assert!(diagnose(&lab).findings.is_empty());
}

#[test]
fn a_retransmitted_request_that_is_never_answered() {
    let mut lab = Lab::default();
    let mut c = conv(1);
    lab.handshake(&mut c, 0);
    let req = b"GET / HTTP/1.1\r\n\r\n";
    let seq = c.next[0];
    for (i, at) in [10u64, 210, 610, 1_410, 3_010].into_iter().enumerate() {
        let frame = c.frame(Side::Client, F::PSH | F::ACK, seq, c.next[1], req);
        lab.at(at, &frame);
        assert_eq!(lab.an.summary().retransmits, i as u64);
    }
    let f = only(&diagnose(&lab), FindingKind::DeadPeer).clone();
    assert_eq!(f.retransmits, Some(4));
}

#[test]
fn the_server_closing_without_an_answer_a_second_after_each_request() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 2_000;
        lab.handshake(&mut c, t);
        lab.at(
            t + 10,
            &c.send(Side::Client, F::PSH | F::ACK, b"GET / HTTP/1.1\r\n\r\n"),
        );
        close(&mut lab, &mut c, Side::Server, t + 1_010);
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["server_write_timeout"]);
    let f = only(&r, FindingKind::ServerWriteTimeout);
    assert_eq!((f.connections, f.after_ms), (3, Some(1_000.0)));
}

#[test]
fn retransmitted_syns() {
    let mut lab = Lab::default();
    let mut c = conv(1);
    let syn = c.send(Side::Client, F::SYN, b"");
    for at in [0, 1_000, 3_000, 7_000] {
        lab.at(at, &syn);
    }
    lab.at(7_001, &c.send(Side::Server, F::SYN | F::ACK, b""));
    lab.at(7_002, &c.send(Side::Client, F::ACK, b""));
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["syn_retransmits"]);
    let f = only(&r, FindingKind::SynRetransmits);
    assert_eq!((f.connections, f.retransmits), (1, Some(3)));
}

#[test]
fn single_request_connections_the_client_closes_at_random_times() {
    let mut lab = Lab::default();
    for (i, idle) in [100u64, 700, 2_500, 6_000].into_iter().enumerate() {
        let mut c = conv(i as u16);
        let t = i as u64 * 10_000;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 10, "/");
        close(&mut lab, &mut c, Side::Client, t + 11 + idle);
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["single_request_connections"]);
    let f = only(&r, FindingKind::SingleRequestConnections);
    // The last one was not followed by a new dial: nothing says it would not be reused.
    assert_eq!((f.connections, f.share), (3, Some(0.75)));
}

#[test]
fn findings_and_endpoints_are_per_server() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut a = conv(i);
        let mut b = Conv::new(&format!("10.0.0.1:{}", 41000 + i), "10.0.0.3:8080", 1, 2);
        let t = u64::from(i) * 2_000;
        lab.handshake(&mut a, t);
        lab.handshake(&mut b, t);
        lab.exchange(&mut a, t + 10, "/");
        lab.exchange(&mut b, t + 10, "/");
        close(&mut lab, &mut a, Side::Server, t + 511);
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["server_idle_close"]);
    let f = only(&r, FindingKind::ServerIdleClose);
    assert_eq!(f.server.to_string(), "10.0.0.2:80");
    assert_eq!(r.endpoints.len(), 2);
    for ep in &r.endpoints {
        let expected: &[FindingKind] = match ep.server.port() {
            80 => &[FindingKind::ServerIdleClose],
            _ => &[],
        };
        assert_eq!(ep.findings, expected, "{ep:?}");
    }
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["findings"][0]["kind"], "server_idle_close");
    assert!(
        json["findings"][0].get("kept_idle").is_none(),
        "absent when n/a"
    );
}

#[test]
fn memory_follows_open_connections() {
    let mut lab = Lab::default();
    let mut d = Diagnosis::new();
    for i in 0..5_000u64 {
        let mut c = Conv::new(
            &format!("10.{}.{}.1:40000", i / 250, i % 250),
            "10.0.0.2:80",
            1,
            2,
        );
        lab.handshake(&mut c, i * 10);
        lab.exchange(&mut c, i * 10 + 3, "/");
        close(&mut lab, &mut c, Side::Client, i * 10 + 5);
        for e in lab.events.drain(..) {
            d.apply(&e);
        }
    }
    assert_eq!(d.open_connections(), 0);
    let r = d.report();
    assert_eq!(r.endpoints[0].connections, 5_000);
    assert_eq!(r.distributions.requests_per_connection.count, 5_000);
}

#[test]
fn answered_keepalive_probes_then_a_reset_are_no_dead_peer() {
    let mut lab = Lab::default();
    let mut c = conv(1);
    lab.handshake(&mut c, 0);
    lab.exchange(&mut c, 10, "/");
    for i in 0..4 {
        let probe = c.frame(Side::Client, F::ACK, c.next[0] - 1, c.next[1], b"");
        lab.at(1_011 + i * 1_000, &probe);
        lab.at(1_012 + i * 1_000, &c.send(Side::Server, F::ACK, b""));
    }
    lab.at(5_011, &c.send(Side::Client, F::RST | F::ACK, b""));
    let answered = lab
        .events
        .iter()
        .filter(|e| e.kind == EventKind::KeepaliveAck { by: Side::Server })
        .count();
    assert_eq!(answered, 4);
    let r = diagnose(&lab);
    assert!(!kinds(&r).contains(&"dead_peer"), "{:#?}", r.findings);
}

#[test]
fn other_clients_dialing_do_not_make_an_idle_connection_a_leak() {
    let mut lab = Lab::default();
    // Five clients, one connection each, every one idle while the next client dials; the
    // server closes each after one second idle.
    for i in 0..5u16 {
        let mut c = Conv::new(
            &format!("10.0.0.{}:40000", 10 + i),
            "10.0.0.2:80",
            1000,
            5000,
        );
        let t = u64::from(i) * 100;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 10, "/");
        close(&mut lab, &mut c, Side::Server, t + 1_011);
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["server_idle_close"], "{:#?}", r.findings);
}

#[test]
fn retransmitted_syns_point_at_the_retransmission_and_copies_are_not_counted() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 10_000;
        let syn = c.send(Side::Client, F::SYN, b"");
        lab.at(t, &syn);
        // The same frame again at once (a copy from a second interface), then a real retry.
        lab.at(t, &syn);
        lab.at(t + 1_000, &syn);
        lab.at(t + 1_001, &c.send(Side::Server, F::SYN | F::ACK, b""));
        lab.at(t + 1_002, &c.send(Side::Client, F::ACK, b""));
    }
    let r = diagnose(&lab);
    let f = only(&r, FindingKind::SynRetransmits);
    assert_eq!((f.connections, f.retransmits), (3, Some(3)));
    // Frames 1, 2 are the SYN and its copy; frame 3 is the retransmission.
    assert_eq!(f.evidence.frames, [3, 8, 13]);
}

#[test]
fn syns_answered_by_rst_are_refused_not_abortive() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 100;
        lab.at(t, &c.send(Side::Client, F::SYN, b""));
        lab.at(t + 1, &c.send(Side::Server, F::RST | F::ACK, b""));
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["connection_refused"], "{:#?}", r.findings);
    let f = only(&r, FindingKind::ConnectionRefused);
    assert_eq!((f.connections, &f.evidence.frames[..]), (3, &[2, 4, 6][..]));
}

#[test]
fn idle_closes_without_http_are_found_from_the_payloads() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 10_000;
        lab.handshake(&mut c, t);
        // TLS records, not HTTP: no request or response is recognised.
        lab.at(
            t + 5,
            &c.send(Side::Client, F::PSH | F::ACK, b"\x16\x03\x01\x00\x05hello"),
        );
        lab.at(
            t + 6,
            &c.send(Side::Server, F::PSH | F::ACK, b"\x16\x03\x03\x00\x05howdy"),
        );
        close(&mut lab, &mut c, Side::Server, t + 5_006);
    }
    let r = diagnose(&lab);
    assert_eq!(kinds(&r), ["server_idle_close"], "{:#?}", r.findings);
    let f = only(&r, FindingKind::ServerIdleClose);
    assert_eq!(f.after_ms, Some(5_000.0));
}

#[test]
fn a_reset_after_traffic_is_no_refusal_when_the_capture_missed_the_syn_ack() {
    let mut lab = Lab::default();
    for i in 0..3u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 10_000;
        lab.at(t, &c.send(Side::Client, F::SYN, b""));
        // The SYN-ACK is not in the capture; the sequence numbers move on as if it were.
        let _ = c.send(Side::Server, F::SYN | F::ACK, b"");
        lab.at(t + 2, &c.send(Side::Client, F::ACK, b""));
        lab.exchange(&mut c, t + 10, "/");
        lab.at(t + 5_011, &c.send(Side::Server, F::RST | F::ACK, b""));
    }
    assert!(lab
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Established { .. })));
    let r = diagnose(&lab);
    assert!(
        !kinds(&r).contains(&"connection_refused"),
        "{:#?}",
        r.findings
    );
    let f = only(&r, FindingKind::AbortiveClose);
    assert_eq!(f.connections, 3);
    // Each missed SYN-ACK is a hole in the capture, named; it loses only the handshake time.
    assert_eq!(
        (r.capture_gaps.holes, r.capture_gaps.holed_connections),
        (3, 3)
    );
    assert_eq!(
        (r.capture_holes[0].side, r.capture_holes[0].bytes),
        (Side::Server, 0)
    );
    assert_eq!(r.capture_gaps.damaged_connections, 0);
}

#[test]
fn bytes_the_capture_missed_are_a_hole_and_no_finding_is_drawn_across_it() {
    let mut lab = Lab::default();
    for i in 0..4u16 {
        let mut c = conv(i);
        let t = u64::from(i) * 10_000;
        lab.handshake(&mut c, t);
        lab.exchange(&mut c, t + 10, "/");
        if i == 2 {
            // The capture misses the second response; the third arrives beyond the hole.
            let req = b"GET /2 HTTP/1.1\r\nHost: lab\r\n\r\n";
            lab.at(t + 20, &c.send(Side::Client, F::PSH | F::ACK, req));
            let _ = c.send(
                Side::Server,
                F::PSH | F::ACK,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            );
            lab.exchange(&mut c, t + 30, "/3");
            lab.at(t + 40, &c.send(Side::Client, F::ACK, b""));
        }
        close(&mut lab, &mut c, Side::Server, t + 5_011);
    }
    let r = diagnose(&lab);
    assert_eq!(
        (r.capture_gaps.holes, r.capture_gaps.holed_connections),
        (1, 1)
    );
    let hole = r.capture_holes[0];
    assert_eq!(
        (hole.connection, hole.side, hole.bytes),
        (3, Side::Server, 40)
    );
    assert_eq!(
        r.capture_gaps.damaged_connections, 1,
        "set apart from the hole on"
    );
    // The three whole connections still make the server's idle close.
    let f = only(&r, FindingKind::ServerIdleClose);
    assert_eq!(f.connections, 3);
    // A whole capture has no hole.
    let mut whole = Lab::default();
    let mut c = conv(0);
    whole.handshake(&mut c, 0);
    for i in 0..5 {
        whole.exchange(&mut c, 10 + i * 10, "/");
    }
    close(&mut whole, &mut c, Side::Client, 100);
    assert_eq!(diagnose(&whole).capture_gaps.holes, 0);
}

/// Applies `lab`'s events with a capture gap of `frames` frames noted at `gap_ms`.
fn diagnose_with_gap(lab: &Lab, gap_ms: u64, frames: u64) -> DiagnosisReport {
    let mut d = Diagnosis::new();
    let gap_ns = gap_ms * 1_000_000;
    let mut noted = false;
    for e in &lab.events {
        if !noted && e.t_ns >= gap_ns {
            d.capture_gap(gap_ns, frames);
            noted = true;
        }
        d.apply(e);
    }
    d.report()
}

/// A request sent again and again and never answered (a dead peer's pattern), from `at`.
fn unanswered_request(lab: &mut Lab, c: &mut Conv, at: u64) {
    let seq = c.next[0];
    let req = b"GET / HTTP/1.1\r\n\r\n";
    for ms in [at, at + 200, at + 600, at + 1_400, at + 3_000] {
        lab.at(
            ms,
            &c.frame(Side::Client, F::PSH | F::ACK, seq, c.next[1], req),
        );
    }
}

#[test]
fn what_a_capture_gap_may_have_caused_is_withheld_not_diagnosed() {
    let mut lab = Lab::default();
    let mut c = conv(1);
    lab.handshake(&mut c, 0);
    unanswered_request(&mut lab, &mut c, 10);
    // Without the gap, the same frames are a dead peer.
    assert_eq!(kinds(&diagnose(&lab)), ["dead_peer"]);
    let r = diagnose_with_gap(&lab, 5, 7);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(
        r.capture_gaps,
        CaptureGaps {
            gaps: 1,
            frames_lost: 7,
            damaged_connections: 1,
            holes: 0,
            holed_connections: 0,
        }
    );
    assert_eq!(r.withheld_findings.len(), 1);
    let w = &r.withheld_findings[0];
    assert_eq!(w.kind, FindingKind::DeadPeer);
    assert!(w.caused_by_wire_drops);
    // What the connection did still counts on its endpoint.
    assert_eq!(r.endpoints[0].requests, 1);
}

#[test]
fn connections_the_gap_did_not_touch_are_still_diagnosed() {
    let mut lab = Lab::default();
    // One connection closed before the gap, one begun two seconds after it: both clean.
    let mut before = conv(1);
    lab.handshake(&mut before, 0);
    unanswered_request(&mut lab, &mut before, 10);
    lab.at(3_100, &before.send(Side::Client, F::RST, b""));
    let mut after = conv(2);
    lab.handshake(&mut after, 6_000);
    unanswered_request(&mut lab, &mut after, 6_010);
    let r = diagnose_with_gap(&lab, 4_000, 3);
    let dead = only(&r, FindingKind::DeadPeer);
    assert_eq!(dead.connections, 2, "{:#?}", r.findings);
    assert!(r.withheld_findings.is_empty());
    assert_eq!(r.capture_gaps.damaged_connections, 0);
}

mod tls {
    use super::*;
    use crate::testtls::{ends, setup, suites12, suites13, Ends, Session};

    /// Three connections of one client, each idle 3 s after its exchange until the server
    /// closes it (close_notify and FIN, as nginx does); the client resets each 2 s later
    /// when it closes its socket with the alert unread. Read with or without the keys.
    fn idle_closed(ends: &Ends, with_keys: bool) -> DiagnosisReport {
        let mut capture = Lab::default();
        let mut t = 0;
        for port in 0..3u16 {
            let mut s = Session::open_at(&mut capture, ends, (41000 + port, 1400), t);
            s.exchange("/");
            s.idle(3_000);
            s.close(Side::Server);
            s.idle(2_000);
            s.rst(Side::Client);
            t = s.now() + 100;
        }
        let mut lab = Lab::default();
        if with_keys {
            lab.an.add_keys(Session::keys(ends).as_bytes());
        }
        for (ms, frame) in &capture.frames {
            lab.at(*ms, frame);
        }
        diagnose(&lab)
    }

    /// Sessions made by `sessions` (on a capture of their own), then diagnosed with their
    /// keys or without: keys are known only once the sessions exist.
    fn replayed(ends: &Ends, with_keys: bool, sessions: impl FnOnce(&mut Lab)) -> DiagnosisReport {
        let mut capture = Lab::default();
        sessions(&mut capture);
        let mut lab = Lab::default();
        if with_keys {
            lab.an.add_keys(Session::keys(ends).as_bytes());
        }
        for (ms, frame) in &capture.frames {
            lab.at(*ms, frame);
        }
        diagnose(&lab)
    }

    #[test]
    fn a_server_idle_close_over_tls_is_found_and_the_clients_reset_is_unread_data() {
        for (tls13, suite) in [(false, suites12()[0]), (true, suites13()[0])] {
            let ends = ends(&setup(tls13, suite));
            for with_keys in [false, true] {
                let r = idle_closed(&ends, with_keys);
                let what = format!("tls13 {tls13} keys {with_keys}: {:#?}", r.findings);
                let idle = only(&r, FindingKind::ServerIdleClose);
                let after = idle.after_ms.expect("after_ms");
                assert!((2_999.0..=3_010.0).contains(&after), "{what}");
                let unread = only(&r, FindingKind::CloseWithUnreadData);
                assert_eq!((unread.side, unread.connections), (Some(Side::Client), 3));
                assert!(!kinds(&r).contains(&"abortive_close"), "{what}");
            }
        }
    }

    /// `n` connections of one client, each handshake, one exchange, then closed at once.
    fn short_connections(ends: &Ends, n: u16, idle_ms: u64) -> DiagnosisReport {
        let mut lab = Lab::default();
        let mut t = 0;
        for port in 0..n {
            let mut s = Session::open_at(&mut lab, ends, (42000 + port, 1400), t);
            s.exchange("/");
            s.idle(idle_ms);
            s.close(Side::Client);
            s.fin(Side::Server);
            s.ack(Side::Client);
            t = s.now() + 1_000;
        }
        diagnose(&lab)
    }

    /// Go's TLS server says close_notify on Close even after the client closed: the client's
    /// closed socket answers it with RSTs, or, when the answer beat the client's FIN, the
    /// client's close becomes an RST. Either way no body was closed unread, no SO_LINGER, and
    /// the server did not close first.
    #[test]
    fn resets_answering_a_close_notify_after_the_clients_close_are_no_finding() {
        let ends = ends(&setup(true, suites13()[0]));
        for with_keys in [false, true] {
            let r = replayed(&ends, with_keys, |lab| {
                let mut t = 0;
                // Idle times too far apart to be anybody's idle timeout.
                for (port, idle) in [1_000, 2_500, 4_000, 6_000, 8_500, 11_000]
                    .into_iter()
                    .enumerate()
                {
                    let mut s = Session::open_at(lab, &ends, (43000 + port as u16, 1400), t);
                    s.exchange("/");
                    s.idle(idle);
                    if port % 2 == 0 {
                        s.close(Side::Client);
                        s.close_notify(Side::Server);
                        s.rst(Side::Client);
                        s.fin(Side::Server);
                    } else {
                        // The server's answer crossed the client's FIN: the client's socket
                        // held it unread when it closed.
                        s.close_notify(Side::Client);
                        s.close(Side::Server);
                    }
                    s.rst(Side::Client);
                    t = s.now() + 100;
                }
            });
            // (Decrypted, the client's habit of one request per connection shows: that
            // finding is right; the resets are not its cause.)
            for wrong in [
                "unread_body_reset",
                "abortive_close",
                "close_with_unread_data",
            ] {
                assert!(
                    !kinds(&r).contains(&wrong),
                    "keys {with_keys}: {:#?}",
                    r.findings
                );
            }
        }
    }

    #[test]
    fn an_idle_close_begun_with_close_notify_is_the_servers_whatever_crosses_it() {
        let ends = ends(&setup(true, suites13()[0]));
        for with_keys in [false, true] {
            let r = replayed(&ends, with_keys, |lab| {
                let mut t = 0;
                for port in 0..6 {
                    let mut s = Session::open_at(lab, &ends, (44000 + port, 1400), t);
                    s.exchange("/");
                    s.idle(3_000);
                    s.close_notify(Side::Server);
                    s.close(Side::Client);
                    if port % 2 == 0 {
                        s.fin(Side::Server);
                        s.ack(Side::Client);
                    } else {
                        s.rst(Side::Server);
                    }
                    t = s.now() + 100;
                }
            });
            let what = format!("keys {with_keys}: {:#?}", r.findings);
            assert_eq!(kinds(&r), ["server_idle_close"], "{what}");
            let idle = only(&r, FindingKind::ServerIdleClose);
            assert_eq!(idle.connections, 6, "{what}");
            let after = idle.after_ms.expect("after_ms");
            assert!((2_999.0..=3_010.0).contains(&after), "{what}");
        }
    }

    #[test]
    fn an_announced_close_is_the_servers_whoever_says_close_notify_first() {
        let ends = ends(&setup(true, suites13()[0]));
        let r = replayed(&ends, true, |lab| {
            let mut t = 0;
            for port in 0..6 {
                let mut s = Session::open_at(lab, &ends, (45000 + port, 1400), t);
                s.exchange("/a");
                s.exchange_closing("/b");
                match port % 3 {
                    0 => {
                        s.close(Side::Client);
                        s.close(Side::Server);
                        s.ack(Side::Client);
                    }
                    1 => {
                        s.close_notify(Side::Client);
                        s.close(Side::Server);
                        s.fin(Side::Client);
                        s.ack(Side::Server);
                    }
                    _ => {
                        // Both say close_notify; the server's socket closes with the
                        // client's unread, so its FIN is a reset (seen from CI's nginx).
                        s.close_notify(Side::Client);
                        s.close_notify(Side::Server);
                        s.rst(Side::Server);
                    }
                }
                t = s.now() + 100;
            }
        });
        let f = only(&r, FindingKind::ServerRequestLimit);
        assert_eq!(
            (f.requests, f.connections),
            (Some(2), 6),
            "{:#?}",
            r.findings
        );
    }

    #[test]
    fn reconnecting_without_resumption_is_found_and_with_tickets_it_is_not() {
        let mut off = setup(true, suites13()[0]);
        off.tickets = false;
        let r = short_connections(&ends(&off), 5, 2_000);
        let f = only(&r, FindingKind::TlsNoResumption);
        assert_eq!(
            f.connections, 4,
            "the first connection has nothing to resume"
        );
        let on = setup(true, suites13()[0]);
        let r = short_connections(&ends(&on), 5, 2_000);
        assert!(
            !kinds(&r).contains(&"tls_no_resumption"),
            "{:#?}",
            r.findings
        );
    }

    #[test]
    fn short_connections_spending_their_life_in_handshakes_are_found() {
        let s = setup(false, suites12()[0]);
        let r = short_connections(&ends(&s), 4, 0);
        let f = only(&r, FindingKind::TlsHandshakeShare);
        assert!(f.share.expect("share") >= 0.25, "{f:#?}");
        assert_eq!(f.connections, 4);
        // Kept open and idle for seconds, the handshake is a small part of their life.
        let r = short_connections(&ends(&s), 4, 5_000);
        assert!(
            !kinds(&r).contains(&"tls_handshake_share"),
            "{:#?}",
            r.findings
        );
    }
}

/// Found by the capture fuzzer: a handshake whose ACK came ages after its SYN (a clock jump in
/// a damaged file) overflowed the reaction time added to the round trip at the first FIN.
#[test]
fn a_handshake_round_trip_near_the_end_of_time_is_no_overflow() {
    use crate::testframes::{ev, fin, req, resp};
    let mut d = Diagnosis::new();
    for e in [
        ev(1, 0, EventKind::Syn),
        ev(
            1,
            1,
            EventKind::Established {
                handshake_ns: u64::MAX - 1,
            },
        ),
        ev(1, 2, req(1, false)),
        ev(1, 3, resp(1)),
        ev(1, 4, fin(Side::Server, Some(1))),
    ] {
        d.apply(&e);
    }
    assert_eq!(d.report().endpoints[0].connections, 1);
}

/// Seen under load: connlab's wire recorded a server segment, acknowledging a request, just
/// before that request (two directions, two threads). An ACK ahead of the bytes is no hole
/// while nothing waits beyond it: the request still counts.
#[test]
fn a_request_recorded_just_after_the_ack_that_covers_it_is_no_hole() {
    let mut lab = Lab::default();
    let mut c = conv(0);
    lab.handshake(&mut c, 0);
    lab.exchange(&mut c, 10, "/1");
    let req = c.send(
        Side::Client,
        F::PSH | F::ACK,
        b"GET /2 HTTP/1.1\r\nHost: lab\r\n\r\n",
    );
    let resp = c.send(
        Side::Server,
        F::PSH | F::ACK,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    lab.at(20, &resp);
    lab.at(20, &req);
    lab.exchange(&mut c, 30, "/3");
    let r = diagnose(&lab);
    assert_eq!(r.capture_gaps.holes, 0, "{:?}", r.capture_holes);
    assert_eq!(r.endpoints[0].requests, 3);
}
