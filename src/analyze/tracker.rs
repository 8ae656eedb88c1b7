//! The connection table: routes segments to connections, assigns ids, and
//! forgets closed connections so memory follows live connections only.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::conn::{Conn, Life};
use super::event::Event;
use super::frame::{decode, LinkType, Segment};
use super::summary::Summary;

/// How long a closed connection stays in the table (capture time), so late
/// retransmits and RSTs still land on it rather than opening a new one.
const KEEP_CLOSED_NS: u64 = 120_000_000_000;
/// How often (capture time) the table is swept for expired connections.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// The unordered 4-tuple: both directions of a connection share one key.
type Key = (SocketAddr, SocketAddr);

fn key(seg: &Segment) -> Key {
    if seg.src <= seg.dst {
        (seg.src, seg.dst)
    } else {
        (seg.dst, seg.src)
    }
}

/// Streaming analyser: feed frames (or decoded segments) in capture order,
/// collect lifecycle events. Pure: no I/O, no clock; time is what the caller
/// passes, so replaying a file and watching live give the same events.
#[derive(Debug, Default)]
pub struct Analyzer {
    conns: HashMap<Key, Conn>,
    last_id: u64,
    summary: Summary,
    last_sweep_ns: u64,
}

impl Analyzer {
    /// An empty analyser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one captured frame and analyses it. Frames that are not TCP
    /// are ignored; undecodable ones are counted (a capture is evidence, not
    /// input to reject).
    pub fn handle_frame(&mut self, t_ns: u64, link: LinkType, frame: &[u8], out: &mut Vec<Event>) {
        self.summary.frames += 1;
        match decode(link, frame) {
            Ok(Some(seg)) => self.handle_segment(t_ns, &seg, out),
            Ok(None) => {}
            Err(_) => self.summary.undecodable += 1,
        }
    }

    /// Analyses one TCP segment captured at `t_ns`, appending its events.
    pub fn handle_segment(&mut self, t_ns: u64, seg: &Segment, out: &mut Vec<Event>) {
        self.summary.tcp_segments += 1;
        let first = out.len();
        self.sweep(t_ns, out);
        let key = key(seg);
        let opening = seg.flags.syn && !seg.flags.ack;
        let existing = self.conns.get_mut(&key);
        let replace = match &existing {
            None => true,
            Some(conn) => opening && conn.replaced_by(seg),
        };
        if replace {
            if let Some(old) = existing {
                old.abandon(t_ns, out);
            }
            self.last_id += 1;
            self.conns.insert(key, Conn::new(self.last_id, t_ns, seg));
        }
        if let Some(conn) = self.conns.get_mut(&key) {
            conn.on_segment(t_ns, seg, out);
        }
        for event in &out[first..] {
            self.summary.apply(event);
        }
    }

    /// Totals so far, consistent with the events emitted so far.
    pub fn summary(&self) -> Summary {
        self.summary.clone()
    }

    /// Connections in the table that are not closed.
    pub fn open_connections(&self) -> usize {
        self.conns
            .values()
            .filter(|c| !matches!(c.life, Life::Closed { .. }))
            .count()
    }

    /// Connections held in memory, closed ones included (bounded by eviction).
    pub fn table_len(&self) -> usize {
        self.conns.len()
    }

    /// At most once per second of capture time: forget connections closed
    /// more than 120 s ago, and end those stuck in TIME_WAIT that long (their
    /// final ACK was not captured).
    fn sweep(&mut self, t_ns: u64, out: &mut Vec<Event>) {
        if t_ns < self.last_sweep_ns.saturating_add(SWEEP_EVERY_NS) {
            return;
        }
        self.last_sweep_ns = t_ns;
        let expired = |since: u64| t_ns.saturating_sub(since) > KEEP_CLOSED_NS;
        self.conns.retain(|_, conn| match conn.life {
            Life::Open => true,
            Life::Closed { at_ns } => !expired(at_ns),
            Life::TimeWait { since_ns } => {
                if expired(since_ns) {
                    conn.abandon(t_ns, out);
                }
                true
            }
        });
    }
}
