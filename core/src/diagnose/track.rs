//! Following each connection and each server endpoint through the event stream, and sorting
//! what happens into the patterns findings are made of.
//!
//! A connection is classified at the events that decide it (its first FIN, its first RST,
//! the request or response that announces a close) and folded into its endpoint when it is
//! closed; nothing about it is kept afterwards, so memory follows the open connections.

use std::net::IpAddr;

use super::evidence::{Examples, Timed};
use super::http2::{self, H2Conn, H2Endpoint};
use super::legs::{Around, LegCloses};
use super::sketch::Sketch;
use super::tls::{TlsConn, TlsEndpoint};
use super::websocket::{At, WsConn, WsEndpoint};
use crate::analyze::proto::mysql::diagnosis::{MyConn, MyEndpoint};
use crate::analyze::proto::postgres::diagnosis::{PgConn, PgEndpoint};
use crate::analyze::{
    BySide, Closing, Event, EventKind, Exchange, RstBy, RstSender, Side, TimeWaitHolder, Words,
};
use crate::FastMap;

/// A reaction "at once" is seen within the round trip plus this, wherever the capture was
/// taken (the handshake measures the round trip at the capture point). 100 ms: a program on a
/// busy machine reacts late (a pool closing its overflow took 28 ms next to a parallel test
/// suite), and no stack's idle timeout is that short (the shortest in the labs is 1 s).
const REACTION_NS: u64 = 100_000_000;
/// Early closes further apart than this, with a dial between them, belong to different bursts:
/// a burst's closes come within moments of each other, and pools are driven by bursts a second
/// apart (a database pool's twin of the pool-burst lab), which must count as two. Without a
/// dial between them, closes are one burst however late: on a machine with every core busy a
/// PostgreSQL burst's closes spread over more than this, and no new burst had begun.
const BURST_GAP_NS: u64 = 500_000_000;
/// Retransmissions of the same data that make a stall (with no word from the peer).
const STALL_RETRANSMITS: u32 = 3;
/// Unanswered keepalive probes before a reset that make a dead peer.
const DEAD_PROBES: u32 = 2;
/// Idle time before a request that, answered by a reset, shows the connection was forgotten.
const IDLE_RESET_NS: u64 = 1_000_000_000;
/// A SYN sent again sooner than this is a copy of the frame (captured on two interfaces, as
/// `tcpdump -i any` does on a bridge), not a retransmission: no stack retries a SYN that fast
/// (Linux waits 1 s, and never less than 200 ms).
const MIN_SYN_RETRANSMIT_GAP_NS: u64 = 100_000_000;

/// One open connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnTrack {
    /// Index of its endpoint in the diagnosis.
    endpoint: usize,
    /// Its client serves other connections here: it is a proxy, and this its upstream leg.
    pub from_server: bool,
    /// When it was first seen.
    first_ns: u64,
    /// A capture gap touched it: what it does from then on is kept apart.
    damaged: bool,
    /// The capture missed some of its segments (a hole in its sequence space).
    holed: bool,
    /// The client's address: only its own new dials say it passed this connection over (a
    /// server has many clients).
    client: IpAddr,
    rtt_ns: u64,
    /// Its SYN was seen: a reset before the handshake ends is a refusal, not an abort.
    opened: bool,
    established: bool,
    requests: u32,
    responses: u32,
    last_request_ns: u64,
    /// Idle time before the latest request (reused connections only).
    last_request_idle_ns: Option<u64>,
    request_closing: Option<Closing>,
    response_closing: Option<Closing>,
    last_response_closing: bool,
    fin: [bool; 2],
    first_fin: Option<Side>,
    rst_seen: bool,
    /// Counted in its endpoint's open-and-used connections.
    counted_open: bool,
    /// When this connection last became idle (and still is).
    idle_since_ns: Option<u64>,
    /// When its last response came.
    answered_ns: Option<u64>,
    /// A new connection was dialed while this one sat idle and open.
    passed_over: bool,
    probes_unanswered: [u32; 2],
    /// Per side: (sequence number, times it was sent again) of the latest retransmission.
    stall: [(Option<u32>, u32); 2],
    /// Per side: the longest such run since the peer was last heard from.
    stall_max: [u32; 2],
    syn_retransmits: u32,
    /// When the latest SYN was sent.
    last_syn_ns: u64,
    /// The frame of the first SYN retransmission: the evidence.
    syn_retransmit_frame: Option<u64>,
    /// The pattern it was sorted into, which may explain why it carried so few requests.
    cause: Option<Cause>,
    /// Set once it was upgraded to WebSocket: its ending is judged as a WebSocket's, not by
    /// the HTTP/1.1 patterns.
    ws: Option<Box<WsConn>>,
    /// Set once it spoke HTTP/2: its streams and ending are judged as HTTP/2's.
    h2: Option<Box<H2Conn>>,
    /// Set once it spoke TLS.
    tls: Option<Box<TlsConn>>,
    /// Set once it spoke PostgreSQL.
    pg: Option<Box<PgConn>>,
    /// Set once it spoke MySQL.
    my: Option<Box<MyConn>>,
    /// Per side, it sent data its peer did not ask for (a TLS alert, an unasked response):
    /// what a peer that closes without reading leaves unread.
    unasked: [bool; 2],
    /// Per side, it said a TLS alert (its close_notify) before the peer's FIN: it began the
    /// close, so a reset of its own afterwards ends that close, whatever the peer answered.
    began_close: [bool; 2],
    /// The side that said it was closing before any FIN (its TLS close_notify, a protocol's
    /// goodbye): the one that closed, even when the peer's answer crossed its FIN on the wire,
    /// its FIN became an RST, or the peer was quicker to send its own FIN (a server closing at
    /// once on PostgreSQL's Terminate).
    said_close: Option<Side>,
}

