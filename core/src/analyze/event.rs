//! Lifecycle events: the analyser's only output.
//!
//! They are written as JSON lines and as pcapng packet comments, so the serde
//! field names and the `describe` wording are a public contract.

use std::fmt;
use std::net::SocketAddr;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::h2_event::Http2Event;
use super::proto::bursts::BurstEvent;
use super::proto::mysql::MyEvent;
use super::proto::postgres::PgEvent;
use super::proto::redis::RedisEvent;
use super::tls_event::TlsEvent;
pub(crate) use super::vocabulary::clean;
pub use super::vocabulary::{Closing, Exchange, Side, Words};

/// Who sent a reset: one of the ends, or a middlebox on the path (a frame the capture marks as
/// forged: connlab's wire in a lab, a load balancer or NAT in production). Kept apart because
/// "the server reset my connection" and "something between us did" call for different fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RstSender {
    /// The client's kernel.
    Client,
    /// The server's kernel.
    Server,
    /// A middlebox, in the name of the other end.
    Middlebox,
}

impl RstSender {
    /// The end that sent it, None for a middlebox.
    pub fn side(self) -> Option<Side> {
        match self {
            RstSender::Client => Some(Side::Client),
            RstSender::Server => Some(Side::Server),
            RstSender::Middlebox => None,
        }
    }
}

impl From<Side> for RstSender {
    fn from(side: Side) -> Self {
        match side {
            Side::Client => RstSender::Client,
            Side::Server => RstSender::Server,
        }
    }
}

impl fmt::Display for RstSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RstSender::Client => "client",
            RstSender::Server => "server",
            RstSender::Middlebox => "middlebox",
        })
    }
}

/// Who holds TIME_WAIT after a close: the side that sent the first FIN, or
/// both after a simultaneous close (each kernel sent FIN before seeing the
/// other's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeWaitHolder {
    /// The client closed first.
    Client,
    /// The server closed first.
    Server,
    /// Simultaneous close.
    Both,
}

impl From<Side> for TimeWaitHolder {
    fn from(side: Side) -> Self {
        match side {
            Side::Client => TimeWaitHolder::Client,
            Side::Server => TimeWaitHolder::Server,
        }
    }
}

