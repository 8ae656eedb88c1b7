//! The socket options every actor takes, declared once: the `socket` table of each actor
//! (`[client.socket]`, `[server.socket]`, `[tcp_server.socket]`, ...), applied by one function
//! when a connection is dialed or accepted; and the accept loop the three servers share.
//!
//! A lab value reaches the kernel along one path: TOML `[client.socket] user_timeout_ms` →
//! [`SocketOptions`] in the actor's config → [`SocketOptions::apply`] → `setsockopt` (socket2).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::trace::{TraceKind, Tracer};

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

/// The `socket` table of an actor: options set on every connection it dials or accepts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SocketOptions {
    /// TCP keepalive probes (none: the kernel's default, off).
    #[serde(default)]
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// TCP_USER_TIMEOUT, ms: how long sent data may stay unacknowledged before the kernel
    /// gives up on the connection.
    #[serde(default)]
    pub user_timeout_ms: Option<u64>,
    /// How connections are closed: "fin" or "rst" (SO_LINGER 0).
    #[serde(default)]
    pub close: CloseStyle,
}

impl SocketOptions {
    /// Sets every option on a connected socket. The close style is set here too (SO_LINGER 0
    /// for "rst"), so whichever way the connection is later dropped, it closes that way.
    pub fn apply(&self, stream: &TcpStream) -> std::io::Result<()> {
        let sock = SockRef::from(stream);
        if let Some(k) = &self.tcp_keepalive {
            let params = socket2::TcpKeepalive::new()
                .with_time(Duration::from_millis(k.idle_ms))
                .with_interval(Duration::from_millis(k.interval_ms))
                .with_retries(k.count);
            sock.set_tcp_keepalive(&params)?;
        }
        if let Some(ms) = self.user_timeout_ms {
            sock.set_tcp_user_timeout(Some(Duration::from_millis(ms)))?;
        }
        if self.close == CloseStyle::Rst {
            sock.set_linger(Some(Duration::ZERO))?;
        }
        let _ = sock.set_nodelay(true);
        Ok(())
    }
}

/// Listen backlog: Go listens with the kernel's somaxconn (4096 by default), not tokio's 1024;
/// a burst of thousands of dials must not overflow the accept queue.
const BACKLOG: u32 = 4096;

/// Binds a listening socket at `addr` with Go's backlog.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    listen_with(addr, BACKLOG, false)
}

/// Binds a listening socket with `backlog` (the kernel caps it at somaxconn); with
/// `reuse_port`, several processes listen on the same port and the kernel spreads the
/// connections over them, which is how one server holds more sockets than one process may.
pub fn listen_with(
    addr: SocketAddr,
    backlog: u32,
    reuse_port: bool,
) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// A connection a server accepted, its options already set.
pub struct Accepted {
    /// The socket.
    pub stream: TcpStream,
    /// The server's end.
    pub local: SocketAddr,
    /// The client's end.
    pub remote: SocketAddr,
}

/// The accept loop of every built-in server: accepts until `stop` changes, traces each
/// connection, applies `options` and hands it to `serve` on a task of its own. Like Go's
/// http.Server, a failing accept (EMFILE, ENFILE...) is retried after a pause that doubles
/// from 5 ms to 1 s instead of spinning, and each failure is traced.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    options: SocketOptions,
    tracer: Tracer,
    mut stop: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(Accepted) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut pause = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracer.error("accept", format!("{e}; retrying in {pause:?}"));
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        pause = Duration::from_millis(5);
        let local = stream.local_addr().unwrap_or(remote);
        tracer.emit(TraceKind::Accept { local, remote });
        if let Err(e) = options.apply(&stream) {
            tracer.error("sockopt", e);
        }
        tokio::spawn(serve(Accepted {
            stream,
            local,
            remote,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_table_rejects_unknown_fields_and_defaults_to_fin() {
        let o: SocketOptions = toml::from_str("user_timeout_ms = 2000").expect("parses");
        assert_eq!((o.user_timeout_ms, o.close), (Some(2000), CloseStyle::Fin));
        let err = toml::from_str::<SocketOptions>("user_timeout = 2000").expect_err("unknown");
        assert!(err.to_string().contains("user_timeout"), "{err}");
    }

    #[tokio::test]
    async fn apply_sets_what_the_table_says() {
        let listener = listen("127.0.0.1:0".parse().expect("addr")).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let stream = TcpStream::connect(addr).await.expect("connect");
        let options: SocketOptions = toml::from_str(
            "user_timeout_ms = 1500\nclose = \"rst\"\n\
             tcp_keepalive = { idle_ms = 2000, interval_ms = 1000, count = 4 }",
        )
        .expect("parses");
        options.apply(&stream).expect("apply");
        let sock = SockRef::from(&stream);
        assert_eq!(
            sock.tcp_user_timeout().expect("get"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(sock.linger().expect("get"), Some(Duration::ZERO));
        assert!(sock.keepalive().expect("get"));
        assert_eq!(sock.keepalive_time().expect("get"), Duration::from_secs(2));
        assert_eq!(sock.keepalive_retries().expect("get"), 4);
    }
}