/// The patterns that explain a connection carrying a single request (when their finding is
/// made; otherwise the connection counts as unexplained).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    ServerIdle,
    ClientIdle,
    EarlyClose,
    Leak,
    UnreadReset,
    WriteTimeout,
    Abortive,
    Race,
    Dead,
    IdleReset,
    UnreadClose,
}

impl Cause {
    /// Every cause, in index order.
    pub const ALL: [Cause; 11] = [
        Cause::ServerIdle,
        Cause::ClientIdle,
        Cause::EarlyClose,
        Cause::Leak,
        Cause::UnreadReset,
        Cause::WriteTimeout,
        Cause::Abortive,
        Cause::Race,
        Cause::Dead,
        Cause::IdleReset,
        Cause::UnreadClose,
    ];

    /// Index into per-cause tables; `None` (unexplained) is the last one.
    pub fn index(cause: Option<Cause>) -> usize {
        cause.map_or(Cause::ALL.len(), |c| c as usize)
    }
}

/// One server endpoint (ip:port): its counters and the patterns seen on it.
#[derive(Debug, Clone, Default)]
pub(crate) struct EndpointTrack {
    pub connections: u64,
    /// What the endpoint's protocol calls its requests (its last exchange's).
    pub words: Words,
    pub requests: u64,
    pub reused: u64,
    pub fin_first_by: BySide,
    pub rst_by: RstBy,
    pub time_wait: BySide,
    /// Connections that carried at least one request, when closed.
    pub with_requests: u64,
    pub server_idle: Timed,
    pub client_idle: Timed,
    /// When each idle close of `client_idle` and `server_idle` came (client, server): closes
    /// at one instant whatever the idle time are one act, not a timeout.
    pub idle_close_at: [crate::diagnose::Sketch; 2],
    pub write_timeout: Timed,
    pub keepalive_off: [Examples; 2],
    pub keepalive_off_via: [[u64; 2]; 2],
    /// Connections with one request and no announced close, by the cause they were sorted
    /// into (the last: none).
    pub single_request: [Examples; Cause::ALL.len() + 1],
    /// The same, closed before their client dialed again (with their latest answer): they
    /// count at its next dial for a request after that answer.
    pending_single: FastMap<IpAddr, (u64, [Examples; Cause::ALL.len() + 1])>,
    /// Server closes right after the n-th response: n → connections.
    pub closed_after: std::collections::BTreeMap<u32, Examples>,
    /// Those whose last response announced the close (`Connection: close`) after at least
    /// [`LIMIT_SEEN_ONCE`] requests: the n-th → connections. One such connection is already
    /// telling (Apache's MaxKeepAliveRequests on a long-lived client's connection).
    pub announced_after: std::collections::BTreeMap<u32, Examples>,
    /// Early closes of the bursts that left some connections idle (a pool that overflowed).
    pub early_closes: Examples,
    /// Idle connections kept after each such burst.
    pub kept_after_burst: Sketch,
    pub leak: Examples,
    /// The stacks its traffic named.
    pub stacks: super::stacks::StacksSeen,
    /// What its server's responses said of their idle timeout (`Keep-Alive: timeout=N`), s.
    pub keep_alive_hint: crate::diagnose::Sketch,
    pub race: Examples,
    pub abortive: [Examples; 2],
    /// Per side, resets after the peer's FIN with the peer's data unread.
    pub unread_close: [Examples; 2],
    pub unread_reset: Examples,
    /// Requests after a long idle answered by a reset (no FIN first), by the idle time.
    pub idle_reset: Timed,
    /// Those resets by sender: the server, a middlebox.
    pub idle_reset_by: [u64; 2],
    pub dead: Examples,
    /// Connections whose SYN the server answered with RST.
    pub refused: Examples,
    pub dead_probes: u64,
    pub dead_retransmits: u64,
    pub syn_retx: Examples,
    pub syn_retransmits: u64,
    /// The WebSocket patterns.
    pub ws: WsEndpoint,
    /// The HTTP/2 patterns.
    pub h2: H2Endpoint,
    /// The TLS patterns.
    pub tls: TlsEndpoint,
    /// What its PostgreSQL sessions said.
    pub pg: PgEndpoint,
    /// What its MySQL sessions said as they ended.
    pub my: MyEndpoint,
    /// Its closes told with the other leg, where its client or its server is a proxy.
    pub legs: LegCloses,
    /// Open connections that carried a request and have not started closing.
    open_used: u64,
    /// Per client address, the latest SYN of a connection dialed for a request (see
    /// `dialed_for_request`): a dial after a connection's answer shows it was passed over,
    /// or not reused.
    request_dial_syn_ns: FastMap<IpAddr, u64>,
    /// The burst of early closes under way.
    burst: Option<Burst>,
    /// A connection was dialed for a request since the latest early close: the next close
    /// may belong to another burst.
    dialed_since_close: bool,
}

