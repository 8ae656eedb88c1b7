//! Live counters the recorder updates as frames arrive, read by the progress line (and any
//! other live view) without ever making the recorder wait.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use connlab_core::analyze::{Event, EventKind};

use super::sink::{Recorded, Sink};

/// Counters shared between the recorder and the progress line.
#[derive(Debug, Default)]
pub struct LiveCounters {
    frames: AtomicU64,
    connections: AtomicU64,
    requests: AtomicU64,
    link_dropped: AtomicU64,
}

impl LiveCounters {
    /// Counts one recorded frame and the events it caused.
    pub fn record(&self, events: &[Event], dropped_by_link: bool) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        if dropped_by_link {
            self.link_dropped.fetch_add(1, Ordering::Relaxed);
        }
        for e in events {
            match e.kind {
                EventKind::Syn => self.connections.fetch_add(1, Ordering::Relaxed),
                EventKind::Request { .. } => self.requests.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
        }
    }

    /// The one-line progress text.
    pub fn line(&self, elapsed: Duration) -> String {
        format!(
            "{:>6.1} s  connections {}  requests {}  frames {}  link drops {}",
            elapsed.as_secs_f64(),
            self.connections.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
            self.frames.load(Ordering::Relaxed),
            self.link_dropped.load(Ordering::Relaxed),
        )
    }
}

impl Sink for Arc<LiveCounters> {
    fn frame(&mut self, recorded: &Recorded<'_>) -> Result<()> {
        self.record(recorded.events, recorded.frame.dropped.is_some());
        Ok(())
    }
}

/// A progress line redrawn on stderr until dropped.
pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressLine {
    /// Starts redrawing `counters` four times a second.
    pub fn start(counters: Arc<LiveCounters>) -> ProgressLine {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                eprint!("\r\x1b[K{}", counters.line(start.elapsed()));
                let _ = std::io::stderr().flush();
                std::thread::sleep(Duration::from_millis(250));
            }
            eprint!("\r\x1b[K");
        });
        ProgressLine {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connlab_core::testframes::{ev, req};

    #[test]
    fn counts_connections_requests_and_drops() {
        let c = LiveCounters::default();
        c.record(&[ev(1, 0, EventKind::Syn)], false);
        c.record(&[ev(1, 1, req(1, false))], true);
        let line = c.line(Duration::from_millis(1500));
        assert!(line.contains("connections 1"), "{line}");
        assert!(line.contains("requests 1"), "{line}");
        assert!(line.contains("frames 2"), "{line}");
        assert!(line.contains("link drops 1"), "{line}");
    }
}
