//! Waiting that gives way to Ctrl-C: the first SIGINT/SIGTERM sets a flag that every wait of
//! a run checks, so the run ends early but through its normal teardown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// Set by the first SIGINT/SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The process-wide interruption flag.
pub struct Interrupted;

impl Interrupted {
    /// Raises the flag; returns whether it was already raised.
    pub fn raise() -> bool {
        INTERRUPTED.swap(true, Ordering::SeqCst)
    }

    /// Whether the run was interrupted.
    pub fn now() -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
}

/// Waits for a value, giving up on timeout or interruption.
pub fn wait_for<T>(rx: &mpsc::Receiver<T>, limit: Duration) -> Result<T> {
    let start = Instant::now();
    loop {
        if Interrupted::now() {
            bail!("interrupted");
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) if start.elapsed() < limit => {}
            Err(mpsc::RecvTimeoutError::Timeout) => bail!("timed out after {limit:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("its thread ended early"),
        }
    }
}

/// Sleeps `total`, cut short by an interruption.
pub fn sleep_unless_interrupted(total: Duration) {
    let start = Instant::now();
    while start.elapsed() < total && !Interrupted::now() {
        std::thread::sleep(Duration::from_millis(20).min(total.saturating_sub(start.elapsed())));
    }
}