/// Early closes by the client, each within a second of the previous one.
#[derive(Debug, Clone, Default)]
struct Burst {
    closes: Examples,
    /// Connections left open and used after the latest close.
    kept: u64,
    last_ns: u64,
}

/// Caps the request-count table, so a capture of odd request counts cannot grow it.
const MAX_REQUEST_COUNTS: usize = 1_000;
/// Requests on one connection before an announced close that make a request limit worth an
/// observation on its own: real limits are 100 (Apache MaxKeepAliveRequests, nginx
/// keepalive_requests before 1.19.10) and 1000 (nginx since); a close announced after a
/// handful is more often a shutdown or an error.
pub(crate) const LIMIT_SEEN_ONCE: u32 = 10;

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// Where an event happened, for the HTTP/2 tracking.
fn h2_at(e: &Event) -> http2::At {
    http2::At {
        t_ns: e.t_ns,
        conn: e.conn,
        frame: e.frame,
    }
}

/// Where an event happened, for the WebSocket tracking.
fn at(e: &Event) -> At {
    At {
        t_ns: e.t_ns,
        conn: e.conn,
        frame: e.frame,
    }
}

fn closing_idx(c: Closing) -> usize {
    match c {
        Closing::ConnectionCloseHeader => 0,
        Closing::Http10WithoutKeepalive => 1,
    }
}

impl ConnTrack {
    pub fn new(endpoint: usize, client: IpAddr, first_ns: u64) -> ConnTrack {
        ConnTrack {
            endpoint,
            from_server: false,
            first_ns,
            damaged: false,
            holed: false,
            client,
            rtt_ns: 0,
            opened: false,
            established: false,
            requests: 0,
            responses: 0,
            last_request_ns: 0,
            last_request_idle_ns: None,
            request_closing: None,
            response_closing: None,
            last_response_closing: false,
            fin: [false; 2],
            first_fin: None,
            rst_seen: false,
            counted_open: false,
            idle_since_ns: None,
            answered_ns: None,
            passed_over: false,
            probes_unanswered: [0; 2],
            stall: [(None, 0); 2],
            stall_max: [0; 2],
            syn_retransmits: 0,
            last_syn_ns: 0,
            syn_retransmit_frame: None,
            cause: None,
            ws: None,
            h2: None,
            tls: None,
            pg: None,
            my: None,
            unasked: [false; 2],
            began_close: [false; 2],
            said_close: None,
        }
    }

    /// The WebSocket state, once upgraded.
    pub fn ws(&self) -> Option<&WsConn> {
        self.ws.as_deref()
    }

    /// The HTTP/2 state, once it spoke HTTP/2.
    pub fn h2(&self) -> Option<&H2Conn> {
        self.h2.as_deref()
    }

    pub fn endpoint(&self) -> usize {
        self.endpoint
    }

    /// The client's address.
    pub fn client(&self) -> IpAddr {
        self.client
    }

    /// Counted among its endpoint's open, used connections (it carried a request and has not
    /// begun to close).
    pub fn counted_open(&self) -> bool {
        self.counted_open
    }

    pub fn first_ns(&self) -> u64 {
        self.first_ns
    }

    pub fn damaged(&self) -> bool {
        self.damaged
    }

    pub fn mark_damaged(&mut self) {
        self.damaged = true;
    }

    /// Whether the capture missed segments of this connection.
    pub fn holed(&self) -> bool {
        self.holed
    }

    pub fn mark_holed(&mut self) {
        self.holed = true;
    }

    pub fn requests(&self) -> u32 {
        self.requests
    }

    pub fn has_fin(&self) -> bool {
        self.first_fin.is_some()
    }

    fn idle(&self) -> bool {
        self.requests >= 1 && self.requests == self.responses
    }

    fn react_ns(&self) -> u64 {
        // A capture's clock may jump (a damaged or hostile file): no overflow from it.
        self.rtt_ns.saturating_add(REACTION_NS)
    }

    /// The connection stops counting as open and used (its first FIN, RST or its end); if
    /// a new connection was dialed while it sat idle, it was passed over.
    fn leave_open(&mut self, ep: &mut EndpointTrack) {
        if std::mem::take(&mut self.counted_open) {
            ep.open_used = ep.open_used.saturating_sub(1);
        }
        if let Some(since) = self.idle_since_ns.take() {
            self.passed_over |= ep.dialed_for_request_after(self.client, since);
        }
    }

    /// Who closed, the first FIN (or reset) being `by`'s: the server when its last response
    /// announced the close, else the side whose close_notify came first, else `by`. Over TLS
    /// both ends say close_notify and their FINs race; the announcement and the first alert
    /// say who decided.
    fn closer(&self, by: Side) -> Side {
        match self.said_close {
            Some(_) if self.last_response_closing => Side::Server,
            Some(side) => side,
            None => by,
        }
    }

    /// Anything the peer of `side` did answers `side`'s probes and retransmissions.
    fn heard_from(&mut self, side: Side) {
        let peer = idx(side.peer());
        self.probes_unanswered[peer] = 0;
        self.stall[peer] = (None, 0);
        self.stall_max[peer] = 0;
    }

