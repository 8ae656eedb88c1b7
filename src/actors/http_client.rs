//! The built-in HTTP/1.1 client: workers sending requests through the [`Pool`], with Go
//! http.Transport's knobs and a body policy that reproduces what programs do with
//! `resp.Body` (read and close, read without close, close unread, leak).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::client_report::ClientReport;
use super::http_exchange::{read_head, read_more, Failure, Head};
use super::pool::{Checkout, Conn, Pool, PoolLimits, Slot};
use super::socket::SocketOptions;
use super::stream::Stream;
use super::tls::{self, TlsVersion};
use crate::trace::{TraceKind, Tracer};
use crate::wire::pressure::WireGate;

/// `[client]`: the knobs of the built-in client, named after Go's http.Transport fields.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    /// Requests per burst.
    #[serde(default = "one")]
    pub requests: u32,
    /// Workers sharing a burst's requests, each sending one at a time.
    #[serde(default = "one")]
    pub concurrency: u32,
    /// Pause between a worker's requests, ms.
    #[serde(default)]
    pub interval_ms: u64,
    /// Each worker starts this long after the previous one, ms (0: all at once), so that
    /// workers are at different points of their request when something happens.
    #[serde(default)]
    pub stagger_ms: u64,
    /// How many times the burst runs.
    #[serde(default = "one")]
    pub bursts: u32,
    /// Pause between bursts, ms.
    #[serde(default)]
    pub burst_gap_ms: u64,
    /// Go MaxIdleConnsPerHost (default 2): connections kept idle per host; more are closed.
    #[serde(default = "default_max_idle")]
    pub max_idle_per_host: usize,
    /// Go MaxConnsPerHost (default 0 = unlimited: a request that finds no idle connection
    /// dials a new one and never waits).
    #[serde(default)]
    pub max_conns_per_host: usize,
    /// Go IdleConnTimeout (default 90 s).
    #[serde(default = "default_idle_conn_timeout")]
    pub idle_conn_timeout_ms: Option<u64>,
    /// false = Go DisableKeepAlives: `Connection: close` on every request, never pooled.
    #[serde(default = "yes")]
    pub keep_alive: bool,
    /// What the program does with the response body.
    #[serde(default)]
    pub body: BodyPolicy,
    /// Request method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Every n-th request (counted over the whole run) is a POST with a small body, the
    /// others use `method`: Go retries an idempotent request on a new connection, never a POST.
    #[serde(default)]
    pub post_every: Option<std::num::NonZeroU32>,
    /// Request target.
    #[serde(default = "default_path")]
    pub path: String,
    /// Go Client.Timeout: bounds a whole request, ms.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// Go retries an idempotent request (GET, HEAD, OPTIONS, TRACE: `Request.isReplayable`)
    /// once on a new connection when a reused one fails before any response byte (the server
    /// closed it as the request was sent); false turns that off for every method.
    #[serde(default = "yes")]
    pub retry_on_reused: bool,
    /// HTTPS: every connection starts with a TLS handshake (rustls), which the lab's
    /// capture decrypts.
    #[serde(default)]
    pub tls: bool,
    /// Go `tls.Config.ClientSessionCache` (nil by default): with a cache, new connections
    /// resume an earlier session (an abbreviated handshake); without, each is a full one.
    #[serde(default)]
    pub tls_session_cache: bool,
    /// The only TLS version offered, "1.2" or "1.3" (both when left out).
    #[serde(default)]
    pub tls_version: Option<TlsVersion>,
    /// Go Transport.TLSHandshakeTimeout (default 10 s): a dial whose handshake takes longer
    /// fails.
    #[serde(default = "default_tls_handshake_timeout")]
    pub tls_handshake_timeout_ms: u64,
    /// `[client.socket]`: options of every dialed connection (Go: net.Dialer).
    #[serde(default)]
    pub socket: SocketOptions,
}

/// What the program does with `resp.Body`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyPolicy {
    /// Read to EOF, then Close: the connection goes back to the pool.
    #[default]
    ReadAndClose,
    /// Read to EOF, never Close: Go returns the connection at EOF, so it is still reused.
    ReadNoClose,
    /// Close without reading: the connection cannot be reused and is closed.
    CloseUnread,
    /// Neither read nor closed: the connection never returns and stays open (a leak).
    Leak,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_max_idle() -> usize {
    2
}
fn default_idle_conn_timeout() -> Option<u64> {
    Some(90_000)
}
fn default_tls_handshake_timeout() -> u64 {
    10_000
}
fn default_method() -> String {
    "GET".into()
}
fn default_path() -> String {
    "/".into()
}

