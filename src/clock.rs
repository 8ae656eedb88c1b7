//! The one clock of a run: wall-clock nanoseconds since the UNIX epoch, the clock the kernel
//! stamps captured frames with, so actor trace events and frames sort together.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in ns since the UNIX epoch (0 if the system clock is before 1970).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