    /// A request (an HTTP request, a command, a query) of whatever protocol.
    fn request(
        &mut self,
        e: &Event,
        (reused, idle_ns, closing): (bool, Option<u64>, Option<Closing>),
        ep: &mut EndpointTrack,
    ) {
        let t = e.t_ns;
        // Data flowed: established, whether or not the capture saw the handshake end.
        self.established = true;
        self.heard_from(Side::Client);
        self.requests += 1;
        self.last_request_ns = t;
        self.last_request_idle_ns = idle_ns;
        // Used again: whatever dial passed it over, it was not leaked.
        self.idle_since_ns = None;
        self.passed_over = false;
        ep.requests += 1;
        ep.reused += u64::from(reused);
        // Dialed for this request (it follows the handshake at once): an idle connection the
        // client passed over could have served it. A connection dialed to be held, which
        // speaks only later (a long connection's heartbeat), passes nothing over.
        let since_syn = t.saturating_sub(self.last_syn_ns);
        if self.requests == 1
            && self.opened
            && since_syn <= self.react_ns().saturating_add(self.rtt_ns)
        {
            ep.dialed_for_request(self.client, self.last_syn_ns);
        }
        ep.words = e.kind.words();
        if self.requests == 1 && self.first_fin.is_none() && !self.rst_seen {
            self.counted_open = true;
            ep.open_used += 1;
        }
        if let (Some(c), None) = (closing, self.request_closing) {
            self.request_closing = Some(c);
            ep.keepalive_off[0].add(e.conn, e.frame);
            ep.keepalive_off_via[0][closing_idx(c)] += 1;
        }
    }

    /// The answer to a request, of whatever protocol.
    fn answer(&mut self, e: &Event, closing: Option<Closing>, ep: &mut EndpointTrack) {
        self.established = true;
        self.heard_from(Side::Server);
        self.unasked[1] |= self.responses >= self.requests;
        self.responses += 1;
        self.last_response_closing = closing.is_some();
        if let (Some(c), None, None) = (closing, self.response_closing, self.request_closing) {
            // The server closes although the request did not ask: keep-alive is off
            // on its side when it does so on the very first response.
            if self.responses == 1 {
                ep.keepalive_off[1].add(e.conn, e.frame);
                ep.keepalive_off_via[1][closing_idx(c)] += 1;
            }
        }
        self.response_closing = self.response_closing.or(closing);
        self.answered_ns = Some(e.t_ns);
        if self.idle() {
            self.idle_since_ns = Some(e.t_ns);
        }
    }

