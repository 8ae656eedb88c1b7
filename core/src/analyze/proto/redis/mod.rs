//! Redis as a protocol layer: the client's commands and the server's replies over RESP2 and
//! RESP3, matched in order (Redis answers every connection's commands in the order they came,
//! pipelined or not), with the pushes a subscriber gets apart from them.
//!
//! Everything Redis is in this folder: the framing (`resp`), the events, the summary section,
//! how a stream is recognised ([`claims`]), the knob rows (`knobs.txt`) and the tests.

mod event;
pub(crate) mod resp;
pub(crate) mod summary;
#[cfg(test)]
mod tests;

use compact_str::CompactString;

use super::layer::{Cx, Layer, Next};
use crate::analyze::event::{EventKind, Side};
use crate::analyze::stack::{Clue, Stack};
pub use event::RedisEvent;
use resp::{Kind, Message, Resp};

/// Redis's port: a hint for inline commands, which look like any other line of text.
pub(crate) const PORT: u16 = 6379;

/// The knob rows of Redis servers and clients, read by the knob table.
pub(crate) const KNOBS: &str = include_str!("knobs.txt");

/// Its section of the summary (and of `[expect]` keys).
pub(crate) const SECTION: &str = "redis";

/// Whether a stream's first bytes are Redis's: a client's command as a RESP array of bulk
/// strings (`*N\r\n$`), or an inline command to Redis's port; or a server that speaks first to
/// refuse the connection (`-ERR max number of clients reached`, `-DENIED` in protected mode).
pub(crate) fn claims(side: Side, data: &[u8], server_port: u16) -> bool {
    match side {
        Side::Client => is_array_command(data) || (server_port == PORT && is_inline_command(data)),
        Side::Server => {
            data.starts_with(b"-ERR max number of clients reached")
                || (server_port == PORT && data.starts_with(b"-DENIED "))
        }
    }
}

