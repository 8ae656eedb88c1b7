//! WebSocket actors (tokio-tungstenite) with gorilla/websocket's keep-alive knobs: an echo
//! server that upgrades only GET requests and answers the text "ping" with "pong" (the notes'
//! gin + gorilla server), and a client that holds WebSockets open with a script of messages,
//! idle stretches and a chosen ending. Either side may ping on a ticker, watch for pongs with a
//! read deadline, and end with the closing handshake or by just closing the socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::Sender as StdSender;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::client_report::ClientReport;
use super::socket::{self, Accepted, SocketOptions};
use super::ws_session::{Knobs, Session, WsCounts, WsEnding};
use crate::trace::{TraceKind, Tracer};

/// gorilla/websocket's chat example: writeWait 10 s.
const DEFAULT_WRITE_WAIT_MS: u64 = 10_000;

/// `[ws_server]`: a WebSocket echo server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WsServerConfig {
    /// Port to listen on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Pings every this many ms (gorilla: pingPeriod, a ticker writing PingMessage); 0 for
    /// none, the default.
    #[serde(default)]
    pub ping_interval_ms: u64,
    /// Read deadline renewed by each pong, ms (gorilla: pongWait via SetReadDeadline in
    /// SetPongHandler); when it passes the server ends the connection. 0 for none.
    #[serde(default)]
    pub pong_wait_ms: u64,
    /// Deadline of every write, ms (gorilla: writeWait, 10 s).
    #[serde(default = "default_write_wait")]
    pub write_wait_ms: u64,
    /// How the server ends a WebSocket it ends itself (when its pong wait passes): "drop"
    /// closes the socket without a close frame, as gorilla's chat example does when a read
    /// fails (the default); "frame" sends a close frame first.
    #[serde(default = "default_server_ending")]
    pub close: WsEnding,
    /// `[ws_server.socket]`: options of every accepted connection.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn default_port() -> u16 {
    80
}
fn default_write_wait() -> u64 {
    DEFAULT_WRITE_WAIT_MS
}
fn default_server_ending() -> WsEnding {
    WsEnding::Drop
}

/// `[ws_client]`: WebSocket connections, each running the same script: `messages` messages
/// `interval_ms` apart (each waits for its echo), `idle_ms` without a message, then
/// `messages_after_idle` more, then the ending.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WsClientConfig {
    /// WebSocket connections held at once.
    #[serde(default = "default_connections")]
    pub connections: u32,
    /// Messages to send.
    #[serde(default = "default_messages")]
    pub messages: u32,
    /// Every n-th message is the text "ping" (answered "pong" by the server, as in the
    /// notes); 0 for none. These are data messages, not ping frames.
    #[serde(default = "default_ping_every")]
    pub ping_every: u32,
    /// Pause between messages, ms.
    #[serde(default)]
    pub interval_ms: u64,
    /// After the messages, time the WebSocket sits idle (still answering pings), ms.
    #[serde(default)]
    pub idle_ms: u64,
    /// Messages sent after the idle time (what is left of the connection?).
    #[serde(default)]
    pub messages_after_idle: u32,
    /// Ping frames every this many ms (gorilla: pingPeriod); 0 for none.
    #[serde(default)]
    pub ping_interval_ms: u64,
    /// Read deadline renewed by each pong, ms (gorilla: pongWait); 0 for none.
    #[serde(default)]
    pub pong_wait_ms: u64,
    /// Deadline of every write, ms (gorilla: writeWait).
    #[serde(default = "default_write_wait")]
    pub write_wait_ms: u64,
    /// How the client ends: "frame" (the closing handshake, the default) or "drop" (close
    /// the socket without a close frame).
    #[serde(default)]
    pub close: WsEnding,
    /// The code of its close frame (1000 normal closure, 1001 going away).
    #[serde(default = "default_close_code")]
    pub close_code: u16,
    /// Path of the upgrade request.
    #[serde(default = "default_path")]
    pub path: String,
    /// First try to upgrade with POST on a separate connection (the server must refuse it).
    #[serde(default)]
    pub try_post_upgrade: bool,
    /// `[ws_client.socket]`: options of the connections.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn default_connections() -> u32 {
    1
}
fn default_messages() -> u32 {
    10
}
fn default_ping_every() -> u32 {
    5
}
fn default_close_code() -> u16 {
    1000
}
fn default_path() -> String {
    "/ws".into()
}

