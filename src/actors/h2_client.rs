//! The built-in HTTP/2 client (the `h2` crate: cleartext by prior knowledge, or over TLS with
//! ALPN `h2`): requests (or gRPC unary calls) as streams on one connection, a given number at
//! once, with the health check of Go's http2.Transport (ReadIdleTimeout, PingTimeout) or
//! gRPC's client keepalive (keepalive_time, keepalive_timeout, permit_without_stream). A
//! connection the server ends (GOAWAY) or the health check gives up on is replaced by a new
//! one, and requests it refused go again there, as both stacks do.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_rustls::TlsConnector;

use super::client_report::ClientReport;
use super::h2_wire::{Watch, Watched};
use super::socket::SocketOptions;
use super::stream::Stream;
use super::tls;
use crate::trace::{TraceKind, Tracer};

/// Go http2.Transport.PingTimeout's default.
const GO_PING_TIMEOUT_MS: u64 = 15_000;
/// gRPC keepalive_timeout's default.
const GRPC_PING_TIMEOUT_MS: u64 = 20_000;

/// `[h2_client]`: requests as streams, `concurrency` at once; after them the connection sits
/// idle `idle_ms` (its health check going on), then `requests_after_idle` more.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct H2ClientConfig {
    /// Requests (gRPC calls) to make.
    #[serde(default = "one")]
    pub requests: u32,
    /// Streams at once.
    #[serde(default = "one")]
    pub concurrency: u32,
    /// Pause between one stream's end and the next one's start on the same slot, ms.
    #[serde(default)]
    pub interval_ms: u64,
    /// Request path.
    #[serde(default = "default_path")]
    pub path: String,
    /// After the requests, time the connection sits idle, ms.
    #[serde(default)]
    pub idle_ms: u64,
    /// Requests after the idle time.
    #[serde(default)]
    pub requests_after_idle: u32,
    /// Make gRPC unary calls (POST, `application/grpc`, a length-prefixed message, reading
    /// `grpc-status` from the trailers) instead of GETs.
    #[serde(default)]
    pub grpc: bool,
    /// Go http2.Transport.ReadIdleTimeout / gRPC keepalive_time: with no frame read for this
    /// long, send a PING; none (both stacks' default): never.
    #[serde(default, alias = "keepalive_time_ms")]
    pub read_idle_timeout_ms: Option<u64>,
    /// Go PingTimeout (15 s) / gRPC keepalive_timeout (20 s): a PING unanswered this long
    /// closes the connection.
    #[serde(default, alias = "keepalive_timeout_ms")]
    pub ping_timeout_ms: Option<u64>,
    /// gRPC permit_without_stream: ping with no call open too (Go always does; gRPC's
    /// default is no).
    #[serde(default)]
    pub permit_without_stream: Option<bool>,
    /// A request taking longer than this fails (Go http.Client.Timeout, a gRPC deadline).
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// HTTP/2 over TLS (rustls, ALPN `h2`, trusting the lab's CA; the keys go into the
    /// capture).
    #[serde(default)]
    pub tls: bool,
    /// `[h2_client.socket]`: options of its connections.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn one() -> u32 {
    1
}
fn default_path() -> String {
    "/".into()
}

