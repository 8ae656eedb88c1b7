//! Protocol layers: what a connection's ordered byte streams say, above TCP.
//!
//! Each protocol is one module that reads both directions of a connection as ordered pieces
//! (bytes the capture holds, and gaps it does not: see `reassembly`) and emits events. They
//! all plug in through one interface, [`Layer`]: HTTP/1.1, WebSocket after an upgrade, and
//! whatever comes next. A layer may hand the rest of the stream to another protocol ([`Next`]):
//! HTTP/1.1 does so after a `101 Switching Protocols`. The connection keeps one [`Proto`] and
//! never knows which protocol it is.

pub(crate) mod bursts;
pub(crate) mod http1;
pub(crate) mod http2;
pub(crate) mod redis;
pub(crate) mod registry;
pub(crate) mod tls;
pub(crate) mod websocket;

use std::net::SocketAddr;

use super::event::{Event, EventKind, Side};
use super::reassembly::Piece;
use tls::ahead::{KeyNotes, Opened};
use tls::keys::{KeyLog, RecordKey};

/// What the TLS layer reads beside the bytes: the keys known, and what it shares with a
/// reader that decrypts ahead of the analyser (see `tls::ahead`).
#[derive(Default)]
pub(crate) struct Secrets<'a> {
    /// The TLS keys known to the analyser (None: no key log given).
    pub keys: Option<&'a KeyLog>,
    /// The records the reader opened that end in the segment being read.
    pub opened: Opened<'a>,
    /// Where the keys found are noted for the reader (None: nobody decrypts ahead).
    pub notes: Option<&'a mut KeyNotes>,
}

impl Secrets<'_> {
    /// The same secrets, lent for one read.
    pub fn reborrow(&mut self) -> Secrets<'_> {
        Secrets {
            keys: self.keys,
            opened: self.opened,
            notes: self.notes.as_deref_mut(),
        }
    }
}

/// What a layer emits into: the connection's identity, the time of the segment being read,
/// the event list, and the TLS secrets.
pub(crate) struct Cx<'a> {
    /// Capture time of the segment whose bytes are being read.
    pub t_ns: u64,
    /// The TLS keys, and the reader decrypting ahead.
    pub secrets: Secrets<'a>,
    /// Both sides' initial sequence numbers, which tell the connection apart from another
    /// on the same addresses (for the notes to a reader decrypting ahead).
    pub isn: [u32; 2],
    id: u64,
    client: SocketAddr,
    server: SocketAddr,
    out: &'a mut Vec<Event>,
    quiet: bool,
}

impl<'a> Cx<'a> {
    /// A context for connection `id` at `t_ns`.
    pub fn new(
        t_ns: u64,
        (id, client, server): (u64, SocketAddr, SocketAddr),
        secrets: Secrets<'a>,
        out: &'a mut Vec<Event>,
    ) -> Cx<'a> {
        Cx {
            t_ns,
            secrets,
            isn: [0; 2],
            id,
            client,
            server,
            out,
            quiet: false,
        }
    }

    /// The bytes read only closed the connection politely (a TLS alert): they are not the
    /// activity an idle close is timed from.
    pub fn quiet(&mut self) {
        self.quiet = true;
    }

    /// Whether the bytes read were only closing chatter.
    pub fn was_quiet(&self) -> bool {
        self.quiet
    }

    /// Notes `side`'s application key for a reader decrypting ahead, from its record number
    /// `first` on; the note's serial, or None when nobody decrypts ahead.
    pub fn note(&mut self, side: Side, first: u64, key: &RecordKey) -> Option<u64> {
        let notes = self.secrets.notes.as_deref_mut()?;
        Some(notes.note((self.client, self.server, self.isn), side, first, key))
    }

    /// The server's port: a hint for the protocols whose first bytes are ambiguous.
    pub fn server_port(&self) -> u16 {
        self.server.port()
    }

    /// Appends an event of this connection (its frame is stamped by the tracker).
    pub fn emit(&mut self, kind: EventKind) {
        self.out.push(Event {
            t_ns: self.t_ns,
            frame: 0,
            conn: self.id,
            client: self.client,
            server: self.server,
            kind,
        });
    }
}

/// What a layer says after reading a piece of data.
pub(crate) enum Next {
    /// Keep reading with this layer.
    Same,
    /// From byte `at` of this piece on, both directions speak another protocol.
    Switch {
        /// Where the other protocol starts in the piece.
        at: usize,
        /// The layer that reads it.
        to: Proto,
    },
}

/// The one interface every protocol layer implements.
pub(crate) trait Layer {
    /// `data`, the next bytes of `side`'s stream.
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) -> Next;
    /// `len` bytes of `side`'s stream that were on the wire but are not in the capture.
    fn gap(&mut self, cx: &mut Cx<'_>, side: Side, len: u64);
}

/// The protocol a connection speaks now.
#[derive(Debug)]
pub(crate) enum Proto {
    /// HTTP/1.x (every connection starts here: its first bytes tell what it is).
    Http1(http1::Http1),
    /// WebSocket, after an accepted upgrade.
    WebSocket(Box<websocket::WebSocket>),
    /// HTTP/2: by prior knowledge (the client's first bytes are its preface), or after an
    /// accepted `Upgrade: h2c`.
    Http2(Box<http2::Http2>),
    /// TLS: the client's first bytes are a handshake record; what it carries is read by an
    /// inner protocol when the keys are known.
    Tls(Box<tls::Tls>),
    /// Redis: the client's first bytes are a RESP command.
    Redis(Box<redis::Redis>),
    /// Plain TCP: bytes no protocol claims, read as the turns of an exchange.
    Bursts(bursts::Bursts),
    /// A protocol the analyser does not read (after a 101 to an unknown protocol).
    Opaque,
}

impl Default for Proto {
    fn default() -> Self {
        Proto::Http1(http1::Http1::default())
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
                Proto::Bursts(l) => l.gap(cx, side, len),
                Proto::Opaque => {}
            },
        }
    }

    fn data(&mut self, cx: &mut Cx<'_>, side: Side, mut data: &[u8]) {
        if let Proto::Http1(http1) = self {
            let first = http1.first_bytes(side);
            if http1.unclaimed(side) {
                if let Some(other) = registry::by_first_bytes(cx, side, data, first) {
                    *self = other;
                }
            }
        }
        loop {
            let next = match self {
                Proto::Http1(l) => l.data(cx, side, data),
                Proto::WebSocket(l) => l.data(cx, side, data),
                Proto::Http2(l) => l.data(cx, side, data),
                Proto::Tls(l) => l.data(cx, side, data),
                Proto::Redis(l) => l.data(cx, side, data),
                Proto::Bursts(l) => l.data(cx, side, data),
                Proto::Opaque => Next::Same,
            };
            match next {
                Next::Same => return,
                Next::Switch { at, to } => {
                    *self = to;
                    data = data.get(at..).unwrap_or(&[]);
                    if data.is_empty() {
                        return;
                    }
                }
            }
        }
    }
}
