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

use super::bursts::{self, Bursts};
use super::http2::{self, Http2};
use super::redis::{self, Redis};
use super::tls;
use super::{Cx, Proto};
use crate::analyze::event::Side;

/// A protocol recognised by the first bytes of a stream.
pub(crate) struct Entry {
    /// Whether `side`'s first bytes (to a server on the given port) are this protocol's.
    pub claims: fn(Side, &[u8], u16) -> bool,
    /// Its reader, from those bytes on.
    pub start: fn(&mut Cx<'_>) -> Proto,
}

/// The protocols recognised by their first bytes, in the order they are asked.
const BY_FIRST_BYTES: [Entry; 3] = [
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
pub(crate) fn by_first_bytes(
    cx: &mut Cx<'_>,
    side: Side,
    data: &[u8],
    first: bool,
) -> Option<Proto> {
    let port = cx.server_port();
    if let Some(entry) = BY_FIRST_BYTES.iter().find(|e| (e.claims)(side, data, port)) {
        return Some((entry.start)(cx));
    }
    (first && bursts::claims(side, data)).then(|| Proto::Bursts(Bursts::default()))
}

/// The summary sections of the protocols in folders (`redis`): fields an `[expect]` key or a
/// sweep's metric may start with, left out of a summary where the protocol was not seen.
pub const SECTIONS: [&str; 1] = [redis::SECTION];

/// The knob rows the protocols keep in their folders, after the table's own.
pub(crate) const KNOBS: [&str; 2] = [redis::KNOBS, bursts::KNOBS];
