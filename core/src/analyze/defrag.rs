//! Putting fragmented IP datagrams back together, within bounds.
//!
//! Real captures hold fragments: IPv6 paths with a small MTU, tunnels, a capture taken before
//! the host's own reassembly. A TCP segment split across fragments is still a segment of its
//! connection; dropped, one side of the connection goes missing. The pieces are held until
//! the last arrives, then the datagram is rebuilt as a bare IP packet and decoded like any
//! frame, at the frame of its last piece (Wireshark's "reassembled in").
//!
//! Bounded as a kernel is (Linux's `ipfrag_time` and `ipfrag_high_thresh`): a datagram waits
//! at most [`WAIT_NS`] of capture time, and at most [`HELD_BYTES`] are held in all. Pieces
//! that overlap are an anomaly (RFC 5722 for IPv6): the whole datagram is dropped and
//! counted, never put together twice.

use std::net::IpAddr;

use serde::Serialize;

use super::frame::{datagram_segment, fragment, DecodeError, Fragment, LinkType, Segment};
use crate::FastMap;

/// How long, in capture time, a datagram's pieces are waited for (Linux's default, 30 s).
const WAIT_NS: u64 = 30_000_000_000;
/// The bytes held over all datagrams waiting (Linux's `ipfrag_high_thresh`, 4 MiB).
const HELD_BYTES: usize = 4 << 20;
/// No IP datagram is longer (its length fields have 16 bits).
const MAX_DATAGRAM: usize = 65_535;

/// What happened to fragmented datagrams (all zero without fragments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FragmentSummary {
    /// Datagrams put back together from their fragments.
    pub reassembled: u64,
    /// Datagrams dropped because two of their pieces overlapped.
    pub overlapping: u64,
    /// Datagrams dropped with pieces missing: their wait ran out, the held bytes ran over, a
    /// snap length cut a piece, or the capture ended first.
    pub incomplete: u64,
}

impl FragmentSummary {
    /// No fragment was seen: the summary leaves the section out.
    pub fn is_empty(&self) -> bool {
        *self == FragmentSummary::default()
    }
}

/// A datagram put back together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Its sender and receiver.
    pub ends: (IpAddr, IpAddr),
    /// The protocol it carries (TCP is 6).
    pub protocol: u8,
    /// Its payload: the pieces' bytes in order.
    pub payload: Vec<u8>,
}

impl Datagram {
    /// The TCP segment the datagram carries, if it is one.
    pub fn segment(&self) -> Result<Option<Segment<'_>>, DecodeError> {
        datagram_segment(self.ends, self.protocol, &self.payload)
    }
}

/// One datagram's pieces so far.
#[derive(Debug)]
struct Pieces {
    /// Capture time of its first piece: the wait runs from there.
    first_ns: u64,
    protocol: u8,
    /// Pieces by offset, not overlapping.
    pieces: Vec<(usize, Vec<u8>)>,
    /// The payload's length, known once the last piece (more unset) came.
    total: Option<usize>,
    /// Overlapping pieces came: the datagram is dropped, and its later pieces with it.
    poisoned: bool,
}

impl Pieces {
    fn held(&self) -> usize {
        self.pieces.iter().map(|(_, data)| data.len()).sum()
    }

    /// Adds a piece; false when it overlaps one held (an exact repeat is ignored).
    fn add(&mut self, offset: usize, data: &[u8]) -> bool {
        let end = offset + data.len();
        for (at, piece) in &self.pieces {
            if *at == offset && piece.as_slice() == data {
                return true;
            }
            if offset < at + piece.len() && *at < end {
                return false;
            }
        }
        let place = self.pieces.partition_point(|(at, _)| *at < offset);
        self.pieces.insert(place, (offset, data.to_vec()));
        true
    }

