//! How many connections were in each state over time, for all of them: the strip a renderer
//! draws when a capture has more connections than rows it can show.
//!
//! Streaming and bounded: every state change adds +1 to its new state and −1 to its old one in
//! the time bucket where it happened; the count at any time is the running sum. The buckets
//! cover the capture so far at a fixed count; when time runs past the last one, neighbours are
//! merged and each bucket covers twice as long.

use super::row::ConnState;

/// Time buckets kept (the strip's resolution).
const BUCKETS: usize = 512;
/// Bucket width to start with (1 ms), doubled as the capture grows.
const FIRST_WIDTH_NS: u64 = 1_000_000;

/// The states counted, in [`ConnState`] order (closed connections are not counted).
pub const COUNTED: [ConnState; STATES] = [
    ConnState::Handshake,
    ConnState::Active,
    ConnState::Idle,
    ConnState::WebSocket,
    ConnState::HalfClosed,
    ConnState::TimeWait,
];

/// How many states are counted.
pub const STATES: usize = 6;

fn slot(state: ConnState) -> Option<usize> {
    COUNTED.iter().position(|s| *s == state)
}

/// Connections per state over time.
#[derive(Debug, Clone, Default)]
pub struct Density {
    start_ns: Option<u64>,
    width_ns: u64,
    deltas: Vec<[i64; STATES]>,
}

impl Density {
    /// A connection went from `from` (None: it is new) to `to` at `t_ns`.
    pub fn transition(&mut self, t_ns: u64, from: Option<ConnState>, to: ConnState) {
        let start = *self.start_ns.get_or_insert(t_ns);
        if self.deltas.is_empty() {
            self.width_ns = FIRST_WIDTH_NS;
            self.deltas = vec![[0; STATES]; BUCKETS];
        }
        let mut i = (t_ns.saturating_sub(start) / self.width_ns) as usize;
        while i >= BUCKETS {
            self.coarsen();
            i = (t_ns.saturating_sub(start) / self.width_ns) as usize;
        }
        if let Some(s) = from.and_then(slot) {
            self.deltas[i][s] -= 1;
        }
        if let Some(s) = slot(to) {
            self.deltas[i][s] += 1;
        }
    }

    /// Merges neighbouring buckets: half the resolution, twice the time.
    fn coarsen(&mut self) {
        for i in 0..BUCKETS / 2 {
            let (a, b) = (self.deltas[2 * i], self.deltas[2 * i + 1]);
            self.deltas[i] = std::array::from_fn(|s| a[s] + b[s]);
        }
        for d in &mut self.deltas[BUCKETS / 2..] {
            *d = [0; STATES];
        }
        self.width_ns *= 2;
    }

    /// (bucket start ns, connections in each of [`COUNTED`] at the bucket's end) up to
    /// `end_ns`.
    pub fn counts(&self, end_ns: u64) -> Vec<(u64, [u64; STATES])> {
        let Some(start) = self.start_ns else {
            return Vec::new();
        };
        let last = ((end_ns.saturating_sub(start) / self.width_ns) as usize).min(BUCKETS - 1);
        let mut running = [0i64; STATES];
        self.deltas[..=last]
            .iter()
            .enumerate()
            .map(|(i, d)| {
                for (n, delta) in running.iter_mut().zip(d) {
                    *n += delta;
                }
                let t = start + i as u64 * self.width_ns;
                (t, running.map(|n| n.max(0) as u64))
            })
            .collect()
    }

    /// The width of one bucket, ns.
    pub fn bucket_ns(&self) -> u64 {
        self.width_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_running_sums_of_transitions() {
        let mut d = Density::default();
        let ms = 1_000_000;
        d.transition(0, None, ConnState::Handshake);
        d.transition(ms, Some(ConnState::Handshake), ConnState::Idle);
        d.transition(2 * ms, None, ConnState::Handshake);
        d.transition(3 * ms, Some(ConnState::Idle), ConnState::TimeWait);
        let c = d.counts(4 * ms);
        assert_eq!(c.len(), 5);
        assert_eq!(c[0].1, [1, 0, 0, 0, 0, 0]);
        assert_eq!(c[1].1, [0, 0, 1, 0, 0, 0]);
        assert_eq!(c[2].1, [1, 0, 1, 0, 0, 0]);
        assert_eq!(c[4].1, [1, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn a_long_capture_coarsens_instead_of_growing() {
        let mut d = Density::default();
        let s = 1_000_000_000;
        for i in 0..100_000u64 {
            d.transition(i * s / 100, None, ConnState::Idle);
            d.transition(
                i * s / 100 + s / 200,
                Some(ConnState::Idle),
                ConnState::Closed,
            );
        }
        assert_eq!(d.deltas.len(), BUCKETS);
        assert!(d.bucket_ns() >= 1_000_000_000 * 1_000 / BUCKETS as u64);
        let counts = d.counts(1_000 * s);
        // Each connection lives half of every hundredth of a second: none is left at the end.
        assert_eq!(counts.last().map(|c| c.1), Some([0; STATES]));
    }
}
