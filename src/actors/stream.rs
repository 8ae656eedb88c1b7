//! A built-in actor's connection: plain TCP, or TLS over it (rustls). Both read and write the
//! same way, so the HTTP/1.1 server and client run unchanged over either; closing a TLS
//! connection sends `close_notify` first, as Go's `tls.Conn.Close` and nginx do.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// A connection of a built-in actor.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

/// What an idle connection's peer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerWake {
    /// It closed (FIN, or TLS close_notify).
    Closed,
    /// It sent data nobody asked for.
    Data,
    /// The connection failed (a reset).
    Failed,
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// Waits until the peer of an idle connection does something. Cancel-safe: nothing is
    /// consumed unless it returns.
    pub async fn peer_wake(&mut self) -> PeerWake {
        match self {
            Stream::Plain(s) => loop {
                if s.readable().await.is_err() {
                    return PeerWake::Failed;
                }
                let mut probe = [0u8; 1];
                match s.try_read(&mut probe) {
                    Ok(0) => return PeerWake::Closed,
                    Ok(_) => return PeerWake::Data,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => return PeerWake::Failed,
                }
            },
            // A TLS record may be a session ticket or a key update: rustls reads those
            // without returning data; a close_notify (or the FIN) reads as the end.
            Stream::Tls(s) => {
                let mut probe = [0u8; 1];
                match s.read(&mut probe).await {
                    Ok(0) => PeerWake::Closed,
                    Ok(_) => PeerWake::Data,
                    Err(_) => PeerWake::Failed,
                }
            }
        }
    }
}

impl Drop for Stream {
    /// A TLS connection says close_notify and sends its FIN before its socket closes (written
    /// at once: the socket's buffer has room for an alert, and a drop cannot wait).
    fn drop(&mut self) {
        let Stream::Tls(s) = self else {
            return;
        };
        let mut alert = Vec::new();
        let tcp = match s.as_mut() {
            TlsStream::Client(c) => {
                let (tcp, tls) = c.get_mut();
                tls.send_close_notify();
                let _ = tls.write_tls(&mut alert);
                tcp
            }
            TlsStream::Server(c) => {
                let (tcp, tls) = c.get_mut();
                tls.send_close_notify();
                let _ = tls.write_tls(&mut alert);
                tcp
            }
        };
        if !alert.is_empty() {
            let _ = tcp.try_write(&alert);
        }
        // The FIN at once behind the alert, as one close: a peer quick to answer the alert
        // would otherwise find the socket still open, and its answer, unread when the socket
        // closes, would turn this FIN into an RST. Not for a socket set to close with RST
        // (SO_LINGER 0): it says close_notify and resets, as Go's does.
        let sock = socket2::SockRef::from(&*tcp);
        if sock.linger().ok().flatten() != Some(std::time::Duration::ZERO) {
            let _ = sock.shutdown(std::net::Shutdown::Write);
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
