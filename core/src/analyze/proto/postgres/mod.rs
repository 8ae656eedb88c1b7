//! PostgreSQL as a protocol layer (the frontend/backend protocol 3.0, which pgbouncer speaks
//! on both of its legs): the startup, the queries of the simple and the extended protocol
//! grouped into the turns each ReadyForQuery ends, the session's transaction status, the
//! server's errors, notifications, COPY, Terminate, and CancelRequest connections. An
//! accepted SSLRequest hands the connection to TLS, inside which the startup is recognised
//! again.
//!
//! Everything PostgreSQL is in this folder: the framing (`wire`), what the messages mean
//! (`session`), the events, the summary section, the diagnosis over its endpoints, how a
//! stream is recognised ([`claims`]), the knob rows (`knobs.txt`) and the tests.

pub(crate) mod diagnosis;
mod event;
#[cfg(test)]
mod pooler_tests;
mod session;
pub(crate) mod summary;
#[cfg(test)]
mod tests;
pub(crate) mod wire;

use super::layer::{Cx, Handoff, Layer, Next};
use crate::analyze::event::{EventKind, Side};
pub use event::PgEvent;
use session::Session;
use wire::Wire;

/// The knob rows of PostgreSQL servers, poolers and clients, read by the knob table.
pub(crate) const KNOBS: &str = include_str!("knobs.txt");

/// Its section of the summary (and of `[expect]` keys).
pub(crate) const SECTION: &str = "postgres";

/// Whether a stream's first bytes are PostgreSQL's: a client's untyped startup packet (a
/// length, then the protocol 3.x, or the code of an SSLRequest, a GSSENCRequest
/// or a CancelRequest).
pub(crate) fn claims(side: Side, data: &[u8], _server_port: u16) -> bool {
    if side != Side::Client || data.len() < 8 {
        return false;
    }
    let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let code = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    match code {
        80_877_103 | 80_877_104 => len == 8,
        80_877_102 => len == 16,
        // Protocol 3.x; a length past what servers accept is still PostgreSQL's, refused by
        // the framing as a protocol error.
        _ => code >> 16 == 3 && code & 0xffff < 16 && len >= 9,
    }
}

/// One connection's PostgreSQL state.
#[derive(Debug)]
pub(crate) struct Postgres {
    /// The client's and the server's framing.
    wires: [Wire; 2],
    session: Session,
}

impl Default for Postgres {
    fn default() -> Self {
        Postgres {
            wires: [Wire::new(true), Wire::new(false)],
            session: Session::default(),
        }
    }
}

impl Postgres {
    /// The server's one-byte answer to an SSLRequest or GSSENCRequest, at the start of
    /// `data`: where the stream goes from there (None: it stays PostgreSQL's).
    fn answer(&mut self, cx: &mut Cx<'_>, data: &[u8]) -> (usize, Option<Next>) {
        let Some(what) = self.session.awaiting.take() else {
            return (0, None);
        };
        let accepted = match data.first() {
            Some(b'S' | b'G') => true,
            Some(b'N') => false,
            // A server too old to know the request answers with an ErrorResponse.
            _ => return (0, None),
        };
        cx.emit(EventKind::Postgres(PgEvent::Encryption { what, accepted }));
        if !accepted {
            return (1, None);
        }
        let to = if what == "ssl" {
            Handoff::Tls
        } else {
            Handoff::Opaque
        };
        (1, Some(Next::Switch { at: 1, to }))
    }
}

impl Layer for Postgres {
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) -> Next {
        let mut data = data;
        if side == Side::Server {
            let (used, next) = self.answer(cx, data);
            if let Some(next) = next {
                return next;
            }
            data = &data[used..];
        }
        let i = usize::from(side == Side::Server);
        let session = &mut self.session;
        let mut why = None;
        let result = self.wires[i].feed(data, &mut |wire, m| {
            session.message(cx, side, wire, m).unwrap_or_else(|e| {
                why = Some(e);
                false
            })
        });
        let error = match (result, why) {
            (_, Some(why)) => Some(why),
            (Err(broken), _) => Some(broken.as_str()),
            _ => None,
        };
        if let Some(error) = error {
            self.wires[i].stop();
            cx.emit(EventKind::Postgres(PgEvent::ProtocolError {
                by: side,
                error,
            }));
        }
        Next::Same
    }

    fn gap(&mut self, cx: &mut Cx<'_>, side: Side, len: u64) {
        let wire = &mut self.wires[usize::from(side == Side::Server)];
        if wire.lost() {
            return;
        }
        wire.gap(len);
        if wire.lost() {
            cx.emit(EventKind::Postgres(PgEvent::LostSync { by: side }));
        }
    }
}
