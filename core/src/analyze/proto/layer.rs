//! What a protocol layer is, to the connection and to the other layers: the context it reads
//! and emits with ([`Cx`], with the TLS [`Secrets`]), what it says after reading ([`Next`],
//! naming a [`Handoff`]), the interface each one implements ([`Layer`]) and what TLS hands
//! its plaintext to ([`Stream`]). Apart from the registry that lists the layers, so the layers
//! use it and the registry uses them, and no layer takes anything from another.

use std::net::SocketAddr;

use super::tls::ahead::{KeyNotes, Opened};
use super::tls::keys::{KeyLog, RecordKey};
use crate::analyze::event::{Event, EventKind, Side};
use crate::analyze::reassembly::Piece;

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
        /// The protocol that reads it.
        to: Handoff,
    },
}

/// The protocol a layer hands the rest of the stream to, as the layer that agreed the switch
/// names it; the registry starts its reader (see `registry::handed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handoff {
    /// WebSocket, after an accepted upgrade, with or without permessage-deflate.
    WebSocket {
        /// Whether both sides agreed on permessage-deflate.
        deflate: bool,
    },
    /// HTTP/2, after an accepted `Upgrade: h2c`.
    H2c,
    /// TLS, after a protocol's own request for it was accepted (PostgreSQL's SSLRequest):
    /// inside it, the registry recognises the protocol again by its first bytes.
    Tls,
    /// A protocol the analyser does not read.
    Opaque,
}

/// The one interface every protocol layer implements.
pub(crate) trait Layer {
    /// `data`, the next bytes of `side`'s stream.
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) -> Next;
    /// `len` bytes of `side`'s stream that were on the wire but are not in the capture.
    fn gap(&mut self, cx: &mut Cx<'_>, side: Side, len: u64);
}

/// A connection's reader whatever protocol it speaks, switches followed: what TLS hands its
/// plaintext to. TLS names its inner reader by this trait rather than by the registry's
/// [`registry::Proto`](super::registry::Proto), which lists TLS among the protocols.
pub(crate) trait Stream {
    /// Reads the next piece of `side`'s stream.
    fn piece(&mut self, cx: &mut Cx<'_>, side: Side, piece: Piece<'_>);
}
