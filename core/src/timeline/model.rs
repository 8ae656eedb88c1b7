//! The timeline of a capture as plain data: one row per connection (its state over time and
//! its marks), the counters, the findings, the event log and the density of connections per
//! state. Fed by analyser events; both the terminal timeline and the HTML report draw it.
//!
//! The terminal keeps every row and its details. A report keeps a row budget instead: the
//! first connections and the most eventful ones in full, every other one only in the density
//! strip, so memory follows the open connections and the budget, not the capture's length.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::SocketAddr;

use super::density::Density;
use super::row::{FrameInfo, Row};
use crate::analyze::{BySide, Event, EventKind, Summary};
use crate::diagnose::{Diagnosis, Finding};
use crate::FastMap;

/// Lines kept in the event log.
const LOG_LINES: usize = 10_000;

/// Which rows a report keeps in full, and the most eventful candidates so far.
#[derive(Debug, Default)]
struct Budget {
    /// Connections with an id up to this are kept (the first ones).
    first: u64,
    /// How many of the rest are kept: the most eventful.
    eventful: usize,
    /// (events, id) of the eventful rows kept, least eventful on top.
    kept: BinaryHeap<Reverse<(u32, u64)>>,
}

/// Everything the timeline shows.
#[derive(Debug, Default)]
pub struct TimelineModel {
    /// Lab name (or file name when replaying).
    pub title: String,
    /// The link model in words.
    pub link: String,
    /// Connection rows by id, in order of first sight (with a budget: only the kept ones).
    pub rows: BTreeMap<u64, Row>,
    by_pair: FastMap<(SocketAddr, SocketAddr), u64>,
    last_id: u64,
    budget: Option<Budget>,
    /// Connections in each state over time, all of them.
    pub density: Density,
    /// The analyser's counters.
    pub summary: Summary,
    /// The kernel's TIME_WAIT count per side (live runs).
    pub kernel_time_wait: Option<BySide>,
    /// Frames the kernel dropped before the wire read them.
    pub capture_drops: u64,
    /// Frames the link model dropped.
    pub link_dropped: u64,
    /// Recent event lines (not kept with a budget).
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
    /// Frames applied: the last one's number in the capture.
    frames_seen: u64,
}

impl TimelineModel {
    /// An empty model with a title and a link description, keeping every row and its details
    /// (the terminal timeline).
    pub fn new(title: &str, link: &str) -> Self {
        TimelineModel {
            title: title.to_owned(),
            link: link.to_owned(),
            ..Default::default()
        }
    }

    /// An empty model that keeps at most `rows` rows in full, without details or log (the
    /// report): the first `rows / 2` connections and the `rows / 2` most eventful of the rest.
    pub fn with_row_budget(title: &str, link: &str, rows: usize) -> Self {
        let half = rows / 2;
        TimelineModel {
            budget: Some(Budget {
                first: half as u64,
                eventful: rows - half,
                kept: BinaryHeap::new(),
            }),
            ..TimelineModel::new(title, link)
        }
    }

    /// Connections seen, kept in full or not.
    pub fn connections(&self) -> u64 {
        self.last_id
    }

    /// The row of connection `id`, if it is kept.
    pub fn row(&self, id: u64) -> Option<&Row> {
        self.rows.get(&id)
    }

    /// Applies one analyser event.
    pub fn apply_event(&mut self, e: &Event) {
        self.touch(e.t_ns);
        self.summary.apply(e);
        self.diagnosis.apply(e);
        self.unrefreshed += 1;
        let keep_details = self.budget.is_none();
        let text = keep_details.then(|| e.describe());
        if let Some(text) = &text {
            if self.log.len() == LOG_LINES {
                self.log.pop_front();
            }
            self.log.push_back(text.clone());
        }
        if e.conn > self.last_id {
            self.last_id = e.conn;
            self.rows.insert(e.conn, Row::new(e));
            self.by_pair.insert((e.client, e.server), e.conn);
        }
        // A late event of a row a budget let go: counted above, drawn nowhere.
        let Some(row) = self.rows.get_mut(&e.conn) else {
            return;
        };
        let before = (row.events > 0).then(|| row.state()).flatten();
        row.apply(e, text);
        let after = row.state();
        if let Some(after) = after.filter(|a| Some(*a) != before || row.events == 1) {
            self.density.transition(e.t_ns, before, after);
        }
        if let EventKind::Closed { .. } = e.kind {
            self.retire(e.conn);
        }
    }