    /// Applies one event of this connection; `ep` is its endpoint, `around` what a proxy's
    /// other leg held open (asked only at the connection's first FIN).
    pub fn apply(&mut self, e: &Event, ep: &mut EndpointTrack, around: Around) {
        let t = e.t_ns;
        // PostgreSQL's own story (its transaction status, its FATALs) beside its exchanges.
        match &e.kind {
            EventKind::Postgres(pg) => self
                .pg
                .get_or_insert_with(Box::default)
                .apply(pg, t, e.frame),
            EventKind::Mysql(my) => self.my.get_or_insert_with(Box::default).apply(my, e.frame),
            _ => {}
        }
        match e.kind.exchange() {
            Some(Exchange::Request {
                reused,
                idle_ns,
                closing,
            }) => return self.request(e, (reused, idle_ns, closing), ep),
            Some(Exchange::Answer { closing }) => return self.answer(e, closing, ep),
            Some(Exchange::Goodbye) => {
                self.heard_from(Side::Client);
                if self.first_fin.is_none() && !self.rst_seen {
                    self.said_close.get_or_insert(Side::Client);
                }
                return;
            }
            None => {}
        }
        match &e.kind {
            EventKind::Syn => {
                self.opened = true;
                self.last_syn_ns = t;
            }
            // Joined after its handshake: established all the same (its retransmissions
            // are no handshake's).
            EventKind::BegunBeforeCapture { syn_ack } => self.established |= !syn_ack,
            EventKind::Established { handshake_ns } => {
                self.established = true;
                // Across a missed SYN-ACK the handshake's time is no round trip.
                self.rtt_ns = if self.holed { 0 } else { *handshake_ns };
            }
            EventKind::Fin { by, idle_ns } => {
                self.heard_from(*by);
                self.fin[idx(*by)] = true;
                if self.first_fin.is_none() {
                    self.first_fin = Some(*by);
                    ep.fin_first_by.add(*by);
                    let closer = self.closer(*by);
                    self.on_first_fin(e, closer, *idle_ns, ep, around);
                }
            }
            EventKind::Rst { by, idle_ns } => {
                ep.rst_by.add(*by);
                if !std::mem::replace(&mut self.rst_seen, true) {
                    self.on_first_rst(e, *by, idle_ns.unwrap_or(u64::MAX), ep);
                }
                self.leave_open(ep);
            }
            EventKind::TimeWait { holder } => match holder {
                TimeWaitHolder::Client => ep.time_wait.add(Side::Client),
                TimeWaitHolder::Server => ep.time_wait.add(Side::Server),
                TimeWaitHolder::Both => {
                    ep.time_wait.add(Side::Client);
                    ep.time_wait.add(Side::Server);
                }
            },
            EventKind::KeepaliveProbe { by } => self.probes_unanswered[idx(*by)] += 1,
            EventKind::KeepaliveAck { by } => self.heard_from(*by),
            EventKind::Retransmit { by, seq, len } => {
                if !self.established {
                    // The handshake's own retransmissions (a SYN, a SYN-ACK) are no stall.
                    let gap = t.saturating_sub(self.last_syn_ns);
                    if *by == Side::Client && *seq == 0 && *len == 0 {
                        if gap >= MIN_SYN_RETRANSMIT_GAP_NS {
                            self.syn_retransmits += 1;
                            self.syn_retransmit_frame.get_or_insert(e.frame);
                        }
                        self.last_syn_ns = t;
                    }
                    return;
                }
                let stall = &mut self.stall[idx(*by)];
                *stall = match stall.0 {
                    Some(s) if s == *seq => (Some(s), stall.1 + 1),
                    _ => (Some(*seq), 1),
                };
                let i = idx(*by);
                self.stall_max[i] = self.stall_max[i].max(self.stall[i].1);
            }
            EventKind::Closed { lifetime_ns, .. } => {
                if let Some(pg) = self.pg.as_mut() {
                    pg.until(t);
                }
                if let Some(tls) = &self.tls {
                    tls.closed(*lifetime_ns, (e.conn, e.frame), &mut ep.tls);
                }
            }
            EventKind::Tls(tls) => {
                if let crate::analyze::TlsEvent::Alert { by, description } = tls {
                    self.heard_from(*by);
                    self.unasked[idx(*by)] = true;
                    self.began_close[idx(*by)] |= !self.fin[idx(by.peer())];
                    let closing = matches!(*description, "close_notify" | "encrypted");
                    if closing && self.first_fin.is_none() && !self.rst_seen {
                        self.said_close.get_or_insert(*by);
                    }
                }
                let conn = self.tls.get_or_insert_with(Box::default);
                let age = t.saturating_sub(self.first_ns);
                conn.apply(tls, (self.client, age), (e.conn, e.frame), &mut ep.tls);
            }
            EventKind::WsOpen { .. } => {
                self.ws = Some(Box::new(WsConn::new(t)));
                ep.ws.connections += 1;
            }
            EventKind::WsUpgradeRefused { status } => ep.ws.refuse(e.conn, e.frame, *status),
            EventKind::Stack { by, stack, clue } => ep.stacks.note(*by, *stack, *clue),
            // Taken as exchanges above (and PostgreSQL's by its own story); the protocols'
            // other events change nothing here.
            EventKind::Request { .. }
            | EventKind::Response { .. }
            | EventKind::Redis(_)
            | EventKind::Postgres(_)
            | EventKind::Mysql(_)
            | EventKind::Burst(_) => {}
            EventKind::KeepAliveHint { timeout_s } => {
                ep.keep_alive_hint.add(u64::from(*timeout_s));
            }
            // The diagnosis sets the connection apart (see `Diagnosis::apply`).
            EventKind::CaptureHole { .. } => {}
            EventKind::WsMessage { by, .. } => {
                self.heard_from(*by);
                if let Some(ws) = self.ws.as_mut() {
                    ws.message(t);
                }
            }
            EventKind::WsPing { by, .. } => {
                self.heard_from(*by);
                if let Some(ws) = self.ws.as_mut() {
                    ws.ping(t, e.frame, *by);
                }
            }
            EventKind::WsPong { by, .. } => {
                self.heard_from(*by);
                if let Some(ws) = self.ws.as_mut() {
                    ws.pong(t, *by);
                }
            }
            EventKind::WsClose { by, .. } => {
                self.heard_from(*by);
                let react = self.react_ns();
                if let Some(ws) = self.ws.as_mut() {
                    ws.close_frame(at(e), *by, react, &mut ep.ws);
                }
            }
            EventKind::WsProtocolError { .. } | EventKind::WsLostSync { .. } => {}
            EventKind::Http2(h2) => {
                self.heard_from_h2(h2);
                match (h2, self.h2.as_mut()) {
                    (crate::analyze::Http2Event::Preface { .. }, None) => {
                        self.established = true;
                        self.h2 = Some(Box::new(H2Conn::new(t, self.react_ns())));
                        ep.h2.connections += 1;
                    }
                    (h2, Some(conn)) => conn.apply(h2_at(e), h2, &mut ep.h2),
                    _ => {}
                }
            }
        }
    }

