//! Zeek's `conn.log` from a capture: one row per TCP connection, in the columns and letters
//! Zeek's documentation defines (`conn_state`, `history`), then connlab's own (requests,
//! reuse, who closed first, who held TIME_WAIT, the findings that name the connection). Tools
//! that already read conn.log (zeek-cut, DuckDB, ClickHouse, RITA) take it from there.
//!
//! Sans-I/O like the analyser: [`ConnLog`] is fed each segment and each event (the analyser
//! does it once asked, [`crate::analyze::Analyzer::log_connections`]) and gives rows;
//! [`format`] writes them as TSV or JSON lines.

mod endpoint;
pub mod format;
mod state;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use crate::analyze::{Event, EventKind, Exchange, Segment, Side, TimeWaitHolder};
use crate::diagnose::DiagnosisReport;
use crate::FastMap;
use endpoint::Endpoint;

/// Letters of `history` kept per connection; Zeek's own stays short, a hostile capture's
/// would not.
const HISTORY: usize = 64;

/// One connection being logged.
#[derive(Debug, Clone)]
struct Logged {
    /// Its first packet's time and its latest's, ns.
    first_ns: u64,
    last_ns: u64,
    /// The originator (the client) and the responder.
    orig: SocketAddr,
    resp: SocketAddr,
    /// Originator, responder.
    ends: [Endpoint; 2],
    history: Vec<u8>,
    service: Option<&'static str>,
    requests: u64,
    reused: u64,
    first_fin: Option<Side>,
    time_wait: Option<TimeWaitHolder>,
}

impl Logged {
    /// The analyser learnt that the side taken for the client is the server (a capture begun
    /// mid-connection, the first payload a response): the ends swap, the history's letters
    /// change case, and it begins with `^` as Zeek's does when it flips a connection.
    fn flip(&mut self) {
        std::mem::swap(&mut self.orig, &mut self.resp);
        self.ends.swap(0, 1);
        for letter in &mut self.history {
            if letter.is_ascii_alphabetic() {
                *letter ^= 0x20;
            }
        }
        if self.history.first() != Some(&b'^') {
            self.history.insert(0, b'^');
        }
    }
}

/// One row of conn.log.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The first packet's time, ns since the epoch.
    pub ts_ns: u64,
    /// Unique per connection of the log (Zeek's `uid`).
    pub uid: String,
    /// The originator (the client) and the responder.
    pub orig: SocketAddr,
    /// The responder (the server).
    pub resp: SocketAddr,
    /// The protocol it spoke, in Zeek's words (`http`, `ssl`, `postgresql`), if known.
    pub service: Option<&'static str>,
    /// Last packet's time minus first's; Zeek leaves it (and the byte counts) unset when 0.
    pub duration_ns: u64,
    /// Stream bytes each side sent, by sequence numbers.
    pub orig_bytes: u64,
    /// The responder's.
    pub resp_bytes: u64,
    /// Zeek's summary of the connection (S0, SF, REJ, RSTO, ...).
    pub conn_state: &'static str,
    /// Stream bytes the capture never showed.
    pub missed_bytes: u64,
    /// Zeek's letters: the originator's upper case, the responder's lower.
    pub history: String,
    /// Packets the originator sent.
    pub orig_pkts: u64,
    /// Their IP bytes (headers included).
    pub orig_ip_bytes: u64,
    /// Packets the responder sent.
    pub resp_pkts: u64,
    /// Their IP bytes.
    pub resp_ip_bytes: u64,
    /// connlab's: requests (of any protocol's exchanges), of them on a reused connection.
    pub requests: u64,
    /// Of them, those on a connection used before.
    pub reused: u64,
    /// Who sent the first FIN.
    pub first_fin_by: Option<Side>,
    /// Who held TIME_WAIT.
    pub time_wait: Option<TimeWaitHolder>,
    /// The finding kinds whose evidence names this connection.
    pub findings: Vec<&'static str>,
}

/// The rows of a capture under way, by the analyser's connection ids.
#[derive(Debug, Clone, Default)]
pub struct ConnLog {
    conns: FastMap<u64, Logged>,
    /// Scratch for one segment's letters.
    letters: Vec<u8>,
}

/// Zeek's service name of the protocol an event shows.
fn service(kind: &EventKind) -> Option<&'static str> {
    Some(match kind {
        EventKind::Request { .. } | EventKind::Response { .. } => "http",
        EventKind::WsOpen { .. } => "websocket",
        EventKind::Http2(_) => "http2",
        EventKind::Tls(_) => "ssl",
        EventKind::Redis(_) => "redis",
        EventKind::Postgres(_) => "postgresql",
        EventKind::Mysql(_) => "mysql",
        _ => return None,
    })
}