    /// With a budget: a closed connection keeps its row if it is one of the first, or among
    /// the most eventful so far (pushing out the least eventful); otherwise only the density
    /// strip remembers it.
    fn retire(&mut self, id: u64) {
        let Some(budget) = &mut self.budget else {
            return;
        };
        if id <= budget.first {
            return;
        }
        let events = self.rows.get(&id).map_or(0, |r| r.events);
        let drop = if budget.kept.len() < budget.eventful {
            budget.kept.push(Reverse((events, id)));
            None
        } else {
            match budget.kept.peek() {
                Some(Reverse(least)) if *least < (events, id) => {
                    let out = budget.kept.pop().map(|Reverse((_, out))| out);
                    budget.kept.push(Reverse((events, id)));
                    out
                }
                _ => Some(id),
            }
        };
        if let Some(out) = drop.and_then(|out| self.rows.remove(&out)) {
            self.by_pair.remove(&(out.client, out.server));
        }
    }

    /// The capture is over: with a budget, connections still open compete for the rows left
    /// like closed ones did.
    pub fn finish(&mut self) {
        self.finished = true;
        if self.budget.is_some() {
            let open: Vec<u64> = self
                .rows
                .iter()
                .filter(|(_, r)| r.state() != Some(super::ConnState::Closed))
                .map(|(id, _)| *id)
                .collect();
            for id in open {
                let kept = self
                    .budget
                    .as_ref()
                    .is_some_and(|b| b.kept.iter().any(|Reverse((_, k))| *k == id));
                if !kept {
                    self.retire(id);
                }
            }
        }
        self.refresh_findings();
    }

    /// Notes a frame (after the events it caused): advances the clock, files the TCP frame
    /// under its connection for the detail view, and marks it when the link dropped it.
    pub fn apply_frame(&mut self, t_ns: u64, frame: Option<FrameInfo>, dropped: bool) {
        self.touch(t_ns);
        self.frames_seen += 1;
        if dropped {
            self.link_dropped += 1;
        }
        let Some(mut frame) = frame else { return };
        frame.number = self.frames_seen;
        let found = self
            .by_pair
            .get(&(frame.src, frame.dst))
            .or_else(|| self.by_pair.get(&(frame.dst, frame.src)))
            .copied();
        let keep = self.budget.is_none();
        if let Some(row) = found.and_then(|id| self.rows.get_mut(&id)) {
            row.apply_frame(t_ns, frame, dropped, keep);
        }
    }

    /// Recomputes the findings from everything applied so far (a live screen does this about
    /// once a second, not per event); a no-op when nothing new arrived.
    pub fn refresh_findings(&mut self) {
        if std::mem::take(&mut self.unrefreshed) > 0 {
            self.findings = self.diagnosis.report().findings;
        }
    }

    /// The whole diagnosis (findings, endpoints, distributions) as it stands.
    pub fn diagnosis(&self) -> &Diagnosis {
        &self.diagnosis
    }

    /// Open connections (not closed, not in TIME_WAIT).
    pub fn open(&self) -> u64 {
        self.summary.open
    }

