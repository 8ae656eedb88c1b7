//! Spotting HTTP/1.x request and status lines in the stream's pieces.
//!
//! Why so shallow: the lab only needs to know where each request and response
//! starts, to count reuse and idle time, whether the message says the
//! connection ends after it (`Connection: close`, HTTP/1.0 without keep-alive),
//! which is how a side turns keep-alive off, whether it asks to switch protocols
//! (`Upgrade: websocket`, `Upgrade: h2c`), and which software sent it (`User-Agent`,
//! `Server`, `Keep-Alive`). Bodies are never parsed; a message
//! is looked for at the start of each piece and after a blank line (`\r\n\r\n`)
//! inside it, which catches pipelining in the common case.

use std::ops::ControlFlow;

use compact_str::CompactString;

use crate::analyze::event::Closing;
use crate::analyze::stack::{Clue, Stack};

/// The protocol a message asks to switch to (`Upgrade:`), when it is one the analyser follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// `Upgrade: websocket` (RFC 6455).
    WebSocket,
    /// `Upgrade: h2c`: HTTP/2 over cleartext TCP after an HTTP/1.1 request (RFC 7540 3.2).
    H2c,
    /// Any other protocol: after a 101 the bytes are no longer HTTP/1.x.
    Other,
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// A request line: `METHOD SP target SP HTTP/1.`…
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestLine {
    pub method: &'static str,
    pub path: CompactString,
    /// Why the request asks to close the connection after its response, if it does.
    pub closing: Option<Closing>,
    /// Where its header block ends, past the blank line, when the data holds it whole.
    pub head_len: Option<usize>,
    /// Its body's length, from `Content-Length`.
    pub body_len: Option<usize>,
    /// The protocol it asks to switch to.
    pub upgrade: Option<Upgrade>,
    /// The client's stack, when its `User-Agent` names one.
    pub stack: Option<(Stack, Clue)>,
}

/// A status line and whether the response closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusLine {
    pub status: u16,
    /// Why the response announces the end of the connection, if it does.
    pub closing: Option<Closing>,
    /// Where its header block ends, past the blank line, when the data holds it whole.
    pub head_len: Option<usize>,
    /// Its body's length, from `Content-Length` (a response to HEAD has none, whatever it
    /// says: the next response may also start right after the head).
    pub body_len: Option<usize>,
    /// The protocol it switches to (a 101's `Upgrade:`).
    pub upgrade: Option<Upgrade>,
    /// The server's stack, when its `Server` header names one or its `Keep-Alive` header has
    /// a default's shape.
    pub stack: Option<(Stack, Clue)>,
    /// `Keep-Alive: timeout=N`: how long it says it keeps an idle connection, s.
    pub keep_alive_s: Option<u32>,
}

impl StatusLine {
    /// An interim response (`100 Continue`, `103 Early Hints`): the final one follows on the
    /// same request. `101 Switching Protocols` is final.
    pub fn interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Parses a request line at the start of `data`.
pub(crate) fn request_line(data: &[u8]) -> Option<RequestLine> {
    let method = METHODS.iter().find(|m| {
        data.strip_prefix(m.as_bytes())
            .is_some_and(|rest| rest.first() == Some(&b' '))
    })?;
    let rest = &data[method.len() + 1..];
    let end = rest
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
    if end == 0 || !rest[end..].starts_with(b" HTTP/1.") {
        return None;
    }
    let minor = rest.get(end + 8).copied();
    let head = head(minor, data);
    Some(RequestLine {
        method,
        path: CompactString::from_utf8_lossy(&rest[..end]),
        closing: head.closing,
        head_len: head.len,
        body_len: head.body_len,
        upgrade: head.upgrade,
        // A proxy passes the client's `User-Agent` on: the request's shape names the proxy.
        stack: match head.proxy {
            Some(clue) => Some((Stack::proxy_of(clue), clue)),
            None => head.user_agent.map(|s| (s, Clue::UserAgent)),
        },
    })
}

/// Whether `data` may be the start of a request: a method and its space, or the first bytes
/// of one (a segment may end anywhere). What does not is no HTTP/1.x client's.
pub(crate) fn may_start_request(data: &[u8]) -> bool {
    let data = after_empty_lines(data);
    METHODS.iter().any(|m| {
        let n = data.len().min(m.len() + 1);
        let (method, rest) = data[..n].split_at(n.min(m.len()));
        m.as_bytes().starts_with(method) && rest.iter().all(|&b| b == b' ')
    })
}

/// The bytes after the empty lines (CRLF or bare LF) a client may send before a request line:
/// RFC 9112 §2.2 asks a server to ignore at least one.
pub(crate) fn after_empty_lines(data: &[u8]) -> &[u8] {
    let n = data
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    &data[n..]
}

/// Whether `data`, a message's start, holds its whole header block: up to a blank line, ended
/// with CRLF or a bare LF.
pub(crate) fn head_whole(data: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', data).any(|i| {
        let before = &data[..i];
        before.ends_with(b"\n") || before.ends_with(b"\n\r")
    })
}