/// The connections still open when the client finished (idle in the pool, leaked). Dropping it
/// closes them: the runner drops it after the capture has stopped.
pub struct HeldConns(Pool);

impl Drop for HeldConns {
    fn drop(&mut self) {
        self.0.close_all();
    }
}

/// Sends every burst of requests, spread round-robin over `targets`.
pub async fn run(
    cfg: HttpClientConfig,
    targets: Vec<SocketAddr>,
    tracer: Tracer,
) -> (ClientReport, HeldConns) {
    let pool = Pool::new(
        PoolLimits {
            max_idle_per_host: cfg.max_idle_per_host,
            max_conns_per_host: cfg.max_conns_per_host,
            idle_timeout: cfg.idle_conn_timeout_ms.map(Duration::from_millis),
        },
        tracer.clone(),
    );
    let report = Arc::new(Mutex::new(ClientReport::default()));
    let tls = if cfg.tls {
        match tls::client_config(cfg.tls_version, cfg.tls_session_cache, tls::HTTP1, &tracer) {
            Ok(config) => Some(TlsConnector::from(config)),
            Err(e) => {
                tracer.error("tls", format!("{e:#}"));
                return (ClientReport::default(), HeldConns(pool));
            }
        }
    } else {
        None
    };
    let ctx = Arc::new(Ctx {
        cfg,
        targets,
        tracer,
        tls,
        pool: pool.clone(),
        report: report.clone(),
        started: AtomicU32::new(0),
        gate: WireGate::start(),
    });
    let start = Instant::now();
    for burst in 0..ctx.cfg.bursts {
        if burst > 0 {
            tokio::time::sleep(Duration::from_millis(ctx.cfg.burst_gap_ms)).await;
        }
        let next = Arc::new(AtomicU32::new(0));
        let workers: Vec<_> = (0..ctx.cfg.concurrency.max(1))
            .map(|w| {
                let delay = Duration::from_millis(ctx.cfg.stagger_ms * u64::from(w));
                tokio::spawn(worker(ctx.clone(), next.clone(), delay))
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
    }
    let mut out = report.lock().expect("report lock").clone();
    out.elapsed_ns = start.elapsed().as_nanos() as u64;
    (out, HeldConns(pool))
}

struct Ctx {
    cfg: HttpClientConfig,
    targets: Vec<SocketAddr>,
    tracer: Tracer,
    pool: Pool,
    /// The TLS side of every dial, when the client speaks HTTPS.
    tls: Option<TlsConnector>,
    report: Arc<Mutex<ClientReport>>,
    /// Requests started so far, over every burst (for `post_every`).
    started: AtomicU32,
    /// Holds requests back while connlab's wire is behind: the lab's request pace is a
    /// ceiling, never pushed into a wire that would drop it.
    gate: WireGate,
}

impl Ctx {
    /// The method of the next request.
    fn next_method(&self) -> &str {
        let k = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        match self.cfg.post_every {
            Some(every) if k.is_multiple_of(every.get()) => "POST",
            _ => &self.cfg.method,
        }
    }
}

/// Go's `Request.isReplayable`: the methods it retries on a new connection.
fn replayable(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

async fn worker(ctx: Arc<Ctx>, next: Arc<AtomicU32>, start_after: Duration) {
    tokio::time::sleep(start_after).await;
    let mut first = true;
    let mut waited = Duration::ZERO;
    loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= ctx.cfg.requests {
            return;
        }
        if !first && ctx.cfg.interval_ms > 0 {
            tokio::time::sleep(Duration::from_millis(ctx.cfg.interval_ms)).await;
        }
        first = false;
        let wait = ctx.gate.wait().await;
        if !wait.is_zero() {
            waited += wait;
            let mut report = ctx.report.lock().expect("report lock");
            report.wire_wait_ns = report.wire_wait_ns.max(waited.as_nanos() as u64);
        }
        let target = ctx.targets[i as usize % ctx.targets.len()];
        let exchange = request(&ctx, target);
        let result = match ctx.cfg.request_timeout_ms {
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), exchange).await {
                Ok(r) => r,
                Err(_) => {
                    let message = format!("request timeout after {ms} ms");
                    ctx.tracer.error("request_timeout", &message);
                    Err(message)
                }
            },
            None => exchange.await,
        };
        let mut report = ctx.report.lock().expect("report lock");
        match result {
            Ok(status) => {
                report.ok += 1;
                *report.statuses.entry(status).or_default() += 1;
            }
            Err(e) => report.failure(e),
        }
    }
}

