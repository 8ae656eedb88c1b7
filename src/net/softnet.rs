//! The kernel's per-CPU input queues ("softnet backlog"). Every frame that crosses a veth
//! waits in one before the receiving namespace's stack (or the wire's ring) sees it. When the
//! machine is busy those queues grow, and past `net.core.netdev_max_backlog` frames the kernel
//! drops what arrives: frames lost inside connlab's own machine, which the lab's TCP stacks
//! then retransmit. The wire watches these queues (their length and drop count, from
//! /proc/net/softnet_stat) so that such losses hold paced actors back and are reported as
//! connlab's overload, never as the network's behaviour.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Where the kernel shows the queues, one line per CPU.
const SOFTNET_STAT: &str = "/proc/net/softnet_stat";
/// The host-wide bound on each CPU's input queue.
const MAX_BACKLOG: &str = "/proc/sys/net/core/netdev_max_backlog";

/// The queues at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queues {
    /// Frames dropped so far, per CPU (the kernel's 32-bit counters).
    pub dropped: Vec<u32>,
    /// Frames waiting now, all CPUs together.
    pub waiting: u64,
}

impl Queues {
    /// Frames dropped since `earlier` (counters wrap at 32 bits).
    pub fn dropped_since(&self, earlier: &Queues) -> u64 {
        self.dropped
            .iter()
            .zip(earlier.dropped.iter().chain(std::iter::repeat(&0)))
            .map(|(now, then)| u64::from(now.wrapping_sub(*then)))
            .sum()
    }
}

/// Reads /proc/net/softnet_stat: column 2 is the drop count; column 12, where the kernel
/// gives it (5.10 and later), the frames waiting.
pub fn parse(text: &str) -> Queues {
    let mut q = Queues::default();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        let hex = |i: usize| cols.get(i).and_then(|c| u32::from_str_radix(c, 16).ok());
        q.dropped.push(hex(1).unwrap_or(0));
        q.waiting += u64::from(hex(11).unwrap_or(0));
    }
    q
}

/// An open /proc/net/softnet_stat, read again and again.
pub struct SoftnetStat {
    file: File,
    buf: String,
}

impl SoftnetStat {
    /// Opens the kernel's table (None where /proc does not have it).
    pub fn open() -> Option<SoftnetStat> {
        File::open(SOFTNET_STAT).ok().map(|file| SoftnetStat {
            file,
            buf: String::new(),
        })
    }

    /// The queues now.
    pub fn read(&mut self) -> io::Result<Queues> {
        self.buf.clear();
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_string(&mut self.buf)?;
        Ok(parse(&self.buf))
    }
}

/// `net.core.netdev_max_backlog` raised for a run and put back when dropped. The sysctl is
/// the host's (the kernel has one for all namespaces): a lab of many connections makes bursts
/// that a busy machine cannot drain at once, and 1000 frames per CPU (the default) drop them.
pub struct RaisedBacklog {
    before: u64,
}

impl RaisedBacklog {
    /// Raises the bound to at least `frames`: Ok(None) when it already was; an error when it
    /// cannot be written (without root).
    pub fn to_at_least(frames: u64) -> io::Result<Option<RaisedBacklog>> {
        let before: u64 = std::fs::read_to_string(MAX_BACKLOG)?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if before >= frames {
            return Ok(None);
        }
        std::fs::write(MAX_BACKLOG, frames.to_string())?;
        Ok(Some(RaisedBacklog { before }))
    }
}

impl Drop for RaisedBacklog {
    fn drop(&mut self) {
        let _ = std::fs::write(MAX_BACKLOG, self.before.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CPUS: &str = "\
03aae37c 016c9b2b 0000000b 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000010 00000000 00000000 00000010
03bb9c14 00000002 00000012 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000005 00000001 00000005 00000000
";

    #[test]
    fn drops_and_waiting_frames_are_read_per_cpu() {
        let q = parse(TWO_CPUS);
        assert_eq!(q.dropped, vec![0x016c9b2b, 2]);
        assert_eq!(q.waiting, 0x10 + 5);
    }

    #[test]
    fn drops_are_counted_across_a_wrap_of_the_kernel_counter() {
        let before = Queues {
            dropped: vec![u32::MAX - 1, 7],
            waiting: 0,
        };
        let after = Queues {
            dropped: vec![3, 7],
            waiting: 0,
        };
        assert_eq!(after.dropped_since(&before), 5);
    }

    #[test]
    fn old_kernels_without_the_queue_column_give_zero_waiting() {
        let q = parse("0000000a 00000001 00000000\n");
        assert_eq!((q.dropped[0], q.waiting), (1, 0));
    }
}