/// Parses `HTTP/1.x NNN` at the start of `data`.
pub(crate) fn status_line(data: &[u8]) -> Option<StatusLine> {
    let rest = data.strip_prefix(b"HTTP/1.")?;
    match rest {
        [minor, b' ', a, b, c, ..]
            if minor.is_ascii_digit() && [a, b, c].iter().all(|d| d.is_ascii_digit()) =>
        {
            let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            let head = head(Some(*minor), data);
            let stack = match (head.server, head.keep_alive) {
                (Some(Some(stack)), _) => Some((stack, Clue::Server)),
                // Node answers `Keep-Alive: timeout=5` and names no server; Apache, which
                // also sends the header, adds `max=` and names itself.
                (
                    None,
                    Some(KeepAlive {
                        timeout: Some(_),
                        max: false,
                    }),
                ) => Some((Stack::Node, Clue::NodeKeepAlive)),
                _ => None,
            };
            Some(StatusLine {
                status,
                closing: head.closing,
                head_len: head.len,
                body_len: head.body_len,
                upgrade: head.upgrade,
                stack,
                keep_alive_s: head.keep_alive.and_then(|k| k.timeout),
            })
        }
        _ => None,
    }
}

/// What one pass over a message's header lines tells.
struct Head {
    /// Why the message ends the connection, if it does.
    closing: Option<Closing>,
    /// Bytes from the message's start to past the blank line (`\r\n\r\n`) ending its header
    /// block, when the data holds that line.
    len: Option<usize>,
    /// `Content-Length`, when the header block says it.
    body_len: Option<usize>,
    /// `Upgrade:`, when the header block names a protocol.
    upgrade: Option<Upgrade>,
    /// The stack `User-Agent:` names.
    user_agent: Option<Stack>,
    /// `Server:`, when present: the stack it names, if connlab knows it.
    server: Option<Option<Stack>>,
    /// `Keep-Alive:`, when present.
    keep_alive: Option<KeepAlive>,
    /// What says a proxy sent the message: nginx's request shape, or a header a proxy adds.
    proxy: Option<Clue>,
}

/// What a `Keep-Alive:` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeepAlive {
    /// `timeout=N`, seconds (0 when the value is no number).
    timeout: Option<u32>,
    max: bool,
}

