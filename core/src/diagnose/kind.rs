//! What kind of problem a finding is: the names scripts and `[expect]` rely on. A leaf, so the
//! rules, the knob table and the defaults all name a kind without taking it from one another.

use serde::Serialize;

/// What kind of problem a finding is; the names are a contract (scripts and `[expect]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The server closes idle connections a fixed time after the last data.
    ServerIdleClose,
    /// The client closes idle connections a fixed time after the last data.
    ClientIdleClose,
    /// One side closed many idle connections at one instant, whatever their idle times: a
    /// process exit, a pool's `CloseIdleConnections`, a deploy.
    BulkClose,
    /// The server's `Keep-Alive: timeout=N` says one idle timeout, its closes another.
    KeepaliveHeaderMismatch,
    /// One side turns keep-alive off (`Connection: close`, HTTP/1.0).
    KeepaliveOff,
    /// Most connections carry one request although nobody announced a close.
    SingleRequestConnections,
    /// A proxy (nginx's `proxy_pass`, anything that says `Via`) opens one upstream connection
    /// per request: its upstream keep-alive is off.
    ProxyNoUpstreamKeepalive,
    /// After a burst the client closes most connections at once and keeps a few idle.
    PoolOverflow,
    /// New connections are dialed while earlier ones sit idle and open, never reused.
    ConnectionLeak,
    /// The server closes every connection after the same number of requests.
    ServerRequestLimit,
    /// A request sent on a connection the server had closed, answered by RST.
    RequestOnClosingConnection,
    /// A side closes with RST instead of FIN.
    AbortiveClose,
    /// The client closes while the response still arrives; its kernel sends RSTs.
    UnreadBodyReset,
    /// Keepalive probes or retransmissions go unanswered until reset or timeout.
    DeadPeer,
    /// The server reads a request and closes without answering, a fixed time later.
    ServerWriteTimeout,
    /// Handshakes needed SYN retransmissions.
    SynRetransmits,
    /// A request after a long idle was answered by a reset, with no FIN before: a middlebox
    /// (or the server) had forgotten the connection.
    ResetAfterIdle,
    /// The server answered SYNs with RST: nothing listened on the port.
    ConnectionRefused,
    /// WebSockets closed (by an end or the path) a consistent time after their last frame.
    WsIdleClose,
    /// WebSocket pings went unanswered until the connection ended.
    WsPingUnanswered,
    /// A WebSocket's TCP connection ended without the close handshake (the application saw
    /// 1006, abnormal closure).
    WsClosedWithoutHandshake,
    /// A WebSocket upgrade was answered with a status other than 101.
    WsUpgradeRefused,
    /// A gRPC server answered the client's keepalive PINGs with GOAWAY ENHANCE_YOUR_CALM
    /// ("too_many_pings").
    GrpcTooManyPings,
    /// A side ends idle HTTP/2 connections (GOAWAY, or a bare FIN) a consistent time after
    /// their last stream.
    H2IdleClose,
    /// The server ends HTTP/2 connections at a maximum age, busy or not.
    MaxConnectionAge,
    /// PINGs went unanswered and their sender closed the connection after its ping timeout.
    H2PingTimeout,
    /// The peer of an HTTP/2 connection stopped answering and nothing pinged it: only TCP's
    /// retransmissions, the long hang.
    H2DeadConnection,
    /// A middlebox forgot idle HTTP/2 connections between their PINGs (or, unpinged, while
    /// idle) and reset them or dropped their packets: the PINGs came too slowly to keep the
    /// flow.
    H2FlowForgotten,
    /// Streams in flight reached the server's MAX_CONCURRENT_STREAMS.
    StreamLimitReached,
    /// Streams were reset (RST_STREAM) with the same code again and again.
    StreamResets,
    /// A side answered its peer's close with RST because its socket held data it never read
    /// (a TLS close_notify, an unasked response): Linux's reset on close, not SO_LINGER.
    CloseWithUnreadData,
    /// A client reconnects with a full TLS handshake every time (no session resumption).
    TlsNoResumption,
    /// Short TLS connections spend a large share of their life in handshakes.
    TlsHandshakeShare,
    /// A database session sat idle inside an open transaction, waiting for its client
    /// (PostgreSQL's `idle in transaction`).
    IdleInTransaction,
    /// The server ended sessions going down, or refused them while starting or stopping
    /// (PostgreSQL FATAL 57P01, 57P02, 57P03).
    ServerShutdown,
    /// The server refused new sessions: its connections were all taken (PostgreSQL FATAL
    /// 53300).
    TooManyConnections,
    /// A proxy or pooler closed its idle connections to a server while its own clients stayed
    /// connected (pgbouncer's `server_idle_timeout`).
    ProxyUpstreamIdleClose,
    /// A proxy or pooler closed idle clients while it kept its connections to its servers
    /// (pgbouncer's `client_idle_timeout`).
    ProxyClientIdleClose,
}