/// One request, with Go's single retry of a replayable request on a new connection when a
/// reused one failed before any response byte arrived.
async fn request(ctx: &Ctx, target: SocketAddr) -> Result<u16, String> {
    let method = ctx.next_method().to_owned();
    let mut retried = false;
    loop {
        let mut conn = get_conn(ctx, target).await?;
        let reused = conn.requests > 0;
        match roundtrip(ctx, &mut conn, &method).await {
            Ok(resp) => {
                if reused {
                    ctx.report.lock().expect("report lock").reused += 1;
                }
                finish_body(ctx, conn, resp).await;
                return Ok(resp.status);
            }
            Err(failure) => {
                ctx.tracer.error(failure.kind, &failure.message);
                ctx.pool.close(conn, "error");
                let retry = reused && !failure.got_bytes && replayable(&method);
                if retry && ctx.cfg.retry_on_reused && !retried {
                    retried = true;
                    ctx.tracer.error("retry", "retrying on a new connection");
                    continue;
                }
                return Err(failure.message);
            }
        }
    }
}

async fn get_conn(ctx: &Ctx, target: SocketAddr) -> Result<Conn, String> {
    let asked = Instant::now();
    let checkout = ctx.pool.checkout(target).await;
    let wait_ns = asked.elapsed().as_nanos() as u64;
    let (conn, was_idle, idle) = match checkout {
        Checkout::Conn {
            conn,
            was_idle,
            idle,
        } => (conn, was_idle, idle),
        Checkout::Dial(slot) => (dial(ctx, target, slot).await?, false, Duration::ZERO),
    };
    ctx.tracer.emit(TraceKind::GotConn {
        local: conn.local,
        remote: conn.remote,
        reused: conn.requests > 0,
        was_idle,
        idle_ns: idle.as_nanos() as u64,
        wait_ns,
    });
    Ok(conn)
}

/// Dials `target`; a failed dial drops `slot`, which frees the place it held.
async fn dial(ctx: &Ctx, target: SocketAddr, slot: Option<Slot>) -> Result<Conn, String> {
    ctx.tracer.emit(TraceKind::Dial { remote: target });
    let stream = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            ctx.tracer.emit(TraceKind::DialError {
                remote: target,
                error: e.to_string(),
            });
            return Err(format!("dial {target}: {e}"));
        }
    };
    ctx.report.lock().expect("report lock").dialed += 1;
    if let Err(e) = ctx.cfg.socket.apply(&stream) {
        ctx.tracer.error("sockopt", e);
    }
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    let stream = match &ctx.tls {
        None => Stream::Plain(stream),
        Some(connector) => {
            let limit = Duration::from_millis(ctx.cfg.tls_handshake_timeout_ms);
            let handshake = connector.connect(tls::server_name(), stream);
            match tokio::time::timeout(limit, handshake).await {
                Ok(Ok(tls)) => Stream::Tls(Box::new(tls.into())),
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => format!("TLS handshake: {e}"),
                        _ => format!("TLS handshake timeout after {limit:?}"),
                    };
                    ctx.tracer.emit(TraceKind::DialError {
                        remote: target,
                        error: error.clone(),
                    });
                    return Err(format!("dial {target}: {error}"));
                }
            }
        }
    };
    Ok(Conn {
        stream,
        local,
        remote: target,
        requests: 0,
        leftover: Vec::new(),
        slot,
    })
}

