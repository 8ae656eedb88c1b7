//! HTTP/2 lifecycle events (RFC 9113): what a connection's frames say about its streams, its
//! pings and its goaways. In JSON lines they are `"kind": "http2"` events, the frame's story in
//! `"h2"` (`"h2": "goaway"`); in pcapng comments, a sentence each.

use std::borrow::Cow;
use std::fmt;

use compact_str::CompactString;
use serde::{Serialize, Serializer};

use super::vocabulary::Side;

/// An HTTP/2 error code (RFC 9113 §7), as in RST_STREAM and GOAWAY frames; written by its
/// RFC name (`ENHANCE_YOUR_CALM`), an unknown one in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct H2Code(pub u32);

impl H2Code {
    /// The graceful one: a GOAWAY that only says "no new streams".
    pub const NO_ERROR: H2Code = H2Code(0);
    /// A stream the peer no longer wants.
    pub const CANCEL: H2Code = H2Code(8);
    /// A stream refused before any processing (safe to retry): after a GOAWAY, or over the
    /// concurrency limit.
    pub const REFUSED_STREAM: H2Code = H2Code(7);
    /// The peer behaves in a way the sender will not tolerate (gRPC: too many pings).
    pub const ENHANCE_YOUR_CALM: H2Code = H2Code(11);

    /// The RFC's name of the code.
    pub fn name(self) -> Cow<'static, str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        match NAMES.get(self.0 as usize) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("0x{:x}", self.0)),
        }
    }
}

impl fmt::Display for H2Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for H2Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// What an HTTP/2 connection's frames said.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "h2", rename_all = "snake_case")]
pub enum Http2Event {
    /// The client's connection preface: the connection speaks HTTP/2 from here, by prior
    /// knowledge or after an `Upgrade: h2c` answered by 101.
    Preface {
        /// Reached through an HTTP/1.1 upgrade.
        upgraded: bool,
    },
    /// A SETTINGS frame (not an acknowledgement), with the values keep-alive questions need.
    Settings {
        /// Who sent it.
        by: Side,
        /// Streams the sender lets its peer open at once.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_concurrent_streams: Option<u32>,
        /// The flow-control window the sender gives each new stream.
        #[serde(skip_serializing_if = "Option::is_none")]
        initial_window_size: Option<u32>,
    },
    /// The client opened a stream (a request's HEADERS).
    StreamOpen {
        /// Its stream id.
        stream: u32,
        /// `:method` (empty when the header block could not be read).
        method: CompactString,
        /// `:path`.
        path: CompactString,
        /// `content-type: application/grpc...`: a gRPC call.
        grpc: bool,
        /// Streams open on the connection with this one.
        concurrent: u32,
    },
    /// The response head of a stream (its `:status`; interim 1xx heads are not counted).
    Response {
        /// Its stream id.
        stream: u32,
        /// The status.
        status: u16,
    },
    /// Both sides ended a stream (END_STREAM each way).
    StreamEnd {
        /// Its stream id.
        stream: u32,
        /// gRPC's status from the trailers (0 OK, 14 UNAVAILABLE, ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        grpc_status: Option<u32>,
    },
    /// A RST_STREAM frame: one side ended a stream abruptly.
    Reset {
        /// Who sent it.
        by: Side,
        /// The stream.
        stream: u32,
        /// Why.
        code: H2Code,
    },
    /// A PING frame (not an acknowledgement): a keepalive probe of HTTP/2.
    Ping {
        /// Who sent it.
        by: Side,
    },
    /// A PING acknowledgement.
    PingAck {
        /// Who sent it (the peer of the pinger).
        by: Side,
        /// Since the PING it answers (same opaque data); None when it answers none seen.
        #[serde(skip_serializing_if = "Option::is_none")]
        rtt_ns: Option<u64>,
    },
    /// A GOAWAY frame: no new streams on this connection.
    GoAway {
        /// Who sent it.
        by: Side,
        /// The last stream the sender will have processed.
        last_stream: u32,
        /// Why.
        code: H2Code,
        /// Its debug data, as text (gRPC: `too_many_pings`, `max_age`, `max_idle`).
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        debug: CompactString,
    },
    /// A side used up the flow-control window its peer gave it (stream 0: the whole
    /// connection's): it can send no more DATA until a WINDOW_UPDATE.
    WindowStall {
        /// The side that is blocked.
        by: Side,
        /// The stream (0: the connection).
        stream: u32,
    },
    /// A frame that breaks RFC 9113 (or a bound connlab keeps: a header block too large);
    /// the event's frame is where.
    ProtocolError {
        /// Who sent it.
        by: Side,
        /// What is wrong.
        error: &'static str,
    },
    /// The capture lost a frame header (a gap where one was): nothing more of this direction
    /// is read rather than guessed.
    LostSync {
        /// Whose direction.
        by: Side,
    },
    /// A header block of this side was not (wholly) captured: the HPACK table no longer
    /// matches the sender's, so later header blocks are not decoded (frames still count).
    HpackLost {
        /// Whose header blocks.
        by: Side,
    },
}

