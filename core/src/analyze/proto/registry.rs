//! Which protocol reads a connection: the handoff table, one line per protocol (Wireshark's
//! habit: a protocol adds itself to the table of the layer below; no protocol sniffs for
//! another).
//!
//! A connection starts with HTTP/1.x's reader, which keeps what may be HTTP/1.x and nobody
//! else claims; first bytes that cannot be are read as plain TCP. Until
//! HTTP/1.x has seen a request, each piece the client sends is offered to this table, in order,
//! the most specific signatures first; the first protocol that claims the bytes reads the
//! connection from them on. The server's port is a hint a protocol may use where its bytes
//! alone are ambiguous (Redis's inline commands), never a claim by itself.
//!
//! A layer that agrees a switch (HTTP/1.x after a `101 Switching Protocols`) names the
//! protocol it hands the stream to, and the registry starts that protocol's reader
//! ([`handed`]). The connection keeps one [`Proto`], the enum of every protocol's reader, and
//! never knows which protocol it is.

use super::bursts::{self, Bursts};
use super::http1::Http1;
use super::http2::{self, Http2};
use super::layer::{Cx, Handoff, Layer, Next, Stream};
use super::mysql::{self, Mysql};
use super::postgres::{self, Postgres};
use super::redis::{self, Redis};
use super::tls::{self, Tls};
use super::websocket::WebSocket;
use crate::analyze::event::Side;
use crate::analyze::reassembly::Piece;

/// A protocol recognised by the first bytes of a stream.
pub(crate) struct Entry {
    /// Whether `side`'s first bytes (to a server on the given port) are this protocol's.
    pub claims: fn(Side, &[u8], u16) -> bool,
    /// Its reader, from those bytes on.
    pub start: fn(&mut Cx<'_>) -> Proto,
}

/// The protocols recognised by their first bytes, in the order they are asked.
const BY_FIRST_BYTES: [Entry; 5] = [
    // TLS: a ClientHello record.
    Entry {
        claims: |side, data, _| side == Side::Client && tls::is_client_hello(data),
        start: |_| Proto::Tls(Box::default()),
    },
    // HTTP/2 by prior knowledge: the client's preface.
    Entry {
        claims: |side, data, _| side == Side::Client && http2::is_preface(data),
        start: |cx| Proto::Http2(Box::new(Http2::new(cx, false))),
    },
    // PostgreSQL: a client's untyped startup packet.
    Entry {
        claims: postgres::claims,
        start: |_| Proto::Postgres(Box::<Postgres>::default()),
    },
    // MySQL and MariaDB: the server's greeting (the server speaks first).
    Entry {
        claims: mysql::claims,
        start: |_| Proto::Mysql(Box::<Mysql>::default()),
    },
    // Redis: a RESP command.
    Entry {
        claims: redis::claims,
        start: |_| Proto::Redis(Box::<Redis>::default()),
    },
];

/// The reader of the protocol that claims `side`'s bytes, if one does; `first` when they are
/// the first `side` sent. Last comes plain TCP, for first bytes that are no protocol's in the
/// table and cannot be HTTP/1.x's (only the first: a request split inside its method is
/// still HTTP/1.x's).
fn by_first_bytes(cx: &mut Cx<'_>, side: Side, data: &[u8], first: bool) -> Option<Proto> {
    let port = cx.server_port();
    if let Some(entry) = BY_FIRST_BYTES.iter().find(|e| (e.claims)(side, data, port)) {
        return Some((entry.start)(cx));
    }
    (first && bursts::claims(side, data)).then(|| Proto::Bursts(Bursts::default()))
}

/// The reader of the protocol a layer hands the stream to.
fn handed(cx: &mut Cx<'_>, to: Handoff) -> Proto {
    match to {
        Handoff::WebSocket { deflate } => Proto::WebSocket(Box::new(WebSocket::new(deflate))),
        Handoff::H2c => Proto::Http2(Box::new(Http2::new(cx, true))),
        Handoff::Tls => Proto::Tls(Box::default()),
        Handoff::Opaque => Proto::Opaque,
    }
}

/// The summary sections of the protocols in folders (`redis`): fields an `[expect]` key or a
/// sweep's metric may start with, left out of a summary where the protocol was not seen.
pub const SECTIONS: [&str; 3] = [redis::SECTION, postgres::SECTION, mysql::SECTION];

/// The knob rows the protocols keep in their folders, after the table's own.
pub(crate) const KNOBS: [&str; 4] = [redis::KNOBS, postgres::KNOBS, mysql::KNOBS, bursts::KNOBS];

/// The protocol a connection speaks now.
#[derive(Debug)]
pub(crate) enum Proto {
    /// HTTP/1.x (every connection starts here: its first bytes tell what it is).
    Http1(Http1),
    /// WebSocket, after an accepted upgrade.
    WebSocket(Box<WebSocket>),
    /// HTTP/2: by prior knowledge (the client's first bytes are its preface), or after an
    /// accepted `Upgrade: h2c`.
    Http2(Box<Http2>),
    /// TLS: the client's first bytes are a handshake record; what it carries is read by an
    /// inner protocol when the keys are known.
    Tls(Box<Tls<Proto>>),
    /// Redis: the client's first bytes are a RESP command.
    Redis(Box<Redis>),
    /// PostgreSQL: the client's first bytes are a startup packet.
    Postgres(Box<Postgres>),
    /// MySQL or MariaDB: the server's first bytes are its greeting.
    Mysql(Box<Mysql>),
    /// Plain TCP: bytes no protocol claims, read as the turns of an exchange.
    Bursts(Bursts),
    /// A protocol the analyser does not read (after a 101 to an unknown protocol).
    Opaque,
}

impl Default for Proto {
    fn default() -> Self {
        Proto::Http1(Http1::default())
    }
}

impl Proto {
    /// Reads the next piece of `side`'s stream, following switches to other protocols.
    pub fn piece(&mut self, cx: &mut Cx<'_>, side: Side, piece: Piece<'_>) {
        match piece {
            Piece::Data(data) => self.data(cx, side, data),
            Piece::Gap(len) => match self {
                Proto::Http1(l) => l.gap(cx, side, len),
                Proto::WebSocket(l) => l.gap(cx, side, len),
                Proto::Http2(l) => l.gap(cx, side, len),
                Proto::Tls(l) => l.gap(cx, side, len),
                Proto::Redis(l) => l.gap(cx, side, len),
                Proto::Postgres(l) => l.gap(cx, side, len),
                Proto::Mysql(l) => l.gap(cx, side, len),
                Proto::Bursts(l) => l.gap(cx, side, len),
                Proto::Opaque => {}
            },
        }
    }

