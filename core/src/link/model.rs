//! The link model of one direction: a pure function of (time since the lab started, seeded
//! RNG) deciding whether a frame is dropped and how long it is held. The I/O loop in
//! wire's forwarder wraps it, the way smoltcp's fault injector wraps a device.

use super::rng::SplitMix64;

/// Why the link dropped a frame; recorded as a packet comment in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// Random loss (`loss_pct`).
    Loss,
    /// Inside a partition window.
    Partition,
    /// A middlebox had forgotten the frame's flow.
    ForgottenFlow,
}

impl DropCause {
    /// Word used in packet comments and events.
    pub fn as_str(self) -> &'static str {
        match self {
            DropCause::Loss => "loss",
            DropCause::Partition => "partition",
            DropCause::ForgottenFlow => "middlebox: forgotten flow",
        }
    }
}

/// What happens to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it after holding it this long.
    Deliver {
        /// Hold time in ns (0: forward at once).
        hold_ns: u64,
    },
    /// Do not send it.
    Drop(DropCause),
}

/// Delay, jitter, loss and partition windows for one direction.
#[derive(Debug, Clone)]
pub struct DirectionModel {
    delay_ns: u64,
    jitter_ns: u64,
    loss: f64,
    partitions: Vec<(u64, u64)>,
    rng: SplitMix64,
}

impl DirectionModel {
    /// A model; `loss` is a probability in [0, 1], partitions are [from, to) in ns since start.
    pub fn new(
        delay_ns: u64,
        jitter_ns: u64,
        loss: f64,
        partitions: Vec<(u64, u64)>,
        seed: u64,
    ) -> Self {
        DirectionModel {
            delay_ns,
            jitter_ns,
            loss: loss.clamp(0.0, 1.0),
            partitions,
            rng: SplitMix64::new(seed),
        }
    }

    /// Decides the fate of a frame that reached the wire `elapsed_ns` after the lab started.
    pub fn decide(&mut self, elapsed_ns: u64) -> Verdict {
        if self
            .partitions
            .iter()
            .any(|&(from, to)| elapsed_ns >= from && elapsed_ns < to)
        {
            return Verdict::Drop(DropCause::Partition);
        }
        if self.loss > 0.0 && self.rng.next_f64() < self.loss {
            return Verdict::Drop(DropCause::Loss);
        }
        let jitter = if self.jitter_ns > 0 {
            self.rng.next_u64() % self.jitter_ns
        } else {
            0
        };
        Verdict::Deliver {
            hold_ns: self.delay_ns + jitter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_link_delivers_everything_at_once() {
        let mut m = DirectionModel::new(0, 0, 0.0, vec![], 1);
        for t in 0..1000 {
            assert_eq!(m.decide(t), Verdict::Deliver { hold_ns: 0 });
        }
    }

    #[test]
    fn loss_rate_is_close_to_the_setting_and_reproducible() {
        let run = |seed| {
            let mut m = DirectionModel::new(0, 0, 0.10, vec![], seed);
            (0..100_000)
                .map(|t| m.decide(t))
                .filter(|v| *v == Verdict::Drop(DropCause::Loss))
                .count()
        };
        let dropped = run(7);
        assert!((9_000..11_000).contains(&dropped), "dropped {dropped}");
        assert_eq!(dropped, run(7), "same seed, same drops");
        assert_ne!(dropped, run(8), "another seed, other drops");
    }

    #[test]
    fn partition_drops_only_inside_its_window() {
        let mut m = DirectionModel::new(0, 0, 0.0, vec![(1_000, 2_000)], 1);
        assert!(matches!(m.decide(999), Verdict::Deliver { .. }));
        assert_eq!(m.decide(1_000), Verdict::Drop(DropCause::Partition));
        assert_eq!(m.decide(1_999), Verdict::Drop(DropCause::Partition));
        assert!(matches!(m.decide(2_000), Verdict::Deliver { .. }));
    }

    #[test]
    fn jitter_stays_within_delay_plus_jitter() {
        let mut m = DirectionModel::new(5_000_000, 1_000_000, 0.0, vec![], 3);
        let holds: Vec<u64> = (0..10_000)
            .map(|t| match m.decide(t) {
                Verdict::Deliver { hold_ns } => hold_ns,
                Verdict::Drop(c) => panic!("dropped by {c:?}"),
            })
            .collect();
        assert!(holds.iter().all(|h| (5_000_000..6_000_000).contains(h)));
        assert!(holds.iter().any(|h| *h > 5_500_000), "jitter is used");
    }
}