fn ms(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

impl WsServerConfig {
    fn knobs(&self) -> Knobs {
        Knobs {
            ping_interval: ms(self.ping_interval_ms),
            pong_wait: ms(self.pong_wait_ms),
            write_wait: Duration::from_millis(self.write_wait_ms),
            ending: self.close,
            close_code: 1000,
        }
    }
}

impl WsClientConfig {
    fn knobs(&self) -> Knobs {
        Knobs {
            ping_interval: ms(self.ping_interval_ms),
            pong_wait: ms(self.pong_wait_ms),
            write_wait: Duration::from_millis(self.write_wait_ms),
            ending: self.close,
            close_code: self.close_code,
        }
    }
}

/// Listens on `bind:port`, reports the address on `ready`, serves until `stop`.
pub async fn serve(
    cfg: WsServerConfig,
    bind: IpAddr,
    tracer: Tracer,
    stop: tokio::sync::watch::Receiver<bool>,
    ready: StdSender<Result<Vec<SocketAddr>, String>>,
) -> Result<()> {
    let listener = socket::listen(SocketAddr::new(bind, cfg.port))
        .with_context(|| format!("listening on {bind}:{}", cfg.port))?;
    let _ = ready.send(Ok(vec![listener.local_addr()?]));
    let knobs = cfg.knobs();
    socket::accept_loop(listener, cfg.socket, tracer.clone(), stop, |a: Accepted| {
        serve_conn(a, knobs, tracer.clone())
    })
    .await;
    Ok(())
}

/// Refuses anything but GET with 405 (no upgrade), else runs the echo loop until the peer
/// closes or the pong wait passes.
async fn serve_conn(accepted: Accepted, knobs: Knobs, tracer: Tracer) {
    let Accepted {
        mut stream,
        local,
        remote,
    } = accepted;
    let method = match peek_method(&stream).await {
        Ok(m) => m,
        Err(e) => {
            tracer.error("read", e);
            return;
        }
    };
    if method != "GET" {
        tracer.error("upgrade_refused", format!("{method} is not GET"));
        // Read the request before answering: closing with it unread would send an RST.
        let _ = read_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        tracer.close(local, remote, "upgrade_refused");
        return;
    }
    let ws = match tokio_tungstenite::accept_async(stream).await {
        Ok(ws) => ws,
        Err(e) => {
            tracer.error("handshake", e);
            return;
        }
    };
    let mut session = Session::new(ws, knobs);
    while let Some(msg) = session.recv(None).await {
        let reply = match msg {
            Message::Text(t) if t.as_str() == "ping" => Message::text("pong"),
            other => other,
        };
        if !session.send(reply).await {
            break;
        }
    }
    let why = session.ended.clone();
    if let Some(why) = &why {
        tracer.error("ws", format!("{why:?}"));
    }
    // The closing handshake is done, or the server gives up: it closes TCP first.
    let _ = session.finish().await;
    tracer.close(local, remote, "ws_closed");
}

/// Reads a request head (up to the blank line), at most 16 KiB.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// The request method, read without consuming the request (the handshake reads it again).
async fn peek_method(stream: &TcpStream) -> std::io::Result<String> {
    let mut buf = [0u8; 16];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(space) = buf[..n].iter().position(|b| *b == b' ') {
            return Ok(String::from_utf8_lossy(&buf[..space]).into_owned());
        }
        if n == buf.len() {
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs the client: optionally the refused POST upgrade, then `connections` WebSockets at
/// once, each running the script.
pub async fn run_client(cfg: WsClientConfig, target: SocketAddr, tracer: Tracer) -> ClientReport {
    let mut report = ClientReport::default();
    let start = Instant::now();
    if cfg.try_post_upgrade {
        match post_upgrade(target, &cfg.path).await {
            Ok(status) => {
                *report.statuses.entry(status).or_default() += 1;
                report.dialed += 1;
            }
            Err(e) => {
                report.failure(&e);
                tracer.error("post_upgrade", e);
            }
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..cfg.connections {
        let (cfg, tracer) = (cfg.clone(), tracer.clone());
        tasks.spawn(async move {
            let mut report = ClientReport::default();
            if let Err(e) = talk(&cfg, target, &tracer, &mut report).await {
                let why = format!("{e:#}");
                report.failure(&why);
                tracer.error("ws", why);
            }
            report
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(one) = done {
            report.add(&one);
        }
    }
    report.websocket.get_or_insert_with(WsCounts::default);
    report.elapsed_ns = start.elapsed().as_nanos() as u64;
    report
}

/// One WebSocket: the upgrade, the script, the ending.
async fn talk(
    cfg: &WsClientConfig,
    target: SocketAddr,
    tracer: &Tracer,
    report: &mut ClientReport,
) -> Result<()> {
    tracer.emit(TraceKind::Dial { remote: target });
    let stream = TcpStream::connect(target).await.context("dialing")?;
    report.dialed += 1;
    if let Err(e) = cfg.socket.apply(&stream) {
        tracer.error("sockopt", e);
    }
    let url = format!("ws://{target}{}", cfg.path);
    let (ws, response) = tokio_tungstenite::client_async(url, stream)
        .await
        .context("the upgrade")?;
    *report
        .statuses
        .entry(response.status().as_u16())
        .or_default() += 1;
    let mut session = Session::new(ws, cfg.knobs());
    let mut sent = 0;
    let total = cfg.messages + cfg.messages_after_idle;
    for i in 1..=total {
        let pause = if i == cfg.messages + 1 {
            cfg.idle_ms
        } else if i > 1 {
            cfg.interval_ms
        } else {
            0
        };
        idle(&mut session, pause).await;
        let text = if cfg.ping_every > 0 && i % cfg.ping_every == 0 {
            "ping".to_owned()
        } else {
            format!("message {i}")
        };
        if !session.send(Message::text(text.clone())).await {
            report.failed += u64::from(total - sent);
            break;
        }
        sent += 1;
        match session.recv(None).await {
            Some(Message::Text(reply))
                if reply.as_str() == text || (text == "ping" && reply.as_str() == "pong") =>
            {
                report.ok += 1
            }
            Some(other) => {
                let why = format!("unexpected reply {other:?}");
                report.failure(&why);
                tracer.error("ws", why);
            }
            None => {
                report.failed += u64::from(total - sent + 1);
                break;
            }
        }
    }
    if total < cfg.messages + 1 {
        idle(&mut session, cfg.idle_ms).await;
    }
    if let Some(why) = &session.ended {
        tracer.error("ws", format!("{why:?}"));
    }
    let (counts, stream) = session.finish().await;
    report.websocket = Some(counts);
    // After the closing handshake the server closes TCP first: wait for its FIN.
    if let Some(mut tcp) = stream {
        let mut rest = [0u8; 512];
        let eof = async { while matches!(tcp.read(&mut rest).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(Duration::from_secs(2), eof).await;
    }
    Ok(())
}

/// Sits idle for `ms`, still reading (answering pings, keeping the deadlines).
async fn idle(session: &mut Session, ms: u64) {
    if ms == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        if session.recv(Some(until)).await.is_none() && session.ended.is_some() {
            return;
        }
    }
}

/// An upgrade request with POST on its own connection; returns the status the server gave.
async fn post_upgrade(target: SocketAddr, path: &str) -> Result<u16> {
    let mut stream = TcpStream::connect(target).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut headers);
    resp.parse(&reply)?;
    resp.code.context("no status in the reply")
}
