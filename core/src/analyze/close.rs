//! How a connection ends: FINs, TIME_WAIT, the final ACK, resets.
//!
//! Kept apart from `conn.rs` because closing is the part of the lifecycle
//! the lab is most about (who holds TIME_WAIT, who resets), and its rules
//! read best together.

use super::conn::{idx, Conn, Life, Read};
use super::event::{Event, EventKind, RstSender, Side, TimeWaitHolder};
use super::frame::Segment;
use super::proto::Secrets;

impl Conn {
    /// Closes a connection that was replaced or expired before its final ACK
    /// was seen, so every connection that got an id also ends. Its lifetime
    /// ends at the second FIN when there was one; then the capture only missed
    /// the final ACK, and the first closer held TIME_WAIT.
    pub fn abandon(&mut self, t_ns: u64, out: &mut Vec<Event>) {
        let end_ns = match self.life {
            Life::Closed { .. } => return,
            Life::TimeWait { since_ns, holder } => {
                self.emit(t_ns, EventKind::TimeWait { holder }, out);
                since_ns
            }
            Life::Open => t_ns,
        };
        let lifetime_ns = end_ns.saturating_sub(self.started_ns);
        let kind = EventKind::Closed {
            by_rst: false,
            lifetime_ns,
        };
        self.emit(t_ns, kind, out);
        self.life = Life::Closed { at_ns: t_ns };
    }

    /// Emits `Closed` once; the connection then only counts late RSTs and
    /// retransmits, and may be replaced by a new SYN on its 4-tuple.
    pub(super) fn close(&mut self, t_ns: u64, by_rst: bool, out: &mut Vec<Event>) {
        let lifetime_ns = t_ns.saturating_sub(self.started_ns);
        self.emit(
            t_ns,
            EventKind::Closed {
                by_rst,
                lifetime_ns,
            },
            out,
        );
        self.life = Life::Closed { at_ns: t_ns };
    }

    /// The first FIN of a side. The second side's FIN decides who will hold
    /// TIME_WAIT: the kernel that sent the first FIN, unless the FINs crossed.
    /// It is said at the final ACK, as a reset before it means none.
    pub(super) fn on_fin(
        &mut self,
        t_ns: u64,
        side: Side,
        seg: &Segment,
        fin_end: i64,
        out: &mut Vec<Event>,
    ) {
        if let Some(s) = self.streams[idx(side)].as_mut() {
            s.fin_end = Some(fin_end);
        }
        let idle_ns = self.last_data_ns.map(|last| t_ns.saturating_sub(last));
        self.emit(t_ns, EventKind::Fin { by: side, idle_ns }, out);
        let Some(first) = self.first_fin else {
            self.first_fin = Some(side);
            return;
        };
        if first == side || self.life != Life::Open {
            return;
        }
        // Normal close: this FIN acknowledges the first one. Otherwise both
        // FINs crossed on the wire and both kernels hold TIME_WAIT.
        let acked = self.streams[idx(first)]
            .as_ref()
            .and_then(|peer| Some((peer.offset(seg.ack), peer.fin_end?)))
            .is_some_and(|(ack, fin)| seg.flags.ack && ack >= fin);
        let holder = if acked {
            first.into()
        } else {
            TimeWaitHolder::Both
        };
        self.life = Life::TimeWait {
            since_ns: t_ns,
            holder,
        };
    }

    /// The first closer acknowledging the second FIN ends the connection, and
    /// leaves the TIME_WAIT holder in TIME_WAIT.
    pub(super) fn on_final_ack(
        &mut self,
        t_ns: u64,
        side: Side,
        seg: &Segment,
        out: &mut Vec<Event>,
    ) {
        let Life::TimeWait { holder, .. } = self.life else {
            return;
        };
        if Some(side) != self.first_fin || !seg.flags.ack {
            return;
        }
        let acked = self.streams[idx(side.peer())]
            .as_ref()
            .and_then(|peer| Some((peer.offset(seg.ack), peer.fin_end?)))
            .is_some_and(|(ack, fin)| ack >= fin);
        if acked {
            self.emit(t_ns, EventKind::TimeWait { holder }, out);
            self.close(t_ns, false, out);
        }
    }

