//! The findings: what the patterns on an endpoint mean, in plain words, with the evidence and
//! the knob to change. The rules and their thresholds are written here and in docs/diagnosis.md.
//!
//! Thresholds: a timing or counting pattern needs at least [`MIN_CONNECTIONS`] connections
//! (and, where it says "most", a majority), never a single coincidence. Two kinds are direct
//! observations rather than patterns and need one connection: a request answered by RST after
//! the server's FIN (`request_on_closing_connection`), a connection reset or stalled after
//! unanswered keepalive probes or retransmissions (`dead_peer`), and a SYN answered by RST
//! (`connection_refused`).

use std::net::SocketAddr;

use super::evidence::{ms, Examples};
use super::finding::{Finding, MIN_CONNECTIONS};
use super::kind::FindingKind;
use super::track::{Cause, EndpointTrack};
use super::websocket::{Actor, WsEndpoint};
use crate::analyze::proto::mysql::diagnosis as mysql;
use crate::analyze::proto::postgres::diagnosis as postgres;
use crate::analyze::{Side, Stack};
use crate::words::{ordinal, plural};

/// SYN retransmissions (over all handshakes to an endpoint) that make a finding.
pub const MIN_SYN_RETRANSMITS: u64 = 3;
/// Closes within this of each other are one act (`bulk_close`).
const BULK_WINDOW_NS: u64 = 5_000_000;

fn conns(n: u64) -> String {
    plural(n, "connection", "connections")
}

/// What one or two connections showed clearly (an idle close measured exactly): not a pattern
/// yet, but not nothing either. Each says how many connections it rests on.
pub(crate) fn observations(server: SocketAddr, ep: &EndpointTrack) -> Vec<Finding> {
    let mut out = Vec::new();
    // Only the server's: a client closing one idle connection is as often its process
    // ending as a timeout.
    for (kind, timed, who) in [(FindingKind::ServerIdleClose, &ep.server_idle, "the server")] {
        let n = timed.examples.count;
        if n == 0 || n >= MIN_CONNECTIONS {
            continue;
        }
        let Some((after, spread)) = timed.consistent_ms() else {
            continue;
        };
        let statement = format!(
            "{who} closed {} with {server} {after:.1} ms after the last data: an idle timeout \
             of about that, seen on too few connections to call it a pattern",
            conns(n)
        );
        out.push(Finding {
            after_ms: Some(after),
            spread_ms: Some(spread),
            ..Finding::new(kind, server, &timed.examples).says(statement)
        });
    }
    request_limit_seen(server, ep, &mut out);
    postgres::amend(&ep.pg, &mut out);
    mysql::amend(&ep.my, &mut out);
    name_stacks(&mut out, ep);
    out
}

