//! The built-in HTTP/2 server (the `h2` crate: cleartext by prior knowledge, or over TLS with
//! ALPN `h2`, as Go's and gRPC's servers speak it) with Go x/net/http2's knobs, and, with
//! `grpc = true`, gRPC's shape (unary calls: length-prefixed messages, `grpc-status`
//! trailers) and gRPC's keepalive policy: ping strikes against `EnforcementPolicy.MinTime`,
//! `MaxConnectionIdle`, `MaxConnectionAge` and its grace. Neither `h2` nor tonic enforce a
//! ping policy, so this server does, as grpc-go's does.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender as StdSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::TlsAcceptor;

use super::h2_wire::{Watch, Watched};
use super::socket::{self, Accepted, SocketOptions};
use super::stream::Stream;
use super::tls;
use crate::trace::{TraceKind, Tracer};

/// Go x/net/http2's default SETTINGS_MAX_CONCURRENT_STREAMS.
const GO_MAX_STREAMS: u32 = 250;
/// gRPC's EnforcementPolicy.MinTime default: 5 minutes.
const GRPC_MIN_PING_INTERVAL_MS: u64 = 300_000;
/// Pings without streams are struck unless 2 hours apart (grpc-go).
const PING_WITHOUT_STREAM_MIN: Duration = Duration::from_secs(2 * 3600);
/// Strikes a client may collect before GOAWAY ENHANCE_YOUR_CALM (grpc-go maxPingStrikes).
const MAX_PING_STRIKES: u32 = 2;

/// `[h2_server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct H2ServerConfig {
    /// Port to listen on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (Go http2.Server.MaxConcurrentStreams: 250; gRPC:
    /// MaxConcurrentStreams, no limit); none: those defaults.
    #[serde(default)]
    pub max_concurrent_streams: Option<u32>,
    /// Go http2.Server.IdleTimeout: with no stream open this long, GOAWAY and close; none:
    /// `read_timeout_ms` (as x/net/http2's ConfigureServer falls back to http.Server's).
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Go http.Server.ReadTimeout: on HTTP/2 it is the idle timeout's fallback.
    #[serde(default)]
    pub read_timeout_ms: Option<u64>,
    /// How long each request takes to answer, ms.
    #[serde(default)]
    pub handler_delay_ms: u64,
    /// Response body bytes (the message, in gRPC mode).
    #[serde(default = "default_body")]
    pub body_bytes: usize,
    /// Answer as a gRPC server: `application/grpc`, length-prefixed messages, `grpc-status`
    /// trailers, and gRPC's keepalive policy below.
    #[serde(default)]
    pub grpc: bool,
    /// gRPC EnforcementPolicy.MinTime: client PINGs closer than this are strikes (5 min by
    /// default); after 2 strikes the next one gets GOAWAY ENHANCE_YOUR_CALM, too_many_pings.
    #[serde(default = "default_min_ping")]
    pub min_ping_interval_ms: u64,
    /// gRPC EnforcementPolicy.PermitWithoutStream: PINGs with no call open are allowed (at
    /// `min_ping_interval_ms`) rather than struck unless two hours apart.
    #[serde(default)]
    pub permit_without_stream: bool,
    /// gRPC MaxConnectionIdle: with no call open this long, GOAWAY ("max_idle").
    #[serde(default)]
    pub max_connection_idle_ms: Option<u64>,
    /// gRPC MaxConnectionAge (±10 % jitter): at this age, GOAWAY ("max_age"), busy or not.
    #[serde(default)]
    pub max_connection_age_ms: Option<u64>,
    /// gRPC MaxConnectionAgeGrace: calls still open this long after the age GOAWAY are cut.
    #[serde(default)]
    pub max_connection_age_grace_ms: Option<u64>,
    /// Stop reading and answering this long after a connection opened, ms: a process stuck in
    /// a deadlock or a long pause. Its kernel still acknowledges what arrives; its HTTP/2
    /// layer answers nothing, PINGs included.
    #[serde(default)]
    pub hang_after_ms: Option<u64>,
    /// HTTP/2 over TLS (rustls, ALPN `h2`, the lab's CA; tickets as Go's defaults): the
    /// keys go into the capture, which opens decrypted.
    #[serde(default)]
    pub tls: bool,
    /// `[h2_server.socket]`: options of every accepted connection.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn default_port() -> u16 {
    80
}
fn default_body() -> usize {
    2
}
fn default_min_ping() -> u64 {
    GRPC_MIN_PING_INTERVAL_MS
}

impl H2ServerConfig {
    /// The idle timeout in force and the GOAWAY's debug data: gRPC's MaxConnectionIdle says
    /// `max_idle`; Go's IdleTimeout (or its ReadTimeout fallback) says nothing.
    fn idle(&self) -> Option<(Duration, Option<&'static str>)> {
        if let Some(ms) = self.max_connection_idle_ms.filter(|_| self.grpc) {
            return Some((Duration::from_millis(ms), Some("max_idle")));
        }
        self.idle_timeout_ms
            .or(self.read_timeout_ms)
            .map(|ms| (Duration::from_millis(ms), None))
    }
}

