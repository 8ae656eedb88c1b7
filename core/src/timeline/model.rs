//! What the timeline shows, as plain data: one row per connection with its state over time and
//! its marks, the counters, and the event log. Fed by analyser events; bounded in memory.

use std::collections::VecDeque;

use crate::FastMap;
use std::net::SocketAddr;

use crate::analyze::{BySide, Event, EventKind, Segment, Side, Summary, TcpFlags};
use crate::diagnose::{Diagnosis, Finding};

/// Lines kept in the event log.
const LOG_LINES: usize = 10_000;
/// Marks and detail lines kept per connection; more are counted, not kept.
const PER_ROW: usize = 10_000;

/// The state of a connection during a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// SYN sent, not yet established.
    Handshake,
    /// A request is in flight.
    Active,
    /// Established, nothing in flight.
    Idle,
    /// One side sent its FIN.
    HalfClosed,
    /// Both FINs crossed; a side holds TIME_WAIT.
    TimeWait,
    /// Gone (closed or reset).
    Closed,
}

/// A point event drawn on a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// The first request on the connection.
    Request,
    /// A request that reused the connection.
    Reused,
    /// A FIN: who sent it, and whether it was the connection's first (who closed).
    Fin {
        /// The sender.
        by: Side,
        /// The first FIN of the connection.
        first: bool,
    },
    /// An RST.
    Rst,
    /// A TCP keepalive probe.
    Probe,
    /// A retransmitted segment.
    Retransmit,
    /// A frame the link dropped.
    Dropped,
}

impl MarkKind {
    /// Which mark a renderer shows when several fall into one column (or one pixel): the one
    /// that matters most for the story. A dropped frame explains what follows it, an RST ends
    /// the connection, the first FIN says who closed (the peer's FIN often follows within the
    /// same millisecond), then the second FIN, retransmits, probes and requests.
    pub fn priority(self) -> u8 {
        match self {
            MarkKind::Dropped => 7,
            MarkKind::Rst => 6,
            MarkKind::Fin { first: true, .. } => 5,
            MarkKind::Fin { first: false, .. } => 4,
            MarkKind::Retransmit => 3,
            MarkKind::Probe => 2,
            MarkKind::Request | MarkKind::Reused => 1,
        }
    }

    /// One bit per kind of mark (a FIN is a FIN whoever sent it), for fast filtering.
    fn bit(self) -> u8 {
        match self {
            MarkKind::Request => 1,
            MarkKind::Reused => 2,
            MarkKind::Fin { .. } => 4,
            MarkKind::Rst => 8,
            MarkKind::Probe => 16,
            MarkKind::Retransmit => 32,
            MarkKind::Dropped => 64,
        }
    }
}

/// A TCP frame, as the detail view lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Sequence number (absolute).
    pub seq: u32,
    /// Payload bytes.
    pub len: u32,
}

impl FrameInfo {
    /// The frame's TCP segment, for the timeline.
    pub fn of(seg: &Segment<'_>) -> FrameInfo {
        FrameInfo {
            src: seg.src,
            dst: seg.dst,
            flags: seg.flags,
            seq: seg.seq,
            len: seg.payload.len() as u32,
        }
    }

    /// `40000 > 80 [SA] seq 123 len 0`.
    pub fn describe(&self) -> String {
        let f = self.flags;
        let flags: String = [
            (f.syn, 'S'),
            (f.fin, 'F'),
            (f.rst, 'R'),
            (f.psh, 'P'),
            (f.ack, 'A'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
        format!(
            "frame {} > {} [{flags}] seq {} len {}",
            self.src.port(),
            self.dst.port(),
            self.seq,
            self.len
        )
    }
}

/// One connection's row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Analyser connection id.
    pub id: u64,
    /// The side that sent the SYN.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Requests seen.
    pub requests: u32,
    /// State changes: (from this time, state), in time order.
    pub states: Vec<(u64, ConnState)>,
    /// Point marks, in time order.
    pub marks: Vec<(u64, MarkKind)>,
    /// Detail lines (time, text).
    pub details: Vec<(u64, String)>,
    /// The connection's frames (time, what), for the detail view.
    pub frames: Vec<(u64, FrameInfo)>,
    /// Marks and detail lines not kept (over the cap).
    pub elided: u64,
    /// Which mark kinds occurred (bits), for fast filtering.
    kinds: u8,
    /// Set once TIME_WAIT was entered.
    time_wait: bool,
}

impl Row {
    /// The state at time `t`, None before the connection was seen.
    pub fn state_at(&self, t: u64) -> Option<ConnState> {
        let i = self.states.partition_point(|(from, _)| *from <= t);
        i.checked_sub(1).map(|i| self.states[i].1)
    }

