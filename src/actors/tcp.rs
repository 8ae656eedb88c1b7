//! Raw TCP long-connection actors: a line-echo server with Go-style read deadlines, and a
//! client holding many connections that send heartbeats.
//!
//! Go's `SetReadDeadline` takes an absolute time, not a duration: set once, it kills even a
//! busy connection when it passes ("fixed"); renewed before every read it only kills a silent
//! one ("per_read"). Both are reproduced here.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::{timeout_at, Instant};

use super::client_report::ClientReport;
use super::socket::{self, Accepted, SocketOptions};
use crate::trace::{TraceKind, Tracer};
use crate::wire::pressure::WireGate;

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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpClientConfig {
    /// Connections to hold open.
    #[serde(default = "one")]
    pub connections: u32,
    /// Connections dialed at once, and heartbeats awaiting their echo at once (per client
    /// process): the work in flight, which bounds how long frames queue inside a busy
    /// machine (queued past TCP's retransmission timeout, they would be sent again).
    #[serde(default = "default_dial_batch")]
    pub dial_batch: u32,
    /// Connections dialed per second at most (none: as fast as they connect). Half a million
    /// dials at once overflow any accept queue and any link; real clients ramp up too.
    #[serde(default)]
    pub dial_rate: Option<u32>,
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

/// Listen backlog of the raw TCP server: as deep as the namespace's somaxconn allows (the lab
/// raises it for many connections), so a dial burst is not dropped at the accept queue.
const LISTEN_BACKLOG: u32 = 65_535;

/// Listens on `bind:port`, sharing the port with the other server workers, and echoes until
/// the process is killed.
pub async fn serve(cfg: TcpServerConfig, bind: IpAddr, tracer: Tracer) -> Result<()> {
    let listener = socket::listen_with(SocketAddr::new(bind, cfg.port), LISTEN_BACKLOG, true)
        .with_context(|| format!("listening on {bind}:{}", cfg.port))?;
    let cfg = Arc::new(cfg);
    let options = cfg.socket.clone();
    let (_never, stop) = tokio::sync::watch::channel(false);
    socket::accept_loop(listener, options, tracer.clone(), stop, |a: Accepted| {
        echo(a, cfg.clone(), tracer.clone())
    })
    .await;
    Ok(())
}

/// Bytes read at once. Heartbeats are a few bytes; a small buffer inside the connection's task
/// (no 8 KiB `BufReader` per socket) keeps the server at about a kilobyte per idle connection.
const ECHO_CHUNK: usize = 64;

/// Echoes what arrives (line by line, as the heartbeats send it) until EOF or the read
/// deadline.
async fn echo(accepted: Accepted, cfg: Arc<TcpServerConfig>, tracer: Tracer) {
    let Accepted {
        mut stream,
        local,
        remote,
    } = accepted;
    let limit = cfg.read_deadline_ms.map(Duration::from_millis);
    let fixed = limit.map(|d| Instant::now() + d);
    let mut chunk = [0u8; ECHO_CHUNK];
    let reason = loop {
        let deadline = match cfg.deadline {
            DeadlineMode::Fixed => fixed,
            DeadlineMode::PerRead => limit.map(|d| Instant::now() + d),
        };
        let read = stream.read(&mut chunk);
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
            Ok(n) => {
                if let Err(e) = stream.write_all(&chunk[..n]).await {
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
    // Dropping the stream closes it in the configured style (set at accept).
    drop(stream);
    tracer.close(local, remote, reason);
}

/// Connections the client still holds; dropping closes them.
pub struct HeldStreams {
    _open: Arc<Mutex<Vec<TcpStream>>>,
}

/// Dials the connections from `source` (address, first port: connection i uses the port
/// after connection i-1's), sends heartbeats for `duration_ms`, then reports, keeping every
/// connection open (silent) in the returned holder.
pub async fn run_client(
    cfg: TcpClientConfig,
    target: SocketAddr,
    source: (IpAddr, u16),
    tracer: Tracer,
) -> (ClientReport, HeldStreams) {
    let report = Arc::new(Mutex::new(ClientReport::default()));
    let held = Arc::new(Mutex::new(Vec::with_capacity(cfg.connections as usize)));
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut dialed = 0;
    // The dial rate is a ceiling: time spent waiting for connlab's wire to catch up moves
    // the schedule back instead of being made up in a burst.
    let mut waited = Duration::ZERO;
    let pace = Pace {
        gate: WireGate::start(),
        window: Arc::new(Semaphore::new(cfg.dial_batch.max(1) as usize)),
    };
    while dialed < cfg.connections {
        if let Some(rate) = cfg.dial_rate.filter(|r| *r > 0) {
            let due = start + waited + Duration::from_secs_f64(f64::from(dialed) / f64::from(rate));
            tokio::time::sleep_until(due).await;
        }
        waited += pace.gate.wait().await;
        let batch = cfg.dial_batch.max(1).min(cfg.connections - dialed);
        let dials: Vec<_> = (dialed..dialed + batch)
            .map(|i| {
                let from = SocketAddr::new(source.0, source.1.wrapping_add(i as u16));
                tokio::spawn(dial(target, from, cfg.socket.clone(), tracer.clone()))
            })
            .collect();
        for d in dials {
            match d.await {
                Ok(Some(stream)) => {
                    report.lock().expect("report").dialed += 1;
                    tasks.push(tokio::spawn(heartbeat(
                        stream,
                        pace.clone(),
                        cfg.heartbeat_ms,
                        Instant::now() + Duration::from_millis(cfg.duration_ms),
                        report.clone(),
                        held.clone(),
                        tracer.clone(),
                    )));
                }
                _ => report
                    .lock()
                    .expect("report")
                    .failure(format!("dialing {target} failed")),
            }
        }
        dialed += batch;
    }
    {
        let mut report = report.lock().expect("report");
        report.dial_ns = start.elapsed().as_nanos() as u64;
        report.wire_wait_ns = waited.as_nanos() as u64;
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut out = report.lock().expect("report").clone();
    out.elapsed_ns = start.elapsed().as_nanos() as u64;
    (out, HeldStreams { _open: held })
}

async fn dial(
    target: SocketAddr,
    from: SocketAddr,
    options: SocketOptions,
    tracer: Tracer,
) -> Option<TcpStream> {
    tracer.emit(TraceKind::Dial { remote: target });
    match connect(target, from).await {
        Ok(stream) => {
            if let Err(e) = options.apply(&stream) {
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

/// Connects from exactly `from`: with the port given, the kernel does not search its range
/// for a free one, a search that grows with every connection already open.
async fn connect(target: SocketAddr, from: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(from)?;
    socket.connect(target).await
}

/// What holds a client's heartbeats back: connlab's wire falling behind, and the window of
/// heartbeats awaiting their echo at once.
#[derive(Clone)]
struct Pace {
    gate: WireGate,
    window: Arc<Semaphore>,
}

impl Pace {
    /// Waits until a heartbeat may go; it holds the permit until its echo is read.
    async fn permit(&self) -> Option<SemaphorePermit<'_>> {
        self.gate.wait().await;
        self.window.acquire().await.ok()
    }
}

/// Sends "ping" lines until `end` (each when `pace` lets it), counting echoes; a dead
/// connection counts as failed.
async fn heartbeat(
    mut stream: TcpStream,
    pace: Pace,
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
    let mut next = Instant::now() + Duration::from_millis(every_ms);
    while next < end {
        tokio::time::sleep_until(next).await;
        next += Duration::from_millis(every_ms);
        // Late rather than lost: a heartbeat waits while connlab's wire catches up.
        let permit = pace.permit().await;
        let answered = match stream.write_all(PING).await {
            Ok(()) => read_echo(&mut stream).await,
            Err(e) => Err(e),
        };
        drop(permit);
        match answered {
            Ok(true) => report.lock().expect("report").ok += 1,
            Ok(false) => {
                tracer.error("eof", "the server closed the connection");
                tracer.close(local, remote, "peer_closed");
                report
                    .lock()
                    .expect("report")
                    .failure("the server closed the connection");
                return;
            }
            Err(e) => {
                report.lock().expect("report").failure(&e);
                tracer.error("heartbeat", e);
                return;
            }
        }
    }
    held.lock().expect("held").push(stream);
}

/// The heartbeat line.
const PING: &[u8] = b"ping\n";

/// Reads the echo of one heartbeat (up to its newline); false on EOF.
async fn read_echo(stream: &mut TcpStream) -> std::io::Result<bool> {
    let mut got = [0u8; 8];
    let mut seen = 0;
    loop {
        let n = stream.read(&mut got).await?;
        if n == 0 {
            return Ok(false);
        }
        seen += n;
        if got[..n].contains(&b'\n') || seen >= PING.len() {
            return Ok(true);
        }
    }
}
