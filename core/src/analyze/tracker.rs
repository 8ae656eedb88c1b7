//! The connection table: routes segments to connections, assigns ids, and
//! forgets closed connections so memory follows live connections only.

use super::conn::{Conn, Life};
use super::event::Event;
use super::frame::{decode, DecodeError, LinkType, Segment};
use super::index::{Index, Key};
use super::proto::tls::ahead::{KeyNote, KeyNotes, Opened};
use super::proto::tls::keys::KeyLog;
use super::proto::Secrets;
use super::summary::Summary;
use crate::connlog::ConnLog;

/// How long a closed connection stays in the table (capture time), so late
/// retransmits and RSTs still land on it rather than opening a new one.
const KEEP_CLOSED_NS: u64 = 120_000_000_000;
/// How often (capture time) the table is swept for expired connections.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// What decoding one frame gave, for callers that decode on one thread and analyse on another.
#[derive(Debug, Clone, Copy)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(Segment<'a>),
    /// Something else (ARP, UDP, ...): counted as a frame, nothing more.
    NotTcp,
    /// A frame that could not be decoded: counted.
    Undecodable,
}

impl<'a> Decoded<'a> {
    /// What [`decode`] (or `decode_cut`) gave, as the analyser takes it.
    pub fn of(result: Result<Option<Segment<'a>>, DecodeError>) -> Decoded<'a> {
        match result {
            Ok(Some(seg)) => Decoded::Tcp(seg),
            Ok(None) => Decoded::NotTcp,
            Err(_) => Decoded::Undecodable,
        }
    }
}

/// Streaming analyser: feed frames (or decoded segments) in capture order,
/// collect lifecycle events. Pure: no I/O, no clock; time is what the caller
/// passes, so replaying a file and watching live give the same events.
#[derive(Debug, Default)]
pub struct Analyzer {
    /// Where each tracked connection sits in `conns`. Its entries are small, so growing the
    /// table to a capture's tens of thousands of connections copies little.
    index: Index,
    /// The connections, in slots reused once their connection is forgotten.
    conns: Vec<Conn>,
    /// Slots of `conns` whose connection was forgotten.
    free: Vec<u32>,
    last_id: u64,
    summary: Summary,
    last_sweep_ns: u64,
    /// Frames (or directly fed segments) handled so far: the number of the current one.
    position: u64,
    /// TLS secrets given so far (a key log, a capture's Decryption Secrets Blocks).
    keys: Option<KeyLog>,
    /// The application keys found, noted for a reader that decrypts ahead (None: no
    /// reader does).
    notes: Option<KeyNotes>,
    /// Zeek's conn.log, once asked for ([`Analyzer::log_connections`]).
    conn_log: Option<Box<ConnLog>>,
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
        self.frame(t_ns, link, frame, false, out);
    }

    /// Like [`Analyzer::handle_frame`] for a frame the capture marks as forged by a middlebox
    /// (an RST in the name of one end): its reset counts as the middlebox's.
    pub fn handle_forged_frame(
        &mut self,
        t_ns: u64,
        link: LinkType,
        frame: &[u8],
        out: &mut Vec<Event>,
    ) {
        self.frame(t_ns, link, frame, true, out);
    }

    fn frame(
        &mut self,
        t_ns: u64,
        link: LinkType,
        frame: &[u8],
        forged: bool,
        out: &mut Vec<Event>,
    ) {
        self.handle_decoded(t_ns, Decoded::of(decode(link, frame)), forged, out);
    }

    /// Analyses a frame decoded elsewhere (with [`decode`], on another thread, say): the
    /// same as [`Analyzer::handle_frame`] (or, `forged`, [`Analyzer::handle_forged_frame`])
    /// with the decoding already done.
    pub fn handle_decoded(
        &mut self,
        t_ns: u64,
        decoded: Decoded<'_>,
        forged: bool,
        out: &mut Vec<Event>,
    ) {
        self.handle_opened(t_ns, decoded, forged, Opened::default(), out);
    }