/// One thing that happened to one connection, at one captured frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Capture time of the frame, ns since the UNIX epoch, as passed in.
    pub t_ns: u64,
    /// 1-based number of the frame that caused it, counted as the analyser was fed (in a
    /// capture file: Wireshark's `frame.number`), so evidence can be looked up in Wireshark.
    pub frame: u64,
    /// 1-based connection id, in order of first sight.
    pub conn: u64,
    /// The client's address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened; serialized with a `kind` tag beside the `Event` fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The client's SYN.
    Syn,
    /// The connection began before the capture did: its first frame captured was the
    /// SYN-ACK (`syn_ack`) or one after the handshake. Counted as a connection all the same.
    BegunBeforeCapture {
        /// The first frame was the server's SYN-ACK (only the client's SYN was missed).
        syn_ack: bool,
    },
    /// The client's first ACK after the SYN-ACK.
    Established {
        /// Time from SYN to that ACK.
        handshake_ns: u64,
    },
    /// An HTTP/1.x request line sent by the client.
    Request {
        /// 1-based index of the request on this connection.
        n: u32,
        /// The request method.
        method: &'static str,
        /// The request target (inline up to 24 bytes: no allocation per request for the
        /// usual short path).
        path: CompactString,
        /// Whether an earlier request used this connection (n > 1).
        reused: bool,
        /// Since the last server data before this request, only when reused
        /// and the server had sent something.
        idle_ns: Option<u64>,
        /// Set when the request asks to close the connection after its response.
        #[serde(skip_serializing_if = "Option::is_none")]
        closing: Option<Closing>,
    },
    /// The capture missed part of `side`'s stream: bytes the peer acknowledged that no captured
    /// segment carried (0 bytes: a segment without data, the SYN-ACK). The connection still
    /// counts, but nothing measured across the hole is a figure.
    CaptureHole {
        /// Whose segments the capture missed.
        side: Side,
        /// Stream bytes missed (0: a segment without data).
        bytes: u64,
    },
    /// The server's response says how long it keeps an idle connection (`Keep-Alive:
    /// timeout=N`; the first time on the connection).
    KeepAliveHint {
        /// N, seconds.
        timeout_s: u32,
    },
    /// A side's HTTP/1.x message named its software (the first time on the connection).
    Stack {
        /// The side.
        by: Side,
        /// The software.
        stack: crate::analyze::stack::Stack,
        /// What named it.
        clue: crate::analyze::stack::Clue,
    },
    /// An HTTP/1.x status line sent by the server.
    Response {
        /// 1-based index of the response on this connection.
        n: u32,
        /// The status code.
        status: u16,
        /// Set when the response announces that the server closes the connection.
        #[serde(skip_serializing_if = "Option::is_none")]
        closing: Option<Closing>,
    },
    /// The first FIN of one side.
    Fin {
        /// Who sent it.
        by: Side,
        /// Time since the last payload byte of either side (None: no data was ever sent):
        /// how long the connection sat idle before this side closed it.
        idle_ns: Option<u64>,
    },
    /// A reset.
    Rst {
        /// Who sent it.
        by: RstSender,
        /// Time since the last payload byte of either side (None: no data was ever sent):
        /// an idle connection aborted, or one reset while data was still flowing.
        idle_ns: Option<u64>,
    },
    /// Both FINs seen: who will sit in TIME_WAIT.
    TimeWait {
        /// The first closer, or both after a simultaneous close.
        holder: TimeWaitHolder,
    },
    /// A TCP keepalive probe (seq = next expected − 1, 0 or 1 byte).
    KeepaliveProbe {
        /// Who probed.
        by: Side,
    },
    /// The peer's ACK of a keepalive probe: the prober knows its peer is alive.
    KeepaliveAck {
        /// Who answered.
        by: Side,
    },
    /// A segment whose sequence range had (at least partly) been seen before.
    Retransmit {
        /// Who retransmitted.
        by: Side,
        /// Sequence number relative to the sender's ISN.
        seq: u32,
        /// Payload bytes in the segment.
        len: u32,
    },
    /// A `101 Switching Protocols` accepted a WebSocket upgrade: the connection carries
    /// WebSocket frames from here on.
    WsOpen {
        /// The subprotocol the server chose (`Sec-WebSocket-Protocol`), if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        subprotocol: Option<CompactString>,
        /// `permessage-deflate` was agreed (message bytes are compressed bytes).
        deflate: bool,
    },
    /// A WebSocket upgrade request answered with a final status other than 101.
    WsUpgradeRefused {
        /// The status the server answered with (405, 400, 426, ...).
        status: u16,
    },
    /// A whole WebSocket data message (all its frames).
    WsMessage {
        /// Who sent it.
        by: Side,
        /// Text (opcode 1) rather than binary (opcode 2).
        text: bool,
        /// Payload bytes on the wire.
        bytes: u64,
        /// Frames it took (1 unless fragmented).
        frames: u32,
        /// Payload bytes the capture did not hold (a snap length, a missed segment).
        #[serde(skip_serializing_if = "is_zero")]
        cut: u64,
    },
    /// A WebSocket ping frame.
    WsPing {
        /// Who sent it.
        by: Side,
        /// Its payload length.
        bytes: u64,
    },
    /// A WebSocket pong frame.
    WsPong {
        /// Who sent it.
        by: Side,
        /// Since the ping it answers (by payload, else the oldest waiting); None when it
        /// answers none (an unsolicited pong, a heartbeat).
        rtt_ns: Option<u64>,
        /// The pings it answers: the one it matches and every older one still waiting (an
        /// endpoint may answer only the latest of several pings, RFC 6455 §5.5.3).
        answers: u32,
    },
    /// A WebSocket close frame.
    WsClose {
        /// Who sent it.
        by: Side,
        /// Its status code (1000 normal, 1001 going away, ...); None when it had none.
        code: Option<u16>,
        /// Its reason text.
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        reason: CompactString,
    },
    /// A WebSocket frame that breaks RFC 6455 (a reserved opcode, a control frame over 125
    /// bytes, an unmasked client frame, an absurd length, ...); the event's frame is where.
    WsProtocolError {
        /// Who sent it.
        by: Side,
        /// What is wrong with it.
        error: &'static str,
    },
    /// The capture lost a WebSocket frame header (a gap where one was): nothing more of this
    /// direction is read rather than guessed.
    WsLostSync {
        /// Whose direction.
        by: Side,
    },
    /// What an HTTP/2 connection's frames said (`"kind": "http2"`, the frame's story in
    /// `"h2"`).
    Http2(Http2Event),
    /// What a TLS connection's records said (`"kind": "tls"`, the record's story in
    /// `"tls"`).
    Tls(TlsEvent),
    /// What a Redis connection's RESP said (`"kind": "redis"`, the story in `"redis"`).
    Redis(RedisEvent),
    /// What a PostgreSQL connection said (`"kind": "postgres"`, the story in `"postgres"`).
    Postgres(PgEvent),
    /// What a MySQL or MariaDB connection said (`"kind": "mysql"`, the story in `"mysql"`).
    Mysql(MyEvent),
    /// A turn of a plain TCP connection no protocol claimed (`"kind": "burst"`).
    Burst(BurstEvent),
    /// The connection is over (final ACK of the close, or RST).
    Closed {
        /// Ended by a reset rather than a FIN exchange.
        by_rst: bool,
        /// From first sight (SYN) to this event.
        lifetime_ns: u64,
    },
}