impl H2ClientConfig {
    /// The health check: ping after this long without a frame, give up after that long.
    fn health(&self) -> Option<Health> {
        let idle = self.read_idle_timeout_ms?;
        let default_timeout = if self.grpc {
            GRPC_PING_TIMEOUT_MS
        } else {
            GO_PING_TIMEOUT_MS
        };
        Some(Health {
            idle: Duration::from_millis(idle),
            timeout: Duration::from_millis(self.ping_timeout_ms.unwrap_or(default_timeout)),
            without_streams: self.permit_without_stream.unwrap_or(!self.grpc),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Health {
    idle: Duration,
    timeout: Duration,
    without_streams: bool,
}

/// One connection: where requests go, how many are on it, and whether it still works.
struct Conn {
    send: h2::client::SendRequest<Bytes>,
    /// Streams open on it now.
    active: Arc<AtomicUsize>,
    /// Streams it carried.
    streams: u32,
    /// Set by its driver when the connection is over.
    gone: Arc<std::sync::atomic::AtomicBool>,
    local: SocketAddr,
}

/// The client's current connection, shared by its request slots.
struct Pool {
    target: SocketAddr,
    socket: SocketOptions,
    /// Set when the connections speak TLS.
    tls: Option<TlsConnector>,
    health: Option<Health>,
    tracer: Tracer,
    current: AsyncMutex<Option<Conn>>,
    /// Connections dialed and streams reused, for the report.
    dialed: AtomicUsize,
    reused: AtomicUsize,
}

impl Pool {
    /// The live connection (a new one when there is none, or it is gone): its request
    /// handle, its stream counter and its local address.
    async fn conn(
        &self,
    ) -> Result<(h2::client::SendRequest<Bytes>, Arc<AtomicUsize>, SocketAddr), String> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_mut().filter(|c| !c.gone.load(Ordering::Relaxed)) {
            c.streams += 1;
            self.reused.fetch_add(1, Ordering::Relaxed);
            return Ok((c.send.clone(), c.active.clone(), c.local));
        }
        let mut c = self.dial().await?;
        c.streams = 1;
        let out = (c.send.clone(), c.active.clone(), c.local);
        *current = Some(c);
        Ok(out)
    }

    async fn dial(&self) -> Result<Conn, String> {
        self.tracer.emit(TraceKind::Dial {
            remote: self.target,
        });
        let stream = TcpStream::connect(self.target)
            .await
            .map_err(|e| e.to_string())?;
        self.dialed.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.socket.apply(&stream) {
            self.tracer.error("sockopt", e);
        }
        let local = stream.local_addr().map_err(|e| e.to_string())?;
        let stream = match &self.tls {
            None => Stream::Plain(stream),
            Some(connector) => match connector.connect(tls::server_name(), stream).await {
                Ok(tls) => Stream::Tls(Box::new(tls.into())),
                Err(e) => {
                    let error = format!("TLS handshake: {e}");
                    self.tracer.emit(TraceKind::DialError {
                        remote: self.target,
                        error: error.clone(),
                    });
                    return Err(error);
                }
            },
        };
        let watch = Watch::new(None);
        let (send, mut connection) = h2::client::Builder::new()
            .handshake::<_, Bytes>(Watched::new(stream, watch.clone(), false))
            .await
            .map_err(|e| e.to_string())?;
        let active = Arc::new(AtomicUsize::new(0));
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pings = connection.ping_pong();
        let (health, tracer, remote) = (self.health, self.tracer.clone(), self.target);
        let (task_active, task_gone) = (active.clone(), gone.clone());
        tokio::spawn(async move {
            let check = async {
                match (health, pings) {
                    (Some(h), Some(p)) => health_check(h, p, &watch, &task_active).await,
                    _ => std::future::pending().await,
                }
            };
            let reason = tokio::select! {
                r = &mut connection => match r {
                    Ok(()) => "server_closed",
                    Err(e) => {
                        tracer.error("h2", &e);
                        if e.is_go_away() { "goaway" } else { "error" }
                    }
                },
                () = check => {
                    tracer.emit(TraceKind::Timeout { timer: "ping".into(), local, remote });
                    "ping_timeout"
                }
            };
            task_gone.store(true, std::sync::atomic::Ordering::Relaxed);
            // Dropping the connection closes the socket.
            drop(connection);
            tracer.close(local, remote, reason);
        });
        Ok(Conn {
            send,
            active,
            streams: 0,
            gone,
            local,
        })
    }
}

/// Go's ReadIdleTimeout health check (and gRPC's keepalive): after `idle` without a frame
/// read, a PING; no ACK within `timeout` and the connection is given up (returns).
async fn health_check(h: Health, mut pings: h2::PingPong, watch: &Watch, active: &AtomicUsize) {
    loop {
        let last = watch.last_read();
        sleep_until(Instant::from_std(last + h.idle)).await;
        if watch.last_read() > last {
            continue; // a frame came meanwhile
        }
        if !h.without_streams && active.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(h.idle).await;
            continue;
        }
        match timeout(h.timeout, pings.ping(h2::Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            Ok(Err(_)) => std::future::pending::<()>().await, // the driver sees the error
            Err(_) => return,
        }
    }
}

/// The connection kept open at the end of the run (closed on release, after the capture).
pub struct HeldConn {
    _pool: Option<Arc<Pool>>,
}

/// Runs the client against `target`; returns its report and the connection it holds.
pub async fn run_client(
    cfg: H2ClientConfig,
    target: SocketAddr,
    tracer: Tracer,
) -> (ClientReport, HeldConn) {
    let tls = match cfg.tls {
        true => match tls::client_config(None, true, tls::H2, &tracer) {
            Ok(config) => Some(TlsConnector::from(config)),
            Err(e) => {
                tracer.error("tls", format!("{e:#}"));
                return (ClientReport::default(), HeldConn { _pool: None });
            }
        },
        false => None,
    };
    let pool = Arc::new(Pool {
        target,
        socket: cfg.socket.clone(),
        tls,
        health: cfg.health(),
        tracer: tracer.clone(),
        current: AsyncMutex::new(None),
        dialed: AtomicUsize::new(0),
        reused: AtomicUsize::new(0),
    });
    let report = Arc::new(Mutex::new(ClientReport::default()));
    let started = Instant::now();
    let cfg = Arc::new(cfg);
    requests(&cfg, &pool, &report, cfg.requests).await;
    if cfg.idle_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.idle_ms)).await;
    }
    requests(&cfg, &pool, &report, cfg.requests_after_idle).await;
    let mut out = report.lock().map(|r| r.clone()).unwrap_or_default();
    out.dialed = pool.dialed.load(Ordering::Relaxed) as u64;
    out.reused = pool.reused.load(Ordering::Relaxed) as u64;
    out.elapsed_ns = started.elapsed().as_nanos() as u64;
    (out, HeldConn { _pool: Some(pool) })
}

