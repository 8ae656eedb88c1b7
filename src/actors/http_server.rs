//! The built-in HTTP/1.1 server, with Go net/http's timeouts and their exact semantics.
//!
//! As in Go's `conn.serve`, each connection loops over requests. The wait for the next request
//! on a kept-alive connection is bounded by `idle_timeout`, or, when it is unset, by
//! `read_timeout`: this is why a 1-second read timeout also closes idle keep-alive connections.
//! The write deadline is set when the request has been read, so it covers the handler's time
//! plus the write.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::Sender as StdSender;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsAcceptor;

use super::http_headers::{content_length, has_token};
use super::shutdown::{self, Phase};
use super::socket::{self, Accepted, CloseStyle, SocketOptions};
use super::stream::Stream;
use super::tls::{self, TlsVersion};
use crate::trace::{TraceKind, Tracer};

/// `[server]`: the knobs of the built-in server, named after Go's http.Server fields.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Port to listen on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// More ports served the same way (the client spreads its requests over all of them).
    #[serde(default)]
    pub extra_ports: Vec<u16>,
    /// Go ReadTimeout: bounds reading a whole request; without idle_timeout it also bounds the
    /// wait for the next request on a kept-alive connection.
    #[serde(default)]
    pub read_timeout_ms: Option<u64>,
    /// Go ReadHeaderTimeout: bounds reading the request headers (defaults to read_timeout).
    #[serde(default)]
    pub read_header_timeout_ms: Option<u64>,
    /// Go WriteTimeout: set when the request has been read, so it covers handler + write.
    #[serde(default)]
    pub write_timeout_ms: Option<u64>,
    /// Go IdleTimeout: bounds the wait for the next request on a kept-alive connection.
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// How long the handler works before answering.
    #[serde(default)]
    pub handler_delay_ms: u64,
    /// Go http.TimeoutHandler: a handler slower than this gets a 503 with a message, and the
    /// connection is kept.
    #[serde(default)]
    pub handler_timeout_ms: Option<u64>,
    /// Go Server.SetKeepAlivesEnabled: false answers with `Connection: close` and closes.
    #[serde(default = "yes")]
    pub keep_alive: bool,
    /// Response body size in bytes.
    #[serde(default = "default_body_bytes")]
    pub body_bytes: usize,
    /// nginx `keepalive_requests`: the n-th response on a connection carries
    /// `Connection: close` and the server closes it (none: no limit; Go has none).
    #[serde(default)]
    pub max_requests_per_conn: Option<std::num::NonZeroU32>,
    /// Go `Server.Shutdown` this long after the server started, ms: stop accepting, close
    /// idle connections at once, answer requests in flight with `Connection: close`.
    #[serde(default)]
    pub shutdown_at_ms: Option<u64>,
    /// How long a shutdown waits for requests in flight before closing everything, ms (Go:
    /// the deadline of the context given to Shutdown, then `Server.Close`); none: it waits.
    #[serde(default)]
    pub shutdown_grace_ms: Option<u64>,
    /// HTTPS: every connection starts with a TLS handshake (rustls), bounded like Go's by
    /// the read header timeout (or the read timeout).
    #[serde(default)]
    pub tls: bool,
    /// Session resumption (TLS 1.3 tickets; TLS 1.2 tickets and session ids), on by default
    /// as in Go's `tls.Config` and nginx; off makes every handshake a full one (Go:
    /// `SessionTicketsDisabled`).
    #[serde(default = "yes")]
    pub tls_resumption: bool,
    /// A new session ticket key (and session cache) for every connection: tickets are
    /// issued and never accepted back, as behind a load balancer whose servers do not share
    /// a ticket key (nginx without a common `ssl_session_ticket_key`, a restarted server).
    #[serde(default)]
    pub tls_ticket_key_per_connection: bool,
    /// The only TLS version accepted, "1.2" or "1.3" (both when left out).
    #[serde(default)]
    pub tls_version: Option<TlsVersion>,
    /// `[server.socket]`: options of every accepted connection.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn default_port() -> u16 {
    80
}

fn default_body_bytes() -> usize {
    2
}

fn yes() -> bool {
    true
}