    fn on_first_fin(
        &mut self,
        e: &Event,
        by: Side,
        idle_ns: Option<u64>,
        ep: &mut EndpointTrack,
        around: Around,
    ) {
        self.leave_open(ep);
        if let Some(h2) = self.h2.as_mut() {
            h2.tcp_end(h2_at(e), by, &mut ep.h2);
            return;
        }
        let react = self.react_ns();
        if let Some(ws) = self.ws.as_mut() {
            ws.tcp_end(at(e), (by.into(), false), react, &mut ep.ws);
            return;
        }
        let idle = idle_ns.unwrap_or(0);
        match by {
            Side::Server if self.requests > self.responses => {
                let waited = e.t_ns.saturating_sub(self.last_request_ns);
                ep.write_timeout.add(e.conn, e.frame, waited);
                self.cause = Some(Cause::WriteTimeout);
            }
            Side::Server if self.idle() => {
                let announced = self.last_response_closing;
                if announced || idle < self.react_ns() {
                    // Closed right after the n-th response: a per-connection request limit
                    // when n repeats (n = 1 with an announcement is keep-alive off).
                    if self.requests >= 2 || !announced {
                        let n = self.requests;
                        if ep.closed_after.len() < MAX_REQUEST_COUNTS
                            || ep.closed_after.contains_key(&n)
                        {
                            ep.closed_after.entry(n).or_default().add(e.conn, e.frame);
                        }
                        let known = ep.announced_after.len() < MAX_REQUEST_COUNTS
                            || ep.announced_after.contains_key(&n);
                        if announced && n >= LIMIT_SEEN_ONCE && known {
                            ep.announced_after
                                .entry(n)
                                .or_default()
                                .add(e.conn, e.frame);
                        }
                    }
                } else if around.upstream_open > 0 {
                    // A proxy closing an idle client while it keeps its server connections.
                    ep.legs.client_idle.add(e.conn, e.frame, idle);
                    ep.legs.upstream_open = ep.legs.upstream_open.max(around.upstream_open);
                    self.cause = Some(Cause::ServerIdle);
                } else {
                    ep.server_idle.add(e.conn, e.frame, idle);
                    ep.idle_close_at[1].add(e.t_ns);
                    self.cause = Some(Cause::ServerIdle);
                }
            }
            // No HTTP seen (TLS, another protocol, or a capture begun mid-connection) but
            // data was: an idle close is still one, timed from the last payload.
            Side::Server | Side::Client
                if self.requests == 0 && idle_ns.is_some() && idle >= self.react_ns() =>
            {
                let (timed, cause) = match by {
                    Side::Server => (&mut ep.server_idle, Cause::ServerIdle),
                    Side::Client => (&mut ep.client_idle, Cause::ClientIdle),
                };
                timed.add(e.conn, e.frame, idle);
                self.cause = Some(cause);
            }
            Side::Client if self.idle() && self.request_closing.is_none() => {
                if idle < self.react_ns() {
                    self.early_close(e, ep);
                } else if self.passed_over {
                    // Passed over for new dials while it sat idle, and closed at last (the
                    // process exiting, often): a leak, counted when it ends, not a timeout.
                } else if around.front_open > 0 {
                    // A proxy (its own clients connected) closing an idle server connection.
                    ep.legs.upstream_idle.add(e.conn, e.frame, idle);
                    ep.legs.front_open = ep.legs.front_open.max(around.front_open);
                    ep.legs.proxy.get_or_insert(self.client);
                    self.cause = Some(Cause::ClientIdle);
                } else {
                    ep.client_idle.add(e.conn, e.frame, idle);
                    ep.idle_close_at[0].add(e.t_ns);
                    self.cause = Some(Cause::ClientIdle);
                }
            }
            _ => {}
        }
    }

    /// The client closed a connection right after its response, without saying so first:
    /// part of a burst when others follow within half a second.
    fn early_close(&mut self, e: &Event, ep: &mut EndpointTrack) {
        self.cause = Some(Cause::EarlyClose);
        let mut burst = match ep.burst.take() {
            Some(b)
                if e.t_ns.saturating_sub(b.last_ns) <= BURST_GAP_NS || !ep.dialed_since_close =>
            {
                b
            }
            previous => {
                ep.end_burst(previous);
                Burst::default()
            }
        };
        burst.closes.add(e.conn, e.frame);
        burst.kept = ep.open_used;
        burst.last_ns = e.t_ns;
        ep.burst = Some(burst);
        ep.dialed_since_close = false;
    }

    /// The first reset: a refused handshake, a request after a long idle reset by the server or a middlebox (the
    /// connection was forgotten), a dead peer given up on, the keep-alive race, a body closed
    /// unread (the client's FIN, or its reset, came while the response was still arriving),
    /// or an abortive close of an idle connection.
    fn on_first_rst(&mut self, e: &Event, by: RstSender, idle_ns: u64, ep: &mut EndpointTrack) {
        if self.opened && !self.established && self.requests == 0 && self.responses == 0 {
            // Reset during the handshake: the server refused it (nothing listens), or the
            // client gave up on it; no connection was there to close abortively.
            if by == RstSender::Server {
                ep.refused.add(e.conn, e.frame);
            }
            return;
        }
        if self.ws.is_some() {
            return self.ws_reset(e, by, ep);
        }
        if self.h2.is_some() {
            return self.h2_reset(e, by, ep);
        }
        let forgotten = self.requests > self.responses
            && !self.fin[1]
            && self
                .last_request_idle_ns
                .is_some_and(|idle| idle >= IDLE_RESET_NS);
        if forgotten && by != RstSender::Client {
            let idle = self.last_request_idle_ns.unwrap_or(0);
            ep.idle_reset.add(e.conn, e.frame, idle);
            ep.idle_reset_by[usize::from(by == RstSender::Middlebox)] += 1;
            self.cause = Some(Cause::IdleReset);
            return;
        }
        let Some(by) = by.side() else {
            return;
        };
        let i = idx(by);
        let stalled = self.stall_max[i] >= STALL_RETRANSMITS;
        if self.probes_unanswered[i] >= DEAD_PROBES || stalled {
            self.dead(e, by, ep);
            return;
        }
        let peer = by.peer();
        if self.first_fin.is_none()
            && self.said_close.is_some()
            && self.began_close[i]
            && self.closer(by) == by
        {
            // It said close_notify (first, or after announcing the close) and then reset
            // instead of its FIN (the peer's answer arrived before its socket closed): its
            // close, timed like one.
            let idle = Some(idle_ns).filter(|&i| i != u64::MAX);
            self.on_first_fin(e, by, idle, ep, Around::default());
            return;
        }
        if self.began_close[i] && self.unasked[idx(peer)] {
            // Its close_notify came first; the peer answered with its own before this side's
            // FIN left, and the reset (that answer unread) ends the close this side began.
            return;
        }
        if self.fin[idx(peer)] && !self.fin[i] && self.unasked[idx(peer)] {
            // The peer closed first and had sent what was never asked for (its TLS
            // close_notify, say): closing a socket with unread data resets it.
            ep.unread_close[i].add(e.conn, e.frame);
            self.cause = Some(Cause::UnreadClose);
            return;
        }
        match by {
            // A request after the server's FIN, unless its last response had announced the
            // close: then the client ignored the announcement, no race.
            Side::Server
                if self.fin[1] && self.requests > self.responses && !self.last_response_closing =>
            {
                ep.race.add(e.conn, e.frame);
                self.cause = Some(Cause::Race);
            }
            // What the server sent last was an alert (its close_notify, after the client's
            // close): a closed socket answers that with RSTs, no response was arriving.
            Side::Client if self.unasked[1] => {}
            Side::Client
                if (self.fin[0] && !self.fin[1])
                    || (!self.fin[0] && self.idle() && idle_ns < self.react_ns()) =>
            {
                ep.unread_reset.add(e.conn, e.frame);
                self.cause = Some(Cause::UnreadReset);
            }
            // An abortive close (SO_LINGER 0) only where the peer had not closed: after the
            // peer's FIN the reset merely replaces this side's FIN, nothing is lost.
            _ if !self.fin[i] && !self.fin[idx(peer)] && (self.requests == self.responses) => {
                ep.abortive[i].add(e.conn, e.frame);
                self.cause = Some(Cause::Abortive);
                // A server that resets a connection idle for a second or more closes it idle,
                // abortively (MariaDB at wait_timeout): timed as its idle close too.
                if by == Side::Server && self.idle() && (IDLE_RESET_NS..u64::MAX).contains(&idle_ns)
                {
                    ep.server_idle.add(e.conn, e.frame, idle_ns);
                    ep.idle_close_at[1].add(e.t_ns);
                    self.cause = Some(Cause::ServerIdle);
                }
            }
            _ => {}
        }
    }

