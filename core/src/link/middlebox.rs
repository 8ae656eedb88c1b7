//! A stateful middlebox on the link, like a load balancer or a NAT gateway: it keeps a flow
//! table, forgets a flow it has not seen for its idle timeout, and answers a later segment of a
//! forgotten flow with an RST to its sender (AWS NLB, NAT gateway) or drops it silently (Azure).
//!
//! Pure like the rest of the link model: the wire asks [`Middlebox::decide`] about each segment
//! with the time it saw it, and builds and sends whatever RST the decision names.

use std::net::SocketAddr;

use serde::Serialize;

use crate::analyze::Segment;
use crate::FastMap;

/// What a middlebox does with a segment of a flow it forgot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExpired {
    /// Drop it and send its sender an RST (the sequence number the sender accepts).
    Rst,
    /// Drop it silently: the sender retransmits until it gives up.
    Drop,
}

/// An RST the middlebox sends, in the name of `from`, to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForgedRst {
    /// The address the RST claims to come from (the sender's peer).
    pub from: SocketAddr,
    /// Where it goes (the sender of the segment).
    pub to: SocketAddr,
    /// Its sequence number: what `to` expects next from `from`.
    pub seq: u32,
}

/// The fate of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The flow is known (or this SYN opens one): forward it.
    Pass,
    /// The flow was forgotten: do not forward it.
    Expired {
        /// This is the first segment since the flow was forgotten.
        forgot_now: bool,
        /// The RST to send back, with `OnExpired::Rst`.
        reset: Option<ForgedRst>,
    },
}

/// What the middlebox did over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MiddleboxStats {
    /// Flows forgotten after their idle timeout (and seen again).
    pub forgotten_flows: u64,
    /// Segments of forgotten flows, not forwarded.
    pub expired_segments: u64,
    /// RSTs it sent.
    pub rsts_sent: u64,
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    last_ns: u64,
    forgotten: bool,
}

impl Flow {
    /// A flow remembered from `now_ns`.
    fn new(now_ns: u64) -> Flow {
        Flow {
            last_ns: now_ns,
            forgotten: false,
        }
    }
}

/// The flow table.
#[derive(Debug, Clone)]
pub struct Middlebox {
    idle_ns: u64,
    on_expired: OnExpired,
    flows: FastMap<(SocketAddr, SocketAddr), Flow>,
    stats: MiddleboxStats,
}

impl Middlebox {
    /// A middlebox forgetting flows unseen for `idle_ns`.
    pub fn new(idle_ns: u64, on_expired: OnExpired) -> Middlebox {
        Middlebox {
            idle_ns,
            on_expired,
            flows: FastMap::default(),
            stats: MiddleboxStats::default(),
        }
    }

    /// Decides about `seg`, seen at `now_ns`. Any segment that passes refreshes its flow, TCP
    /// keepalive probes included, as on real middleboxes.
    pub fn decide(&mut self, now_ns: u64, seg: &Segment<'_>) -> Action {
        let key = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let opening = seg.flags.syn && !seg.flags.ack;
        let mut forgot_now = false;
        match self.flows.get_mut(&key) {
            Some(flow) if !flow.forgotten => {
                if now_ns.saturating_sub(flow.last_ns) <= self.idle_ns {
                    flow.last_ns = now_ns;
                    return Action::Pass;
                }
                flow.forgotten = true;
                forgot_now = true;
                self.stats.forgotten_flows += 1;
            }
            Some(_) => {}
            // A flow that began before the middlebox looked: adopt it.
            None => {
                self.flows.insert(key, Flow::new(now_ns));
                return Action::Pass;
            }
        }
        if opening {
            // A new connection on the same addresses: a new flow.
            self.flows.insert(key, Flow::new(now_ns));
            return Action::Pass;
        }
        self.stats.expired_segments += 1;
        // Never answer a reset with a reset.
        let reset = (self.on_expired == OnExpired::Rst && !seg.flags.rst).then(|| {
            self.stats.rsts_sent += 1;
            ForgedRst {
                from: seg.dst,
                to: seg.src,
                seq: seg.ack,
            }
        });
        Action::Expired { forgot_now, reset }
    }