impl FindingKind {
    /// The kind's name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::ServerIdleClose => "server_idle_close",
            FindingKind::ClientIdleClose => "client_idle_close",
            FindingKind::BulkClose => "bulk_close",
            FindingKind::KeepaliveHeaderMismatch => "keepalive_header_mismatch",
            FindingKind::KeepaliveOff => "keepalive_off",
            FindingKind::SingleRequestConnections => "single_request_connections",
            FindingKind::ProxyNoUpstreamKeepalive => "proxy_no_upstream_keepalive",
            FindingKind::PoolOverflow => "pool_overflow",
            FindingKind::ConnectionLeak => "connection_leak",
            FindingKind::ServerRequestLimit => "server_request_limit",
            FindingKind::RequestOnClosingConnection => "request_on_closing_connection",
            FindingKind::AbortiveClose => "abortive_close",
            FindingKind::UnreadBodyReset => "unread_body_reset",
            FindingKind::DeadPeer => "dead_peer",
            FindingKind::ServerWriteTimeout => "server_write_timeout",
            FindingKind::SynRetransmits => "syn_retransmits",
            FindingKind::ResetAfterIdle => "reset_after_idle",
            FindingKind::ConnectionRefused => "connection_refused",
            FindingKind::WsIdleClose => "ws_idle_close",
            FindingKind::WsPingUnanswered => "ws_ping_unanswered",
            FindingKind::WsClosedWithoutHandshake => "ws_closed_without_handshake",
            FindingKind::WsUpgradeRefused => "ws_upgrade_refused",
            FindingKind::GrpcTooManyPings => "grpc_too_many_pings",
            FindingKind::H2IdleClose => "h2_idle_close",
            FindingKind::MaxConnectionAge => "max_connection_age",
            FindingKind::H2PingTimeout => "h2_ping_timeout",
            FindingKind::H2DeadConnection => "h2_dead_connection",
            FindingKind::H2FlowForgotten => "h2_flow_forgotten",
            FindingKind::StreamLimitReached => "stream_limit_reached",
            FindingKind::StreamResets => "stream_resets",
            FindingKind::CloseWithUnreadData => "close_with_unread_data",
            FindingKind::TlsNoResumption => "tls_no_resumption",
            FindingKind::TlsHandshakeShare => "tls_handshake_share",
            FindingKind::IdleInTransaction => "idle_in_transaction",
            FindingKind::ServerShutdown => "server_shutdown",
            FindingKind::TooManyConnections => "too_many_connections",
            FindingKind::ProxyUpstreamIdleClose => "proxy_upstream_idle_close",
            FindingKind::ProxyClientIdleClose => "proxy_client_idle_close",
        }
    }

    /// Every kind, in the order of docs/diagnosis.md (`tests/docs.rs` checks it).
    pub const ALL: [FindingKind; 38] = [
        FindingKind::ServerIdleClose,
        FindingKind::ClientIdleClose,
        FindingKind::BulkClose,
        FindingKind::KeepaliveHeaderMismatch,
        FindingKind::KeepaliveOff,
        FindingKind::SingleRequestConnections,
        FindingKind::ProxyNoUpstreamKeepalive,
        FindingKind::PoolOverflow,
        FindingKind::ConnectionLeak,
        FindingKind::ServerRequestLimit,
        FindingKind::RequestOnClosingConnection,
        FindingKind::AbortiveClose,
        FindingKind::UnreadBodyReset,
        FindingKind::DeadPeer,
        FindingKind::ServerWriteTimeout,
        FindingKind::SynRetransmits,
        FindingKind::ResetAfterIdle,
        FindingKind::ConnectionRefused,
        FindingKind::WsIdleClose,
        FindingKind::WsPingUnanswered,
        FindingKind::WsClosedWithoutHandshake,
        FindingKind::WsUpgradeRefused,
        FindingKind::GrpcTooManyPings,
        FindingKind::H2IdleClose,
        FindingKind::MaxConnectionAge,
        FindingKind::H2PingTimeout,
        FindingKind::H2DeadConnection,
        FindingKind::H2FlowForgotten,
        FindingKind::StreamLimitReached,
        FindingKind::StreamResets,
        FindingKind::CloseWithUnreadData,
        FindingKind::TlsNoResumption,
        FindingKind::TlsHandshakeShare,
        FindingKind::IdleInTransaction,
        FindingKind::ServerShutdown,
        FindingKind::TooManyConnections,
        FindingKind::ProxyUpstreamIdleClose,
        FindingKind::ProxyClientIdleClose,
    ];
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
