//! Following WebSocket connections through their frames: how each one ended (a close
//! handshake, a bare TCP close, a reset by the path), how long it sat without a frame before,
//! and which pings went unanswered. Folded into its endpoint when it ends, like the rest.

use std::collections::BTreeMap;

use super::evidence::{Examples, Timed};
use crate::analyze::{RstSender, Side};

/// A ping waiting this long for its pong when the connection ended was not going to be answered.
const PING_GIVEN_UP_NS: u64 = 1_000_000_000;

/// Who did something to a WebSocket: an end, or the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Actor {
    Client,
    Server,
    Middlebox,
}

impl Actor {
    pub const ALL: [Actor; 3] = [Actor::Client, Actor::Server, Actor::Middlebox];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Client => "client",
            Actor::Server => "server",
            Actor::Middlebox => "middlebox",
        }
    }
}

impl From<Side> for Actor {
    fn from(side: Side) -> Self {
        match side {
            Side::Client => Actor::Client,
            Side::Server => Actor::Server,
        }
    }
}

impl From<RstSender> for Actor {
    fn from(by: RstSender) -> Self {
        match by {
            RstSender::Client => Actor::Client,
            RstSender::Server => Actor::Server,
            RstSender::Middlebox => Actor::Middlebox,
        }
    }
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// Where an event happened: its time, connection and frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub t_ns: u64,
    pub conn: u64,
    pub frame: u64,
}

/// One open WebSocket connection.
#[derive(Debug, Clone)]
pub(crate) struct WsConn {
    last_frame_ns: u64,
    /// Idle time before the latest frame.
    gap_before_last_ns: u64,
    messages: u64,
    /// Per side: pings since the peer's last pong, the time and frame of the first of them.
    waiting: [(u32, u64, u64); 2],
    /// Per side: when the peer's latest pong came (or the upgrade, before any).
    last_pong_ns: [u64; 2],
    close_sent: [bool; 2],
    /// The first close frame, FIN or reset was seen: how it ended is decided.
    ending: bool,
    /// When that was.
    ending_ns: u64,
    /// Who ended the TCP connection first, and whether by a reset.
    tcp_ender: Option<(Actor, bool)>,
}

impl WsConn {
    /// A connection upgraded at `t_ns`.
    pub fn new(t_ns: u64) -> WsConn {
        WsConn {
            last_frame_ns: t_ns,
            gap_before_last_ns: 0,
            messages: 0,
            waiting: [(0, 0, 0); 2],
            last_pong_ns: [t_ns; 2],
            close_sent: [false; 2],
            ending: false,
            ending_ns: 0,
            tcp_ender: None,
        }
    }

    /// When its latest frame (or the upgrade) was seen.
    pub fn last_frame_ns(&self) -> u64 {
        self.last_frame_ns
    }

    /// Messages it carried.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    fn frame(&mut self, t_ns: u64) {
        self.gap_before_last_ns = t_ns.saturating_sub(self.last_frame_ns);
        self.last_frame_ns = t_ns;
    }

    /// A data message from either side.
    pub fn message(&mut self, t_ns: u64) {
        self.messages += 1;
        self.frame(t_ns);
    }

    /// A ping from `by`, at `frame`.
    pub fn ping(&mut self, t_ns: u64, frame: u64, by: Side) {
        let w = &mut self.waiting[idx(by)];
        if w.0 == 0 {
            (w.1, w.2) = (t_ns, frame);
        }
        w.0 += 1;
        self.frame(t_ns);
    }

    /// A pong from `by`: the peer's pings are answered.
    pub fn pong(&mut self, t_ns: u64, by: Side) {
        self.waiting[idx(by.peer())] = (0, 0, 0);
        self.last_pong_ns[idx(by.peer())] = t_ns;
        self.frame(t_ns);
    }

    /// A close frame from `by`: the first one starts the ending, after the idle time before it.
    pub fn close_frame(&mut self, at: At, by: Side, react_ns: u64, ep: &mut WsEndpoint) {
        self.close_sent[idx(by)] = true;
        self.end(at, by.into(), react_ns, ep);
        self.frame(at.t_ns);
    }

    /// The first FIN or reset (`rst`) of the TCP connection, by `by`.
    pub fn tcp_end(
        &mut self,
        at: At,
        (by, rst): (Actor, bool),
        react_ns: u64,
        ep: &mut WsEndpoint,
    ) {
        self.tcp_ender.get_or_insert((by, rst));
        self.end(at, by, react_ns, ep);
    }

    /// The ending starts: when it comes long after the last frame, something closed an idle
    /// WebSocket. A middlebox's reset answers the first frame sent after it forgot the flow, so
    /// its idle time is the one before that frame.
    fn end(&mut self, at: At, by: Actor, react_ns: u64, ep: &mut WsEndpoint) {
        let At { t_ns, conn, frame } = at;
        if std::mem::replace(&mut self.ending, true) {
            return;
        }
        self.ending_ns = t_ns;
        let since_last = t_ns.saturating_sub(self.last_frame_ns);
        let idle = match by {
            Actor::Middlebox if since_last < react_ns => self.gap_before_last_ns,
            _ => since_last,
        };
        if idle >= react_ns {
            ep.idle_close[by.index()].add(conn, frame, idle);
        }
    }

    /// Folds the connection into its endpoint: at its close, or at the end of the capture
    /// (`open`). Pings still waiting count as unanswered once the connection started ending
    /// (timed from the pinger's last pong to the ending: its pong wait); a FIN or reset
    /// without both close frames is an end without the closing handshake, even if the capture
    /// stops before the connection is gone.
    pub fn finish(&self, conn: u64, frame: u64, open: bool, ep: &mut WsEndpoint) {
        ep.messages += self.messages;
        let end_ns = if self.ending {
            self.ending_ns
        } else {
            self.last_frame_ns
        };
        for side in [Side::Client, Side::Server] {
            let (pings, since, ping_frame) = self.waiting[idx(side)];
            let given_up =
                pings >= 2 || (pings == 1 && end_ns.saturating_sub(since) >= PING_GIVEN_UP_NS);
            if (self.ending || !open) && pings > 0 && given_up {
                let waited = end_ns.saturating_sub(self.last_pong_ns[idx(side)]);
                ep.ping_unanswered.add(conn, ping_frame, waited);
                ep.unanswered_pings += u64::from(pings);
                break;
            }
        }
        if let Some((by, rst)) = self.tcp_ender {
            if !(self.close_sent[0] && self.close_sent[1]) {
                ep.without_handshake[by.index()].add(conn, frame);
                ep.without_handshake_by_rst[by.index()] += u64::from(rst);
            }
        }
    }
}