/// Reads a message's header block (its start line's HTTP minor version and its header lines,
/// as far as this segment holds them): whether it ends the connection (`Connection: close`,
/// or HTTP/1.0 without `Connection: keep-alive`), and where it ends.
fn head(minor: Option<u8>, message: &[u8]) -> Head {
    let mut close = false;
    let mut keep_alive = false;
    let mut len = None;
    let mut body_len = None;
    let mut upgrade = None;
    let mut user_agent = None;
    let mut server = None;
    let mut keep_alive_header = None;
    let mut proxy = None;
    // nginx's upstream requests begin with `Host:` then `Connection: close` (its own two
    // lines), then the client's headers with its `User-Agent`; no client library orders them
    // so (they put `User-Agent` second).
    let mut index = 0usize;
    let mut host_first = false;
    let mut nginx_lines = false;
    let mut passed_on_agent = false;
    // One pass over the header lines, up to the blank line that ends them.
    let mut start = match memchr::memchr(b'\n', message) {
        Some(i) => i + 1,
        None => message.len(),
    };
    while start < message.len() {
        let rest = &message[start..];
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = &rest[..end];
        // A line is only whole with its `\n`: a lone `\r` at the end of the data is not yet
        // the blank line.
        let whole = end < rest.len();
        if line.is_empty() || (line == b"\r" && whole) {
            if line.is_empty() {
                // A bare LF ends the block as a CRLF does (RFC 9112 §2.2).
                len = Some(start + 1);
            } else if message[..start].ends_with(b"\n") {
                len = Some(start + 2);
            }
            break;
        }
        index += 1;
        // Most lines are none of the headers read here: one byte says so.
        if matches!(line[0], b'h' | b'H') {
            host_first |= index == 1 && strip_prefix_ignore_case(line, b"host:").is_some();
        } else if matches!(line[0], b'v' | b'V' | b'x' | b'X' | b'f' | b'F') {
            if [&b"via:"[..], b"x-forwarded-for:", b"forwarded:"]
                .iter()
                .any(|h| strip_prefix_ignore_case(line, h).is_some())
            {
                proxy = proxy.or(Some(Clue::ProxyHeader));
            }
        } else if matches!(line[0], b'u' | b'U') {
            if let Some(value) = strip_prefix_ignore_case(line, b"upgrade:") {
                upgrade = Some(upgrade_of(value));
            } else if let Some(value) = strip_prefix_ignore_case(line, b"user-agent:") {
                user_agent = Stack::of_user_agent(value);
                passed_on_agent = nginx_lines;
            }
        } else if matches!(line[0], b's' | b'S') {
            if let Some(value) = strip_prefix_ignore_case(line, b"server:") {
                server = Some(Stack::of_server(value));
            }
        } else if matches!(line[0], b'k' | b'K') {
            if let Some(value) = strip_prefix_ignore_case(line, b"keep-alive:") {
                let param = |word: &[u8]| {
                    value.split(|&b| b == b',').find_map(|p| {
                        let p = p.trim_ascii();
                        let name = p.get(..word.len())?;
                        name.eq_ignore_ascii_case(word).then(|| &p[word.len()..])
                    })
                };
                keep_alive_header = Some(KeepAlive {
                    timeout: param(b"timeout=").map(|v| {
                        std::str::from_utf8(v.trim_ascii())
                            .ok()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0)
                    }),
                    max: param(b"max=").is_some(),
                });
            }
        } else if matches!(line[0], b'c' | b'C') {
            if let Some(value) = strip_prefix_ignore_case(line, b"connection:") {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
                nginx_lines |=
                    index == 2 && host_first && value.trim_ascii().eq_ignore_ascii_case(b"close");
            } else if let Some(value) = strip_prefix_ignore_case(line, b"content-length:") {
                body_len = std::str::from_utf8(value.trim_ascii())
                    .ok()
                    .and_then(|v| v.parse().ok());
            }
        }
        start += end + 1;
    }
    if passed_on_agent {
        proxy = Some(Clue::NginxProxyShape);
    }
    let closing = if close {
        Some(Closing::ConnectionCloseHeader)
    } else if minor == Some(b'0') && !keep_alive {
        Some(Closing::Http10WithoutKeepalive)
    } else {
        None
    };
    Head {
        closing,
        len,
        body_len,
        upgrade,
        user_agent,
        server,
        keep_alive: keep_alive_header,
        proxy,
    }
}

