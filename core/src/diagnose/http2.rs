//! Following HTTP/2 connections through their frames: streams in flight against the server's
//! limit, PINGs and whether they were answered, and how each connection ended (a GOAWAY and
//! why, after how long idle and at what age, or a peer that stopped answering). Folded into
//! its endpoint when it ends, like the rest.

use std::collections::BTreeMap;

use std::net::SocketAddr;

use super::evidence::{ms, Examples, Timed};
use super::finding::{Finding, MIN_CONNECTIONS};
use super::kind::FindingKind;
use super::sketch::Sketch;
use crate::analyze::{H2Code, Http2Event, Side};
use crate::words::plural;
use smallvec::SmallVec;

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// Where an event happened: its time, connection and frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub t_ns: u64,
    pub conn: u64,
    pub frame: u64,
}

/// How a side began ending the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// A GOAWAY frame, with its code and what its debug data said.
    GoAway(H2Code, Debug),
    /// A FIN or RST without a GOAWAY first.
    Tcp,
}

/// The debug data of a GOAWAY, as gRPC writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Debug {
    TooManyPings,
    MaxAge,
    MaxIdle,
    Other,
}

impl Debug {
    fn of(text: &str) -> Debug {
        match text {
            "too_many_pings" => Debug::TooManyPings,
            "max_age" => Debug::MaxAge,
            "max_idle" => Debug::MaxIdle,
            _ => Debug::Other,
        }
    }
}

/// A PING unanswered for less than this before its sender closed is no ping timeout (no stack
/// gives up that fast; Go waits 15 s, gRPC 20 s by default).
const MIN_PING_TIMEOUT_NS: u64 = 200_000_000;

/// One open HTTP/2 connection.
#[derive(Debug, Clone)]
pub(crate) struct H2Conn {
    opened_ns: u64,
    streams: u64,
    open_streams: u32,
    /// When the latest stream ended (or the connection opened, before any).
    idle_since_ns: u64,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, and whether the client reached it.
    limit: Option<u32>,
    reached_limit: bool,
    /// The latest client PING and the intervals between them (the first few).
    last_client_ping: Option<u64>,
    ping_gaps: SmallVec<[u64; 8]>,
    /// A reaction "at once" comes within this (the round trip plus a margin): a GOAWAY so soon
    /// after the last stream is a client done, not an idle timeout.
    react_ns: u64,
    /// Per side: PINGs since the peer's last ACK, with the time and frame of the first.
    waiting: [(u32, u64, u64); 2],
    /// The quiet time before the client's first PING (since the last stream ended): its
    /// interval, until a second PING measures one.
    first_ping_quiet: Option<u64>,
    /// The first ending, who began it and when.
    ending: Option<(Side, Ending, At)>,
}

impl H2Conn {
    /// A connection whose preface came at `t_ns`; reactions within `react_ns` are "at once".
    pub fn new(t_ns: u64, react_ns: u64) -> H2Conn {
        H2Conn {
            opened_ns: t_ns,
            streams: 0,
            open_streams: 0,
            idle_since_ns: t_ns,
            limit: None,
            reached_limit: false,
            last_client_ping: None,
            ping_gaps: SmallVec::new(),
            react_ns,
            waiting: [(0, 0, 0); 2],
            first_ping_quiet: None,
            ending: None,
        }
    }

    /// Streams the connection carried.
    pub fn streams(&self) -> u64 {
        self.streams
    }

    /// The client's usual PING interval: the median gap between its PINGs (its first may
    /// come early), else the quiet time before its only one.
    fn ping_interval(&self) -> Option<u64> {
        let mut gaps = self.ping_gaps.clone();
        gaps.sort_unstable();
        gaps.get(gaps.len() / 2).copied().or(self.first_ping_quiet)
    }

    /// Whether the client's PING, sent on the idle connection after its quiet time, is what
    /// went unanswered: a middlebox that forgot the idle flow drops it (or the peer died just
    /// then), where a stream left hanging is a dead peer's.
    pub fn idle_ping_lost(&self) -> bool {
        self.pinging(Side::Client) && self.open_streams == 0 && self.first_ping_quiet.is_some()
    }