impl EventKind {
    /// What this event is to the connection's exchanges, if anything: HTTP/1.x's requests and
    /// responses, and each protocol's own (its commands, its queries) as it says.
    #[inline]
    pub fn exchange(&self) -> Option<Exchange> {
        match self {
            EventKind::Request {
                reused,
                idle_ns,
                closing,
                ..
            } => Some(Exchange::Request {
                reused: *reused,
                idle_ns: *idle_ns,
                closing: *closing,
            }),
            EventKind::Response { closing, .. } => Some(Exchange::Answer { closing: *closing }),
            EventKind::Redis(redis) => redis.exchange(),
            EventKind::Postgres(pg) => pg.exchange(),
            EventKind::Mysql(my) => my.exchange(),
            EventKind::Burst(burst) => burst.exchange(),
            _ => None,
        }
    }

    /// What the protocol of this exchange calls its requests and answers.
    #[inline]
    pub fn words(&self) -> Words {
        match self {
            EventKind::Redis(_) => RedisEvent::WORDS,
            EventKind::Postgres(_) => PgEvent::WORDS,
            EventKind::Mysql(_) => MyEvent::WORDS,
            EventKind::Burst(_) => BurstEvent::WORDS,
            _ => Words::HTTP,
        }
    }
}

impl Event {
    /// One line of text for a pcapng packet comment. Never contains `|`, and
    /// the word "reused" appears only on reused requests, so Wireshark filters
    /// like `frame.comment contains "reused"` are exact.
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            EventKind::Syn => format!("SYN {} -> {}", self.client, self.server),
            EventKind::BegunBeforeCapture { syn_ack: true } => format!(
                "connection {} -> {} begun before the capture: its SYN was not captured",
                self.client, self.server
            ),
            EventKind::BegunBeforeCapture { syn_ack: false } => format!(
                "connection {} -> {} begun before the capture: its handshake was not captured",
                self.client, self.server
            ),
            EventKind::Established { handshake_ns } => {
                format!("established, handshake {}", ms(*handshake_ns))
            }
            EventKind::Request {
                n,
                method,
                path,
                reused,
                idle_ns,
                ..
            } => {
                let line = format!("request {n} {} {}", clean(method), clean(path));
                match (reused, idle_ns) {
                    (false, _) => format!("{line} (new connection)"),
                    (true, Some(idle)) => format!("{line}, reused after {} idle", ms(*idle)),
                    (true, None) => format!("{line}, reused before any response"),
                }
            }
            EventKind::Response { n, status, .. } => format!("response {n} status {status}"),
            EventKind::Fin { by, .. } => format!("FIN from {by}"),
            EventKind::Rst { by, .. } => format!("RST from {by}"),
            EventKind::TimeWait { holder } => match holder {
                TimeWaitHolder::Client => "TIME_WAIT held by client".to_string(),
                TimeWaitHolder::Server => "TIME_WAIT held by server".to_string(),
                TimeWaitHolder::Both => "TIME_WAIT held by both (simultaneous close)".to_string(),
            },
            EventKind::KeepaliveProbe { by } => format!("keepalive probe from {by}"),
            EventKind::KeepaliveAck { by } => format!("keepalive ACK from {by}"),
            EventKind::Retransmit { by, seq, len } => {
                format!("retransmit from {by} (seq {seq}, {len} bytes)")
            }
            EventKind::Closed {
                by_rst,
                lifetime_ns,
            } => {
                let how = if *by_rst { " by RST" } else { "" };
                format!("closed{how} after {}", ms(*lifetime_ns))
            }
            EventKind::WsOpen { subprotocol, .. } => match subprotocol {
                Some(p) => format!("WebSocket open (subprotocol {})", clean(p)),
                None => "WebSocket open".to_owned(),
            },
            EventKind::WsUpgradeRefused { status } => {
                format!("WebSocket upgrade refused with status {status}")
            }
            EventKind::KeepAliveHint { timeout_s } => {
                format!("the server says Keep-Alive: timeout={timeout_s}")
            }
            EventKind::CaptureHole { side, bytes: 0 } => {
                format!("the capture missed a segment the {side} sent (its SYN-ACK)")
            }
            EventKind::CaptureHole { side, bytes } => {
                format!("the capture missed {bytes} bytes the {side} sent")
            }
            EventKind::Stack { by, stack, clue } => {
                format!("{by} is {} ({})", stack.name(), clue.words())
            }
            EventKind::WsMessage {
                by,
                text,
                bytes,
                frames,
                cut,
            } => {
                let kind = if *text { "text" } else { "binary" };
                let mut line = format!("WebSocket {kind} message from {by}, {bytes} bytes");
                if *frames > 1 {
                    line.push_str(&format!(" in {frames} frames"));
                }
                if *cut > 0 {
                    line.push_str(&format!(" ({cut} not captured)"));
                }
                line
            }
            EventKind::WsPing { by, .. } => format!("WebSocket ping from {by}"),
            EventKind::WsPong { by, rtt_ns, .. } => match rtt_ns {
                Some(rtt) => format!("WebSocket pong from {by}, {} after the ping", ms(*rtt)),
                None => format!("WebSocket pong from {by} (unsolicited)"),
            },
            EventKind::WsClose { by, code, reason } => {
                let code = code.map_or("no code".to_owned(), |c| format!("code {c}"));
                match reason.is_empty() {
                    true => format!("WebSocket close frame from {by}, {code}"),
                    false => format!(
                        "WebSocket close frame from {by}, {code} ({})",
                        clean(reason)
                    ),
                }
            }
            EventKind::WsProtocolError { by, error } => {
                format!("WebSocket protocol error from {by}: {error}")
            }
            EventKind::WsLostSync { by } => {
                format!("WebSocket framing from {by} lost (a header is not in the capture)")
            }
            EventKind::Http2(h2) => h2.describe(),
            EventKind::Tls(tls) => tls.describe(),
            EventKind::Redis(redis) => redis.describe(),
            EventKind::Postgres(pg) => pg.describe(),
            EventKind::Mysql(my) => my.describe(),
            EventKind::Burst(burst) => burst.describe(),
        };
        format!("conn {}: {what}", self.conn)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Milliseconds, at most microsecond precision, no trailing zeros ("120 ms").