/// Listens on `bind` at every configured port, reports the bound addresses on `ready`, and
/// serves until `stop` turns true. Connections still open then live on until the runtime is
/// dropped (after the capture has stopped).
pub async fn serve(
    cfg: HttpServerConfig,
    bind: IpAddr,
    tracer: Tracer,
    mut stop: tokio::sync::watch::Receiver<bool>,
    ready: StdSender<Result<Vec<SocketAddr>, String>>,
) -> Result<()> {
    let mut listeners = Vec::new();
    for port in std::iter::once(cfg.port).chain(cfg.extra_ports.iter().copied()) {
        let listener = socket::listen(SocketAddr::new(bind, port))
            .with_context(|| format!("listening on {bind}:{port}"))?;
        listeners.push(listener);
    }
    let addrs = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<std::io::Result<Vec<_>>>()?;
    let tls = if cfg.tls {
        let config = tls::server_config(cfg.tls_version, cfg.tls_resumption, tls::HTTP1, &tracer)?;
        Some(TlsAcceptor::from(config))
    } else {
        None
    };
    let tls_each = cfg.tls_ticket_key_per_connection;
    let _ = ready.send(Ok(addrs));
    let cfg = Arc::new(cfg);
    let phase = shutdown::schedule(
        ms(cfg.shutdown_at_ms),
        ms(cfg.shutdown_grace_ms),
        tracer.clone(),
    );
    // The accept loops stop at the end of the lab or when the shutdown begins.
    let (no_more, accepting) = tokio::sync::watch::channel(false);
    let mut draining = phase.clone();
    let mut lab_stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = lab_stop.changed() => {}
            _ = shutdown::reached(&mut draining, Phase::Draining) => {}
        }
        let _ = no_more.send(true);
    });
    for listener in listeners {
        let (cfg, tracer, phase, tls) = (cfg.clone(), tracer.clone(), phase.clone(), tls.clone());
        tokio::spawn(socket::accept_loop(
            listener,
            cfg.socket.clone(),
            tracer.clone(),
            accepting.clone(),
            move |accepted: Accepted| {
                let (cfg, tracer, phase, tls) =
                    (cfg.clone(), tracer.clone(), phase.clone(), tls.clone());
                async move {
                    let tls = match tls {
                        // A connection whose acceptor cannot be made is dropped, never
                        // served in clear.
                        Some(_) if tls_each => match fresh_acceptor(&cfg, &tracer) {
                            Some(fresh) => Some(fresh),
                            None => return,
                        },
                        tls => tls,
                    };
                    let Some(stream) = secure(accepted.stream, tls, &cfg, &tracer).await else {
                        return;
                    };
                    ServerConn {
                        stream,
                        local: accepted.local,
                        remote: accepted.remote,
                        cfg,
                        tracer,
                        buf: Vec::new(),
                        phase,
                    }
                    .serve()
                    .await
                }
            },
        ));
    }
    let _ = stop.changed().await;
    Ok(())
}

/// A TLS acceptor of its own for one connection (a ticket key and session cache nobody else
/// has); None, traced, if it cannot be made.
fn fresh_acceptor(cfg: &HttpServerConfig, tracer: &Tracer) -> Option<TlsAcceptor> {
    match tls::server_config(cfg.tls_version, cfg.tls_resumption, tls::HTTP1, tracer) {
        Ok(config) => Some(TlsAcceptor::from(config)),
        Err(e) => {
            tracer.error("tls", format!("{e:#}"));
            None
        }
    }
}

/// The accepted connection as the request loop reads it: plain, or after the server's TLS
/// handshake, which Go bounds by the read header timeout (or the read timeout); a failed
/// handshake closes the connection (None).
async fn secure(
    tcp: tokio::net::TcpStream,
    tls: Option<TlsAcceptor>,
    cfg: &HttpServerConfig,
    tracer: &Tracer,
) -> Option<Stream> {
    let Some(acceptor) = tls else {
        return Some(Stream::Plain(tcp));
    };
    let limit = ms(cfg.read_header_timeout_ms).or(ms(cfg.read_timeout_ms));
    let handshake = acceptor.accept(tcp);
    let done = match limit {
        Some(limit) => tokio::time::timeout(limit, handshake).await,
        None => Ok(handshake.await),
    };
    match done {
        Ok(Ok(tls)) => Some(Stream::Tls(Box::new(tls.into()))),
        Ok(Err(e)) => {
            tracer.error("tls_handshake", e);
            None
        }
        Err(_) => {
            tracer.error("tls_handshake", "timed out");
            None
        }
    }
}

