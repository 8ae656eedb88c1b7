//! Back-pressure from the wire to the actors that pace their own traffic.
//!
//! A lab's pace (a dial rate) is a ceiling, never a promise: when the wire falls behind (its
//! receive ring filling, the recorder's queue filling), paced actors wait until it has caught
//! up instead of pushing frames into a ring that would overflow. An overflow would turn
//! connlab's own overload into lost SYNs and retransmissions that look like the network's.
//!
//! The state is two counters in a shared memory page (a memfd): the wire directions that are
//! behind right now, and how often one fell behind. Worker processes inherit the descriptor
//! (its number in [`ENV`], see [`share_with`]) and map the page; in-process actors read it
//! directly. One lab runs per process, so one page per process is the lab's.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use memmap2::MmapMut;
use tokio::sync::watch;

/// The environment variable that hands a worker the page's descriptor number.
pub const ENV: &str = "CONNLAB_PRESSURE_FD";

/// How often a runtime looks at the page.
const RECHECK: Duration = Duration::from_millis(2);
/// The longest a paced actor waits for the wire at once: a wire that never catches up must
/// not stall a lab forever (its drops then say what happened).
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The shared page: wire directions behind now, and times they fell behind.
pub struct Pressure {
    map: MmapMut,
    file: File,
}

impl Pressure {
    fn behind(&self) -> &AtomicU32 {
        // SAFETY: the page is at least 16 bytes, page-aligned, and only ever used atomically.
        unsafe { &*(self.map.as_ptr() as *const AtomicU32) }
    }

    fn episodes(&self) -> &AtomicU64 {
        // SAFETY: as above, at offset 8 (aligned for u64).
        unsafe { &*(self.map.as_ptr().add(8) as *const AtomicU64) }
    }

    /// True while some wire direction is behind.
    pub fn is_behind(&self) -> bool {
        self.behind().load(Ordering::Relaxed) > 0
    }

    /// Times a wire direction fell behind since the page was made.
    pub fn episodes_so_far(&self) -> u64 {
        self.episodes().load(Ordering::Relaxed)
    }
}

/// This process's page: made on first use in the lab's process, or mapped from the
/// descriptor a worker inherited. None when neither is possible; then nothing ever waits.
pub fn shared() -> Option<&'static Pressure> {
    static PAGE: OnceLock<Option<Pressure>> = OnceLock::new();
    PAGE.get_or_init(|| inherited().or_else(made)).as_ref()
}

/// Hands this process's page to `command` (a worker about to be spawned): the descriptor is
/// kept open across its exec (in the child only) and named in [`ENV`]. External programs
/// are never given it.
pub fn share_with(command: &mut Command) {
    let Some(page) = shared() else {
        return;
    };
    let fd = page.file.as_raw_fd();
    command.env(ENV, fd.to_string());
    // SAFETY: fcntl(2) on a descriptor this process owns, between fork and exec:
    // async-signal-safe, no allocation.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn inherited() -> Option<Pressure> {
    let fd: i32 = std::env::var(ENV).ok()?.parse().ok()?;
    // SAFETY: the parent handed this descriptor down for exactly this use (share_with); owning
    // it here is the only use of it in this process.
    let file = unsafe { File::from_raw_fd(fd) };
    map(file)
}

fn made() -> Option<Pressure> {
    // Close-on-exec: only workers get it, through share_with.
    // SAFETY: plain memfd_create with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"connlab-pressure".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(4096).ok()?;
    map(file)
}

fn map(file: File) -> Option<Pressure> {
    // SAFETY: the memfd is this run's own; nothing truncates it while mapped.
    let map = unsafe { MmapMut::map_mut(&file) }.ok()?;
    (map.len() >= 16).then_some(Pressure { map, file })
}

/// One wire direction's say in the shared counter: it counts itself in while behind.
#[derive(Debug, Default)]
pub struct Lag {
    behind: bool,
}

impl Lag {
    /// Updates this direction's state, with hysteresis: it falls behind when `behind`, and
    /// counts as caught up again only when `caught_up`; between the two marks nothing changes.
    pub fn update(&mut self, behind: bool, caught_up: bool) {
        if behind == self.behind || (!behind && !caught_up) {
            return;
        }
        let Some(page) = shared() else {
            return;
        };
        self.behind = behind;
        if behind {
            page.behind().fetch_add(1, Ordering::Relaxed);
            page.episodes().fetch_add(1, Ordering::Relaxed);
        } else {
            page.behind().fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Lag {
    fn drop(&mut self) {
        self.update(false, true);
    }
}

/// A runtime's view of the wire: one task looks at the page every few milliseconds and tells
/// the paced actors (a watch channel), so that half a million heartbeat tasks wait on a
/// channel instead of each polling the page.
#[derive(Clone)]
pub struct WireGate {
    behind: Arc<watch::Receiver<bool>>,
}

impl WireGate {
    /// Starts the looking task on the current tokio runtime; it ends when the last gate is
    /// dropped. Without a page the gate never closes.
    pub fn start() -> WireGate {
        let (tx, rx) = watch::channel(false);
        if let Some(page) = shared() {
            tokio::spawn(async move {
                while !tx.is_closed() {
                    let now = page.is_behind();
                    tx.send_if_modified(|b| std::mem::replace(b, now) != now);
                    tokio::time::sleep(RECHECK).await;
                }
            });
        }
        WireGate {
            behind: Arc::new(rx),
        }
    }

    /// Waits while the wire is behind (at most a few seconds at once: a wire that never
    /// catches up must not stall a lab, its drops then say what happened); returns how long
    /// it waited, which the actor adds to its schedule (its pace is a ceiling).
    pub async fn wait(&self) -> Duration {
        if !*self.behind.borrow() {
            return Duration::ZERO;
        }
        let start = tokio::time::Instant::now();
        let mut rx = (*self.behind).clone();
        let _ = tokio::time::timeout(MAX_WAIT, rx.wait_for(|behind| !*behind)).await;
        start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direction_counts_once_while_behind_and_leaves_when_caught_up() {
        let page = shared().expect("a memfd page");
        let before = page.episodes_so_far();
        let mut lag = Lag::default();
        lag.update(true, false);
        lag.update(true, false);
        assert!(page.is_behind());
        assert_eq!(page.episodes_so_far(), before + 1);
        // Between the marks nothing changes.
        lag.update(false, false);
        assert!(page.is_behind());
        lag.update(false, true);
        assert!(!page.is_behind());
        lag.update(true, false);
        drop(lag);
        assert!(!page.is_behind(), "a direction that ends lets go");
    }
}