impl ConnLog {
    /// Takes one segment of connection `id`, whose client and server the analyser holds to
    /// be `ends` now.
    pub fn segment(&mut self, t_ns: u64, id: u64, ends: (SocketAddr, SocketAddr), seg: &Segment) {
        let logged = self.conns.entry(id).or_insert_with(|| Logged {
            first_ns: t_ns,
            last_ns: t_ns,
            orig: ends.0,
            resp: ends.1,
            ends: Default::default(),
            history: Vec::new(),
            service: None,
            requests: 0,
            reused: 0,
            first_fin: None,
            time_wait: None,
        });
        logged.last_ns = t_ns;
        if ends.0 != logged.orig {
            logged.flip();
        }
        let from_orig = seg.src == logged.orig;
        let [orig, resp] = &mut logged.ends;
        let (me, peer) = if from_orig {
            (orig, resp)
        } else {
            (resp, orig)
        };
        self.letters.clear();
        me.sent(seg, peer, &mut self.letters);
        for &letter in &self.letters {
            if logged.history.len() < HISTORY {
                let letter = if from_orig {
                    letter.to_ascii_uppercase()
                } else {
                    letter
                };
                logged.history.push(letter);
            }
        }
    }

    /// Takes one event: what the connection spoke, its requests, its close.
    pub fn event(&mut self, e: &Event) {
        let Some(logged) = self.conns.get_mut(&e.conn) else {
            return;
        };
        if let Some(Exchange::Request { reused, .. }) = e.kind.exchange() {
            logged.requests += 1;
            logged.reused += u64::from(reused);
        }
        match &e.kind {
            EventKind::Fin { by, .. } => {
                logged.first_fin.get_or_insert(*by);
            }
            EventKind::TimeWait { holder } => logged.time_wait = Some(*holder),
            kind => {
                // A later protocol names it better (WebSocket after its HTTP upgrade).
                if let Some(service) = service(kind) {
                    if logged.service.is_none() || service == "websocket" {
                        logged.service = Some(service);
                    }
                }
            }
        }
    }

    /// Connections logged so far.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection was logged.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The rows, oldest connection first, each with the findings of `diagnosis` that name it
    /// in their evidence.
    pub fn rows(&self, diagnosis: &DiagnosisReport) -> Vec<Row> {
        let mut named: FastMap<u64, Vec<&'static str>> = FastMap::default();
        for f in &diagnosis.findings {
            for &conn in &f.evidence.conns {
                let kinds = named.entry(conn).or_default();
                if !kinds.contains(&f.kind.as_str()) {
                    kinds.push(f.kind.as_str());
                }
            }
        }
        let mut ids: Vec<u64> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| {
                let c = &self.conns[&id];
                let [orig, resp] = &c.ends;
                Row {
                    ts_ns: c.first_ns,
                    uid: uid(id),
                    orig: c.orig,
                    resp: c.resp,
                    service: c.service,
                    duration_ns: c.last_ns - c.first_ns,
                    orig_bytes: orig.bytes(),
                    resp_bytes: resp.bytes(),
                    conn_state: state::conn_state(orig, resp, &c.history),
                    missed_bytes: orig.missed + resp.missed,
                    history: String::from_utf8_lossy(&c.history).into_owned(),
                    orig_pkts: orig.packets,
                    orig_ip_bytes: orig.ip_bytes,
                    resp_pkts: resp.packets,
                    resp_ip_bytes: resp.ip_bytes,
                    requests: c.requests,
                    reused: c.reused,
                    first_fin_by: c.first_fin,
                    time_wait: c.time_wait,
                    findings: named.remove(&id).unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// splitmix64's finaliser: a bijection of 64-bit numbers that spreads neighbours apart.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A Zeek-like uid (`C` and 17 base-62 digits), the same for the same connection of the same
/// capture, and neighbours not alike: its last 11 digits are the id mixed (all 64 bits of
/// it, so distinct ids give distinct uids), the first 6 another mix of it.
fn uid(id: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'C'; 18];
    let (head, tail) = out[1..].split_at_mut(6);
    for (digits, mut x) in [(head, mix(id ^ 0x5a5a_5a5a_5a5a_5a5a)), (tail, mix(id))] {
        for slot in digits.iter_mut().rev() {
            *slot = DIGITS[(x % 62) as usize];
            x /= 62;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
