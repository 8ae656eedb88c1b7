//! One direction's sequence space: relative offsets and the bytes seen.
//!
//! Why offsets are `i64`: a 32-bit sequence number is unwrapped against the
//! highest offset seen so far (the signed 32-bit distance to it), so streams
//! longer than 4 GiB and ISNs near 2^32 need no special cases, and a probe at
//! "next − 1" before any data is just −1 rather than an underflow.

use smallvec::SmallVec;

use super::reassembly::Reassembly;

/// Merged, sorted, non-touching half-open ranges of stream offsets.
///
/// In a normal capture this holds a single range; holes appear only while
/// segments arrive out of order. It is capped so a hostile capture cannot
/// grow it: beyond the cap the two lowest ranges are merged (their hole is
/// treated as seen, which can only hide a retransmit, never invent one).
///
/// The one range lives inline (no allocation per stream): a capture of many short connections
/// costs no heap per connection here, neither to grow nor to free.
#[derive(Debug, Clone, Default)]
pub(crate) struct RangeSet {
    ranges: SmallVec<[(i64, i64); 1]>,
}

const MAX_RANGES: usize = 32;

/// What inserting a range found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insert {
    /// The first offset of the range that had not been seen, if any.
    pub first_new: Option<i64>,
    /// Some of the range had been seen before.
    pub overlap: bool,
}

impl RangeSet {
    /// Whether `off` has been seen.
    pub fn contains(&self, off: i64) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= off && off < b)
    }

    /// Marks `[lo, hi)` seen and reports which part was already known.
    pub fn insert(&mut self, lo: i64, hi: i64) -> Insert {
        // Almost every segment continues the one range seen so far.
        if let [(_, end)] = self.ranges.as_mut_slice() {
            if lo == *end && hi > lo {
                *end = hi;
                return Insert {
                    first_new: Some(lo),
                    overlap: false,
                };
            }
        }
        let mut cursor = lo;
        let mut first_new = None;
        let mut overlap = false;
        for &(a, b) in &self.ranges {
            if b <= cursor || a >= hi {
                continue;
            }
            overlap = true;
            if a > cursor && first_new.is_none() {
                first_new = Some(cursor);
            }
            cursor = cursor.max(b);
        }
        if cursor < hi && first_new.is_none() {
            first_new = Some(cursor);
        }
        // Merge every range touching [lo, hi) into one.
        let start = self.ranges.partition_point(|&(_, b)| b < lo);
        let end = self.ranges.partition_point(|&(a, _)| a <= hi);
        let mut merged = (lo, hi);
        if start < end {
            merged.0 = merged.0.min(self.ranges[start].0);
            merged.1 = merged.1.max(self.ranges[end - 1].1);
        }
        self.ranges.drain(start..end);
        self.ranges.insert(start, merged);
        if self.ranges.len() > MAX_RANGES {
            let second = self.ranges.remove(1);
            self.ranges[0].1 = second.1;
        }
        Insert { first_new, overlap }
    }

    /// Number of disjoint ranges (1 in the normal case).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
}

/// One sender's sequence space.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    /// ISN (or the first sequence number seen, mid-stream).
    pub base: u32,
    /// Offset just past the highest sequence number sent (observed snd_nxt).
    pub next: i64,
    /// Offsets seen in SYN, data or FIN.
    pub seen: RangeSet,
    /// Offset just past this side's FIN, once sent.
    pub fin_end: Option<i64>,
    /// The stream's bytes in order, for the protocol layer.
    pub bytes: Reassembly,
}

impl Stream {
    /// A stream whose offset 0 is `base`.
    pub fn new(base: u32) -> Stream {
        Stream {
            base,
            next: 0,
            seen: RangeSet::default(),
            fin_end: None,
            bytes: Reassembly::default(),
        }
    }

    /// The offset of `seq` (or of an acknowledgement number for this stream),
    /// taken as the nearest one to `next`.
    pub fn offset(&self, seq: u32) -> i64 {
        let expected = self.base.wrapping_add(self.next as u32);
        self.next + i64::from(seq.wrapping_sub(expected) as i32)
    }

    /// `seq` relative to the ISN, as reported in events.
    pub fn relative(&self, seq: u32) -> u32 {
        seq.wrapping_sub(self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_stays_one_range() {
        let mut s = RangeSet::default();
        for i in 0..100 {
            let r = s.insert(i * 10, i * 10 + 10);
            assert_eq!(
                r,
                Insert {
                    first_new: Some(i * 10),
                    overlap: false
                }
            );
        }
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn hole_fill_is_new_and_overlap_is_reported() {
        let mut s = RangeSet::default();
        s.insert(0, 10);
        s.insert(20, 30);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.insert(10, 20),
            Insert {
                first_new: Some(10),
                overlap: false
            }
        );
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.insert(5, 15),
            Insert {
                first_new: None,
                overlap: true
            }
        );
        assert_eq!(
            s.insert(25, 40),
            Insert {
                first_new: Some(30),
                overlap: true
            }
        );
        assert!(s.contains(39) && !s.contains(40));
    }

    #[test]
    fn range_count_is_capped() {
        let mut s = RangeSet::default();
        for i in 0..1000 {
            s.insert(i * 10, i * 10 + 5);
        }
        assert!(s.len() <= MAX_RANGES);
    }

    #[test]
    fn offsets_unwrap_across_2_pow_32() {
        let mut st = Stream::new(u32::MAX - 5);
        st.next = 1;
        assert_eq!(st.offset(u32::MAX - 5), 0);
        assert_eq!(st.offset(10), 16);
        assert_eq!(st.offset(u32::MAX - 6), -1);
        st.next = (1 << 32) + 100;
        assert_eq!(st.offset((u32::MAX - 5).wrapping_add(100)), (1 << 32) + 100);
        assert_eq!(st.relative(3), 9);
    }
}