    /// What it did so far.
    pub fn stats(&self) -> MiddleboxStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::TcpFlags;

    const MS: u64 = 1_000_000;

    fn seg(from_client: bool, flags: u8, seq: u32, ack: u32) -> Segment<'static> {
        let (c, s): (SocketAddr, SocketAddr) = (
            "198.18.0.1:40000".parse().expect("addr"),
            "198.18.0.2:80".parse().expect("addr"),
        );
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        Segment {
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags::from_bits(flags),
            window: 1024,
            payload: b"",
            len: 0,
            headers: 40,
        }
    }

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const RST: u8 = 0x04;

    #[test]
    fn a_busy_flow_passes_and_an_idle_one_is_forgotten_and_reset() {
        let mut m = Middlebox::new(2_000 * MS, OnExpired::Rst);
        assert_eq!(m.decide(0, &seg(true, SYN, 100, 0)), Action::Pass);
        assert_eq!(m.decide(MS, &seg(false, SYN | ACK, 500, 101)), Action::Pass);
        assert_eq!(
            m.decide(1_500 * MS, &seg(true, ACK, 101, 501)),
            Action::Pass
        );
        // 1.5 s later it was refreshed at 1.5 s: still known at 3.4 s.
        assert_eq!(
            m.decide(3_400 * MS, &seg(true, ACK, 101, 501)),
            Action::Pass
        );
        // Silent for 2.1 s: forgotten; the sender gets an RST with the seq it expects.
        let got = m.decide(5_500 * MS, &seg(true, ACK, 101, 501));
        let reset = ForgedRst {
            from: "198.18.0.2:80".parse().expect("addr"),
            to: "198.18.0.1:40000".parse().expect("addr"),
            seq: 501,
        };
        assert_eq!(
            got,
            Action::Expired {
                forgot_now: true,
                reset: Some(reset)
            }
        );
        // The server's later FIN hits the same forgotten flow; an RST is never answered.
        let fin = m.decide(6_000 * MS, &seg(false, ACK | 0x01, 501, 101));
        assert!(matches!(
            fin,
            Action::Expired {
                forgot_now: false,
                reset: Some(_)
            }
        ));
        assert_eq!(
            m.decide(6_001 * MS, &seg(true, RST, 101, 0)),
            Action::Expired {
                forgot_now: false,
                reset: None
            }
        );
        let stats = m.stats();
        assert_eq!(
            (
                stats.forgotten_flows,
                stats.expired_segments,
                stats.rsts_sent
            ),
            (1, 3, 2)
        );
    }

    #[test]
    fn drop_mode_sends_nothing_and_a_new_syn_opens_a_new_flow() {
        let mut m = Middlebox::new(100 * MS, OnExpired::Drop);
        m.decide(0, &seg(true, SYN, 1, 0));
        let late = m.decide(500 * MS, &seg(true, ACK, 2, 2));
        assert_eq!(
            late,
            Action::Expired {
                forgot_now: true,
                reset: None
            }
        );
        assert_eq!(m.decide(600 * MS, &seg(true, SYN, 9_000, 0)), Action::Pass);
        assert_eq!(m.decide(650 * MS, &seg(true, ACK, 9_001, 7)), Action::Pass);
        assert_eq!(m.stats().rsts_sent, 0);
    }

    #[test]
    fn keepalive_probes_keep_a_flow_alive() {
        let mut m = Middlebox::new(2_000 * MS, OnExpired::Rst);
        m.decide(0, &seg(true, SYN, 1, 0));
        for i in 1..=10 {
            // A probe every second, answered.
            assert_eq!(
                m.decide(i * 1_000 * MS, &seg(true, ACK, 0, 1)),
                Action::Pass
            );
            assert_eq!(
                m.decide(i * 1_000 * MS + MS, &seg(false, ACK, 1, 1)),
                Action::Pass
            );
        }
        assert_eq!(m.stats(), MiddleboxStats::default());
    }
}