/// The protocol an `Upgrade:` value names first (a client may offer several, in order).
fn upgrade_of(value: &[u8]) -> Upgrade {
    let first = value
        .split(|&b| b == b',')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    if first.eq_ignore_ascii_case(b"websocket") {
        Upgrade::WebSocket
    } else if first.eq_ignore_ascii_case(b"h2c") {
        Upgrade::H2c
    } else {
        Upgrade::Other
    }
}

/// What a `101 Switching Protocols` to a WebSocket upgrade agreed on, read from its head
/// (only on a 101, so the common path never pays for it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WebSocketAccept {
    /// `Sec-WebSocket-Protocol`: the subprotocol the server chose.
    pub subprotocol: Option<CompactString>,
    /// `Sec-WebSocket-Extensions` names `permessage-deflate`: frames may set RSV1.
    pub deflate: bool,
}

/// Reads the WebSocket headers of a 101's head.
pub(crate) fn websocket_accept(head: &[u8]) -> WebSocketAccept {
    let mut accept = WebSocketAccept::default();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(v) = strip_prefix_ignore_case(line, b"sec-websocket-protocol:") {
            let v = v.trim_ascii();
            if !v.is_empty() {
                accept.subprotocol = Some(CompactString::from_utf8_lossy(v));
            }
        } else if let Some(v) = strip_prefix_ignore_case(line, b"sec-websocket-extensions:") {
            accept.deflate |= v.split(|&b| b == b',').any(|ext| {
                let name = ext.split(|&b| b == b';').next().unwrap_or(b"");
                name.trim_ascii()
                    .eq_ignore_ascii_case(b"permessage-deflate")
            });
        }
    }
    accept
}

fn strip_prefix_ignore_case<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &line[prefix.len()..])
}

/// A start line `messages` can look for: it knows where its header block ends, and how long
/// its body is when the headers say.
pub(crate) trait StartLine {
    /// Bytes to past the blank line ending the header block, when the data held it.
    fn head_len(&self) -> Option<usize>;
    /// The body's length (`Content-Length`).
    fn body_len(&self) -> Option<usize>;
}

impl StartLine for RequestLine {
    fn head_len(&self) -> Option<usize> {
        self.head_len
    }
    fn body_len(&self) -> Option<usize> {
        self.body_len
    }
}

impl StartLine for StatusLine {
    fn head_len(&self) -> Option<usize> {
        self.head_len
    }
    fn body_len(&self) -> Option<usize> {
        self.body_len
    }
}

/// Calls `found` with every message start in `data` recognised by `parse`, with its offset:
/// at offset 0, then wherever another message follows: after the body when its length is
/// known, right after the head (no body: a response to HEAD, 204, 304), or after a later
/// blank line. The blank line ending a message's own head is known from parsing it, so only
/// bodies are searched. `found` breaks the search when the rest is another protocol.
pub(crate) fn messages<T: StartLine>(
    data: &[u8],
    parse: impl Fn(&[u8]) -> Option<T>,
    mut found: impl FnMut(usize, T) -> ControlFlow<()>,
) {
    let Some(mut message) = parse(data) else {
        return;
    };
    let mut at: usize = 0;
    loop {
        let (head, body) = (message.head_len(), message.body_len());
        if found(at, message).is_break() {
            return;
        }
        let direct = [head.zip(body).map(|(h, b)| h.saturating_add(b)), head]
            .into_iter()
            .flatten()
            .map(|len| at.saturating_add(len))
            .find_map(|start| Some((start, parse(data.get(start..)?)?)));
        if let Some((start, next)) = direct {
            (at, message) = (start, next);
            continue;
        }
        let mut from = at + head.unwrap_or(0);
        loop {
            let Some(pos) = data.get(from..).and_then(blank_line) else {
                return;
            };
            from += pos + 4;
            if let Some(next) = parse(&data[from..]) {
                (at, message) = (from, next);
                break;
            }
        }
    }
}

