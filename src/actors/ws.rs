//! WebSocket actors (tokio-tungstenite): an echo server that upgrades only GET requests and
//! answers "ping" with "pong", and a client that sends messages on one long connection and
//! ends with the closing handshake, after which the server closes TCP first (RFC 6455 7.1.1).

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::Sender as StdSender;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use super::client_report::ClientReport;
use super::socket::{self, Accepted, SocketOptions};
use crate::trace::{TraceKind, Tracer};

/// `[ws_server]`: a WebSocket echo server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsServerConfig {
    /// Port to listen on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `[ws_server.socket]`: options of every accepted connection.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn default_port() -> u16 {
    80
}

/// `[ws_client]`: one WebSocket connection carrying messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsClientConfig {
    /// Messages to send.
    #[serde(default = "default_messages")]
    pub messages: u32,
    /// Every n-th message is "ping" (answered "pong"); 0 for none.
    #[serde(default = "default_ping_every")]
    pub ping_every: u32,
    /// Pause between messages, ms.
    #[serde(default)]
    pub interval_ms: u64,
    /// Path of the upgrade request.
    #[serde(default = "default_path")]
    pub path: String,
    /// First try to upgrade with POST on a separate connection (the server must refuse it).
    #[serde(default)]
    pub try_post_upgrade: bool,
    /// `[ws_client.socket]`: options of the connection.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn default_messages() -> u32 {
    10
}
fn default_ping_every() -> u32 {
    5
}
fn default_path() -> String {
    "/ws".into()
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
    socket::accept_loop(listener, cfg.socket, tracer.clone(), stop, |a: Accepted| {
        serve_conn(a, tracer.clone())
    })
    .await;
    Ok(())
}

/// Refuses anything but GET with 405 (no upgrade), else runs the echo loop.
async fn serve_conn(accepted: Accepted, tracer: Tracer) {
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
    let mut ws = match tokio_tungstenite::accept_async(stream).await {
        Ok(ws) => ws,
        Err(e) => {
            tracer.error("handshake", e);
            return;
        }
    };
    while let Some(msg) = ws.next().await {
        let reply = match msg {
            Ok(Message::Text(t)) if t.as_str() == "ping" => Message::text("pong"),
            Ok(Message::Text(t)) => Message::Text(t),
            Ok(Message::Binary(b)) => Message::Binary(b),
            Ok(_) => continue, // control frames: tungstenite answers ping and close itself
            Err(e) => {
                tracer.error("ws", e);
                break;
            }
        };
        if let Err(e) = ws.send(reply).await {
            tracer.error("ws", e);
            break;
        }
    }
    // The closing handshake is done (or the peer vanished): the server closes TCP first.
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

/// Runs the client: optionally the refused POST upgrade, then one WebSocket connection with
/// `messages` messages and the closing handshake.
pub async fn run_client(cfg: WsClientConfig, target: SocketAddr, tracer: Tracer) -> ClientReport {
    let mut report = ClientReport::default();
    let start = tokio::time::Instant::now();
    if cfg.try_post_upgrade {
        match post_upgrade(target, &cfg.path).await {
            Ok(status) => {
                *report.statuses.entry(status).or_default() += 1;
                report.dialed += 1;
            }
            Err(e) => {
                tracer.error("post_upgrade", e);
                report.failed += 1;
            }
        }
    }
    if let Err(e) = talk(&cfg, target, &tracer, &mut report).await {
        tracer.error("ws", format!("{e:#}"));
        report.failed += 1;
    }
    report.elapsed_ns = start.elapsed().as_nanos() as u64;
    report
}

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
    let (mut ws, response) = tokio_tungstenite::client_async(url, stream)
        .await
        .context("the upgrade")?;
    *report
        .statuses
        .entry(response.status().as_u16())
        .or_default() += 1;
    for i in 1..=cfg.messages {
        if i > 1 && cfg.interval_ms > 0 {
            tokio::time::sleep(Duration::from_millis(cfg.interval_ms)).await;
        }
        let text = if cfg.ping_every > 0 && i % cfg.ping_every == 0 {
            "ping".to_owned()
        } else {
            format!("message {i}")
        };
        ws.send(Message::text(text.clone()))
            .await
            .context("sending")?;
        match ws.next().await {
            Some(Ok(Message::Text(reply)))
                if reply.as_str() == text || (text == "ping" && reply.as_str() == "pong") =>
            {
                report.ok += 1
            }
            other => {
                report.failed += 1;
                tracer.error("ws", format!("unexpected reply {other:?}"));
            }
        }
    }
    ws.close(None).await.context("closing")?;
    // Wait for the server's close frame, then for its FIN: the server closes TCP first.
    while let Some(msg) = ws.next().await {
        if msg.is_err() {
            break;
        }
    }
    let mut tcp = ws.into_inner();
    let mut rest = [0u8; 512];
    let eof = async { while matches!(tcp.read(&mut rest).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(Duration::from_secs(2), eof).await;
    Ok(())
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
