//! Reading an HTTP/1.1 response head off a client connection (httparse), shared by the
//! request path of the pooled client.

use tokio::io::AsyncReadExt;

use super::http_headers::{content_length, has_token};
use super::pool::Conn;

/// A response head, read; the connection's `leftover` holds the head and whatever body bytes
/// came with it.
#[derive(Debug, Clone, Copy)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Bytes of the head.
    pub head_len: usize,
    /// Content-Length, when given.
    pub body_len: Option<usize>,
    /// The connection ends after this response (Connection: close, or no length).
    pub close: bool,
}

/// Why an exchange failed, and whether any response byte had arrived (a request that got
/// none may be retried on a new connection).
#[derive(Debug)]
pub struct Failure {
    /// Short class: write, read, reset, eof, bad_response.
    pub kind: &'static str,
    /// Details.
    pub message: String,
    /// Some response bytes had arrived.
    pub got_bytes: bool,
}

impl Failure {
    /// A failure from an I/O error.
    pub fn io(kind: &'static str, e: std::io::Error, got_bytes: bool) -> Failure {
        Failure {
            kind,
            message: e.to_string(),
            got_bytes,
        }
    }
}

/// Reads the next response head from `conn`.
pub async fn read_head(conn: &mut Conn) -> Result<Head, Failure> {
    conn.leftover.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&conn.leftover) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = resp.code.unwrap_or(0);
                let has_length = resp
                    .headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case("content-length"));
                let close = has_token(resp.headers, "connection", "close");
                return Ok(Head {
                    status,
                    head_len,
                    body_len: has_length.then(|| content_length(resp.headers)),
                    close: close || !has_length,
                });
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => {
                return Err(Failure {
                    kind: "bad_response",
                    message: e.to_string(),
                    got_bytes: true,
                })
            }
        }
        let got_bytes = !conn.leftover.is_empty();
        match read_more(conn).await {
            Ok(0) => {
                return Err(Failure {
                    kind: "eof",
                    message: "server closed the connection before answering (EOF)".into(),
                    got_bytes,
                })
            }
            Ok(_) => {}
            Err(e) => {
                let kind = if e.kind() == std::io::ErrorKind::ConnectionReset {
                    "reset"
                } else {
                    "read"
                };
                return Err(Failure::io(kind, e, got_bytes));
            }
        }
    }
}

/// Reads more bytes of the connection into its `leftover`.
pub async fn read_more(conn: &mut Conn) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = conn.stream.read(&mut chunk).await?;
    conn.leftover.extend_from_slice(&chunk[..n]);
    Ok(n)
}