    /// Like [`Analyzer::handle_decoded`], with the TLS records a reader decrypting ahead
    /// opened that end in this frame (see [`Analyzer::decrypt_ahead`]).
    pub fn handle_opened(
        &mut self,
        t_ns: u64,
        decoded: Decoded<'_>,
        forged: bool,
        opened: Opened<'_>,
        out: &mut Vec<Event>,
    ) {
        self.summary.frames += 1;
        self.position += 1;
        match decoded {
            Decoded::Tcp(seg) => self.segment(t_ns, &seg, (forged, opened), out),
            Decoded::NotTcp => {}
            Decoded::Undecodable => self.summary.undecodable += 1,
        }
    }

    /// Analyses one TCP segment captured at `t_ns`, appending its events; for callers that
    /// decode frames themselves (each segment counts as the next frame).
    pub fn handle_segment(&mut self, t_ns: u64, seg: &Segment, out: &mut Vec<Event>) {
        self.position += 1;
        self.segment(t_ns, seg, (false, Opened::default()), out);
    }

    fn segment(
        &mut self,
        t_ns: u64,
        seg: &Segment,
        (forged, opened): (bool, Opened<'_>),
        out: &mut Vec<Event>,
    ) {
        self.summary.tcp_segments += 1;
        if seg.len as usize > seg.payload.len() {
            self.summary.cut_segments += 1;
        }
        let first = out.len();
        self.sweep(t_ns, out);
        let key = Key::of(seg);
        let opening = seg.flags.syn && !seg.flags.ack;
        let mut secrets = Secrets {
            keys: self.keys.as_ref(),
            opened,
            notes: self.notes.as_mut(),
        };
        // One lookup for the usual segment of a known connection.
        let slot = match self.index.get(&key) {
            Some(slot) if !(opening && self.conns[slot as usize].replaced_by(seg)) => {
                self.conns[slot as usize].on_segment(t_ns, (seg, forged), &mut secrets, out);
                slot
            }
            existing => {
                if let Some(slot) = existing {
                    self.conns[slot as usize].abandon(t_ns, out);
                }
                self.last_id += 1;
                let mut conn = Conn::new(self.last_id, t_ns, seg);
                conn.on_segment(t_ns, (seg, forged), &mut secrets, out);
                match existing {
                    Some(slot) => {
                        self.conns[slot as usize] = conn;
                        slot
                    }
                    None => {
                        let slot = self.store(conn);
                        self.index.insert(key, slot);
                        slot
                    }
                }
            }
        };
        for event in &mut out[first..] {
            event.frame = self.position;
            self.summary.apply(event);
        }
        if self.conn_log.is_some() {
            self.log_segment(t_ns, slot, seg, &out[first..]);
        }
    }

    /// Hands the segment and its events to the conn.log. Apart and cold, so that the
    /// analysis of every frame stays as it was when no log is kept.
    #[cold]
    #[inline(never)]
    fn log_segment(&mut self, t_ns: u64, slot: u32, seg: &Segment, events: &[Event]) {
        let Some(log) = self.conn_log.as_deref_mut() else {
            return;
        };
        let (id, client, server) = self.conns[slot as usize].ends();
        log.segment(t_ns, id, (client, server), seg);
        for event in events {
            log.event(event);
        }
    }

    /// Keeps Zeek's conn.log from now on: a row per connection, for
    /// [`Analyzer::conn_log`]. Costs nothing until asked.
    pub fn log_connections(&mut self) {
        self.conn_log.get_or_insert_with(Box::default);
    }

    /// The conn.log kept since [`Analyzer::log_connections`].
    pub fn conn_log(&self) -> Option<&ConnLog> {
        self.conn_log.as_deref()
    }

    /// Puts `conn` in a forgotten connection's slot, or a new one, and says which.
    fn store(&mut self, conn: Conn) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.conns[slot as usize] = conn;
                slot
            }
            None => {
                self.conns.push(conn);
                u32::try_from(self.conns.len() - 1)
                    .expect("fewer than 4 billion connections in memory")
            }
        }
    }

    /// Notes, from now on, each TLS application key found, for a reader that decrypts ahead
    /// of this analyser ([`crate::analyze::Ahead`]); [`Analyzer::take_key_notes`] hands
    /// them over.
    pub fn decrypt_ahead(&mut self) {
        self.notes.get_or_insert_with(KeyNotes::default);
    }

    /// Moves the key notes written since the last call into `out`.
    pub fn take_key_notes(&mut self, out: &mut Vec<KeyNote>) {
        if let Some(notes) = self.notes.as_mut() {
            notes.drain_into(out);
        }
    }

    /// Adds TLS secrets in the NSS key log format (`SSLKEYLOGFILE`, a pcapng Decryption
    /// Secrets Block): TLS connections whose keys are known from then on are decrypted and
    /// what they carry is analysed as in clear. Returns how many clients' secrets are known.
    pub fn add_keys(&mut self, text: &[u8]) -> usize {
        let keys = self.keys.get_or_insert_with(KeyLog::default);
        keys.add_text(text);
        keys.len()
    }

    /// Totals so far, consistent with the events emitted so far.
    pub fn summary(&self) -> Summary {
        let mut summary = self.summary.clone();
        summary.http2.settle();
        summary.tls.settle();
        summary
    }

    /// Connections in the table that are not closed.
    pub fn open_connections(&self) -> usize {
        self.index
            .slots()
            .map(|slot| &self.conns[slot as usize])
            .filter(|c| !matches!(c.life, Life::Closed { .. }))
            .count()
    }

    /// Connections held in memory, closed ones included (bounded by eviction).
    pub fn table_len(&self) -> usize {
        self.index.len()
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
        let (conns, free) = (&mut self.conns, &mut self.free);
        self.index.retain(|slot| {
            let conn = &mut conns[slot as usize];
            let keep = match conn.life {
                Life::Open => true,
                Life::Closed { at_ns } => !expired(at_ns),
                Life::TimeWait { since_ns, .. } => {
                    if expired(since_ns) {
                        conn.abandon(t_ns, out);
                    }
                    true
                }
            };
            if !keep {
                free.push(slot);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::event::{EventKind as K, Side};
    use crate::testframes::{Conv, Lab, F};

    /// Handshake, one exchange and a client-first close, starting at `ms`.
    fn whole_connection(lab: &mut Lab, c: &mut Conv, ms: u64) {
        lab.handshake(c, ms);
        lab.exchange(c, ms + 3, "/");
        lab.at(ms + 5, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(ms + 6, &c.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(ms + 7, &c.send(Side::Client, F::ACK, b""));
    }

    fn count(lab: &Lab, pred: impl Fn(&K) -> bool) -> usize {
        lab.events.iter().filter(|e| pred(&e.kind)).count()
    }

    #[test]
    fn decoded_segments_can_be_fed_directly() {
        let mut an = Analyzer::new();
        let mut out = Vec::new();
        let seg = Segment {
            src: "192.168.1.5:51000".parse().expect("addr"),
            dst: "192.168.1.1:8080".parse().expect("addr"),
            seq: 42,
            ack: 0,
            flags: crate::analyze::frame::TcpFlags::from_bits(F::SYN),
            window: 1024,
            payload: b"",
            len: 0,
            headers: 40,
        };
        an.handle_segment(7, &seg, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].t_ns, out[0].conn, &out[0].kind), (7, 1, &K::Syn));
        let s = an.summary();
        assert_eq!(
            (s.frames, s.tcp_segments, s.connections, s.open),
            (0, 1, 1, 1)
        );
    }

    #[test]
    fn keep_alive_off_gives_a_new_connection_per_request() {
        let mut lab = Lab::default();
        for i in 0..3u16 {
            let client = format!("10.0.0.1:{}", 40000 + i);
            let mut c = Conv::new(&client, "10.0.0.2:80", 100, 200);
            whole_connection(&mut lab, &mut c, u64::from(i) * 100);
        }
        let s = lab.an.summary();
        assert_eq!((s.connections, s.requests, s.reused, s.open), (3, 3, 0, 0));
        for conn in 1..=3 {
            let requests: Vec<_> = lab
                .events
                .iter()
                .filter(|e| e.conn == conn)
                .map(|e| e.describe())
                .collect();
            assert!(
                requests.contains(&format!("conn {conn}: request 1 GET / (new connection)")),
                "{requests:?}"
            );
        }
        assert!(lab.events.iter().all(|e| !e.describe().contains("reused")));
    }

    #[test]
    fn four_tuple_reuse_after_time_wait_is_a_second_connection() {
        let mut lab = Lab::default();
        let mut first = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 100, 200);
        whole_connection(&mut lab, &mut first, 0);
        let mut again = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 90_000, 7);
        whole_connection(&mut lab, &mut again, 61_000);
        let s = lab.an.summary();
        assert_eq!(
            (s.connections, s.requests, s.reused, s.retransmits),
            (2, 2, 0, 0)
        );
        assert_eq!(lab.kinds(2)[0], K::Syn);
        assert_eq!(s.time_wait.client, 2);
    }

    #[test]
    fn syn_on_a_tuple_whose_close_was_not_seen_supersedes_it() {
        let mut lab = Lab::default();
        let mut first = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 100, 200);
        lab.handshake(&mut first, 0);
        let mut again = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 5_000, 9);
        lab.handshake(&mut again, 1_000);
        let closed = K::Closed {
            by_rst: false,
            lifetime_ns: 1_000_000_000,
        };
        assert_eq!(lab.kinds(1).last(), Some(&closed));
        assert_eq!(lab.an.summary().open, 1);
        assert_eq!(lab.an.open_connections(), 1);
    }

    #[test]
    fn syn_ack_recorded_before_its_syn_is_still_one_connection() {
        let mut lab = Lab::default();
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 100, 200);
        let syn = c.send(Side::Client, F::SYN, b"");
        let syn_ack = c.send(Side::Server, F::SYN | F::ACK, b"");
        lab.at(0, &syn_ack);
        lab.at(0, &syn);
        lab.at(1, &c.send(Side::Client, F::ACK, b""));
        lab.at(
            2,
            &c.send(Side::Client, F::PSH | F::ACK, b"GET / HTTP/1.1\r\n\r\n"),
        );
        let kinds = lab.kinds(1);
        assert!(matches!(kinds[0], K::Syn), "{kinds:?}");
        assert!(matches!(kinds[1], K::Established { .. }), "{kinds:?}");
        assert!(matches!(kinds[2], K::Request { n: 1, .. }), "{kinds:?}");
        assert!(lab.kinds(2).is_empty(), "no second connection");
        assert_eq!(lab.an.summary().connections, 1);
    }

    #[test]
    fn retransmitted_syn_is_not_a_new_connection() {
        let mut lab = Lab::default();
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 100, 200);
        let syn = c.send(Side::Client, F::SYN, b"");
        lab.at(0, &syn);
        lab.at(1_000, &syn);
        lab.at(1_001, &c.send(Side::Server, F::SYN | F::ACK, b""));
        lab.at(1_002, &c.send(Side::Client, F::ACK, b""));
        let retransmit = K::Retransmit {
            by: Side::Client,
            seq: 0,
            len: 0,
        };
        let handshake_ns = 1_002_000_000;
        assert_eq!(
            lab.kinds(1),
            [K::Syn, retransmit, K::Established { handshake_ns }]
        );
        assert_eq!(lab.an.summary().connections, 1);
    }

    #[test]
    fn late_rst_after_close_is_counted_but_closes_nothing() {
        let mut lab = Lab::default();
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 100, 200);
        whole_connection(&mut lab, &mut c, 0);
        lab.at(50, &c.send(Side::Server, F::RST, b""));
        let s = lab.an.summary();
        assert_eq!((s.rst_by.server, s.connections, s.open), (1, 1, 0));
        assert_eq!(count(&lab, |k| matches!(k, K::Closed { .. })), 1);
    }

    #[test]
    fn truncated_and_random_frames_are_counted_never_panic() {
        let mut lab = Lab::default();
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 100, 200);
        let frame = c.send(Side::Client, F::SYN, b"");
        lab.at(0, &frame[..30]);
        let s = lab.an.summary();
        assert_eq!(
            (s.frames, s.undecodable, s.tcp_segments, s.connections),
            (1, 1, 0, 0)
        );

        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let links = [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll];
        for round in 0..20_000u64 {
            let mut f = frame.clone();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % f.len();
                f[at] = next() as u8;
            }
            if round % 3 == 0 {
                f = (0..next() % 80).map(|_| next() as u8).collect();
            }
            let link = links[(next() % 3) as usize];
            lab.at_link(round, link, &f);
        }
        assert_eq!(lab.an.summary().frames, 20_001);
    }

    #[test]
    fn closed_connections_are_evicted_so_memory_stays_bounded() {
        let mut lab = Lab::default();
        for i in 0..10_000u64 {
            let client = format!("10.{}.{}.1:40000", i / 250, i % 250);
            let mut c = Conv::new(&client, "10.0.0.2:80", 100, 200);
            whole_connection(&mut lab, &mut c, i * 100);
            lab.events.clear();
        }
        let s = lab.an.summary();
        assert_eq!((s.connections, s.open), (10_000, 0));
        // 121 s of capture at 10 connections/s, give or take one sweep.
        assert!(
            lab.an.table_len() <= 1_230,
            "table holds {}",
            lab.an.table_len()
        );
    }

    #[test]
    fn stuck_time_wait_is_closed_after_120_s() {
        let mut lab = Lab::default();
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 100, 200);
        lab.handshake(&mut c, 0);
        lab.at(10, &c.send(Side::Client, F::FIN | F::ACK, b""));
        lab.at(11, &c.send(Side::Server, F::FIN | F::ACK, b""));
        assert_eq!(lab.an.open_connections(), 1);
        let mut other = Conv::new("10.0.0.3:40000", "10.0.0.2:80", 100, 200);
        lab.handshake(&mut other, 130_000);
        let closed = K::Closed {
            by_rst: false,
            lifetime_ns: 11_000_000,
        };
        assert_eq!(lab.kinds(1).last(), Some(&closed));
        assert_eq!(lab.an.open_connections(), 1);
    }

    #[test]
    fn live_summary_equals_summary_folded_from_events() {
        let mut lab = Lab::default();
        let mut a = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
        let mut b = Conv::new("[fd00::1]:40001", "[fd00::2]:80", 3, 4);
        lab.handshake(&mut a, 0);
        lab.handshake(&mut b, 1);
        lab.exchange(&mut a, 10, "/a");
        lab.exchange(&mut b, 12, "/b");
        lab.exchange(&mut a, 20, "/a2");
        lab.at(30, &b.send(Side::Server, F::FIN | F::ACK, b""));
        lab.at(31, &a.send(Side::Client, F::RST | F::ACK, b""));
        let mut folded = Summary::default();
        for e in &lab.events {
            folded.apply(e);
        }
        let live = lab.an.summary();
        folded.frames = live.frames;
        folded.tcp_segments = live.tcp_segments;
        folded.undecodable = live.undecodable;
        assert_eq!(folded, live);
        assert_eq!((live.connections, live.open, live.reused), (2, 1, 1));
        assert_eq!(lab.an.open_connections(), 1);
    }
}
