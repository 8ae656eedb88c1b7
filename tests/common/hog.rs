//! A CPU hog on every core (Debian's stress-ng), for tests that must pass on a busy machine;
//! stopped when dropped, also when the test fails.

use std::process::{Child, Command, Stdio};

/// A running hog.
pub struct Hog(Child);

impl Hog {
    /// Starts `stress-ng --cpu N` with N the machine's cores.
    pub fn on_every_core() -> Hog {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let child = Command::new("stress-ng")
            .args(["--cpu", &cores.to_string(), "--timeout", "3600s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stress-ng");
        // Let the workers start before the measured part.
        std::thread::sleep(std::time::Duration::from_millis(500));
        Hog(child)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        // stress-ng's workers stop with their parent's SIGTERM.
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}