fn ms(ns: u64) -> String {
    format!("{} ms", (ns / 1_000) as f64 / 1_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> Event {
        Event {
            t_ns: 5,
            frame: 9,
            conn: 3,
            client: "10.0.0.1:40000".parse().expect("addr"),
            server: "10.0.0.2:80".parse().expect("addr"),
            kind,
        }
    }

    fn req(n: u32, path: &str, idle_ns: Option<u64>) -> Event {
        ev(EventKind::Request {
            n,
            method: "GET",
            path: path.into(),
            reused: n > 1,
            idle_ns,
            closing: None,
        })
    }

    #[test]
    fn describe_matches_the_documented_wording() {
        let cases = [
            (
                req(5, "/", Some(120_000_000)),
                "conn 3: request 5 GET /, reused after 120 ms idle",
            ),
            (
                req(1, "/", None),
                "conn 3: request 1 GET / (new connection)",
            ),
            (
                ev(crate::testframes::fin(Side::Server, None)),
                "conn 3: FIN from server",
            ),
            (
                ev(EventKind::Rst {
                    by: RstSender::Client,
                    idle_ns: None,
                }),
                "conn 3: RST from client",
            ),
            (
                ev(EventKind::TimeWait {
                    holder: TimeWaitHolder::Client,
                }),
                "conn 3: TIME_WAIT held by client",
            ),
            (
                ev(EventKind::KeepaliveProbe { by: Side::Client }),
                "conn 3: keepalive probe from client",
            ),
            (
                ev(EventKind::Retransmit {
                    by: Side::Server,
                    seq: 1,
                    len: 100,
                }),
                "conn 3: retransmit from server (seq 1, 100 bytes)",
            ),
            (
                ev(EventKind::Established {
                    handshake_ns: 1_500_000,
                }),
                "conn 3: established, handshake 1.5 ms",
            ),
        ];
        for (event, text) in cases {
            assert_eq!(event.describe(), text);
        }
    }

    #[test]
    fn describe_never_leaks_pipe_or_fake_reused() {
        let tricky = req(1, "/a|b/reused\r\n", None).describe();
        assert!(!tricky.contains('|'), "{tricky}");
        assert!(!tricky.contains("reused"), "{tricky}");
        let pipelined = req(2, "/", None).describe();
        assert!(pipelined.contains("reused"), "{pipelined}");
    }

    #[test]
    fn json_field_names_are_the_contract() {
        let json = serde_json::to_value(req(2, "/x", Some(7))).expect("json");
        assert_eq!(json["kind"], "request");
        assert_eq!(json["conn"], 3);
        assert_eq!(json["client"], "10.0.0.1:40000");
        assert_eq!(json["idle_ns"], 7);
        assert_eq!(json["reused"], true);
        assert_eq!(json["frame"], 9);
        assert!(
            json.get("closing").is_none(),
            "absent unless the request closes"
        );
        let tw = serde_json::to_value(ev(EventKind::TimeWait {
            holder: TimeWaitHolder::Both,
        }))
        .expect("json");
        assert_eq!(tw["kind"], "time_wait");
        assert_eq!(tw["holder"], "both");
        let probe =
            serde_json::to_value(ev(EventKind::KeepaliveProbe { by: Side::Server })).expect("json");
        assert_eq!(probe["kind"], "keepalive_probe");
        assert_eq!(probe["by"], "server");
    }
}