    /// True when a mark of this kind occurred on the row (any FIN for a FIN).
    pub fn has(&self, kind: MarkKind) -> bool {
        self.kinds & kind.bit() != 0
    }

    /// True when the row ever held TIME_WAIT.
    pub fn had_time_wait(&self) -> bool {
        self.time_wait
    }

    fn set_state(&mut self, t: u64, state: ConnState) {
        if self.states.last().map(|s| s.1) != Some(state) {
            self.states.push((t, state));
        }
    }

    fn mark(&mut self, t: u64, kind: MarkKind) {
        self.kinds |= kind.bit();
        if self.marks.len() < PER_ROW {
            self.marks.push((t, kind));
        } else {
            self.elided += 1;
        }
    }
}

/// Everything the screen shows.
#[derive(Debug, Default)]
pub struct TimelineModel {
    /// Lab name (or file name when replaying).
    pub title: String,
    /// The link model in words.
    pub link: String,
    /// Connection rows in order of first sight.
    pub rows: Vec<Row>,
    index: FastMap<u64, usize>,
    by_pair: FastMap<(SocketAddr, SocketAddr), usize>,
    /// The analyser's counters.
    pub summary: Summary,
    /// The kernel's TIME_WAIT count per side (live runs).
    pub kernel_time_wait: Option<BySide>,
    /// Frames the kernel dropped before the wire read them.
    pub capture_drops: u64,
    /// Frames the link model dropped.
    pub link_dropped: u64,
    /// Recent event lines.
    pub log: VecDeque<String>,
    /// Time of the first frame or event.
    pub start_ns: Option<u64>,
    /// Time of the last frame or event.
    pub end_ns: u64,
    /// The run (or the file) is over.
    pub finished: bool,
    /// The findings as of the last [`TimelineModel::refresh_findings`].
    pub findings: Vec<Finding>,
    diagnosis: Diagnosis,
    /// Events applied since the findings were last refreshed.
    unrefreshed: u64,
}

impl TimelineModel {
    /// An empty model with a title and a link description.
    pub fn new(title: &str, link: &str) -> Self {
        TimelineModel {
            title: title.to_owned(),
            link: link.to_owned(),
            ..Default::default()
        }
    }

    /// Applies one analyser event.
    pub fn apply_event(&mut self, e: &Event) {
        self.touch(e.t_ns);
        self.summary.apply(e);
        self.diagnosis.apply(e);
        self.unrefreshed += 1;
        let text = e.describe();
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(text.clone());
        let i = self.row_index(e);
        let row = &mut self.rows[i];
        if row.details.len() < PER_ROW {
            row.details.push((e.t_ns, text));
        } else {
            row.elided += 1;
        }
        let t = e.t_ns;
        match &e.kind {
            EventKind::Syn => row.set_state(t, ConnState::Handshake),
            EventKind::Established { .. } => row.set_state(t, ConnState::Idle),
            EventKind::Request { reused, .. } => {
                row.requests += 1;
                row.mark(
                    t,
                    if *reused {
                        MarkKind::Reused
                    } else {
                        MarkKind::Request
                    },
                );
                row.set_state(t, ConnState::Active);
            }
            EventKind::Response { .. } => row.set_state(t, ConnState::Idle),
            EventKind::Fin { by, .. } => {
                let first = !row.has(MarkKind::Fin {
                    by: *by,
                    first: true,
                });
                row.mark(t, MarkKind::Fin { by: *by, first });
                if !row.time_wait {
                    row.set_state(t, ConnState::HalfClosed);
                }
            }
            EventKind::TimeWait { .. } => {
                row.time_wait = true;
                row.set_state(t, ConnState::TimeWait);
            }
            EventKind::Rst { .. } => {
                row.mark(t, MarkKind::Rst);
                row.set_state(t, ConnState::Closed);
            }
            EventKind::KeepaliveProbe { .. } => row.mark(t, MarkKind::Probe),
            EventKind::Retransmit { .. } => row.mark(t, MarkKind::Retransmit),
            EventKind::Closed { .. } => {
                // TIME_WAIT outlives the capture's view of the close: keep showing it.
                if !row.time_wait {
                    row.set_state(t, ConnState::Closed);
                }
            }
        }
    }

    /// Notes a frame (after the events it caused): advances the clock, files the TCP frame
    /// under its connection for the detail view, and marks it when the link dropped it.
    pub fn apply_frame(&mut self, t_ns: u64, frame: Option<FrameInfo>, dropped: bool) {
        self.touch(t_ns);
        if dropped {
            self.link_dropped += 1;
        }
        let Some(frame) = frame else { return };
        let found = self
            .by_pair
            .get(&(frame.src, frame.dst))
            .or_else(|| self.by_pair.get(&(frame.dst, frame.src)))
            .copied();
        if let Some(i) = found {
            let row = &mut self.rows[i];
            if dropped {
                row.mark(t_ns, MarkKind::Dropped);
            }
            if row.frames.len() < PER_ROW {
                row.frames.push((t_ns, frame));
            } else {
                row.elided += 1;
            }
        }
    }