/// Makes `count` requests, `concurrency` at once.
async fn requests(
    cfg: &Arc<H2ClientConfig>,
    pool: &Arc<Pool>,
    report: &Arc<Mutex<ClientReport>>,
    count: u32,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut slots = JoinSet::new();
    for _ in 0..cfg.concurrency.clamp(1, count.max(1)) {
        let (cfg, pool, report, next) = (cfg.clone(), pool.clone(), report.clone(), next.clone());
        slots.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < count as usize {
                // A request refused by a connection that went away goes again, once.
                let mut outcome = one_request(&cfg, &pool).await;
                if let Err(Failure::Unprocessed(_)) = outcome {
                    outcome = one_request(&cfg, &pool).await;
                }
                if let Ok(mut r) = report.lock() {
                    match outcome {
                        Ok(status) => {
                            r.ok += 1;
                            *r.statuses.entry(status).or_default() += 1;
                        }
                        Err(Failure::Unprocessed(e) | Failure::Failed(e)) => {
                            r.failure(&e);
                            pool.tracer.error("h2_request", e);
                        }
                    }
                }
                if cfg.interval_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(cfg.interval_ms)).await;
                }
            }
        });
    }
    while slots.join_next().await.is_some() {}
}

/// How a request failed: before the server processed it (safe to send again), or not.
enum Failure {
    Unprocessed(String),
    Failed(String),
}

/// One request (or gRPC call) on the pool's connection; its status.
async fn one_request(cfg: &H2ClientConfig, pool: &Pool) -> Result<u16, Failure> {
    let (send, active, local) = pool.conn().await.map_err(Failure::Unprocessed)?;
    active.fetch_add(1, Ordering::Relaxed);
    let call = async {
        let mut send = send.ready().await.map_err(unprocessed)?;
        let mut request = http::Request::builder().uri(format!("http://lab{}", cfg.path));
        request = if cfg.grpc {
            request
                .method("POST")
                .header("content-type", "application/grpc")
                .header("te", "trailers")
        } else {
            request.method("GET")
        };
        let request = request
            .body(())
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let (response, mut body) = send.send_request(request, !cfg.grpc).map_err(unprocessed)?;
        if cfg.grpc {
            // One message: the 5-byte prefix and 2 bytes.
            let message = Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1]);
            body.send_data(message, true).map_err(unprocessed)?;
        }
        let response = response.await.map_err(unprocessed)?;
        let status = response.status().as_u16();
        let mut recv = response.into_body();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(|e| Failure::Failed(e.to_string()))?;
            let _ = recv.flow_control().release_capacity(chunk.len());
        }
        if cfg.grpc {
            let trailers = recv
                .trailers()
                .await
                .map_err(|e| Failure::Failed(e.to_string()))?;
            let grpc_status = trailers
                .as_ref()
                .and_then(|t| t.get("grpc-status"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if grpc_status != "0" {
                return Err(Failure::Failed(format!("grpc-status {grpc_status}")));
            }
        }
        Ok(status)
    };
    pool.tracer.emit(TraceKind::Request {
        local,
        remote: pool.target,
        n: 0,
        method: if cfg.grpc { "POST" } else { "GET" }.into(),
        path: cfg.path.clone(),
    });
    let outcome = match cfg.request_timeout_ms {
        Some(ms) => timeout(Duration::from_millis(ms), call)
            .await
            .unwrap_or_else(|_| Err(Failure::Failed("request timeout".into()))),
        None => call.await,
    };
    active.fetch_sub(1, Ordering::Relaxed);
    outcome
}

/// A request the server refused before taking it (REFUSED_STREAM, or a GOAWAY that left it
/// out) may go again; one lost with its connection may have been processed, and does not.
fn unprocessed(e: h2::Error) -> Failure {
    let refused = e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM);
    if refused {
        Failure::Unprocessed(e.to_string())
    } else {
        Failure::Failed(e.to_string())
    }
}
