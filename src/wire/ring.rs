//! The receive ring of a wire port (PACKET_RX_RING, TPACKET_V2): a memory area shared with the
//! kernel, which writes each frame and its receive time into the next free slot, so reading a
//! frame costs no system call and no copy, and a burst fills the ring instead of a socket
//! buffer. V2 rather than V3: V3 hands frames over a block at a time, after a retire timeout
//! that would add latency to the link model; V2 hands over each frame as it lands.
//!
//! The reader owns the ring: it looks at the slots after its position, uses the frames in
//! place, then gives the slots back to the kernel.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes per slot: a header, the link-layer address and a 1514-byte frame fit (the lab's
/// veths have offloads off, so no frame is larger).
const FRAME_SIZE: usize = 2048;
/// Largest block (the kernel allocates the ring in blocks of contiguous pages).
const MAX_BLOCK_SIZE: usize = 1 << 20;
/// Frames a port's ring holds unless the lab says otherwise: 128 MiB, so a burst or a moment
/// the wire thread is not scheduled does not overflow it (the pages are only touched as
/// frames land).
pub const DEFAULT_FRAMES: usize = 65_536;
/// How long the oldest waiting frame may wait before the reader counts as behind.
const BEHIND_AFTER_NS: u64 = 20_000_000;
/// The fewest frames a ring may hold (two per page-sized block, a few blocks).
pub const MIN_FRAMES: usize = 16;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_VERSION: libc::c_int = 10;
const TPACKET_V2: libc::c_int = 1;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// Set by the kernel on frames written while it has dropped frames since the drop count was
/// last read (PACKET_STATISTICS).
const TP_STATUS_LOSING: u32 = 4;

/// The `tpacket2_hdr` at the start of every slot.
#[repr(C)]
struct Tpacket2Hdr {
    status: AtomicU32,
    len: u32,
    snaplen: u32,
    mac: u16,
    net: u16,
    sec: u32,
    nsec: u32,
}

/// One frame in the ring, valid until its slot is released.
#[derive(Debug, Clone, Copy)]
pub struct RingFrame<'a> {
    /// The Ethernet frame.
    pub data: &'a [u8],
    /// Its length on the wire (larger than `data` only if the slot was too small).
    pub wire_len: u32,
    /// Kernel receive time, ns since the UNIX epoch.
    pub t_ns: u64,
    /// The kernel dropped frames (ring full) since the drop count was last read.
    pub losing: bool,
}

/// A port's receive ring, mapped into this process.
#[derive(Debug)]
pub struct RxRing {
    base: *mut u8,
    size: usize,
    slots: usize,
    next: usize,
}

// SAFETY: the mapping is owned by the ring and used by one thread at a time (the reader).
unsafe impl Send for RxRing {}

impl RxRing {
    /// Sets up a ring of at least `frames` slots (rounded up to a power of two, so that it
    /// splits into whole blocks, and to [`MIN_FRAMES`]) on AF_PACKET socket `fd` (before it is
    /// bound) and maps it.
    pub fn attach(fd: libc::c_int, frames: usize) -> io::Result<RxRing> {
        let frames = frames.max(MIN_FRAMES).next_power_of_two();
        let size = frames * FRAME_SIZE;
        let block_size = size.min(MAX_BLOCK_SIZE);
        let set = |name: libc::c_int, value: *const libc::c_void, len: usize| {
            // SAFETY: value points to a live option value of `len` bytes.
            let rc = unsafe { libc::setsockopt(fd, libc::SOL_PACKET, name, value, len as _) };
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        let version = TPACKET_V2;
        set(
            PACKET_VERSION,
            &version as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>(),
        )?;
        let req = libc::tpacket_req {
            tp_block_size: block_size as libc::c_uint,
            tp_block_nr: (size / block_size) as libc::c_uint,
            tp_frame_size: FRAME_SIZE as libc::c_uint,
            tp_frame_nr: frames as libc::c_uint,
        };
        set(
            PACKET_RX_RING,
            &req as *const libc::tpacket_req as *const libc::c_void,
            std::mem::size_of::<libc::tpacket_req>(),
        )?;
        // SAFETY: mapping the ring the kernel just allocated for `fd`, shared and read-write
        // as the packet(7) ring protocol requires.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(RxRing {
            base: base as *mut u8,
            size,
            slots: frames,
            next: 0,
        })
    }

    fn header(&self, k: usize) -> &Tpacket2Hdr {
        let slot = (self.next + k) % self.slots;
        // SAFETY: every slot starts with a tpacket2_hdr inside the mapping, and the status
        // word is only accessed atomically.
        unsafe { &*(self.base.add(slot * FRAME_SIZE) as *const Tpacket2Hdr) }
    }

    /// How many frames (up to `max`) are ready after the reader's position.
    pub fn ready(&self, max: usize) -> usize {
        (0..max.min(self.slots))
            .take_while(|&k| self.header(k).status.load(Ordering::Acquire) & TP_STATUS_USER != 0)
            .count()
    }

    /// True when at least `n` frames are waiting (the `n`-th slot after the reader's position
    /// is filled: the kernel fills them in order).
    fn backlog_at_least(&self, n: usize) -> bool {
        n > 0
            && n <= self.slots
            && self.header(n - 1).status.load(Ordering::Acquire) & TP_STATUS_USER != 0
    }

    /// The reader is behind at `now_ns`: the oldest waiting frame has waited
    /// [`BEHIND_AFTER_NS`], or a 64th of the ring waits. Paced actors then hold back: frames
    /// that wait in a busy machine longer than TCP's retransmission timeout (200 ms at least)
    /// are sent again, and the rest of the ring absorbs what is already under way.
    pub fn is_behind(&self, now_ns: u64) -> bool {
        let oldest = self.header(0);
        let waited = oldest.status.load(Ordering::Acquire) & TP_STATUS_USER != 0
            && now_ns
                .saturating_sub(u64::from(oldest.sec) * 1_000_000_000 + u64::from(oldest.nsec))
                >= BEHIND_AFTER_NS;
        waited || self.backlog_at_least((self.slots / 64).max(1))
    }

    /// The reader has caught up: less than a 512th of the ring waits.
    pub fn is_caught_up(&self) -> bool {
        !self.backlog_at_least((self.slots / 512).max(1))
    }

    /// The `k`-th ready frame after the reader's position (`k < ready()`).
    pub fn frame(&self, k: usize) -> RingFrame<'_> {
        let hdr = self.header(k);
        let slot = (self.next + k) % self.slots;
        let len = (hdr.snaplen as usize).min(FRAME_SIZE.saturating_sub(hdr.mac as usize));
        // SAFETY: the kernel wrote `snaplen` bytes at offset `mac` of this slot, inside the
        // mapping (clamped to the slot), and gave the slot to us (TP_STATUS_USER).
        let data = unsafe {
            std::slice::from_raw_parts(self.base.add(slot * FRAME_SIZE + hdr.mac as usize), len)
        };
        RingFrame {
            data,
            wire_len: hdr.len,
            t_ns: u64::from(hdr.sec) * 1_000_000_000 + u64::from(hdr.nsec),
            losing: hdr.status.load(Ordering::Relaxed) & TP_STATUS_LOSING != 0,
        }
    }

    /// Gives the first `count` ready slots back to the kernel.
    pub fn release(&mut self, count: usize) {
        for k in 0..count {
            self.header(k)
                .status
                .store(TP_STATUS_KERNEL, Ordering::Release);
        }
        self.next = (self.next + count) % self.slots;
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping the area mapped in attach, once.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.size);
        }
    }
}