    /// A middlebox forgot the idle flow of connection `conn` (at `frame`): it reset it at
    /// `reset_ns`, or (None) dropped its packets. Timed by the client's PING interval when it
    /// pinged, else by the idle time since the last stream to the reset.
    pub fn forgotten(&self, (conn, frame): (u64, u64), reset_ns: Option<u64>, ep: &mut H2Endpoint) {
        let interval = self.ping_interval();
        let idle = reset_ns.map(|t| t.saturating_sub(self.idle_since_ns));
        ep.forgotten
            .add(conn, frame, interval.or(idle).unwrap_or(0));
        ep.forgotten_pinged += u64::from(interval.is_some());
        ep.forgotten_dropped += u64::from(reset_ns.is_none());
    }

    /// Whether `side` sent PINGs that are still unanswered.
    pub fn pinging(&self, side: Side) -> bool {
        self.waiting[idx(side)].0 > 0
    }

    /// Takes one of its HTTP/2 events.
    pub fn apply(&mut self, at: At, h2: &Http2Event, ep: &mut H2Endpoint) {
        match h2 {
            Http2Event::Settings {
                by: Side::Server,
                max_concurrent_streams: Some(n),
                ..
            } => self.limit = Some(*n),
            Http2Event::StreamOpen { concurrent, .. } => {
                self.streams += 1;
                ep.streams += 1;
                self.open_streams = *concurrent;
                if self.limit.is_some_and(|l| *concurrent >= l) && !self.reached_limit {
                    self.reached_limit = true;
                    ep.stream_limit.add(at.conn, at.frame);
                    ep.limit_seen = ep.limit_seen.max(self.limit.unwrap_or(0));
                }
            }
            Http2Event::StreamEnd { .. } => self.stream_closed(at.t_ns),
            Http2Event::Reset { by, code, .. } => {
                self.stream_closed(at.t_ns);
                ep.resets
                    .entry((*code, idx(*by)))
                    .or_default()
                    .add(at.conn, at.frame);
            }
            Http2Event::Ping { by } => {
                if *by == Side::Client {
                    if self.open_streams == 0 {
                        let quiet = at.t_ns.saturating_sub(self.idle_since_ns);
                        self.first_ping_quiet.get_or_insert(quiet);
                    }
                    if let Some(last) = self.last_client_ping.replace(at.t_ns) {
                        if self.ping_gaps.len() < 64 {
                            self.ping_gaps.push(at.t_ns.saturating_sub(last));
                        }
                    }
                }
                let w = &mut self.waiting[idx(*by)];
                if w.0 == 0 {
                    (w.1, w.2) = (at.t_ns, at.frame);
                }
                w.0 += 1;
            }
            Http2Event::PingAck { by, .. } => self.waiting[idx(by.peer())] = (0, 0, 0),
            Http2Event::GoAway {
                by, code, debug, ..
            } => self.end(at, *by, Ending::GoAway(*code, Debug::of(debug)), ep),
            _ => {}
        }
    }

    fn stream_closed(&mut self, t_ns: u64) {
        self.open_streams = self.open_streams.saturating_sub(1);
        if self.open_streams == 0 {
            self.idle_since_ns = t_ns;
        }
    }

    /// The first FIN or reset of the TCP connection, by `by` (an end).
    pub fn tcp_end(&mut self, at: At, by: Side, ep: &mut H2Endpoint) {
        self.end(at, by, Ending::Tcp, ep);
    }