    /// Recomputes the findings from everything applied so far (a live screen does this about
    /// once a second, not per event); a no-op when nothing new arrived.
    pub fn refresh_findings(&mut self) {
        if std::mem::take(&mut self.unrefreshed) > 0 {
            self.findings = self.diagnosis.report().findings;
        }
    }

    /// Open connections (not closed, not in TIME_WAIT).
    pub fn open(&self) -> u64 {
        self.summary.open
    }

    fn touch(&mut self, t: u64) {
        self.start_ns.get_or_insert(t);
        self.end_ns = self.end_ns.max(t);
    }

    fn row_index(&mut self, e: &Event) -> usize {
        if let Some(&i) = self.index.get(&e.conn) {
            return i;
        }
        let i = self.rows.len();
        self.rows.push(Row {
            id: e.conn,
            client: e.client,
            server: e.server,
            requests: 0,
            states: vec![(e.t_ns, ConnState::Idle)],
            marks: Vec::new(),
            details: Vec::new(),
            frames: Vec::new(),
            elided: 0,
            kinds: 0,
            time_wait: false,
        });
        self.index.insert(e.conn, i);
        self.by_pair.insert((e.client, e.server), i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testframes::{ev, fin, req, resp};

    #[test]
    fn states_follow_the_lifecycle() {
        let mut m = TimelineModel::new("t", "transparent");
        m.apply_event(&ev(1, 0, EventKind::Syn));
        m.apply_event(&ev(1, 1, EventKind::Established { handshake_ns: 1 }));
        m.apply_event(&ev(1, 2, req(1, false)));
        m.apply_event(&ev(1, 3, resp(1)));
        m.apply_event(&ev(1, 10, fin(Side::Server, None)));
        m.apply_event(&ev(1, 11, fin(Side::Client, None)));
        m.apply_event(&ev(
            1,
            11,
            EventKind::TimeWait {
                holder: crate::analyze::TimeWaitHolder::Server,
            },
        ));
        let row = &m.rows[0];
        assert_eq!(row.state_at(0), Some(ConnState::Handshake));
        assert_eq!(row.state_at(2 * 1_000_000), Some(ConnState::Active));
        assert_eq!(row.state_at(5 * 1_000_000), Some(ConnState::Idle));
        assert_eq!(row.state_at(10 * 1_000_000), Some(ConnState::HalfClosed));
        assert_eq!(row.state_at(20 * 1_000_000), Some(ConnState::TimeWait));
        assert!(row.marks.contains(&(
            10 * 1_000_000,
            MarkKind::Fin {
                by: Side::Server,
                first: true
            }
        )));
        assert!(row.marks.contains(&(
            11 * 1_000_000,
            MarkKind::Fin {
                by: Side::Client,
                first: false
            }
        )));
        assert_eq!(m.summary.fin_first_by.server, 1);
        m.refresh_findings();
        assert!(m.findings.is_empty(), "one connection is no pattern");
    }

    #[test]
    fn findings_are_refreshed_on_demand() {
        let mut m = TimelineModel::new("t", "");
        for c in 1..=3u64 {
            let t = c * 2_000;
            m.apply_event(&ev(c, t, EventKind::Syn));
            m.apply_event(&ev(c, t + 1, req(1, false)));
            m.apply_event(&ev(c, t + 2, resp(1)));
            let fin = EventKind::Fin {
                by: Side::Server,
                idle_ns: Some(1_000_000_000),
            };
            m.apply_event(&ev(c, t + 1_002, fin));
        }
        assert!(m.findings.is_empty(), "not before a refresh");
        m.refresh_findings();
        let kinds: Vec<&str> = m.findings.iter().map(|f| f.kind.as_str()).collect();
        assert_eq!(kinds, ["server_idle_close"]);
    }

    #[test]
    fn memory_stays_bounded_with_many_connections_and_events() {
        let mut m = TimelineModel::new("t", "");
        for conn in 1..=10_000u64 {
            m.apply_event(&ev(conn, conn, EventKind::Syn));
        }
        for i in 0..(PER_ROW as u64 + 500) {
            m.apply_event(&ev(
                1,
                20_000 + i,
                EventKind::KeepaliveProbe { by: Side::Client },
            ));
        }
        assert_eq!(m.rows.len(), 10_000);
        assert_eq!(m.rows[0].marks.len(), PER_ROW);
        assert!(m.rows[0].elided >= 500);
        assert_eq!(m.log.len(), LOG_LINES);
    }
}
