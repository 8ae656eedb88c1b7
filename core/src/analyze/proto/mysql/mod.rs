//! MySQL as a protocol layer (the client/server protocol MariaDB speaks too): the server's
//! greeting, the client's login with its connection attributes, each command and the end of
//! its answer (result sets read through to their last row), the server's errors (at connect,
//! to a command, or unasked, as MySQL 8.0.24 says 4031 before it closes an idle session) and
//! COM_QUIT. An SSL request, or the compressed protocol, is counted and not read further.
//!
//! Everything MySQL is in this folder: the framing (`wire`), what the packets mean
//! (`session`), the events, the summary section, the diagnosis over its endpoints, how a
//! stream is recognised ([`claims`]), the knob rows (`knobs.txt`) and the tests.

pub(crate) mod diagnosis;
mod event;
mod session;
pub(crate) mod summary;
#[cfg(test)]
mod tests;
pub(crate) mod wire;

use super::layer::{Cx, Layer, Next};
use crate::analyze::event::{EventKind, Side};
pub use event::MyEvent;
use session::{After, Session};
use wire::Wire;

/// The knob rows of MySQL and MariaDB servers and their clients, read by the knob table.
pub(crate) const KNOBS: &str = include_str!("knobs.txt");

/// Its section of the summary (and of `[expect]` keys).
pub(crate) const SECTION: &str = "mysql";

/// Whether a stream's first bytes are MySQL's: the server speaks first, a greeting packet
/// (sequence 0, protocol 10, a printable version ending in NUL) or an error packet (sequence
/// 0, `0xff`: too many connections, a host not allowed).
pub(crate) fn claims(side: Side, data: &[u8], _server_port: u16) -> bool {
    if side != Side::Server || data.len() < 7 || data[3] != 0 {
        return false;
    }
    let len = u32::from_le_bytes([data[0], data[1], data[2], 0]) as usize;
    let payload = &data[4..];
    match payload[0] {
        10 => {
            let version = &payload[1..];
            let printable = version.iter().take_while(|b| b.is_ascii_graphic()).count();
            (1..=64).contains(&printable)
                && version.get(printable) == Some(&0)
                && (40..=1024).contains(&len)
        }
        0xff => (9..=1024).contains(&len),
        _ => false,
    }
}

/// One connection's MySQL state.
#[derive(Debug, Default)]
pub(crate) struct Mysql {
    /// The client's and the server's framing.
    wires: [Wire; 2],
    session: Session,
}

impl Layer for Mysql {
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) -> Next {
        let i = usize::from(side == Side::Server);
        let session = &mut self.session;
        let mut stop = false;
        self.wires[i].feed(data, &mut |_, p| match session.packet(cx, side, p) {
            After::Go => true,
            After::Stop => {
                stop = true;
                false
            }
        });
        if stop {
            for wire in &mut self.wires {
                wire.stop();
            }
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
            cx.emit(EventKind::Mysql(MyEvent::LostSync { by: side }));
        }
    }
}