    /// The payload, once every byte up to the last piece's end is there.
    fn whole(&self) -> Option<Vec<u8>> {
        let total = self.total?;
        let mut covered = 0;
        for (at, piece) in &self.pieces {
            if *at != covered {
                return None;
            }
            covered += piece.len();
        }
        (covered == total).then(|| self.pieces.iter().flat_map(|(_, p)| p.clone()).collect())
    }
}

/// Holds fragments until their datagram is whole. Pure: time is the capture's.
#[derive(Debug, Default)]
pub struct Defragmenter {
    waiting: FastMap<(IpAddr, IpAddr, u32), Pieces>,
    held: usize,
    summary: FragmentSummary,
}

impl Defragmenter {
    /// Holds `frame` (captured on `link` at `t_ns`, like [`crate::analyze::decode_cut`] when
    /// `cut`) if it is a fragment: None when it is not one, `Some(None)` while its datagram
    /// waits for more, `Some(datagram)` when it completed it. For a frame
    /// [`crate::analyze::decode`] found no segment in.
    pub fn take(
        &mut self,
        t_ns: u64,
        (link, frame): (LinkType, &[u8]),
        cut: bool,
    ) -> Option<Option<Datagram>> {
        fragment(link, frame, cut).map(|piece| self.push(t_ns, &piece))
    }

    /// Takes a fragment captured at `t_ns`; gives the whole datagram when this piece completed
    /// it.
    pub fn push(&mut self, t_ns: u64, fragment: &Fragment<'_>) -> Option<Datagram> {
        self.expire(t_ns);
        let key = fragment.datagram;
        let datagram = self.waiting.entry(key).or_insert_with(|| Pieces {
            first_ns: t_ns,
            protocol: fragment.protocol,
            pieces: Vec::new(),
            total: None,
            poisoned: false,
        });
        if datagram.poisoned {
            return None;
        }
        let end = fragment.offset + fragment.len;
        let fits = fragment.data.len() == fragment.len
            && end <= MAX_DATAGRAM
            && self.held + fragment.len <= HELD_BYTES
            && datagram.total.is_none_or(|total| end <= total)
            && (fragment.more || datagram.pieces.iter().all(|(at, p)| at + p.len() <= end));
        if !fits {
            self.drop_datagram(key);
            self.summary.incomplete += 1;
            return None;
        }
        if !datagram.add(fragment.offset, fragment.data) {
            self.held -= datagram.held();
            datagram.pieces.clear();
            datagram.poisoned = true;
            self.summary.overlapping += 1;
            return None;
        }
        self.held += fragment.len;
        if !fragment.more {
            datagram.total = Some(end);
        }
        let payload = datagram.whole()?;
        let protocol = datagram.protocol;
        self.drop_datagram(key);
        self.summary.reassembled += 1;
        Some(Datagram {
            ends: (key.0, key.1),
            protocol,
            payload,
        })
    }

    /// What happened to the datagrams, counting those still waiting as incomplete: call at
    /// the end of the capture.
    pub fn summary(&self) -> FragmentSummary {
        let waiting = self.waiting.values().filter(|d| !d.poisoned).count();
        FragmentSummary {
            incomplete: self.summary.incomplete + waiting as u64,
            ..self.summary
        }
    }

    /// Drops the datagrams whose wait ran out by `t_ns`.
    fn expire(&mut self, t_ns: u64) {
        let before = self.waiting.len();
        let mut freed = 0;
        let mut incomplete = 0;
        self.waiting.retain(|_, d| {
            let keep = t_ns.saturating_sub(d.first_ns) < WAIT_NS;
            if !keep {
                freed += d.held();
                incomplete += u64::from(!d.poisoned);
            }
            keep
        });
        if self.waiting.len() != before {
            self.held -= freed;
            self.summary.incomplete += incomplete;
        }
    }

    fn drop_datagram(&mut self, key: (IpAddr, IpAddr, u32)) {
        if let Some(d) = self.waiting.remove(&key) {
            self.held -= d.held();
        }
    }
}
