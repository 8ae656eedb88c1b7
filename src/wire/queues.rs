//! The wire's watch on the kernel's input queues (see [`crate::net::softnet`]): frames wait
//! there on their way into the wire's ring and out of it into the lab's namespaces. A thread
//! reads their length every millisecond, so a growing queue holds paced actors back like a
//! filling ring does, and counts what the kernel dropped there: frames connlab's own machine
//! lost, handed to the next recorded frame as a gap in the capture.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::pressure::Lag;
use crate::net::softnet::SoftnetStat;

/// How often the queues are read.
const EVERY: Duration = Duration::from_millis(1);
/// Frames waiting (all CPUs) that make the machine behind...
const BEHIND: u64 = 2_000;
/// ...and few enough again to say it caught up.
const CAUGHT_UP: u64 = 200;

/// A running watch; [`QueueWatch::stop`] ends it.
pub struct QueueWatch {
    handle: JoinHandle<u64>,
}

impl QueueWatch {
    /// Starts watching; drops found are added to `lost` (the wire hands them to the next
    /// frame it records). None when the kernel does not show its queues.
    pub fn start(lost: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> Option<QueueWatch> {
        let mut stat = SoftnetStat::open()?;
        let mut before = stat.read().ok()?;
        let handle = std::thread::spawn(move || {
            let mut lag = Lag::default();
            let mut dropped = 0;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EVERY);
                let Ok(now) = stat.read() else {
                    break;
                };
                lag.update(now.waiting >= BEHIND, now.waiting < CAUGHT_UP);
                let new = now.dropped_since(&before);
                if new > 0 {
                    dropped += new;
                    lost.fetch_add(new, Ordering::Relaxed);
                }
                before = now;
            }
            dropped
        });
        Some(QueueWatch { handle })
    }

    /// Waits for the thread (the stop flag set) and returns the frames the queues dropped.
    pub fn stop(self) -> u64 {
        self.handle.join().unwrap_or(0)
    }
}
