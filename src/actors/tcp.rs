//! Raw TCP long-connection actors: a line-echo server with Go-style read deadlines, and a
//! client holding many connections that send heartbeats.
//!
//! Go's `SetReadDeadline` takes an absolute time, not a duration: set once, it kills even a
//! busy connection when it passes ("fixed"); renewed before every read it only kills a silent
//! one ("per_read"). Both are reproduced here.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::Sender as StdSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::client_report::ClientReport;
use super::socket::{self, Accepted, SocketOptions};
use crate::trace::{TraceKind, Tracer};

/// How the server's read deadline is set (Go: conn.SetReadDeadline).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineMode {
    /// Set once when the connection is accepted: accept time + read_deadline_ms.
    #[default]
    Fixed,
    /// Renewed before every read: now + read_deadline_ms.
    PerRead,
}

/// `[tcp_server]`: a line-echo server (run in a process of its own).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpServerConfig {
    /// Port to listen on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Read deadline length, ms (none: no deadline).
    #[serde(default)]
    pub read_deadline_ms: Option<u64>,
    /// Whether the deadline is set once or renewed per read.
    #[serde(default)]
    pub deadline: DeadlineMode,
    /// `[tcp_server.socket]`: options of every accepted connection.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn default_port() -> u16 {
    7000
}

/// `[tcp_client]`: long connections sending heartbeats.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpClientConfig {
    /// Connections to hold open.
    #[serde(default = "one")]
    pub connections: u32,
    /// Connections dialed at once.
    #[serde(default = "default_dial_batch")]
    pub dial_batch: u32,
    /// A heartbeat line ("ping") every this many ms per connection, echoed by the server.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_ms: u64,
    /// How long each connection talks (from its dial) before the client reports; they stay
    /// open (silent) until the lab ends.
    #[serde(default = "default_duration")]
    pub duration_ms: u64,
    /// `[tcp_client.socket]`: options of every dialed connection.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn one() -> u32 {
    1
}
fn default_dial_batch() -> u32 {
    128
}
fn default_heartbeat() -> u64 {
    1000
}
fn default_duration() -> u64 {
    3000
}

/// Listens on `bind:port`, reports the address on `ready`, echoes lines until `stop`.
pub async fn serve(
    cfg: TcpServerConfig,
    bind: IpAddr,
    tracer: Tracer,
    stop: tokio::sync::watch::Receiver<bool>,
    ready: StdSender<Result<Vec<SocketAddr>, String>>,
) -> Result<()> {
    let listener = socket::listen(SocketAddr::new(bind, cfg.port))
        .with_context(|| format!("listening on {bind}:{}", cfg.port))?;
    let _ = ready.send(Ok(vec![listener.local_addr()?]));
    let cfg = Arc::new(cfg);
    let options = cfg.socket.clone();
    socket::accept_loop(listener, options, tracer.clone(), stop, |a: Accepted| {
        echo(a, cfg.clone(), tracer.clone())
    })
    .await;
    Ok(())
}

/// Echoes lines until EOF or the read deadline.
async fn echo(accepted: Accepted, cfg: Arc<TcpServerConfig>, tracer: Tracer) {
    let Accepted {
        stream,
        local,
        remote,
    } = accepted;
    let limit = cfg.read_deadline_ms.map(Duration::from_millis);
    let fixed = limit.map(|d| Instant::now() + d);
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let reason = loop {
        let deadline = match cfg.deadline {
            DeadlineMode::Fixed => fixed,
            DeadlineMode::PerRead => limit.map(|d| Instant::now() + d),
        };
        line.clear();
        let read = reader.read_line(&mut line);
        let got = match deadline {
            Some(d) => match timeout_at(d, read).await {
                Ok(r) => r,
                Err(_) => {
                    tracer.emit(TraceKind::Timeout {
                        timer: "read_deadline".into(),
                        local,
                        remote,
                    });
                    break "read_deadline";
                }
            },
            None => read.await,
        };
        match got {
            Ok(0) => break "peer_closed",
            Ok(_) => {
                if let Err(e) = reader.get_mut().write_all(line.as_bytes()).await {
                    tracer.error("write", e);
                    break "error";
                }
            }
            Err(e) => {
                tracer.error("read", e);
                break "error";
            }
        }
    };
    // Dropping the reader closes the stream in the configured style (set at accept).
    tracer.close(local, remote, reason);
}

/// Connections the client still holds; dropping closes them.
pub struct HeldStreams {
    _open: Arc<Mutex<Vec<TcpStream>>>,
}

/// Dials the connections, sends heartbeats for `duration_ms`, then reports, keeping every
/// connection open (silent) in the returned holder.
pub async fn run_client(
    cfg: TcpClientConfig,
    target: SocketAddr,
    tracer: Tracer,
) -> (ClientReport, HeldStreams) {
    let report = Arc::new(Mutex::new(ClientReport::default()));
    let held = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut dialed = 0;
    while dialed < cfg.connections {
        let batch = cfg.dial_batch.max(1).min(cfg.connections - dialed);
        let dials: Vec<_> = (0..batch)
            .map(|_| tokio::spawn(dial(target, cfg.clone(), tracer.clone())))
            .collect();
        for d in dials {
            match d.await {
                Ok(Some(stream)) => {
                    report.lock().expect("report").dialed += 1;
                    tasks.push(tokio::spawn(heartbeat(
                        stream,
                        cfg.heartbeat_ms,
                        Instant::now() + Duration::from_millis(cfg.duration_ms),
                        report.clone(),
                        held.clone(),
                        tracer.clone(),
                    )));
                }
                _ => report.lock().expect("report").failed += 1,
            }
        }
        dialed += batch;
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut out = report.lock().expect("report").clone();
    out.elapsed_ns = start.elapsed().as_nanos() as u64;
    (out, HeldStreams { _open: held })
}

async fn dial(target: SocketAddr, cfg: TcpClientConfig, tracer: Tracer) -> Option<TcpStream> {
    tracer.emit(TraceKind::Dial { remote: target });
    match TcpStream::connect(target).await {
        Ok(stream) => {
            if let Err(e) = cfg.socket.apply(&stream) {
                tracer.error("sockopt", e);
            }
            Some(stream)
        }
        Err(e) => {
            tracer.emit(TraceKind::DialError {
                remote: target,
                error: e.to_string(),
            });
            None
        }
    }
}

/// Sends "ping" lines until `end`, counting echoes; a dead connection counts as failed.
async fn heartbeat(
    stream: TcpStream,
    every_ms: u64,
    end: Instant,
    report: Arc<Mutex<ClientReport>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    tracer: Tracer,
) {
    let (local, remote) = match (stream.local_addr(), stream.peer_addr()) {
        (Ok(l), Ok(r)) => (l, r),
        _ => return,
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut next = Instant::now() + Duration::from_millis(every_ms);
    while next < end {
        tokio::time::sleep_until(next).await;
        next += Duration::from_millis(every_ms);
        line.clear();
        let sent = reader.get_mut().write_all(b"ping\n").await;
        let answered = match sent {
            Ok(()) => reader.read_line(&mut line).await,
            Err(e) => Err(e),
        };
        match answered {
            Ok(n) if n > 0 => report.lock().expect("report").ok += 1,
            Ok(_) => {
                tracer.error("eof", "the server closed the connection");
                tracer.close(local, remote, "peer_closed");
                report.lock().expect("report").failed += 1;
                return;
            }
            Err(e) => {
                tracer.error("heartbeat", e);
                report.lock().expect("report").failed += 1;
                return;
            }
        }
    }
    held.lock().expect("held").push(reader.into_inner());
}