/// One accepted connection and its request loop.
struct ServerConn {
    stream: Stream,
    local: SocketAddr,
    remote: SocketAddr,
    cfg: Arc<HttpServerConfig>,
    tracer: Tracer,
    buf: Vec<u8>,
    phase: tokio::sync::watch::Receiver<Phase>,
}

/// Why the request loop ended.
enum End {
    /// Close with this reason.
    Close(&'static str),
    /// The peer went away or failed; nothing to close politely.
    Gone,
}

fn ms(v: Option<u64>) -> Option<Duration> {
    v.map(Duration::from_millis)
}

impl ServerConn {
    async fn serve(mut self) {
        let mut n = 0u32;
        let end = loop {
            match self.one_request(n + 1).await {
                Ok(None) => n += 1,
                Ok(Some(reason)) => {
                    self.wait_for_peer_close().await;
                    break End::Close(reason);
                }
                Err(end) => break end,
            }
        };
        // Dropping the stream closes it in the configured style (set at accept): before the
        // trace event, so the close is on the wire when the server decides it, however busy
        // the recorder is.
        let ServerConn {
            stream,
            tracer,
            local,
            remote,
            ..
        } = self;
        drop(stream);
        if let End::Close(reason) = end {
            tracer.close(local, remote, reason);
        }
    }

    /// After a `Connection: close` response over TLS, waits up to 500 ms for the client's
    /// close (its close_notify and FIN), reading it, as Go's `closeWriteAndWait` waits
    /// (rstAvoidanceDelay): a socket closed at once would meet the client's close_notify
    /// with an RST. Over plain TCP the client sends only its FIN, which a closed socket
    /// takes without a reset, so there is nothing to wait for.
    async fn wait_for_peer_close(&mut self) {
        if !matches!(self.stream, Stream::Tls(_)) || self.cfg.socket.close != CloseStyle::Fin {
            return;
        }
        let drain = async {
            let mut sink = [0u8; 4096];
            while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    }

    /// Serves request `n`; Ok(None) to keep the connection, Ok(Some(reason)) when the response
    /// said `Connection: close` and the connection closes.
    async fn one_request(&mut self, n: u32) -> Result<Option<&'static str>, End> {
        let cfg = self.cfg.clone();
        let header_limit = ms(cfg.read_header_timeout_ms).or(ms(cfg.read_timeout_ms));
        // Waiting for the first byte: the idle wait on a kept-alive connection (Go's
        // idleTimeout(): IdleTimeout, else ReadTimeout), or the header limit for the first.
        if self.buf.is_empty() {
            let (limit, kind, reason) = if n == 1 {
                (header_limit, "read_header", "read_header_timeout")
            } else {
                (
                    ms(cfg.idle_timeout_ms).or(ms(cfg.read_timeout_ms)),
                    "idle",
                    "idle_timeout",
                )
            };
            let deadline = limit.map(|d| Instant::now() + d);
            self.fill(deadline, kind, reason).await?;
        }
        let start = Instant::now();
        let header_deadline = header_limit.map(|d| start + d);
        let read_deadline = ms(cfg.read_timeout_ms).map(|d| start + d);
        let (head_len, method, path, body_len, wants_close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let body = content_length(req.headers);
                    let close = has_token(req.headers, "connection", "close");
                    break (
                        len,
                        req.method.unwrap_or("").to_owned(),
                        req.path.unwrap_or("").to_owned(),
                        body,
                        close,
                    );
                }
                Ok(httparse::Status::Partial) => {
                    let (kind, reason) = if cfg.read_header_timeout_ms.is_some() {
                        ("read_header", "read_header_timeout")
                    } else {
                        ("read", "read_timeout")
                    };
                    self.fill(header_deadline, kind, reason).await?;
                }
                Err(e) => {
                    self.tracer.error("bad_request", e);
                    let _ = self.stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").await;
                    return Err(End::Close("bad_request"));
                }
            }
        };
        while self.buf.len() < head_len + body_len {
            self.fill(read_deadline, "read", "read_timeout").await?;
        }
        self.buf.drain(..head_len + body_len);
        self.tracer.emit(TraceKind::Request {
            local: self.local,
            remote: self.remote,
            n,
            method,
            path,
        });
        let write_deadline = ms(cfg.write_timeout_ms).map(|d| Instant::now() + d);

