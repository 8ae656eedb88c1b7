//! Plain TCP: a stream no protocol claims, read as turns. Where connlab does not know the
//! protocol it still knows who spoke: a client burst (its bytes since the server last spoke)
//! and the server's answer make an exchange, so idle times, idle closes, pool churn and the
//! keep-alive race are found on any request/response protocol over TCP, named in TCP's words.
//!
//! A server that speaks first (a greeting, a banner) answers nothing: the first exchange is
//! the client's first burst after it.

mod event;
#[cfg(test)]
mod tests;

use super::http1::head;
use super::layer::{Cx, Layer, Next};
use crate::analyze::event::{EventKind, Side};
pub use event::BurstEvent;

/// The knob rows of a protocol connlab does not know: the client pool's and the server's
/// own, in database/sql's words where a pool has them.
pub(crate) const KNOBS: &str = include_str!("knobs.txt");

/// Whether `side`'s first bytes are no known protocol's: the client's when they cannot start
/// an HTTP/1.x request. A server that speaks first decides nothing (an HTTP/2 server may send
/// its SETTINGS before the client's preface arrives): the client's first bytes do.
pub(crate) fn claims(side: Side, data: &[u8]) -> bool {
    side == Side::Client && !head::may_start_request(data)
}

/// The turns of one connection.
#[derive(Debug, Default)]
pub(crate) struct Bursts {
    /// Who sent the last bytes read (None: nobody yet).
    turn: Option<Side>,
    /// Client bursts so far.
    sent: u32,
    /// When the server last sent bytes: the idle time of the next burst is counted from it.
    last_server_ns: Option<u64>,
}

impl Bursts {
    /// `side` sent bytes (or bytes the capture lost) at `cx`'s time.
    fn turn(&mut self, cx: &mut Cx<'_>, side: Side) {
        let before = self.turn.replace(side);
        match side {
            Side::Client if before != Some(Side::Client) => {
                self.sent += 1;
                let reused = self.sent > 1;
                cx.emit(EventKind::Burst(BurstEvent::Sent {
                    n: self.sent,
                    reused,
                    idle_ns: self
                        .last_server_ns
                        .filter(|_| reused)
                        .map(|last| cx.t_ns.saturating_sub(last)),
                }));
            }
            Side::Server => {
                if before == Some(Side::Client) {
                    cx.emit(EventKind::Burst(BurstEvent::Answered { n: self.sent }));
                }
                self.last_server_ns = Some(cx.t_ns);
            }
            Side::Client => {}
        }
    }
}

impl Layer for Bursts {
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) -> Next {
        if !data.is_empty() {
            self.turn(cx, side);
        }
        Next::Same
    }

    fn gap(&mut self, cx: &mut Cx<'_>, side: Side, len: u64) {
        // Bytes the capture lost were still sent: they take the turn as well.
        if len > 0 {
            self.turn(cx, side);
        }
    }
}