    /// The ending starts (the first GOAWAY, else the first FIN or RST): sorted by what it says
    /// and when it came.
    fn end(&mut self, at: At, by: Side, how: Ending, ep: &mut H2Endpoint) {
        if self.ending.is_some() {
            return;
        }
        self.ending = Some((by, how, at));
        let (conn, frame, t) = (at.conn, at.frame, at.t_ns);
        // The ender's own PINGs unanswered long enough, and it closed the connection (a ping
        // timeout closes; a GOAWAY is another story): it gave up on its peer.
        let (pings, since, _) = self.waiting[idx(by)];
        if pings > 0 && how == Ending::Tcp && t.saturating_sub(since) >= MIN_PING_TIMEOUT_NS {
            ep.ping_timeout[idx(by)].add(conn, frame, t.saturating_sub(since));
            ep.unanswered_pings += u64::from(pings);
            return;
        }
        match how {
            Ending::GoAway(code, debug)
                if by == Side::Server
                    && (code == H2Code::ENHANCE_YOUR_CALM || debug == Debug::TooManyPings) =>
            {
                ep.too_many_pings.add(conn, frame);
                if let Some(interval) = self.ping_interval() {
                    ep.ping_intervals.add(interval);
                }
            }
            Ending::GoAway(_, Debug::MaxAge) => {
                ep.max_age
                    .add(conn, frame, t.saturating_sub(self.opened_ns));
            }
            Ending::GoAway(H2Code::NO_ERROR, debug) => {
                // Its age at every graceful GOAWAY (a maximum age shows there), its idle time
                // when no stream was open (an idle timeout shows there).
                let i = idx(by);
                ep.goaway_age[i].add(conn, frame, t.saturating_sub(self.opened_ns));
                let idle = t.saturating_sub(self.idle_since_ns);
                if self.open_streams == 0 && idle >= self.react_ns {
                    ep.idle_goaway[i].add(conn, frame, idle);
                    ep.announced_idle[i] += u64::from(debug == Debug::MaxIdle);
                } else if self.open_streams > 0 {
                    ep.busy_goaways[i] += 1;
                }
            }
            Ending::Tcp if self.open_streams == 0 && self.streams > 0 => {
                let idle = t.saturating_sub(self.idle_since_ns);
                if idle >= self.react_ns {
                    ep.idle_fin[idx(by)].add(conn, frame, idle);
                }
            }
            _ => {}
        }
    }
}

/// One endpoint's HTTP/2 patterns.
#[derive(Debug, Clone, Default)]
pub(crate) struct H2Endpoint {
    /// HTTP/2 connections and the streams they carried.
    pub connections: u64,
    pub streams: u64,
    /// Server GOAWAYs for the client's PINGs (ENHANCE_YOUR_CALM, "too_many_pings"), and the
    /// client's mean PING interval on each.
    pub too_many_pings: Examples,
    pub ping_intervals: Sketch,
    /// GOAWAY(NO_ERROR) per sender, by the connection's age; those sent while streams were
    /// open.
    pub goaway_age: [Timed; 2],
    pub busy_goaways: [u64; 2],
    /// Those with no stream open, by the idle time since the last stream; those whose debug
    /// data said `max_idle`.
    pub idle_goaway: [Timed; 2],
    pub announced_idle: [u64; 2],
    /// A FIN or RST, without a GOAWAY, with no stream open, per sender, after the idle time.
    pub idle_fin: [Timed; 2],
    /// GOAWAYs that said `max_age`, by the connection's age.
    pub max_age: Timed,
    /// Per side: the connection ended by it while its PINGs went unanswered, timed from the
    /// first of them; and those PINGs.
    pub ping_timeout: [Timed; 2],
    pub unanswered_pings: u64,
    /// Connections whose peer stopped answering (retransmissions only), the retransmissions,
    /// and how many of them had a PING out (their ping timeout gives up; its close waits
    /// behind the unacknowledged data and is not seen).
    pub dead: Examples,
    pub dead_retransmits: u64,
    pub dead_pinged: u64,
    /// Connections a middlebox forgot while idle, by the client's PING interval (the idle time
    /// when it did not ping); how many of them pinged, and how many were dropped, not reset.
    pub forgotten: Timed,
    pub forgotten_pinged: u64,
    pub forgotten_dropped: u64,
    /// Connections whose streams reached the server's limit, and the largest limit.
    pub stream_limit: Examples,
    pub limit_seen: u32,
    /// RST_STREAM by (code, sender index).
    pub resets: BTreeMap<(H2Code, usize), Examples>,
}