/// One endpoint's WebSocket patterns.
#[derive(Debug, Clone, Default)]
pub(crate) struct WsEndpoint {
    /// Connections upgraded.
    pub connections: u64,
    /// Data messages on them.
    pub messages: u64,
    /// Endings long after the last frame, by who ended ([`Actor`] order), with the idle time.
    pub idle_close: [Timed; 3],
    /// Connections that ended with pings unanswered, timed from the pinger's last pong to the
    /// ending, and those pings.
    pub ping_unanswered: Timed,
    pub unanswered_pings: u64,
    /// Connections whose TCP connection ended without both close frames, by who ended it,
    /// and how many of them by a reset.
    pub without_handshake: [Examples; 3],
    pub without_handshake_by_rst: [u64; 3],
    /// Upgrade requests answered with another status, and those statuses.
    pub refused: Examples,
    pub refused_status: BTreeMap<u16, u64>,
}

impl WsEndpoint {
    /// An upgrade request was answered with `status` instead of 101.
    pub fn refuse(&mut self, conn: u64, frame: u64, status: u16) {
        self.refused.add(conn, frame);
        *self.refused_status.entry(status).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn at(t_ns: u64, frame: u64) -> At {
        At {
            t_ns,
            conn: 1,
            frame,
        }
    }

    #[test]
    fn an_idle_close_is_timed_from_the_last_frame() {
        let mut ep = WsEndpoint::default();
        let mut ws = WsConn::new(0);
        ws.message(100 * MS);
        ws.tcp_end(at(5_100 * MS, 9), (Actor::Server, false), 20 * MS, &mut ep);
        ws.finish(1, 10, false, &mut ep);
        assert_eq!(ep.idle_close[Actor::Server.index()].examples.count, 1);
        assert_eq!(ep.idle_close[1].times.quantile(0.5), Some(5_000 * MS));
        assert_eq!(ep.without_handshake[Actor::Server.index()].count, 1);
    }

    #[test]
    fn a_middlebox_reset_counts_the_idle_time_before_the_frame_it_answers() {
        let mut ep = WsEndpoint::default();
        let mut ws = WsConn::new(0);
        ws.message(100 * MS);
        ws.message(7_100 * MS);
        ws.tcp_end(
            at(7_101 * MS, 9),
            (Actor::Middlebox, true),
            20 * MS,
            &mut ep,
        );
        let times = &ep.idle_close[Actor::Middlebox.index()].times;
        assert_eq!(times.quantile(0.5), Some(7_000 * MS));
    }

    #[test]
    fn a_close_handshake_right_after_the_last_message_is_no_idle_close() {
        let mut ep = WsEndpoint::default();
        let mut ws = WsConn::new(0);
        ws.message(100 * MS);
        ws.close_frame(at(101 * MS, 5), Side::Client, 20 * MS, &mut ep);
        ws.close_frame(at(102 * MS, 6), Side::Server, 20 * MS, &mut ep);
        ws.tcp_end(at(103 * MS, 7), (Actor::Server, false), 20 * MS, &mut ep);
        ws.finish(1, 8, false, &mut ep);
        assert!(ep.idle_close.iter().all(|t| t.examples.count == 0));
        assert!(ep.without_handshake.iter().all(|e| e.count == 0));
    }

    #[test]
    fn pings_left_unanswered_until_the_end_are_counted_once_the_connection_ends() {
        let mut ep = WsEndpoint::default();
        let mut ws = WsConn::new(0);
        ws.ping(1_000 * MS, 4, Side::Server);
        ws.pong(1_001 * MS, Side::Client);
        ws.ping(2_000 * MS, 6, Side::Server);
        ws.ping(3_000 * MS, 7, Side::Server);
        ws.finish(1, 8, true, &mut ep);
        assert_eq!(
            ep.ping_unanswered.examples.count, 0,
            "still open, not ending"
        );
        ws.tcp_end(at(4_001 * MS, 8), (Actor::Server, false), 20 * MS, &mut ep);
        ws.finish(1, 9, true, &mut ep);
        let unanswered = &ep.ping_unanswered;
        assert_eq!((unanswered.examples.count, ep.unanswered_pings), (1, 2));
        assert_eq!(unanswered.examples.evidence.frames, [6]);
        // From the last pong to the server's FIN: its pong wait.
        assert_eq!(unanswered.times.quantile(0.5), Some(3_000 * MS));
        // The FIN came without close frames.
        assert_eq!(ep.without_handshake[Actor::Server.index()].count, 1);
    }
}