    /// A WebSocket's first reset: a dead peer given up on (unanswered probes or
    /// retransmissions), else how the WebSocket ended.
    fn ws_reset(&mut self, e: &Event, by: RstSender, ep: &mut EndpointTrack) {
        if let Some(side) = by.side() {
            let i = idx(side);
            if self.probes_unanswered[i] >= DEAD_PROBES || self.stall_max[i] >= STALL_RETRANSMITS {
                self.dead(e, side, ep);
            }
        }
        let react = self.react_ns();
        if let Some(ws) = self.ws.as_mut() {
            ws.tcp_end(at(e), (by.into(), true), react, &mut ep.ws);
        }
    }

    /// An HTTP/2 connection's first reset: a peer that stopped answering (retransmissions
    /// only), else how the connection ended.
    fn h2_reset(&mut self, e: &Event, by: RstSender, ep: &mut EndpointTrack) {
        let Some(side) = by.side() else {
            // A middlebox resets a flow it forgot while idle.
            if let Some(h2) = self.h2.as_ref() {
                h2.forgotten((e.conn, e.frame), Some(e.t_ns), &mut ep.h2);
                self.cause = Some(Cause::IdleReset);
            }
            return;
        };
        let i = idx(side);
        let stalled = self.stall_max[i] >= STALL_RETRANSMITS;
        let Some(h2) = self.h2.as_mut() else {
            return;
        };
        if stalled && side == Side::Client && h2.idle_ping_lost() {
            h2.forgotten((e.conn, e.frame), None, &mut ep.h2);
            self.cause = Some(Cause::IdleReset);
        } else if stalled || self.probes_unanswered[i] >= DEAD_PROBES {
            ep.h2.dead.add(e.conn, e.frame);
            ep.h2.dead_retransmits += u64::from(self.stall_max[i]);
            ep.h2.dead_pinged += u64::from(h2.pinging(side));
            self.cause = Some(Cause::Dead);
        }
        h2.tcp_end(h2_at(e), side, &mut ep.h2);
    }

    /// An HTTP/2 event from one side answers the other's retransmissions, as data would.
    fn heard_from_h2(&mut self, h2: &crate::analyze::Http2Event) {
        use crate::analyze::Http2Event as H;
        let by = match h2 {
            H::Settings { by, .. }
            | H::Reset { by, .. }
            | H::Ping { by }
            | H::PingAck { by, .. }
            | H::GoAway { by, .. } => Some(*by),
            H::StreamOpen { .. } => Some(Side::Client),
            H::Response { .. } => Some(Side::Server),
            _ => None,
        };
        if let Some(by) = by {
            self.heard_from(by);
        }
    }

    fn dead(&mut self, e: &Event, by: Side, ep: &mut EndpointTrack) {
        let i = idx(by);
        ep.dead.add(e.conn, e.frame);
        self.cause = Some(Cause::Dead);
        ep.dead_probes += u64::from(self.probes_unanswered[i]);
        if self.stall_max[i] >= STALL_RETRANSMITS {
            ep.dead_retransmits += u64::from(self.stall_max[i]);
        }
    }