/// Listens on `bind:port`, reports the address on `ready`, serves until `stop`.
pub async fn serve(
    cfg: H2ServerConfig,
    bind: IpAddr,
    tracer: Tracer,
    stop: tokio::sync::watch::Receiver<bool>,
    ready: StdSender<Result<Vec<SocketAddr>, String>>,
) -> Result<()> {
    let listener = socket::listen(SocketAddr::new(bind, cfg.port))
        .with_context(|| format!("listening on {bind}:{}", cfg.port))?;
    let acceptor = match cfg.tls {
        true => Some(TlsAcceptor::from(tls::server_config(
            None,
            true,
            tls::H2,
            &tracer,
        )?)),
        false => None,
    };
    let _ = ready.send(Ok(vec![listener.local_addr()?]));
    let cfg = Arc::new(cfg);
    let options = cfg.socket.clone();
    socket::accept_loop(listener, options, tracer.clone(), stop, |a: Accepted| {
        serve_conn(a, acceptor.clone(), cfg.clone(), tracer.clone())
    })
    .await;
    Ok(())
}

/// The accepted connection as HTTP/2 reads it: plain, or after the server's TLS handshake
/// (None, traced, when that fails).
async fn secure(
    tcp: tokio::net::TcpStream,
    acceptor: Option<TlsAcceptor>,
    tracer: &Tracer,
) -> Option<Stream> {
    let Some(acceptor) = acceptor else {
        return Some(Stream::Plain(tcp));
    };
    match acceptor.accept(tcp).await {
        Ok(tls) => Some(Stream::Tls(Box::new(tls.into()))),
        Err(e) => {
            tracer.error("tls_handshake", e);
            None
        }
    }
}

/// gRPC's ping policy state for one connection.
#[derive(Debug, Default)]
struct Strikes {
    last_ping: Option<std::time::Instant>,
    strikes: u32,
}

/// What the connection's task and its streams share.
struct Shared {
    /// Streams being answered.
    active: AtomicUsize,
    /// Something changed the idle clock (a stream ended).
    changed: Notify,
    /// The ping policy was broken: GOAWAY ENHANCE_YOUR_CALM.
    calm: Notify,
    /// The server sent headers or data since the last PING (grpc-go resets strikes then).
    sent: AtomicBool,
    strikes: Mutex<Strikes>,
}

impl Shared {
    /// grpc-go's handlePing: a PING too soon after the previous one is a strike.
    fn on_ping(&self, cfg: &H2ServerConfig) {
        let now = std::time::Instant::now();
        let Ok(mut s) = self.strikes.lock() else {
            return;
        };
        if self.sent.swap(false, Ordering::Relaxed) {
            *s = Strikes {
                last_ping: Some(now),
                strikes: 0,
            };
            return;
        }
        let min = if self.active.load(Ordering::Relaxed) == 0 && !cfg.permit_without_stream {
            PING_WITHOUT_STREAM_MIN
        } else {
            Duration::from_millis(cfg.min_ping_interval_ms)
        };
        if s.last_ping.is_some_and(|last| now < last + min) {
            s.strikes += 1;
        }
        s.last_ping = Some(now);
        if s.strikes > MAX_PING_STRIKES {
            self.calm.notify_one();
        }
    }
}

/// How far a connection's ending has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Not ending.
    No,
    /// A GOAWAY is out; streams in flight finish.
    Graceful,
    /// A GOAWAY is out; streams still open at this time are cut (gRPC's age grace).
    GraceUntil(Instant),
}