/// Offset of the first blank line (`\r\n\r\n`): found from its `\n`s with memchr, which is
/// far cheaper than a general substring search on these short heads.
fn blank_line(hay: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', hay)
        .find(|&i| i >= 3 && &hay[i - 3..=i] == b"\r\n\r\n")
        .map(|i| i - 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = request_line(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
        assert_eq!((r.method, r.path.as_str()), ("GET", "/a?b=1"));
        assert!(request_line(b"DELETE /x HTTP/1.0\r\n").is_some());
        assert!(request_line(b"GETX / HTTP/1.1\r\n").is_none());
        assert!(request_line(b"GET  HTTP/1.1\r\n").is_none());
        assert!(request_line(b"GET / HTTP/2\r\n").is_none());
        assert!(request_line(b"GET /").is_none());
        for start in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"GE",
            b"POST ",
            b"OPTIONS",
            b"D",
        ] {
            assert!(may_start_request(start), "{start:?}");
        }
        for other in [
            &b"ping\n"[..],
            b"GETX",
            b"get /",
            b"*1\r\n",
            b"\x16\x03\x01",
        ] {
            assert!(!may_start_request(other), "{other:?}");
        }
        assert!(request_line(b"").is_none());
    }

    #[test]
    fn a_proxys_request_names_the_proxy_not_the_client_it_passes_on() {
        let stack = |data: &[u8]| request_line(data).and_then(|r| r.stack);
        // nginx's proxy_pass: its Host and Connection lines, then curl's headers.
        let nginx = b"GET /1 HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\
                      User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
        assert_eq!(stack(nginx), Some((Stack::Nginx, Clue::NginxProxyShape)));
        // A client asking for a close puts its User-Agent before it (curl, Go, connlab), or
        // sends none: no proxy.
        let curl =
            b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nConnection: close\r\n\r\n";
        assert_eq!(stack(curl), Some((Stack::Curl, Clue::UserAgent)));
        assert_eq!(
            stack(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"),
            None
        );
        let via = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nVia: 1.1 lb\r\n\r\n";
        assert_eq!(stack(via), Some((Stack::Proxy, Clue::ProxyHeader)));
        let xff = b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.18.0.9\r\n\r\n";
        assert_eq!(stack(xff), Some((Stack::Proxy, Clue::ProxyHeader)));
    }

    #[test]
    fn status_lines() {
        let status = |data: &[u8]| status_line(data).map(|s| s.status);
        assert_eq!(status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status(b"HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(status(b"HTTP/1.1 20"), None);
        assert_eq!(status(b"HTTP/2 200"), None);
    }

    #[test]
    fn messages_that_end_the_connection() {
        let req = |data: &[u8]| request_line(data).expect("request").closing;
        assert_eq!(req(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), None);
        assert_eq!(
            req(b"GET / HTTP/1.1\r\nHost: a\r\nconnection: Keep-Alive, CLOSE\r\n\r\n"),
            Some(Closing::ConnectionCloseHeader)
        );
        assert_eq!(
            req(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
            Some(Closing::Http10WithoutKeepalive)
        );
        assert_eq!(
            req(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            None
        );
        let resp = |data: &[u8]| status_line(data).expect("status").closing;
        assert_eq!(
            resp(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nConnection: close"),
            Some(Closing::ConnectionCloseHeader)
        );
        // A header of the body (after the blank line) does not count.
        assert_eq!(resp(b"HTTP/1.1 200 OK\r\n\r\nConnection: close\r\n"), None);
    }

    #[test]
    fn pipelined_messages_in_one_segment() {
        let data = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\nbody\r\n\r\n";
        let paths = |data: &[u8]| {
            let mut found: Vec<CompactString> = Vec::new();
            messages(data, request_line, |_, r| {
                found.push(r.path);
                ControlFlow::Continue(())
            });
            found
        };
        assert_eq!(paths(data), ["/1", "/2"]);
        assert!(paths(b"xGET / HTTP/1.1\r\n\r\nGET / HTTP/1.1").is_empty());
        // A header block ended by bare newlines ends there: the next message follows it.
        assert_eq!(
            paths(b"GET /a HTTP/1.1\nHost: a\n\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"),
            ["/a", "/b", "/c"]
        );
        let heads: Vec<_> = [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost",
        ]
        .iter()
        .map(|d| request_line(d).expect("request").head_len)
        .collect();
        assert_eq!(heads, [Some(27), Some(18), None]);
        // Data ending in the blank line's `\r`: not a whole head yet, and no panic.
        let split = b"GET / HTTP/1.1\r\nHost: a\r\n\r";
        assert_eq!(request_line(split).expect("request").head_len, None);
        assert_eq!(paths(split), ["/"]);
    }

    #[test]
    fn any_bytes_made_of_http_pieces_never_panic() {
        let pieces: [&[u8]; 12] = [
            b"GET / HTTP/1.1",
            b"HTTP/1.1 200 OK",
            b"HTTP/1.0 100 Continue",
            b"\r\n",
            b"\r",
            b"\n",
            b"Content-Length: ",
            b"Connection: close",
            b"5",
            b"99999999999999999999",
            b"x",
            b"HEAD /a HTTP/1.0",
        ];
        let mut x: u64 = 0x853c_49e6_748f_ea9b;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let data: Vec<u8> = (0..next() % 24)
                .flat_map(|_| pieces[(next() % 12) as usize].iter().copied())
                .collect();
            let cut = (next() as usize) % (data.len() + 1);
            for data in [&data[..], &data[..cut]] {
                let (mut requests, mut responses) = (0, 0);
                messages(data, request_line, |_, _| {
                    requests += 1;
                    ControlFlow::Continue(())
                });
                messages(data, status_line, |_, _| {
                    responses += 1;
                    ControlFlow::Continue(())
                });
                assert!(requests + responses <= data.len());
            }
        }
    }

    #[test]
    fn pipelined_responses_after_bodies_of_known_length() {
        let statuses = |data: &[u8]| {
            let mut found = Vec::new();
            messages(data, status_line, |_, s| {
                found.push(s.status);
                ControlFlow::Continue(())
            });
            found
        };
        // Each body ends where the next status line starts: no blank line between them.
        let three = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 No\r\ncontent-length:3\r\n\r\nnopHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(statuses(three), [200, 404, 204]);
        // A response to HEAD says a length but has no body: the next one follows its head.
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(statuses(head), [200, 200]);
        // A body that itself looks like a message is skipped by its length.
        let nested = b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nHTTP/1.1 500 inner\nHTTP/1.1 201 C\r\n\r\n";
        assert_eq!(statuses(nested), [200, 201]);
        let interim = status_line(b"HTTP/1.1 100 Continue\r\n\r\n").expect("status");
        assert!(interim.interim());
        assert!(!status_line(b"HTTP/1.1 101 Switching\r\n\r\n")
            .expect("status")
            .interim());
    }

    #[test]
    fn upgrades_and_what_a_101_agreed_on() {
        let up = |data: &[u8]| request_line(data).expect("request").upgrade;
        assert_eq!(
            up(b"GET / HTTP/1.1\r\nUpgrade: WebSocket\r\n\r\n"),
            Some(Upgrade::WebSocket)
        );
        assert_eq!(
            up(b"GET / HTTP/1.1\r\nupgrade: h2c\r\n\r\n"),
            Some(Upgrade::H2c)
        );
        assert_eq!(
            up(b"GET / HTTP/1.1\r\nUpgrade: irc/6.9, websocket\r\n\r\n"),
            Some(Upgrade::Other)
        );
        assert_eq!(up(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        let accept = websocket_accept(
            b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: chat\r\n\
              sec-websocket-extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        );
        assert_eq!(accept.subprotocol.as_deref(), Some("chat"));
        assert!(accept.deflate);
        assert_eq!(
            websocket_accept(b"HTTP/1.1 101 OK\r\n\r\n"),
            WebSocketAccept::default()
        );
    }
}