impl Http2Event {
    /// The event in words, for packet comments.
    pub fn describe(&self) -> String {
        let ms = |ns: u64| format!("{} ms", (ns / 1_000) as f64 / 1_000.0);
        match self {
            Http2Event::Preface { upgraded: false } => "HTTP/2 preface (prior knowledge)".into(),
            Http2Event::Preface { upgraded: true } => "HTTP/2 preface (after h2c upgrade)".into(),
            Http2Event::Settings {
                by,
                max_concurrent_streams,
                initial_window_size,
            } => {
                let mut line = format!("HTTP/2 SETTINGS from {by}");
                if let Some(n) = max_concurrent_streams {
                    line.push_str(&format!(", max concurrent streams {n}"));
                }
                if let Some(n) = initial_window_size {
                    line.push_str(&format!(", initial window {n}"));
                }
                line
            }
            Http2Event::StreamOpen {
                stream,
                method,
                path,
                grpc,
                concurrent,
            } => format!(
                "HTTP/2 stream {stream} {}{} {} ({concurrent} open)",
                if *grpc { "gRPC " } else { "" },
                super::vocabulary::clean(method),
                super::vocabulary::clean(path)
            ),
            Http2Event::Response { stream, status } => {
                format!("HTTP/2 stream {stream} response status {status}")
            }
            Http2Event::StreamEnd {
                stream,
                grpc_status,
            } => match grpc_status {
                Some(s) => format!("HTTP/2 stream {stream} ended, grpc-status {s}"),
                None => format!("HTTP/2 stream {stream} ended"),
            },
            Http2Event::Reset { by, stream, code } => {
                format!("HTTP/2 RST_STREAM {code} on stream {stream} from {by}")
            }
            Http2Event::Ping { by } => format!("HTTP/2 PING from {by}"),
            Http2Event::PingAck { by, rtt_ns } => match rtt_ns {
                Some(rtt) => format!("HTTP/2 PING ACK from {by}, {} after the PING", ms(*rtt)),
                None => format!("HTTP/2 PING ACK from {by}"),
            },
            Http2Event::GoAway {
                by,
                last_stream,
                code,
                debug,
            } => {
                let mut line = format!("HTTP/2 GOAWAY {code} from {by}, last stream {last_stream}");
                if !debug.is_empty() {
                    line.push_str(&format!(" ({})", super::vocabulary::clean(debug)));
                }
                line
            }
            Http2Event::WindowStall { by, stream: 0 } => {
                format!("HTTP/2 connection window of {by} used up")
            }
            Http2Event::WindowStall { by, stream } => {
                format!("HTTP/2 stream {stream} window of {by} used up")
            }
            Http2Event::ProtocolError { by, error } => {
                format!("HTTP/2 protocol error from {by}: {error}")
            }
            Http2Event::LostSync { by } => {
                format!("HTTP/2 framing from {by} lost (a frame header is not in the capture)")
            }
            Http2Event::HpackLost { by } => format!(
                "HTTP/2 header compression state of {by} lost (a header block is not in the \
                 capture)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_in_the_rfc() {
        assert_eq!(H2Code::ENHANCE_YOUR_CALM.to_string(), "ENHANCE_YOUR_CALM");
        assert_eq!(H2Code(0x0d).to_string(), "HTTP_1_1_REQUIRED");
        assert_eq!(H2Code(0x1234).to_string(), "0x1234");
    }
}