async fn roundtrip(ctx: &Ctx, conn: &mut Conn, method: &str) -> Result<Head, Failure> {
    let cfg = &ctx.cfg;
    let close_header = if cfg.keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    let body = if method == "POST" { "payload" } else { "" };
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: connlab\r\n{length}{close_header}\r\n{body}",
        cfg.path, conn.remote
    );
    conn.stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| Failure::io("write", e, false))?;
    ctx.tracer.emit(TraceKind::Request {
        local: conn.local,
        remote: conn.remote,
        n: conn.requests + 1,
        method: method.to_owned(),
        path: cfg.path.clone(),
    });
    read_head(conn).await
}

/// Applies the body policy, then returns the connection to the pool, closes it, or leaks it.
async fn finish_body(ctx: &Ctx, mut conn: Conn, head: Head) {
    conn.requests += 1;
    let (local, remote) = (conn.local, conn.remote);
    let body_len = head.body_len.unwrap_or(usize::MAX);
    match ctx.cfg.body {
        BodyPolicy::Leak => {
            ctx.pool.leak(conn);
            return;
        }
        BodyPolicy::CloseUnread if head.body_len != Some(0) => {
            ctx.pool.close(conn, "body_close_unread");
            return;
        }
        _ => {}
    }
    let want = head.head_len.saturating_add(body_len);
    while conn.leftover.len() < want {
        match read_more(&mut conn).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                ctx.tracer.error("read", e);
                ctx.pool.close(conn, "error");
                return;
            }
        }
    }
    let got = conn
        .leftover
        .len()
        .saturating_sub(head.head_len)
        .min(body_len);
    ctx.tracer.emit(TraceKind::Response {
        local,
        remote,
        n: conn.requests,
        status: head.status,
        bytes: got as u64,
    });
    conn.leftover.clear();
    if !ctx.cfg.keep_alive {
        ctx.pool.close(conn, "keep_alive_off");
    } else if head.close {
        ctx.pool.close(conn, "server_close");
    } else {
        ctx.pool.put(conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::http_server::{self, HttpServerConfig};
    use crate::trace::TraceRoom;
    use std::net::{IpAddr, Ipv4Addr};

    fn server_config(text: &str) -> HttpServerConfig {
        toml::from_str(&format!("port = 0\n{text}")).expect("server config")
    }

    fn client_config(text: &str) -> HttpClientConfig {
        toml::from_str(text).expect("client config")
    }

    /// Starts the built-in server on loopback; returns its address and the stop handle.
    async fn server(cfg: HttpServerConfig) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
        let (trace_tx, _rx) = std::sync::mpsc::sync_channel::<crate::trace::TraceEvent>(1 << 16);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let tracer = Tracer::into_channel("server", trace_tx, TraceRoom::new(usize::MAX));
        let bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
        tokio::spawn(http_server::serve(cfg, bind, tracer, stop_rx, ready_tx));
        for _ in 0..100 {
            if let Ok(Ok(addrs)) = ready_rx.try_recv() {
                return (addrs[0], stop);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the server did not start");
    }

    #[tokio::test]
    async fn sequential_requests_reuse_one_connection() {
        let (addr, _stop) = server(server_config("")).await;
        let (tx, _rx) = std::sync::mpsc::sync_channel::<crate::trace::TraceEvent>(1 << 16);
        let (report, _held) = run(
            client_config("requests = 10"),
            vec![addr],
            Tracer::into_channel("client", tx, TraceRoom::new(usize::MAX)),
        )
        .await;
        assert_eq!((report.ok, report.dialed, report.reused), (10, 1, 9));
    }

    #[tokio::test]
    async fn a_timed_out_request_gives_its_connection_slot_back() {
        let (addr, _stop) = server(server_config("handler_delay_ms = 300")).await;
        let (tx, _rx) = std::sync::mpsc::sync_channel::<crate::trace::TraceEvent>(1 << 16);
        let cfg = client_config(
            "requests = 3\nmax_conns_per_host = 1\nrequest_timeout_ms = 100\nconcurrency = 1",
        );
        let started = std::time::Instant::now();
        let (report, _held) = run(
            cfg,
            vec![addr],
            Tracer::into_channel("client", tx, TraceRoom::new(usize::MAX)),
        )
        .await;
        assert_eq!(report.failed, 3, "every request times out");
        assert_eq!(
            report.dialed, 3,
            "each abandoned connection freed its slot for the next"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "nothing waited for a lost slot"
        );
    }
}