/// The findings on one endpoint (already settled: the burst under way counts).
pub(crate) fn findings(server: SocketAddr, ep: &EndpointTrack) -> Vec<Finding> {
    let mut out = Vec::new();
    idle_closes(server, ep, &mut out);
    keepalive_off(server, ep, &mut out);
    pool_and_leaks(server, ep, &mut out);
    request_limit(server, ep, &mut out);
    resets(server, ep, &mut out);
    websocket(server, &ep.ws, &mut out);
    super::http2::findings(server, &ep.h2, &mut out);
    super::tls::findings(server, &ep.tls, &mut out);
    postgres::findings(server, &ep.pg, &mut out);
    mysql::findings(server, &ep.my, &mut out);
    super::legs::findings(server, &ep.legs, &mut out);
    if ep.syn_retransmits >= MIN_SYN_RETRANSMITS {
        let f = Finding::new(FindingKind::SynRetransmits, server, &ep.syn_retx);
        let statement = format!(
            "{} with {server} needed {}: SYNs lost on the way or a full listen backlog \
             (each costs the client a second or more)",
            plural(f.connections, "handshake", "handshakes"),
            plural(
                ep.syn_retransmits,
                "SYN retransmission",
                "SYN retransmissions"
            ),
        );
        out.push(Finding {
            retransmits: Some(ep.syn_retransmits),
            ..f.says(statement)
        });
    }
    // Most connections with one request, unexplained by any finding above.
    let mut single = ep.single_request[Cause::index(None)].clone();
    for cause in Cause::ALL {
        if !out.iter().any(|f| f.kind == explained_by(cause)) {
            single.add_all(&ep.single_request[Cause::index(Some(cause))]);
        }
    }
    let share = single.count as f64 / ep.with_requests.max(1) as f64;
    let proxied = out
        .iter()
        .any(|f| f.kind == FindingKind::ProxyNoUpstreamKeepalive);
    if single.count >= MIN_CONNECTIONS && share >= 0.5 && ep.stacks.client_is_proxy() {
        if !proxied {
            out.push(proxy_per_request(server, ep, &single, "no announced close"));
        }
    } else if single.count >= MIN_CONNECTIONS && share >= 0.5 {
        let f = Finding::new(FindingKind::SingleRequestConnections, server, &single);
        let statement = format!(
            "{} of {} to {server} carried exactly one request, and the client dialed a new \
             one for its next request although neither side announced a close: it does not \
             reuse its connections",
            single.count,
            conns(ep.with_requests)
        );
        out.push(Finding {
            share: Some(round3(share)),
            ..f.says(statement)
        });
    }
    postgres::amend(&ep.pg, &mut out);
    mysql::amend(&ep.my, &mut out);
    name_stacks(&mut out, ep);
    out
}

/// Gives each finding the knobs of the stacks this endpoint's traffic named, no other stack's,
/// and says when its figure is one of those stacks' defaults. Idle closes sooner than the
/// server's own `Keep-Alive` header says are a proxy's in front of it, which passes the header
/// on: their knobs are the proxy's, not the server's.
fn name_stacks(out: &mut [Finding], ep: &EndpointTrack) {
    let mut families = ep.stacks.families();
    families.extend(ep.words.family.map(str::to_owned));
    let sooner = out.iter().any(|f| {
        f.kind == FindingKind::KeepaliveHeaderMismatch
            && matches!((f.after_ms, f.advertised_s), (Some(after), Some(said)) if after < said as f64 * 1000.0)
    });
    let mut in_front = ep.stacks.families_of(Side::Client);
    in_front.push("front-proxy".to_owned());
    for f in out.iter_mut() {
        let proxied = sooner
            && matches!(
                f.kind,
                FindingKind::ServerIdleClose | FindingKind::KeepaliveHeaderMismatch
            );
        let families = if proxied { &in_front } else { &families };
        if !families.is_empty() {
            f.knobs = super::knobs::knobs(f.kind, f.side, families);
        }
        if proxied && f.kind == FindingKind::ServerIdleClose {
            f.statement.push_str(
                ", sooner than the server's own Keep-Alive header says: a proxy in front closes",
            );
        }
        let explained = match (f.kind, f.after_ms) {
            (FindingKind::ServerIdleClose | FindingKind::ClientIdleClose, Some(after)) => {
                super::defaults::explaining(f.kind, after, families).map(|w| (after, w))
            }
            _ => None,
        };
        if let Some((after, words)) = explained {
            f.statement.push_str(&format!("; {after:.1} ms is {words}"));
        }
    }
}