    fn touch(&mut self, t: u64) {
        self.start_ns.get_or_insert(t);
        self.end_ns = self.end_ns.max(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::Side;
    use crate::testframes::{ev, fin, req, resp};
    use crate::timeline::{ConnState, MarkKind};

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
        let row = &m.rows[&1];
        assert_eq!(row.state_at(0), Some(ConnState::Handshake));
        assert_eq!(row.state_at(2 * 1_000_000), Some(ConnState::Active));
        assert_eq!(row.state_at(5 * 1_000_000), Some(ConnState::Idle));
        assert_eq!(row.state_at(10 * 1_000_000), Some(ConnState::HalfClosed));
        assert_eq!(row.state_at(20 * 1_000_000), Some(ConnState::TimeWait));
        assert!(row.marks.iter().any(|&(t, kind, _)| (t, kind)
            == (
                10 * 1_000_000,
                MarkKind::Fin {
                    by: Side::Server,
                    first: true
                }
            )));
        assert!(row.marks.iter().any(|&(t, kind, _)| (t, kind)
            == (
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

    /// Connection `c`: handshake at `t` ms, `requests` exchanges, then a client-first close.
    fn lifecycle(m: &mut TimelineModel, c: u64, t: u64, requests: u32) {
        m.apply_event(&ev(c, t, EventKind::Syn));
        for n in 1..=requests {
            m.apply_event(&ev(c, t + u64::from(n), req(n, n > 1)));
            m.apply_event(&ev(c, t + u64::from(n), resp(n)));
        }
        let end = t + u64::from(requests) + 1;
        m.apply_event(&ev(c, end, fin(Side::Client, None)));
        m.apply_event(&ev(c, end, fin(Side::Server, None)));
        let tw = EventKind::TimeWait {
            holder: crate::analyze::TimeWaitHolder::Client,
        };
        m.apply_event(&ev(c, end, tw));
        let closed = EventKind::Closed {
            by_rst: false,
            lifetime_ns: 0,
        };
        m.apply_event(&ev(c, end + 1, closed));
    }

    #[test]
    fn a_budget_keeps_the_first_and_the_most_eventful_rows() {
        let mut m = TimelineModel::with_row_budget("report", "", 100);
        for c in 1..=1_000u64 {
            // Every 97th connection is busy.
            let requests = if c % 97 == 0 { 20 } else { 1 };
            lifecycle(&mut m, c, c * 100, requests);
        }
        m.finish();
        assert_eq!(m.connections(), 1_000);
        assert_eq!(m.rows.len(), 100);
        assert!(
            (1..=50).all(|id| m.rows.contains_key(&id)),
            "the first half"
        );
        for busy in (97..=1_000).step_by(97) {
            assert!(m.rows.contains_key(&busy), "busy connection {busy} kept");
        }
        assert!(
            m.log.is_empty() && m.rows[&1].details.is_empty(),
            "no details"
        );
        // Every connection ended in TIME_WAIT, kept in full or not.
        let last = m.density.counts(m.end_ns).last().map(|c| c.1);
        assert_eq!(last, Some([0, 0, 0, 0, 0, 1_000]));
        assert_eq!(m.summary.connections, 1_000);
    }

    #[test]
    fn without_a_budget_every_row_stays() {
        let mut m = TimelineModel::new("tui", "");
        for c in 1..=300u64 {
            lifecycle(&mut m, c, c * 100, 1);
        }
        m.finish();
        assert_eq!(m.rows.len(), 300);
        assert!(!m.rows[&300].details.is_empty());
    }

    #[test]
    fn memory_stays_bounded_with_many_connections_and_events() {
        let mut m = TimelineModel::new("t", "");
        for conn in 1..=10_000u64 {
            m.apply_event(&ev(conn, conn, EventKind::Syn));
        }
        for i in 0..(crate::timeline::row::PER_ROW as u64 + 500) {
            m.apply_event(&ev(
                1,
                20_000 + i,
                EventKind::KeepaliveProbe { by: Side::Client },
            ));
        }
        assert_eq!(m.rows.len(), 10_000);
        assert_eq!(m.rows[&1].marks.len(), crate::timeline::row::PER_ROW);
        assert!(m.rows[&1].elided >= 500);
        assert_eq!(m.log.len(), LOG_LINES);
    }
}