/// Serves one connection: accepts its streams, and ends it by GOAWAY when its idle timeout,
/// its maximum age or the ping policy says so.
async fn serve_conn(
    accepted: Accepted,
    acceptor: Option<TlsAcceptor>,
    cfg: Arc<H2ServerConfig>,
    tracer: Tracer,
) {
    let Accepted {
        stream,
        local,
        remote,
    } = accepted;
    let Some(stream) = secure(stream, acceptor, &tracer).await else {
        return;
    };
    let shared = Arc::new(Shared {
        active: AtomicUsize::new(0),
        changed: Notify::new(),
        calm: Notify::new(),
        sent: AtomicBool::new(false),
        strikes: Mutex::new(Strikes::default()),
    });
    let on_ping = cfg.grpc.then(|| {
        let (shared, cfg) = (shared.clone(), cfg.clone());
        Box::new(move || shared.on_ping(&cfg)) as Box<dyn Fn() + Send + Sync>
    });
    let watch = Watch::new(on_ping);
    let mut builder = h2::server::Builder::new();
    match (cfg.max_concurrent_streams, cfg.grpc) {
        (Some(n), _) => builder.max_concurrent_streams(n),
        (None, false) => builder.max_concurrent_streams(GO_MAX_STREAMS),
        (None, true) => &mut builder,
    };
    let mut conn = match builder
        .handshake::<_, Bytes>(Watched::new(stream, watch.clone(), true))
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracer.error("h2_handshake", e);
            return;
        }
    };
    let opened = Instant::now();
    // gRPC jitters the maximum age by ±10 %: spread by the client's port, reproducibly.
    let age = cfg.max_connection_age_ms.filter(|_| cfg.grpc).map(|ms| {
        let jitter = (u64::from(remote.port()).wrapping_mul(2_654_435_761) % 2_001) as f64 / 1e4;
        opened + Duration::from_millis((ms as f64 * (0.9 + jitter)) as u64)
    });
    let grace = cfg.max_connection_age_grace_ms.map(Duration::from_millis);
    let hang_at = cfg
        .hang_after_ms
        .map(|ms| opened + Duration::from_millis(ms));
    let idle = cfg.idle();
    let mut idle_since = Instant::now();
    let mut ending = Ending::No;
    let mut reason = "peer_closed";
    let mut n = 0u32;
    loop {
        let open = ending == Ending::No;
        let idle_at = idle
            .filter(|_| open && shared.active.load(Ordering::Relaxed) == 0)
            .map(|(limit, _)| idle_since + limit);
        let age_at = age.filter(|_| open);
        let cut_at = match ending {
            Ending::GraceUntil(at) => Some(at),
            _ => None,
        };
        let far = Instant::now() + Duration::from_secs(86_400);
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((request, respond))) => {
                    n += 1;
                    shared.active.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(answer(request, respond, cfg.clone(), shared.clone(), (tracer.clone(), local, remote, n)));
                }
                Some(Err(e)) => {
                    tracer.error("h2", e);
                    reason = "error";
                    break;
                }
                None => break,
            },
            _ = shared.changed.notified() => {
                if shared.active.load(Ordering::Relaxed) == 0 {
                    idle_since = Instant::now();
                }
            }
            _ = sleep_until(idle_at.unwrap_or(far)), if idle_at.is_some() => {
                let debug = idle.and_then(|(_, d)| d);
                tracer.emit(TraceKind::Timeout { timer: "idle".into(), local, remote });
                if let Some(d) = debug {
                    watch.set_goaway_debug(d);
                }
                conn.graceful_shutdown();
                reason = "idle_timeout";
                ending = Ending::Graceful;
            }
            _ = sleep_until(age_at.unwrap_or(far)), if age_at.is_some() => {
                tracer.emit(TraceKind::Timeout { timer: "max_age".into(), local, remote });
                watch.set_goaway_debug("max_age");
                conn.graceful_shutdown();
                reason = "max_age";
                ending = grace.map_or(Ending::Graceful, |g| Ending::GraceUntil(Instant::now() + g));
            }
            _ = sleep_until(cut_at.unwrap_or(far)), if cut_at.is_some() => {
                // The grace is over: what is still open is cut.
                conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                ending = Ending::Graceful;
            }
            _ = sleep_until(hang_at.unwrap_or(far)), if hang_at.is_some() => {
                // Hung: the connection is held and never polled again.
                tracer.error("h2", "the server hangs (hang_after_ms)");
                let _held = conn;
                std::future::pending::<()>().await;
                return;
            }
            _ = shared.calm.notified() => {
                tracer.error("h2", "too many pings from the client");
                watch.set_goaway_debug("too_many_pings");
                conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                reason = "too_many_pings";
                ending = Ending::Graceful;
            }
        }
    }
    drop(conn);
    tracer.close(local, remote, reason);
}

/// Answers one stream: reads the request to its end, waits the handler's time, then answers
/// (a gRPC call: headers, one length-prefixed message, `grpc-status` trailers).
async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    cfg: Arc<H2ServerConfig>,
    shared: Arc<Shared>,
    (tracer, local, remote, n): (Tracer, SocketAddr, SocketAddr, u32),
) {
    let (head, mut body) = request.into_parts();
    tracer.emit(TraceKind::Request {
        local,
        remote,
        n,
        method: head.method.to_string(),
        path: head.uri.path().to_owned(),
    });
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    if cfg.handler_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.handler_delay_ms)).await;
    }
    let body_bytes = vec![b'x'; cfg.body_bytes];
    let mut response = http::Response::builder().status(200);
    let payload = if cfg.grpc {
        response = response.header("content-type", "application/grpc");
        let mut message = vec![0u8];
        message.extend((body_bytes.len() as u32).to_be_bytes());
        message.extend(&body_bytes);
        message
    } else {
        body_bytes
    };
    let Ok(response) = response.body(()) else {
        return;
    };
    shared.sent.store(true, Ordering::Relaxed);
    if let Ok(mut send) = respond.send_response(response, false) {
        let _ = send.send_data(Bytes::from(payload), !cfg.grpc);
        if cfg.grpc {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let _ = send.send_trailers(trailers);
        }
        tracer.emit(TraceKind::Response {
            local,
            remote,
            n,
            status: 200,
            bytes: cfg.body_bytes as u64,
        });
    }
    shared.active.fetch_sub(1, Ordering::Relaxed);
    shared.changed.notify_one();
}