    fn data(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) {
        if let Proto::Http1(http1) = self {
            let first = http1.first_bytes(side);
            if http1.unclaimed(side) {
                if let Some(other) = by_first_bytes(cx, side, data, first) {
                    let early = http1.take_early_server();
                    *self = other;
                    if let Some(bytes) = early {
                        self.early_server(cx, &bytes);
                    }
                }
            }
        }
        self.follow(cx, side, data);
    }

    /// What the server sent before the client's first bytes named this protocol (an HTTP/2
    /// server's SETTINGS before the preface): read first. Cold: servers seldom speak first.
    #[cold]
    #[inline(never)]
    fn early_server(&mut self, cx: &mut Cx<'_>, bytes: &[u8]) {
        self.follow(cx, Side::Server, bytes);
    }

    /// Hands `data` to the protocol reading `side`, following the switches it agrees.
    fn follow(&mut self, cx: &mut Cx<'_>, side: Side, mut data: &[u8]) {
        loop {
            let next = match self {
                Proto::Http1(l) => l.data(cx, side, data),
                Proto::WebSocket(l) => l.data(cx, side, data),
                Proto::Http2(l) => l.data(cx, side, data),
                Proto::Tls(l) => l.data(cx, side, data),
                Proto::Redis(l) => l.data(cx, side, data),
                Proto::Postgres(l) => l.data(cx, side, data),
                Proto::Mysql(l) => l.data(cx, side, data),
                Proto::Bursts(l) => l.data(cx, side, data),
                Proto::Opaque => Next::Same,
            };
            match next {
                Next::Same => return,
                Next::Switch { at, to } => {
                    *self = handed(cx, to);
                    data = data.get(at..).unwrap_or(&[]);
                    if data.is_empty() {
                        return;
                    }
                }
            }
        }
    }
}

impl Stream for Proto {
    fn piece(&mut self, cx: &mut Cx<'_>, side: Side, piece: Piece<'_>) {
        Proto::piece(self, cx, side, piece);
    }
}
