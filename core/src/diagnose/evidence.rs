//! The small accumulators findings are built from: a count with the first examples (so a user
//! can jump to them in Wireshark), and a timed pattern (the same, plus a sketch of the times).

use serde::Serialize;

use super::sketch::Sketch;

/// Examples kept per finding: enough to look at, never the whole capture.
const EXAMPLES: usize = 10;

/// What a finding points at: connection ids and the frame numbers where it shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// The first connections (analyser ids, as in the events and packet comments).
    pub conns: Vec<u64>,
    /// The frame of each of them where the finding shows (Wireshark `frame.number`).
    pub frames: Vec<u64>,
}

/// A count of connections with the first few as examples.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Examples {
    pub count: u64,
    pub evidence: Evidence,
}

impl Examples {
    /// Counts connection `conn`, which shows the pattern at `frame`.
    pub fn add(&mut self, conn: u64, frame: u64) {
        self.count += 1;
        if self.evidence.conns.len() < EXAMPLES {
            self.evidence.conns.push(conn);
            self.evidence.frames.push(frame);
        }
    }

    /// Adds `other`'s count and as many of its examples as fit.
    pub fn add_all(&mut self, other: &Examples) {
        self.count += other.count;
        for (c, f) in other.evidence.conns.iter().zip(&other.evidence.frames) {
            if self.evidence.conns.len() < EXAMPLES {
                self.evidence.conns.push(*c);
                self.evidence.frames.push(*f);
            }
        }
    }
}

/// Connections showing a pattern, with a time measured on each (an idle time, a delay).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Timed {
    pub examples: Examples,
    pub times: Sketch,
}

impl Timed {
    /// Counts `conn` with its measured time.
    pub fn add(&mut self, conn: u64, frame: u64, ns: u64) {
        self.examples.add(conn, frame);
        self.times.add(ns);
    }

    /// The median and the p90 − p10 spread, in ms, when the times are consistent: the middle
    /// 80 % lie within 10 % of the median (or 10 ms, whichever is larger). None otherwise:
    /// scattered times are no fixed timeout.
    pub fn consistent_ms(&self) -> Option<(f64, f64)> {
        let median = self.times.quantile(0.5)?;
        let spread = self.times.quantile(0.9)? - self.times.quantile(0.1)?;
        let allowed = (median / 10).max(10_000_000);
        (spread <= allowed).then(|| (ms(median), ms(spread)))
    }

    /// The median and the p90 − p10 spread, in ms, however scattered: for closes whose
    /// reason the server gave in its own words, where the timing need not prove it.
    pub fn median_ms(&self) -> Option<(f64, f64)> {
        let median = self.times.quantile(0.5)?;
        let spread = self.times.quantile(0.9)? - self.times.quantile(0.1)?;
        Some((ms(median), ms(spread)))
    }
}

/// ns to ms, rounded to µs.
pub(crate) fn ms(ns: u64) -> f64 {
    (ns / 1_000) as f64 / 1_000.0
}
