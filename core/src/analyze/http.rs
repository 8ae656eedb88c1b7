//! Spotting HTTP/1.x request and status lines in segment payloads.
//!
//! Why so shallow: the lab only needs to know where each request and response
//! starts, to count reuse and idle time. Bodies are never parsed; a message is
//! looked for at the start of new data and after a blank line (`\r\n\r\n`)
//! inside the same segment, which catches pipelining in the common case.

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// A request line: `METHOD SP target SP HTTP/1.`…
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestLine {
    pub method: &'static str,
    pub path: String,
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
    Some(RequestLine {
        method,
        path: String::from_utf8_lossy(&rest[..end]).into_owned(),
    })
}

/// Parses `HTTP/1.x NNN` at the start of `data` into the status code.
pub(crate) fn status_line(data: &[u8]) -> Option<u16> {
    let rest = data.strip_prefix(b"HTTP/1.")?;
    match rest {
        [minor, b' ', a, b, c, ..]
            if minor.is_ascii_digit() && [a, b, c].iter().all(|d| d.is_ascii_digit()) =>
        {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Every message start in `data` recognised by `parse`: at offset 0, then
/// after each blank line that is immediately followed by another message.
pub(crate) fn messages<T>(data: &[u8], parse: impl Fn(&[u8]) -> Option<T>) -> Vec<T> {
    let mut found = Vec::new();
    let Some(first) = parse(data) else {
        return found;
    };
    found.push(first);
    let mut at = 0;
    while let Some(pos) = find(&data[at..], b"\r\n\r\n") {
        at += pos + 4;
        if let Some(next) = parse(&data[at..]) {
            found.push(next);
        }
    }
    found
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
        assert!(request_line(b"").is_none());
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_line(b"HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(status_line(b"HTTP/1.1 20"), None);
        assert_eq!(status_line(b"HTTP/2 200"), None);
    }

    #[test]
    fn pipelined_messages_in_one_segment() {
        let data = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\nbody\r\n\r\n";
        let paths: Vec<String> = messages(data, request_line)
            .into_iter()
            .map(|r| r.path)
            .collect();
        assert_eq!(paths, ["/1", "/2"]);
        assert!(messages(b"xGET / HTTP/1.1\r\n\r\nGET / HTTP/1.1", request_line).is_empty());
    }
}