    /// A reset ends an open connection, also one whose FINs were exchanged but
    /// not yet the final ACK: the kernel that sends it (data reached a socket
    /// it had closed, say) or takes it drops the socket instead of keeping it
    /// in TIME_WAIT. Later ones are just counted. A forged one (a middlebox's)
    /// ends it the same way: the end it reached believes it.
    pub(super) fn on_rst(
        &mut self,
        t_ns: u64,
        by: RstSender,
        secrets: &mut Secrets<'_>,
        out: &mut Vec<Event>,
    ) {
        if !matches!(self.life, Life::Closed { .. }) {
            // What the capture held back behind a hole is read before the reset ends it all.
            self.read(t_ns, Side::Client, Read::End(None), secrets, out);
            self.read(t_ns, Side::Server, Read::End(None), secrets, out);
        }
        let idle_ns = self.last_data_ns.map(|last| t_ns.saturating_sub(last));
        self.emit(t_ns, EventKind::Rst { by, idle_ns }, out);
        match self.life {
            Life::Open | Life::TimeWait { .. } => self.close(t_ns, true, out),
            Life::Closed { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::event::{EventKind as K, RstSender, Side, TimeWaitHolder};
    use crate::testframes::{closed, conv, fin, Lab, F, MS};

    #[test]
    fn a_reset_before_the_final_ack_leaves_no_time_wait() {
        // The keep-alive race: the server closes, the client's next request crosses its FIN,
        // the client closes too, and the server's kernel answers the request with an RST.
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.exchange(&mut c, 10, "/");
        lab.at(1_000, &c.send(Side::Server, F::FIN | F::ACK, b""));
        let req = c.send(Side::Client, F::PSH | F::ACK, b"GET /2 HTTP/1.1\r\n\r\n");
        lab.at(1_001, &req);
        lab.at(1_002, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(1_003, &c.send(Side::Server, F::RST, b""));
        let kinds = lab.kinds(1);
        assert!(
            !kinds.iter().any(|k| matches!(k, K::TimeWait { .. })),
            "{kinds:?}"
        );
        assert!(
            matches!(kinds.last(), Some(K::Closed { by_rst: true, .. })),
            "{kinds:?}"
        );
        let s = lab.an.summary();
        assert_eq!((s.time_wait.client, s.time_wait.server), (0, 0));
        assert_eq!(s.rst_by.server, 1);
    }

    #[test]
    fn client_closes_first_and_holds_time_wait() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.exchange(&mut c, 10, "/");
        lab.at(50, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(51, &c.send(Side::Server, F::ACK, b""));
        lab.at(52, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(53, &c.send(Side::Client, F::ACK, b""));
        let kinds = lab.kinds(1);
        let tw = K::TimeWait {
            holder: TimeWaitHolder::Client,
        };
        let tail = [
            fin(Side::Client, Some(39)),
            fin(Side::Server, Some(41)),
            tw,
            closed(53),
        ];
        assert_eq!(kinds[kinds.len() - 4..], tail);
        let s = lab.an.summary();
        assert_eq!(
            (s.fin_first_by.client, s.time_wait.client, s.open),
            (1, 1, 0)
        );
        assert_eq!(lab.an.open_connections(), 0);
    }

    #[test]
    fn server_closes_first_and_holds_time_wait() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.exchange(&mut c, 10, "/");
        lab.at(50, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(51, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(52, &c.send(Side::Server, F::ACK, b""));
        let kinds = lab.kinds(1);
        let tw = K::TimeWait {
            holder: TimeWaitHolder::Server,
        };
        let tail = [
            fin(Side::Server, Some(39)),
            fin(Side::Client, Some(40)),
            tw,
            closed(52),
        ];
        assert_eq!(kinds[kinds.len() - 4..], tail);
        assert_eq!(lab.an.summary().fin_first_by.server, 1);
    }

    #[test]
    fn simultaneous_close_puts_both_in_time_wait() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        let client_fin_seq = c.next[0];
        lab.at(50, &c.send(Side::Client, F::FIN | F::ACK, b""));
        // The server's FIN left before the client's FIN arrived: it does not ack it.
        let server_fin = c.frame(
            Side::Server,
            F::FIN | F::ACK,
            c.next[1],
            client_fin_seq,
            b"",
        );
        c.next[1] += 1;
        lab.at(50, &server_fin);
        lab.at(51, &c.send(Side::Client, F::ACK, b""));
        lab.at(51, &c.send(Side::Server, F::ACK, b""));
        let tw = K::TimeWait {
            holder: TimeWaitHolder::Both,
        };
        let kinds = lab.kinds(1);
        assert_eq!(
            kinds[2..],
            [
                fin(Side::Client, None),
                fin(Side::Server, None),
                tw,
                closed(51)
            ]
        );
        let s = lab.an.summary();
        assert_eq!(
            (
                s.time_wait.client,
                s.time_wait.server,
                s.fin_first_by.client
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn rst_from_server_after_request_closes_once() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.at(
            10,
            &c.send(Side::Client, F::PSH | F::ACK, b"GET / HTTP/1.1\r\n\r\n"),
        );
        lab.at(11, &c.send(Side::Server, F::RST | F::ACK, b""));
        lab.at(12, &c.send(Side::Server, F::RST, b""));
        let rst = |idle_ms| K::Rst {
            by: RstSender::Server,
            idle_ns: Some(idle_ms * MS),
        };
        let by_rst = K::Closed {
            by_rst: true,
            lifetime_ns: 11 * MS,
        };
        assert_eq!(
            lab.kinds(1)[2..],
            [
                K::Request {
                    n: 1,
                    method: "GET",
                    path: "/".into(),
                    reused: false,
                    idle_ns: None,
                    closing: None,
                },
                rst(1),
                by_rst,
                rst(2)
            ]
        );
        let s = lab.an.summary();
        assert_eq!((s.rst_by.server, s.open), (2, 0));
    }

    #[test]
    fn rst_from_client() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.exchange(&mut c, 10, "/");
        lab.at(30, &c.send(Side::Client, F::RST | F::ACK, b""));
        let kinds = lab.kinds(1);
        let by_rst = K::Closed {
            by_rst: true,
            lifetime_ns: 30 * MS,
        };
        assert_eq!(
            kinds[kinds.len() - 2..],
            [
                K::Rst {
                    by: RstSender::Client,
                    idle_ns: Some(19 * MS)
                },
                by_rst
            ]
        );
        assert_eq!(
            lab.events.last().map(|e| e.describe()).as_deref(),
            Some("conn 1: closed by RST after 30 ms")
        );
        assert_eq!(lab.an.summary().rst_by.client, 1);
    }
}