/// The finding that explains a connection sorted into `cause`.
fn explained_by(cause: Cause) -> FindingKind {
    match cause {
        Cause::ServerIdle => FindingKind::ServerIdleClose,
        Cause::ClientIdle => FindingKind::ClientIdleClose,
        Cause::EarlyClose => FindingKind::PoolOverflow,
        Cause::Leak => FindingKind::ConnectionLeak,
        Cause::UnreadReset => FindingKind::UnreadBodyReset,
        Cause::WriteTimeout => FindingKind::ServerWriteTimeout,
        Cause::Abortive => FindingKind::AbortiveClose,
        Cause::UnreadClose => FindingKind::CloseWithUnreadData,
        Cause::Race => FindingKind::RequestOnClosingConnection,
        Cause::Dead => FindingKind::DeadPeer,
        Cause::IdleReset => FindingKind::ResetAfterIdle,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn idle_closes(server: SocketAddr, ep: &EndpointTrack, out: &mut Vec<Finding>) {
    let patterns = [
        (FindingKind::ServerIdleClose, &ep.server_idle),
        (FindingKind::ClientIdleClose, &ep.client_idle),
        (FindingKind::ServerWriteTimeout, &ep.write_timeout),
    ];
    for (kind, timed) in patterns {
        if timed.examples.count < MIN_CONNECTIONS {
            continue;
        }
        let n = timed.examples.count;
        let said = kind == FindingKind::ServerIdleClose && postgres::said_idle_closes(&ep.pg, n);
        let timing = match timed.consistent_ms() {
            None if said => timed.median_ms(),
            timing => timing,
        };
        let Some((after, spread)) = timing else {
            bulk_close(server, ep, kind, out);
            continue;
        };
        let (after_text, spread_text) = (format!("{after:.1}"), format!("{spread:.1}"));
        let statement = match kind {
            FindingKind::ServerIdleClose => format!(
                "the server {server} closes connections that sit idle, {after_text} ms after \
                 the last data ({}, spread {spread_text} ms): an idle timeout, or a read \
                 timeout used as one",
                conns(n)
            ),
            FindingKind::ClientIdleClose => format!(
                "the client closes its idle connections to {server} {after_text} ms after the \
                 last data ({}, spread {spread_text} ms): its idle-connection timeout",
                conns(n)
            ),
            _ => format!(
                "the server {server} reads a request and closes without answering, \
                 {after_text} ms later ({}, spread {spread_text} ms): a write timeout that also \
                 covers the handler's time",
                conns(n)
            ),
        };
        out.push(Finding {
            after_ms: Some(after),
            spread_ms: Some(spread),
            ..Finding::new(kind, server, &timed.examples).says(statement)
        });
        if kind == FindingKind::ServerIdleClose {
            header_mismatch(server, ep, after, out);
        }
    }
}

/// The server's closes came at another time than its `Keep-Alive: timeout=N` says: a client
/// that trusts the header (undici, urllib3 do) keeps connections the server is closing, or
/// closes them early.
fn header_mismatch(server: SocketAddr, ep: &EndpointTrack, after_ms: f64, out: &mut Vec<Finding>) {
    let Some(said_s) = ep.keep_alive_hint.quantile(0.5).filter(|&s| s > 0) else {
        return;
    };
    let said_ms = said_s as f64 * 1000.0;
    if (after_ms - said_ms).abs() <= (said_ms / 10.0).max(500.0) {
        return;
    }
    let what = if after_ms < said_ms {
        "clients that trust the header reuse connections the server is closing: the \
         keep-alive race (a proxy in front with a shorter timeout often says another's header)"
    } else {
        "later than it says: clients that trust the header close first, which costs nothing \
         but a handshake"
    };
    let statement = format!(
        "the server {server} says Keep-Alive: timeout={said_s} but closes idle connections \
         after {after_ms:.1} ms: {what}"
    );
    out.push(Finding {
        after_ms: Some(after_ms),
        advertised_s: Some(said_s),
        ..Finding::new(
            FindingKind::KeepaliveHeaderMismatch,
            server,
            &ep.server_idle.examples,
        )
        .says(statement)
    });
}

/// Closes a side made of idle connections whose idle times were scattered, all within a few
/// milliseconds: one act (a process exiting or restarting, `CloseIdleConnections`, a
/// deploy), not an idle timeout.
fn bulk_close(server: SocketAddr, ep: &EndpointTrack, kind: FindingKind, out: &mut Vec<Finding>) {
    let (side, timed, at) = match kind {
        FindingKind::ServerIdleClose => (Side::Server, &ep.server_idle, &ep.idle_close_at[1]),
        FindingKind::ClientIdleClose => (Side::Client, &ep.client_idle, &ep.idle_close_at[0]),
        _ => return,
    };
    let (Some(first), Some(last)) = (at.quantile(0.0), at.quantile(1.0)) else {
        return;
    };
    let within = last.saturating_sub(first);
    if within > BULK_WINDOW_NS {
        return;
    }
    let (Some(shortest), Some(longest)) = (timed.times.quantile(0.0), timed.times.quantile(1.0))
    else {
        return;
    };
    let n = timed.examples.count;
    let statement = format!(
        "the {side} closed {} with {server} within {:.1} ms of each other, although they had \
         sat idle from {:.1} to {:.1} ms: one act (a process exiting or restarting, a pool's \
         CloseIdleConnections, a deploy), not an idle timeout",
        conns(n),
        ms(within),
        ms(shortest),
        ms(longest)
    );
    out.push(Finding {
        side: Some(side),
        spread_ms: Some(ms(within)),
        ..Finding::new(FindingKind::BulkClose, server, &timed.examples).says(statement)
    });
}

fn keepalive_off(server: SocketAddr, ep: &EndpointTrack, out: &mut Vec<Finding>) {
    for (i, side) in [Side::Client, Side::Server].into_iter().enumerate() {
        let examples = &ep.keepalive_off[i];
        let share = examples.count as f64 / ep.with_requests.max(1) as f64;
        if examples.count < MIN_CONNECTIONS || share < 0.5 {
            continue;
        }
        let [header, http10] = ep.keepalive_off_via[i];
        let (via, how) = if header >= http10 {
            ("connection_close_header", "Connection: close")
        } else {
            ("http10_without_keepalive", "HTTP/1.0 without keep-alive")
        };
        if side == Side::Client && ep.stacks.client_is_proxy() {
            out.push(proxy_per_request(server, ep, examples, how));
            continue;
        }
        let statement = match side {
            Side::Client => format!(
                "the client turns keep-alive off for {server}: {} of {} carry requests with \
                 {how}, so every request pays for a handshake and a close",
                examples.count,
                conns(ep.with_requests)
            ),
            Side::Server => format!(
                "the server {server} turns keep-alive off: it answers {how} on the first \
                 response of {}, so every request pays for a handshake and a close",
                conns(examples.count)
            ),
        };
        out.push(Finding {
            side: Some(side),
            via: Some(via),
            share: Some(round3(share)),
            knobs: super::knobs::knobs(
                FindingKind::KeepaliveOff,
                Some(side),
                super::knobs::NO_STACK,
            ),
            ..Finding::new(FindingKind::KeepaliveOff, server, examples).says(statement)
        });
    }
}

/// A proxy's upstream connections to `server` carry one request each (`how`: what its
/// requests say); the proxy's name and how connlab knows come from its stack report.
fn proxy_per_request(
    server: SocketAddr,
    ep: &EndpointTrack,
    examples: &Examples,
    how: &str,
) -> Finding {
    let who = ep
        .stacks
        .report(Side::Client)
        .map(|r| match r.stack {
            Stack::Proxy => format!("a proxy (told by {})", r.told_by),
            _ => format!("{}, a proxy (told by {})", r.name, r.told_by),
        })
        .unwrap_or_else(|| "a proxy".to_owned());
    let share = examples.count as f64 / ep.with_requests.max(1) as f64;
    let statement = format!(
        "the requests to {server} come through {who}, and it opens one upstream connection \
         per request ({} of {}, {how}): its upstream keep-alive is off, so every request \
         pays for a handshake and a close",
        examples.count,
        conns(ep.with_requests)
    );
    Finding {
        side: Some(Side::Client),
        share: Some(round3(share)),
        ..Finding::new(FindingKind::ProxyNoUpstreamKeepalive, server, examples).says(statement)
    }
}

fn pool_and_leaks(server: SocketAddr, ep: &EndpointTrack, out: &mut Vec<Finding>) {
    let bursts = ep.kept_after_burst.count();
    let kept = ep.kept_after_burst.quantile(0.5).unwrap_or(0);
    let closed = ep.early_closes.count;
    if closed >= MIN_CONNECTIONS && kept >= 1 && closed > kept * bursts.max(1) {
        let statement = format!(
            "after {} the client closed {} to {server} within moments of their {} and \
             kept {kept} idle: its idle pool is smaller than its concurrency, so every burst \
             dials again and the client piles up TIME_WAIT",
            plural(bursts, "burst", "bursts"),
            conns(closed),
            ep.words.answers
        );
        out.push(Finding {
            kept_idle: Some(kept),
            bursts: Some(bursts),
            ..Finding::new(FindingKind::PoolOverflow, server, &ep.early_closes).says(statement)
        });
    }
    if ep.leak.count >= MIN_CONNECTIONS {
        let statement = format!(
            "the client dialed new connections to {server} while {} sat idle and open, never \
             used again: responses not read to the end or bodies never closed",
            plural(ep.leak.count, "earlier connection", "earlier connections"),
        );
        out.push(Finding::new(FindingKind::ConnectionLeak, server, &ep.leak).says(statement));
    }
}

fn request_limit(server: SocketAddr, ep: &EndpointTrack, out: &mut Vec<Finding>) {
    let total: u64 = ep.closed_after.values().map(|e| e.count).sum();
    let Some((&n, examples)) = ep
        .closed_after
        .iter()
        .filter(|(n, _)| **n >= 2)
        .max_by_key(|(n, e)| (e.count, **n))
    else {
        return;
    };
    if examples.count >= MIN_CONNECTIONS && examples.count * 2 > total {
        let statement = format!(
            "the server {server} closes every connection after {} ({}): a per-connection \
             request limit",
            plural(u64::from(n), ep.words.one, ep.words.many),
            conns(examples.count)
        );
        out.push(Finding {
            requests: Some(u64::from(n)),
            ..Finding::new(FindingKind::ServerRequestLimit, server, examples).says(statement)
        });
    }
}

/// A request limit shown by fewer connections than the finding needs: the server announced
/// its close (`Connection: close`) on the n-th response of a long-used connection, n at least
/// [`LIMIT_SEEN_ONCE`](super::track::LIMIT_SEEN_ONCE). The finding takes it from there once
/// enough connections agree.
fn request_limit_seen(server: SocketAddr, ep: &EndpointTrack, out: &mut Vec<Finding>) {
    let Some((&n, examples)) = ep
        .announced_after
        .iter()
        .max_by_key(|(n, e)| (e.count, **n))
    else {
        return;
    };
    let agreeing = ep.closed_after.get(&n).map_or(0, |e| e.count);
    if agreeing >= MIN_CONNECTIONS {
        return;
    }
    let statement = format!(
        "the server {server} announced its close (Connection: close) on the {} response and \
         closed ({}): a per-connection request limit of about that, seen on too few \
         connections to call it a pattern",
        ordinal(u64::from(n)),
        conns(examples.count)
    );
    out.push(Finding {
        requests: Some(u64::from(n)),
        ..Finding::new(FindingKind::ServerRequestLimit, server, examples).says(statement)
    });
}

fn resets(server: SocketAddr, ep: &EndpointTrack, out: &mut Vec<Finding>) {
    if ep.race.count >= 1 {
        let words = ep.words;
        let statement = format!(
            "{} {} sent on connections the server {server} had already closed, answered with \
             RST: the keep-alive race (the server's idle close crossed the client's next {})",
            plural(ep.race.count, words.one, words.many),
            if ep.race.count == 1 { "was" } else { "were" },
            words.one
        );
        out.push(
            Finding::new(FindingKind::RequestOnClosingConnection, server, &ep.race).says(statement),
        );
    }
    for (i, side) in [Side::Client, Side::Server].into_iter().enumerate() {
        let examples = &ep.abortive[i];
        if examples.count >= MIN_CONNECTIONS {
            let statement = format!(
                "the {side} closes {} with {server} by RST instead of FIN (SO_LINGER 0): no \
                 TIME_WAIT, but the peer sees a reset and data in flight is lost",
                conns(examples.count)
            );
            out.push(Finding {
                side: Some(side),
                ..Finding::new(FindingKind::AbortiveClose, server, examples).says(statement)
            });
        }
    }
    for (i, side) in [Side::Client, Side::Server].into_iter().enumerate() {
        let examples = &ep.unread_close[i];
        if examples.count >= MIN_CONNECTIONS {
            let peer = side.peer();
            let statement = format!(
                "the {side} answered the {peer}'s close of {} with {server} with RST, not FIN: \
                 its socket still held data it never read (the {peer}'s TLS close_notify, or \
                 a response it did not ask for), and Linux resets a socket closed with unread \
                 data. The {peer} had closed first; this is not SO_LINGER",
                conns(examples.count)
            );
            out.push(Finding {
                side: Some(side),
                ..Finding::new(FindingKind::CloseWithUnreadData, server, examples).says(statement)
            });
        }
    }
    if ep.unread_reset.count >= MIN_CONNECTIONS {
        let statement = format!(
            "the client closed {} to {server} while the response was still arriving, and its \
             kernel answered the rest with RSTs: bodies closed before they were read",
            conns(ep.unread_reset.count)
        );
        out.push(
            Finding::new(FindingKind::UnreadBodyReset, server, &ep.unread_reset).says(statement),
        );
    }
    if ep.idle_reset.examples.count >= 1 {
        let examples = &ep.idle_reset.examples;
        let [by_server, by_middlebox] = ep.idle_reset_by;
        let (by, who) = if by_middlebox >= by_server {
            (
                "middlebox",
                "a middlebox between the ends (marked in the capture)",
            )
        } else {
            ("server", "the server's address, with no FIN before")
        };
        let after = ep.idle_reset.times.quantile(0.5).map(super::evidence::ms);
        let statement = format!(
            "{} on connections to {server} idle for {} ms {} answered with an RST from {who}: \
             an idle timeout on the path (a load balancer, a NAT) or at the server forgot them \
             while the client still pooled them",
            plural(examples.count, "request", "requests"),
            after.map(|a| format!("{a:.0}")).unwrap_or_default(),
            if examples.count == 1 { "was" } else { "were" },
        );
        out.push(Finding {
            by: Some(by),
            after_ms: after,
            ..Finding::new(FindingKind::ResetAfterIdle, server, examples).says(statement)
        });
    }
    if ep.refused.count >= 1 {
        let statement = format!(
            "{} to {server} answered with RST: connection refused, nothing listened on that \
             port (or a firewall rejected it)",
            plural(ep.refused.count, "SYN was", "SYNs were"),
        );
        out.push(Finding::new(FindingKind::ConnectionRefused, server, &ep.refused).says(statement));
    }
    if ep.dead.count >= 1 {
        let statement = format!(
            "{} to {server} went unanswered ({}, {}) until reset or the end: the peer \
             vanished without a FIN or RST",
            conns(ep.dead.count),
            plural(ep.dead_probes, "keepalive probe", "keepalive probes"),
            plural(ep.dead_retransmits, "retransmission", "retransmissions"),
        );
        out.push(Finding {
            probes: Some(ep.dead_probes),
            retransmits: Some(ep.dead_retransmits),
            ..Finding::new(FindingKind::DeadPeer, server, &ep.dead).says(statement)
        });
    }
}

fn websocket(server: SocketAddr, ws: &WsEndpoint, out: &mut Vec<Finding>) {
    for actor in Actor::ALL {
        let timed = &ws.idle_close[actor.index()];
        if timed.examples.count < MIN_CONNECTIONS {
            continue;
        }
        let Some((after, spread)) = timed.consistent_ms() else {
            continue;
        };
        let n = conns(timed.examples.count);
        let statement = match actor {
            Actor::Middlebox => format!(
                "a middlebox on the path forgot WebSockets with {server} that sat {after:.1} ms \
                 without a frame ({n}, spread {spread:.1} ms): the first frame sent after that \
                 was answered with an RST, and no ping had kept the flow alive; its idle \
                 timeout is at most that long"
            ),
            _ => format!(
                "the {} closed WebSockets with {server} {after:.1} ms after their last frame \
                 ({n}, spread {spread:.1} ms): an idle timeout that no ping kept from firing",
                actor.as_str()
            ),
        };
        out.push(Finding {
            after_ms: Some(after),
            spread_ms: Some(spread),
            by: Some(actor.as_str()),
            ..Finding::new(FindingKind::WsIdleClose, server, &timed.examples).says(statement)
        });
    }
    let unanswered = &ws.ping_unanswered;
    if unanswered.examples.count >= 1 {
        let after = unanswered.times.quantile(0.5).map(super::evidence::ms);
        let statement = format!(
            "{} on {} with {server} went unanswered until the connection ended, {} ms after \
             the last pong: the peer stopped answering (vanished, or too busy), and the pong \
             wait (or TCP) gave up",
            plural(ws.unanswered_pings, "WebSocket ping", "WebSocket pings"),
            conns(unanswered.examples.count),
            after.map(|a| format!("{a:.0}")).unwrap_or_default(),
        );
        out.push(Finding {
            pings: Some(ws.unanswered_pings),
            after_ms: after,
            ..Finding::new(FindingKind::WsPingUnanswered, server, &unanswered.examples)
                .says(statement)
        });
    }
    for actor in Actor::ALL {
        let examples = &ws.without_handshake[actor.index()];
        if examples.count == 0 {
            continue;
        }
        let reset = ws.without_handshake_by_rst[actor.index()] * 2 > examples.count;
        let (who, how) = match (actor, reset) {
            (Actor::Middlebox, _) => ("a middlebox on the path", "reset"),
            (Actor::Client, true) => ("the client", "reset"),
            (Actor::Server, true) => ("the server", "reset"),
            (Actor::Client, false) => ("the client", "closed (FIN)"),
            (Actor::Server, false) => ("the server", "closed (FIN)"),
        };
        let statement = format!(
            "{} with {server} ended without the closing handshake: {who} {how} the TCP \
             connection before both sides had sent a close frame, so the application saw an \
             abnormal closure (1006)",
            plural(examples.count, "WebSocket", "WebSockets"),
        );
        out.push(Finding {
            by: Some(actor.as_str()),
            ..Finding::new(FindingKind::WsClosedWithoutHandshake, server, examples).says(statement)
        });
    }
    if ws.refused.count >= 1 {
        let status = ws
            .refused_status
            .iter()
            .max_by_key(|(code, n)| (**n, std::cmp::Reverse(**code)))
            .map(|(code, _)| *code);
        let statement = format!(
            "{} to {server} {} answered with {} instead of 101 Switching Protocols: the \
             server (or a proxy before it) refused the WebSocket",
            plural(
                ws.refused.count,
                "WebSocket upgrade request",
                "WebSocket upgrade requests"
            ),
            if ws.refused.count == 1 { "was" } else { "were" },
            status.map(|s| format!("status {s}")).unwrap_or_default(),
        );
        out.push(Finding {
            status,
            ..Finding::new(FindingKind::WsUpgradeRefused, server, &ws.refused).says(statement)
        });
    }
}
