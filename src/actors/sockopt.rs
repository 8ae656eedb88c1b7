//! Socket knobs shared by the actors, set with socket2.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use socket2::SockRef;
use tokio::net::TcpStream;

/// TCP keepalive probes (Go: net.Dialer.KeepAlive / net.KeepAliveConfig; Linux
/// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpKeepalive {
    /// Idle time before the first probe, ms.
    pub idle_ms: u64,
    /// Time between probes, ms.
    pub interval_ms: u64,
    /// Unanswered probes before the kernel gives up and resets the connection.
    pub count: u32,
}

/// How an actor closes a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseStyle {
    /// Orderly close: FIN, and the closer holds TIME_WAIT.
    #[default]
    Fin,
    /// Abortive close (SO_LINGER 0; Go: TCPConn.SetLinger(0)): RST, no TIME_WAIT anywhere.
    Rst,
}

/// Listen backlog: Go listens with the kernel's somaxconn (4096 by default), not tokio's 1024;
/// a burst of thousands of dials must not overflow the accept queue.
const BACKLOG: u32 = 4096;

/// Binds a listening socket at `addr` with Go's backlog.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Accepts the next connection. Like Go's http.Server, a failing accept (EMFILE, ENFILE...)
/// is retried after a pause that doubles from 5 ms to 1 s, instead of spinning; each failure is
/// traced.
pub async fn accept(
    listener: &tokio::net::TcpListener,
    tracer: &super::trace::Tracer,
) -> (TcpStream, std::net::SocketAddr) {
    let mut pause = Duration::from_millis(5);
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracer.error("accept", format!("{e}; retrying in {pause:?}"));
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Applies keepalive and TCP_USER_TIMEOUT to a connected socket.
pub fn apply(
    stream: &TcpStream,
    keepalive: Option<&TcpKeepalive>,
    user_timeout_ms: Option<u64>,
) -> std::io::Result<()> {
    let sock = SockRef::from(stream);
    if let Some(k) = keepalive {
        let params = socket2::TcpKeepalive::new()
            .with_time(Duration::from_millis(k.idle_ms))
            .with_interval(Duration::from_millis(k.interval_ms))
            .with_retries(k.count);
        sock.set_tcp_keepalive(&params)?;
    }
    if let Some(ms) = user_timeout_ms {
        sock.set_tcp_user_timeout(Some(Duration::from_millis(ms)))?;
    }
    let _ = sock.set_nodelay(true);
    Ok(())
}

/// Makes every later close of `stream` use `style` (SO_LINGER 0 for an RST), for actors whose
/// connections are closed by a library rather than by connlab's own code.
pub fn set_close_style(stream: &TcpStream, style: CloseStyle) {
    if style == CloseStyle::Rst {
        let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
    }
}

/// Closes a connection in the given style (dropping the stream closes the fd).
pub fn close(stream: TcpStream, style: CloseStyle) {
    set_close_style(&stream, style);
    drop(stream);
}