        let mut phase = self.phase.clone();
        let (status, body) = tokio::select! {
            answer = self.handle() => answer,
            _ = shutdown::reached(&mut phase, Phase::Closing) => {
                return Err(End::Close("shutdown_grace"));
            }
        };
        let limit = cfg.max_requests_per_conn.is_some_and(|max| n >= max.get());
        let closing = if !cfg.keep_alive {
            Some("keep_alive_off")
        } else if wants_close {
            Some("client_close")
        } else if *self.phase.borrow() >= Phase::Draining {
            Some("shutdown")
        } else if limit {
            Some("request_limit")
        } else {
            None
        };
        let keep = closing.is_none();
        if write_deadline.is_some_and(|d| Instant::now() >= d) {
            // Go: the handler ran past WriteTimeout; its write fails and the client sees EOF.
            self.tracer.emit(TraceKind::Timeout {
                timer: "write".into(),
                local: self.local,
                remote: self.remote,
            });
            return Err(End::Close("write_timeout"));
        }
        let response = render_response(status, &body, keep);
        let write = self.stream.write_all(&response);
        let written = match write_deadline {
            Some(d) => timeout_at(d, write).await.map_err(|_| ()),
            None => Ok(write.await),
        };
        match written {
            Err(()) => {
                self.tracer.emit(TraceKind::Timeout {
                    timer: "write".into(),
                    local: self.local,
                    remote: self.remote,
                });
                return Err(End::Close("write_timeout"));
            }
            Ok(Err(e)) => {
                self.tracer.error("write", e);
                return Err(End::Gone);
            }
            Ok(Ok(())) => {}
        }
        if closing.is_some() && cfg.socket.close == CloseStyle::Fin {
            // The FIN right after the last response, as Go's closeWriteAndWait sends it, not
            // after the bookkeeping below.
            let _ = self.stream.shutdown().await;
        }
        self.tracer.emit(TraceKind::Response {
            local: self.local,
            remote: self.remote,
            n,
            status,
            bytes: body.len() as u64,
        });
        Ok(closing)
    }

    /// The handler: works `handler_delay_ms`, or is cut at `handler_timeout_ms` with a 503.
    async fn handle(&self) -> (u16, Vec<u8>) {
        let work = Duration::from_millis(self.cfg.handler_delay_ms);
        match ms(self.cfg.handler_timeout_ms) {
            Some(limit) if work > limit => {
                tokio::time::sleep(limit).await;
                self.tracer.emit(TraceKind::Timeout {
                    timer: "handler".into(),
                    local: self.local,
                    remote: self.remote,
                });
                (503, b"handler timeout".to_vec())
            }
            _ => {
                if !work.is_zero() {
                    tokio::time::sleep(work).await;
                }
                (200, vec![b'x'; self.cfg.body_bytes])
            }
        }
    }

    /// Reads more bytes before `deadline`; a timeout closes with `reason`, EOF ends the loop.
    /// A shutdown closes a connection waiting idle for its next request at once, and any
    /// other one when the grace period ends.
    async fn fill(
        &mut self,
        deadline: Option<Instant>,
        kind: &str,
        reason: &'static str,
    ) -> Result<(), End> {
        let mut chunk = [0u8; 16 * 1024];
        let idle = kind == "idle";
        let (closed_at, why) = if idle {
            (Phase::Draining, "shutdown")
        } else {
            (Phase::Closing, "shutdown_grace")
        };
        let read = async {
            let read = self.stream.read(&mut chunk);
            match deadline {
                Some(d) => timeout_at(d, read).await.map_err(|_| ()),
                None => Ok(read.await),
            }
        };
        let got = tokio::select! {
            got = read => got,
            _ = shutdown::reached(&mut self.phase, closed_at) => return Err(End::Close(why)),
        };
        let got = match got {
            Ok(r) => r,
            Err(()) => {
                self.tracer.emit(TraceKind::Timeout {
                    timer: kind.to_owned(),
                    local: self.local,
                    remote: self.remote,
                });
                return Err(End::Close(reason));
            }
        };
        match got {
            Ok(0) => Err(End::Close("peer_closed")),
            Ok(len) => {
                self.buf.extend_from_slice(&chunk[..len]);
                Ok(())
            }
            Err(e) => {
                self.tracer.error("read", e);
                Err(End::Gone)
            }
        }
    }
}

fn render_response(status: u16, body: &[u8], keep: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        503 => "Service Unavailable",
        _ => "Unknown",
    };
    let connection = if keep { "" } else { "Connection: close\r\n" };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{connection}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