/// The HTTP/2 findings on one endpoint. A GOAWAY or an unanswered PING says what happened in
/// so many words, so one connection is enough for those; a bare FIN's idle time is a pattern
/// and needs [`MIN_CONNECTIONS`], as HTTP/1.1's idle closes do.
pub(crate) fn findings(server: SocketAddr, h2: &H2Endpoint, out: &mut Vec<Finding>) {
    if h2.too_many_pings.count >= 1 {
        let interval = h2.ping_intervals.quantile(0.5).map(ms);
        let statement = format!(
            "the gRPC server {server} ended {} with GOAWAY ENHANCE_YOUR_CALM (too_many_pings){}: \
             the client pinged more often than the server's keepalive policy permits, so its \
             calls fail with UNAVAILABLE and it must reconnect",
            conns(h2.too_many_pings.count),
            interval
                .map(|i| format!(" after client PINGs every {i:.0} ms"))
                .unwrap_or_default(),
        );
        out.push(Finding {
            ping_interval_ms: interval,
            by: Some("server"),
            ..Finding::new(FindingKind::GrpcTooManyPings, server, &h2.too_many_pings)
                .says(statement)
        });
    }
    // A maximum age: said by gRPC's debug data, or graceful GOAWAYs at a consistent age
    // (gRPC jitters it by ±10 %: a spread within a quarter of the median) that no idle time
    // explains (some came while streams were open, or their idle times are scattered).
    let server_i = idx(Side::Server);
    let by_age = &h2.goaway_age[server_i];
    let ages_consistent = by_age.examples.count >= MIN_CONNECTIONS
        && matches!(
            (by_age.times.quantile(0.5), by_age.times.quantile(0.9), by_age.times.quantile(0.1)),
            (Some(m), Some(p90), Some(p10)) if p90 - p10 <= m / 4
        );
    let idle_explains = h2.idle_goaway[server_i].examples.count == by_age.examples.count
        && h2.idle_goaway[server_i].consistent_ms().is_some();
    let aged = if h2.max_age.examples.count >= 1 {
        Some(&h2.max_age)
    } else if ages_consistent && (h2.busy_goaways[server_i] > 0 || !idle_explains) {
        Some(by_age)
    } else {
        None
    };
    for side in [Side::Client, Side::Server] {
        let i = idx(side);
        if side == Side::Server && aged.is_some() {
            continue; // the server's GOAWAYs are its maximum age, not an idle timeout
        }
        let goaway = &h2.idle_goaway[i];
        let fin = &h2.idle_fin[i];
        let (timed, how) = if goaway.examples.count >= 1 {
            (goaway, "GOAWAY (NO_ERROR), then a close")
        } else if fin.examples.count >= MIN_CONNECTIONS {
            (fin, "a FIN without a GOAWAY")
        } else {
            continue;
        };
        let Some((after, spread)) = timed.consistent_ms() else {
            continue;
        };
        let statement = format!(
            "the {side} ends idle HTTP/2 connections with {server} {after:.1} ms after their \
             last stream ({}, spread {spread:.1} ms) by {how}{}: an idle timeout",
            conns(timed.examples.count),
            if h2.announced_idle[i] > 0 {
                "; its debug data says max_idle (gRPC MaxConnectionIdle)"
            } else {
                ""
            },
        );
        out.push(Finding {
            after_ms: Some(after),
            spread_ms: Some(spread),
            by: Some(side_name(side)),
            ..Finding::new(FindingKind::H2IdleClose, server, &timed.examples).says(statement)
        });
    }
    if let Some(timed) = aged {
        let age = timed.times.quantile(0.5).map(ms).unwrap_or(0.0);
        let statement = format!(
            "the server {server} ends HTTP/2 connections at an age of about {age:.0} ms ({}), \
             whether streams are in flight or not: a maximum connection age (clients \
             reconnect, load spreads again)",
            conns(timed.examples.count),
        );
        out.push(Finding {
            age_ms: Some(age),
            by: Some("server"),
            ..Finding::new(FindingKind::MaxConnectionAge, server, &timed.examples).says(statement)
        });
    }
    for side in [Side::Client, Side::Server] {
        let timed = &h2.ping_timeout[idx(side)];
        if timed.examples.count == 0 {
            continue;
        }
        let after = timed.times.quantile(0.5).map(ms).unwrap_or(0.0);
        let statement = format!(
            "the {side}'s HTTP/2 PINGs to {server} went unanswered and it closed {} {after:.0} \
             ms after the first of them: a ping timeout found a peer that stopped answering",
            conns(timed.examples.count),
        );
        out.push(Finding {
            after_ms: Some(after),
            pings: Some(h2.unanswered_pings),
            by: Some(side_name(side)),
            ..Finding::new(FindingKind::H2PingTimeout, server, &timed.examples).says(statement)
        });
    }
    if h2.dead.count >= 1 {
        let pinged = match h2.dead_pinged {
            0 => "and nothing pinged it: HTTP/2 notices a dead peer only with PINGs, else only \
                  when TCP gives up (about 15 minutes)"
                .to_owned(),
            n if n == h2.dead.count => "with a PING out: the ping timeout gives up on it (its \
                                        close waits behind the unacknowledged data, unseen)"
                .to_owned(),
            n => {
                format!("({n} with a PING out; the others, never pinged, hang until TCP gives up)")
            }
        };
        let statement = format!(
            "{} with {server} hung on a peer that stopped answering ({}) {pinged}",
            plural(h2.dead.count, "HTTP/2 connection", "HTTP/2 connections"),
            plural(h2.dead_retransmits, "retransmission", "retransmissions"),
        );
        out.push(Finding {
            retransmits: Some(h2.dead_retransmits),
            ..Finding::new(FindingKind::H2DeadConnection, server, &h2.dead).says(statement)
        });
    }
    let forgotten = &h2.forgotten.examples;
    if forgotten.count >= 1 {
        let quiet = h2.forgotten.times.quantile(0.5).map(ms).unwrap_or(0.0);
        let n = conns(forgotten.count);
        let dropped = h2.forgotten_dropped == forgotten.count;
        let statement =
            match (h2.forgotten_pinged > 0, dropped) {
                (true, false) => format!(
                "a middlebox on the path to {server} reset {n} when the client's PING came after \
                 {quiet:.0} ms of quiet: it forgets an idle flow sooner than that, so PINGs that \
                 slow do not keep the flow"
            ),
                (true, true) => format!(
                    "the client's PING to {server} after {quiet:.0} ms of quiet was never \
                 acknowledged on {n}, retransmitted until it gave up: a middlebox that forgets an \
                 idle flow sooner than that drops it, so PINGs that slow do not keep the flow (or \
                 the peer died just then)"
                ),
                (false, _) => {
                    format!(
                "a middlebox on the path to {server} {} {n} idle {quiet:.0} ms with nothing \
                 pinging them: it forgets an idle flow, and no PING kept the flow",
                if dropped { "dropped the packets of" } else { "reset" }
            )
                }
            };
        out.push(Finding {
            after_ms: Some(quiet),
            ping_interval_ms: (h2.forgotten_pinged > 0).then_some(quiet),
            ..Finding::new(FindingKind::H2FlowForgotten, server, forgotten).says(statement)
        });
    }
    if h2.stream_limit.count >= 1 {
        let statement = format!(
            "streams in flight on {} with {server} reached the server's limit of {} \
             (SETTINGS_MAX_CONCURRENT_STREAMS): further requests wait for a stream or need \
             another connection",
            conns(h2.stream_limit.count),
            h2.limit_seen,
        );
        out.push(Finding {
            limit: Some(u64::from(h2.limit_seen)),
            ..Finding::new(FindingKind::StreamLimitReached, server, &h2.stream_limit)
                .says(statement)
        });
    }
    for ((code, side), examples) in &h2.resets {
        if examples.count < MIN_CONNECTIONS {
            continue;
        }
        let side = if *side == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let meaning = match *code {
            H2Code::CANCEL => "it no longer wanted them",
            H2Code::REFUSED_STREAM => "refused before any work, safe to retry",
            _ => "an error on the stream",
        };
        let statement = format!(
            "the {side} reset {} on HTTP/2 connections with {server} with {code}: {meaning}",
            plural(examples.count, "stream", "streams"),
        );
        out.push(Finding {
            by: Some(side_name(side)),
            code: Some(code.name().into_owned()),
            ..Finding::new(FindingKind::StreamResets, server, examples).says(statement)
        });
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

fn conns(n: u64) -> String {
    plural(n, "connection", "connections")
}

#[cfg(test)]
mod tests {
    use super::*;
    use compact_str::CompactString;

    const MS: u64 = 1_000_000;

    fn at(t_ms: u64, frame: u64) -> At {
        At {
            t_ns: t_ms * MS,
            conn: 1,
            frame,
        }
    }

    fn goaway(by: Side, code: H2Code, debug: &str) -> Http2Event {
        Http2Event::GoAway {
            by,
            last_stream: 1,
            code,
            debug: CompactString::from(debug),
        }
    }

    fn open(concurrent: u32) -> Http2Event {
        Http2Event::StreamOpen {
            stream: 1,
            method: "GET".into(),
            path: "/".into(),
            grpc: false,
            concurrent,
        }
    }

    #[test]
    fn an_idle_goaway_is_timed_from_the_last_stream() {
        let mut ep = H2Endpoint::default();
        let mut c = H2Conn::new(0, 20 * MS);
        c.apply(at(10, 5), &open(1), &mut ep);
        c.apply(
            at(20, 6),
            &Http2Event::StreamEnd {
                stream: 1,
                grpc_status: None,
            },
            &mut ep,
        );
        c.apply(
            at(1_020, 7),
            &goaway(Side::Server, H2Code::NO_ERROR, ""),
            &mut ep,
        );
        assert_eq!(ep.idle_goaway[1].times.quantile(0.5), Some(1_000 * MS));
        // A FIN after it does not count again.
        c.tcp_end(at(1_021, 8), Side::Server, &mut ep);
        assert_eq!(ep.idle_fin[1].examples.count, 0);
    }

    #[test]
    fn too_many_pings_measures_the_clients_interval() {
        let mut ep = H2Endpoint::default();
        let mut c = H2Conn::new(0, 20 * MS);
        for (i, t) in [0u64, 100, 200, 300].into_iter().enumerate() {
            c.apply(
                at(t, i as u64),
                &Http2Event::Ping { by: Side::Client },
                &mut ep,
            );
            c.apply(
                at(t + 1, 10 + i as u64),
                &Http2Event::PingAck {
                    by: Side::Server,
                    rtt_ns: Some(MS),
                },
                &mut ep,
            );
        }
        c.apply(
            at(301, 20),
            &goaway(Side::Server, H2Code::ENHANCE_YOUR_CALM, "too_many_pings"),
            &mut ep,
        );
        assert_eq!(ep.too_many_pings.count, 1);
        assert_eq!(ep.ping_intervals.quantile(0.5), Some(100 * MS));
    }

    #[test]
    fn pings_unanswered_until_the_pinger_closes_are_a_ping_timeout() {
        let mut ep = H2Endpoint::default();
        let mut c = H2Conn::new(0, 20 * MS);
        c.apply(
            at(1_000, 3),
            &Http2Event::Ping { by: Side::Client },
            &mut ep,
        );
        c.tcp_end(at(16_000, 9), Side::Client, &mut ep);
        assert_eq!(ep.ping_timeout[0].times.quantile(0.5), Some(15_000 * MS));
        assert_eq!(ep.ping_timeout[0].examples.evidence.frames, [9]);
        assert_eq!(ep.unanswered_pings, 1);
    }

    #[test]
    fn reaching_the_servers_stream_limit_counts_once_per_connection() {
        let mut ep = H2Endpoint::default();
        let mut c = H2Conn::new(0, 20 * MS);
        c.apply(
            at(0, 1),
            &Http2Event::Settings {
                by: Side::Server,
                max_concurrent_streams: Some(2),
                initial_window_size: None,
            },
            &mut ep,
        );
        for (t, n) in [(1, 1), (2, 2), (3, 2)] {
            c.apply(at(t, t), &open(n), &mut ep);
        }
        assert_eq!((ep.stream_limit.count, ep.limit_seen), (1, 2));
    }
}