    /// Folds the connection into its endpoint: at its `Closed` event, or at the end of the
    /// capture (`open`). `frame` is the frame of that moment.
    pub fn finish(&mut self, conn: u64, frame: u64, open: bool, ep: &mut EndpointTrack) {
        self.leave_open(ep);
        if self.syn_retransmits > 0 {
            ep.syn_retx
                .add(conn, self.syn_retransmit_frame.unwrap_or(frame));
            ep.syn_retransmits += u64::from(self.syn_retransmits);
        }
        // Still waiting at the end after retransmitting the same data again and again (an
        // HTTP/2 connection's are judged below, with its PINGs).
        if open && !self.rst_seen && self.h2.is_none() {
            for side in [Side::Client, Side::Server] {
                if self.stall_max[idx(side)] >= STALL_RETRANSMITS {
                    let stall = self.stall_max[idx(side)];
                    ep.dead.add(conn, frame);
                    ep.dead_retransmits += u64::from(stall);
                    break;
                }
            }
        }
        if let Some(pg) = &self.pg {
            pg.finish(conn, &mut ep.pg);
        }
        if let Some(my) = &self.my {
            my.finish(conn, &mut ep.my);
        }
        if let Some(ws) = &self.ws {
            // Its one request was the upgrade: none of the HTTP/1.1 reuse patterns apply.
            ws.finish(conn, frame, open, &mut ep.ws);
            return;
        }
        if let Some(h2) = &self.h2 {
            // A peer that stopped answering and was never pinged: still hanging at the end.
            if open && !self.rst_seen {
                for side in [Side::Client, Side::Server] {
                    let stall = self.stall_max[idx(side)];
                    if stall >= STALL_RETRANSMITS && side == Side::Client && h2.idle_ping_lost() {
                        h2.forgotten((conn, frame), None, &mut ep.h2);
                        break;
                    }
                    if stall >= STALL_RETRANSMITS {
                        ep.h2.dead.add(conn, frame);
                        ep.h2.dead_retransmits += u64::from(stall);
                        ep.h2.dead_pinged += u64::from(h2.pinging(side));
                        break;
                    }
                }
            }
            return;
        }
        // Passed over for a new dial while idle and open, never used again, nobody announced
        // a close: a response not read to the end or a body never closed, whoever closed it
        // later (the client's process exiting closes its leaks too). Not a connection the
        // client closed right after its response (a burst's early close).
        let announced = self.request_closing.is_some() || self.response_closing.is_some();
        let early = self.cause == Some(Cause::EarlyClose);
        if self.passed_over && !early && self.idle() && !announced {
            ep.leak.add(conn, frame);
            self.cause = Some(Cause::Leak);
        }
        if self.requests >= 1 {
            ep.with_requests += 1;
            let announced = self.request_closing.is_some() || self.response_closing.is_some();
            // Counted once the client dials again after this connection's only response:
            // then it was not reused. Not when the server closed it first and the client
            // only dialed afterwards: then the client had nothing to reuse.
            let server_closed_first = self.first_fin == Some(Side::Server) && !self.passed_over;
            if self.requests == 1 && !announced && !server_closed_first {
                let answered = self.answered_ns.unwrap_or(0);
                if ep.dialed_for_request_after(self.client, answered) {
                    ep.single_request[Cause::index(self.cause)].add(conn, frame);
                } else {
                    let pending = ep.pending_single.entry(self.client).or_default();
                    pending.0 = pending.0.max(answered);
                    pending.1[Cause::index(self.cause)].add(conn, frame);
                }
            }
        }
    }
}

impl EndpointTrack {
    /// A connection of `client` whose SYN came at `syn_ns` was dialed for a request (its
    /// first followed its handshake at once).
    fn dialed_for_request(&mut self, client: IpAddr, syn_ns: u64) {
        let latest = self.request_dial_syn_ns.entry(client).or_default();
        *latest = (*latest).max(syn_ns);
        self.dialed_since_close = true;
        // The client's single-request connections answered before it were not reused.
        if let Some((answered, pending)) = self.pending_single.remove(&client) {
            if syn_ns > answered {
                for (done, pending) in self.single_request.iter_mut().zip(&pending) {
                    done.add_all(pending);
                }
            } else {
                self.pending_single.insert(client, (answered, pending));
            }
        }
    }

    /// Whether `client` dialed for a request (its SYN) after `t_ns`: an idle connection it
    /// then passed over could have served that request.
    fn dialed_for_request_after(&self, client: IpAddr, t_ns: u64) -> bool {
        self.request_dial_syn_ns
            .get(&client)
            .is_some_and(|&syn| syn > t_ns)
    }

    /// Folds a finished burst into the pool figures, when it left connections idle: one
    /// that closed everything is a client shutting down, not a pool overflowing.
    fn end_burst(&mut self, burst: Option<Burst>) {
        if let Some(b) = burst.filter(|b| b.kept > 0) {
            self.early_closes.add_all(&b.closes);
            self.kept_after_burst.add(b.kept);
        }
    }

    /// The endpoint as it would be if the capture ended now: the burst under way counts.
    pub fn settled(&self) -> EndpointTrack {
        let mut ep = self.clone();
        let burst = ep.burst.take();
        ep.end_burst(burst);
        ep
    }

    /// Adds the SYN of a new connection, when the connection's first event is not one.
    pub fn count_connection(&mut self) {
        self.connections += 1;
    }

    /// Its open connections that carried a request and have not begun to close.
    pub fn open_used(&self) -> u64 {
        self.open_used
    }
}