/// `*<digits>\r\n$`: how every client library writes a command.
fn is_array_command(data: &[u8]) -> bool {
    let Some(rest) = data.strip_prefix(b"*") else {
        return false;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    (1..=7).contains(&digits) && rest[digits..].starts_with(b"\r\n$")
}

/// A line of letters then a space or the line's end (`PING\r\n`, `set k v\n`), and not an
/// HTTP request line (which Redis refuses as a cross-protocol attack).
fn is_inline_command(data: &[u8]) -> bool {
    let letters = data.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let line = &data[..memchr::memchr(b'\n', data).unwrap_or(data.len())];
    (1..=16).contains(&letters)
        && matches!(data.get(letters), Some(b' ' | b'\r' | b'\n'))
        && memchr::memmem::find(line, b" HTTP/").is_none()
}

/// One connection's Redis state.
#[derive(Debug)]
pub(crate) struct Redis {
    /// The client's and the server's RESP readers.
    readers: [Resp; 2],
    talk: Talk,
}

/// What the connection said so far, apart from the readers so that both can be borrowed at
/// once (a reader hands each message straight to it).
#[derive(Debug, Default)]
struct Talk {
    commands: u32,
    replies: u32,
    last_reply_ns: Option<u64>,
    /// It subscribed (RESP2): arrays of `message` are pushes, not replies.
    subscribed: bool,
    /// The server was named (once per connection).
    told_server: bool,
}

impl Default for Redis {
    fn default() -> Self {
        Redis {
            readers: [Resp::new(true), Resp::new(false)],
            talk: Talk::default(),
        }
    }
}

/// A word as text (the capture's bytes, lossily).
fn text(bytes: &[u8]) -> CompactString {
    CompactString::from_utf8_lossy(bytes)
}

/// A word in upper case (command names are case-insensitive).
fn upper(bytes: &[u8]) -> CompactString {
    text(&bytes.to_ascii_uppercase())
}

/// The client library a `CLIENT SETINFO LIB-NAME` or `CLIENT SETNAME` names, where connlab
/// knows its knobs.
fn library(name: &[u8]) -> Option<Stack> {
    let name = name.to_ascii_lowercase();
    let has = |s: &[u8]| memchr::memmem::find(&name, s).is_some();
    Some(if has(b"redis-py") {
        Stack::RedisPy
    } else if has(b"go-redis") {
        Stack::GoRedis
    } else if has(b"ioredis") {
        Stack::Ioredis
    } else if has(b"jedis") {
        Stack::Jedis
    } else if has(b"lettuce") {
        Stack::Lettuce
    } else {
        return None;
    })
}

impl Talk {
    fn command(&mut self, cx: &mut Cx<'_>, m: &Message) {
        self.commands += 1;
        let n = self.commands;
        let name = upper(m.word(0));
        match name.as_str() {
            "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" => self.subscribed = true,
            "HELLO" => {
                if let Some(protocol @ (b'2' | b'3')) = m.word(1).first().copied() {
                    cx.emit(EventKind::Redis(RedisEvent::Hello {
                        protocol: protocol - b'0',
                    }));
                }
            }
            "CLIENT" => {
                let sub = m.word(1).to_ascii_uppercase();
                let named = match (&sub[..], m.word(2).to_ascii_uppercase().as_slice()) {
                    (b"SETINFO", b"LIB-NAME") => Some(m.word(3)),
                    (b"SETNAME", _) => Some(m.word(2)),
                    _ => None,
                };
                if let Some(named) = named.filter(|n| !n.is_empty()) {
                    cx.emit(EventKind::Redis(RedisEvent::Client { name: text(named) }));
                    if let Some(stack) = library(named) {
                        cx.emit(EventKind::Stack {
                            by: Side::Client,
                            stack,
                            clue: Clue::ClientName,
                        });
                    }
                }
            }
            _ => {}
        }
        let reused = n > 1;
        cx.emit(EventKind::Redis(RedisEvent::Command {
            n,
            name,
            reused,
            idle_ns: self
                .last_reply_ns
                .filter(|_| reused)
                .map(|last| cx.t_ns.saturating_sub(last)),
            depth: n - self.replies,
        }));
    }

    fn reply(&mut self, cx: &mut Cx<'_>, m: &Message) {
        let first = m.word(0);
        let pushed = m.kind == Kind::Push
            || (self.subscribed
                && m.kind == Kind::Array
                && matches!(
                    &first.to_ascii_lowercase()[..],
                    b"message" | b"pmessage" | b"smessage"
                ));
        if pushed {
            cx.emit(EventKind::Redis(RedisEvent::Push { what: text(first) }));
            return;
        }
        if !self.told_server {
            // Whatever answers in RESP is Redis (or a server that copies it).
            self.told_server = true;
            cx.emit(EventKind::Stack {
                by: Side::Server,
                stack: Stack::RedisServer,
                clue: Clue::Protocol,
            });
        }
        // A reply before any command waits (`max number of clients reached` at accept)
        // answers none: n 0.
        let n = if self.replies < self.commands {
            self.replies += 1;
            self.replies
        } else {
            0
        };
        let (error, message) = match m.kind {
            Kind::Error | Kind::BlobError => {
                let prefix = first.split(|b| *b == b' ').next().unwrap_or(first);
                (Some(text(prefix)), text(first))
            }
            _ => (None, CompactString::default()),
        };
        cx.emit(EventKind::Redis(RedisEvent::Reply { n, error, message }));
    }
}

impl Layer for Redis {
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) -> Next {
        let talk = &mut self.talk;
        let result = match side {
            Side::Client => self.readers[0].feed(data, &mut |m| talk.command(cx, m)),
            Side::Server => {
                let result = self.readers[1].feed(data, &mut |m| talk.reply(cx, m));
                talk.last_reply_ns = Some(cx.t_ns);
                result
            }
        };
        if let Err(why) = result {
            cx.emit(EventKind::Redis(RedisEvent::ProtocolError {
                by: side,
                error: why.as_str(),
            }));
        }
        Next::Same
    }

    fn gap(&mut self, cx: &mut Cx<'_>, side: Side, len: u64) {
        let reader = &mut self.readers[usize::from(side == Side::Server)];
        if reader.lost() {
            return;
        }
        reader.gap(len);
        if reader.lost() {
            cx.emit(EventKind::Redis(RedisEvent::LostSync { by: side }));
        }
    }
}
