//! One direction's byte stream, put back in order for the protocol layers.
//!
//! Why: HTTP/1.1 heads fit in one segment, but WebSocket frames, HTTP/2 frames and TLS records
//! cross segment boundaries, arrive out of order after a loss, and are cut by snap lengths. A
//! protocol layer reads an ordered stream of *pieces*: bytes the capture holds, and gaps (bytes
//! that were on the wire but not in the capture, by their count). It never sees a byte twice and
//! never a byte out of order.
//!
//! Memory: in the usual capture every segment continues the stream and nothing is kept. A
//! segment that arrives ahead of a hole is held (up to [`MAX_HELD`] bytes per direction) until
//! the hole is filled; when the receiver acknowledges bytes the capture never showed, or the
//! held bytes exceed the cap, the hole is declared a gap and the held bytes follow it.

/// Bytes held per direction while waiting for a hole to fill.
pub(crate) const MAX_HELD: usize = 256 * 1024;

/// One piece of the ordered stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Bytes the capture holds.
    Data(&'a [u8]),
    /// Bytes the wire carried that the capture does not hold (a snap length cut them, or the
    /// capture missed their segment).
    Gap(u64),
}

/// A segment held until the hole before it is filled.
#[derive(Debug, Clone)]
struct Held {
    /// Stream offset of its first byte.
    lo: i64,
    /// Its length on the wire.
    wire_len: u32,
    /// The bytes the capture holds of it (a prefix).
    bytes: Vec<u8>,
}

/// Segments ahead of a hole, by offset, and their captured bytes in all.
#[derive(Debug, Clone, Default)]
struct HeldSet {
    segments: Vec<Held>,
    bytes: usize,
}

/// The ordered stream of one direction: 16 bytes while nothing is held.
#[derive(Debug, Clone)]
pub(crate) struct Reassembly {
    /// Offset up to which the stream has been handed on (data or gap); [`UNSTARTED`] before
    /// the first byte.
    delivered: i64,
    /// Segments ahead of a hole (rare: allocated only then).
    held: Option<Box<HeldSet>>,
}

/// `delivered` before the stream's start is known.
const UNSTARTED: i64 = i64::MIN;

impl Default for Reassembly {
    fn default() -> Self {
        Reassembly {
            delivered: UNSTARTED,
            held: None,
        }
    }
}

impl Reassembly {
    /// The stream's first byte is at `off` (just after the SYN): a later segment seen first
    /// is ahead of a hole, not the start.
    pub fn start_at(&mut self, off: i64) {
        if self.delivered == UNSTARTED {
            self.delivered = off;
        }
    }

    /// Takes the segment carrying stream offsets `[lo, lo + wire_len)` of which the capture holds
    /// `captured` (a prefix), and calls `each` with the pieces that continue the stream, in
    /// order. The first segment seen starts the stream.
    pub fn segment(
        &mut self,
        lo: i64,
        wire_len: u32,
        captured: &[u8],
        mut each: impl FnMut(Piece<'_>),
    ) {
        if wire_len == 0 {
            return;
        }
        self.start_at(lo);
        let delivered = self.delivered;
        let hi = lo + i64::from(wire_len);
        if hi <= delivered {
            return;
        }
        if lo > delivered {
            self.hold(lo, wire_len, captured, &mut each);
            return;
        }
        if lo == delivered && captured.len() == wire_len as usize {
            // The usual segment: it continues the stream, whole.
            each(Piece::Data(captured));
        } else {
            emit(lo, wire_len, captured, delivered, &mut each);
        }
        self.delivered = hi;
        if self.held.is_some() {
            self.drain(&mut each);
        }
    }

    /// The receiver acknowledged the stream up to `ack`: bytes below it that the capture never
    /// showed were on the wire, so a hole there is a gap, and what was held after it follows.
    pub fn acknowledged(&mut self, ack: i64, mut each: impl FnMut(Piece<'_>)) {
        let delivered = self.delivered;
        if self.held.is_none() || ack <= delivered {
            return;
        }
        let next_held = self.first_held().unwrap_or(ack);
        let gap_end = ack.min(next_held);
        each(Piece::Gap((gap_end - delivered) as u64));
        self.delivered = gap_end;
        self.drain(&mut each);
    }

    /// The stream ends: its FIN after the bytes up to `fin_at`, or a reset (None). A hole
    /// still open is a gap before what was held, and bytes missing before the FIN (sent, its
    /// sequence number says, but not captured: a response the capture lost) a gap at the end.
    pub fn end(&mut self, fin_at: Option<i64>, mut each: impl FnMut(Piece<'_>)) {
        self.flush(&mut each);
        if let Some(at) = fin_at {
            if self.delivered != UNSTARTED && at > self.delivered {
                each(Piece::Gap((at - self.delivered) as u64));
                self.delivered = at;
            }
        }
    }

    /// Every hole still open becomes a gap before what was held after it.
    fn flush(&mut self, mut each: impl FnMut(Piece<'_>)) {
        while let Some(next) = self.first_held() {
            if next > self.delivered {
                each(Piece::Gap((next - self.delivered) as u64));
                self.delivered = next;
            }
            self.drain(&mut each);
        }
    }

    /// Whether bytes are held waiting for a hole.
    pub fn holding(&self) -> bool {
        self.held.is_some()
    }

    fn first_held(&self) -> Option<i64> {
        self.held
            .as_ref()
            .and_then(|h| h.segments.first())
            .map(|h| h.lo)
    }

    /// Keeps a segment that arrived ahead of a hole; past the cap, the hole becomes a gap.
    fn hold(&mut self, lo: i64, wire_len: u32, captured: &[u8], each: &mut impl FnMut(Piece<'_>)) {
        let held = self.held.get_or_insert_with(Default::default);
        let at = held.segments.partition_point(|h| h.lo < lo);
        if held
            .segments
            .get(at)
            .is_some_and(|h| h.lo == lo && h.wire_len >= wire_len)
        {
            return;
        }
        held.bytes += captured.len();
        held.segments.insert(
            at,
            Held {
                lo,
                wire_len,
                bytes: captured.to_vec(),
            },
        );
        if held.bytes > MAX_HELD {
            self.flush(each);
        }
    }

    /// Hands on every held segment that now continues the stream.
    fn drain(&mut self, each: &mut impl FnMut(Piece<'_>)) {
        let Some(held) = self.held.as_mut() else {
            return;
        };
        let mut delivered = self.delivered;
        let mut used = 0;
        for h in held.segments.iter() {
            if h.lo > delivered {
                break;
            }
            used += 1;
            held.bytes -= h.bytes.len();
            let hi = h.lo + i64::from(h.wire_len);
            if hi > delivered {
                emit(h.lo, h.wire_len, &h.bytes, delivered, each);
                delivered = hi;
            }
        }
        held.segments.drain(..used);
        self.delivered = delivered;
        if held.segments.is_empty() {
            self.held = None;
        }
    }
}

/// Hands on the part of segment `[lo, lo + wire_len)` from `delivered` on: the captured bytes,
/// then the cut rest as a gap.
fn emit(lo: i64, wire_len: u32, captured: &[u8], delivered: i64, each: &mut impl FnMut(Piece<'_>)) {
    let skip = (delivered - lo) as usize;
    let captured = &captured[..captured.len().min(wire_len as usize)];
    if let Some(bytes) = captured.get(skip..).filter(|b| !b.is_empty()) {
        each(Piece::Data(bytes));
    }
    let cut_from = skip.max(captured.len());
    let cut = (wire_len as usize).saturating_sub(cut_from);
    if cut > 0 {
        each(Piece::Gap(cut as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream as text: data as is, gaps as `<n>`.
    fn collect(r: &mut Reassembly, segments: &[(i64, u32, &[u8])]) -> String {
        let mut out = String::new();
        for &(lo, len, bytes) in segments {
            r.segment(lo, len, bytes, |p| push(&mut out, p));
        }
        out
    }

    fn push(out: &mut String, p: Piece<'_>) {
        match p {
            Piece::Data(d) => out.push_str(std::str::from_utf8(d).expect("text")),
            Piece::Gap(n) => out.push_str(&format!("<{n}>")),
        }
    }

    #[test]
    fn in_order_segments_pass_straight_through() {
        let mut r = Reassembly::default();
        let got = collect(&mut r, &[(1, 3, b"abc"), (4, 2, b"de"), (6, 1, b"f")]);
        assert_eq!(got, "abcdef");
        assert!(!r.holding());
    }

    #[test]
    fn retransmits_and_partial_overlaps_give_only_new_bytes() {
        let mut r = Reassembly::default();
        let got = collect(&mut r, &[(0, 4, b"abcd"), (0, 4, b"abcd"), (2, 4, b"cdef")]);
        assert_eq!(got, "abcdef");
    }

    #[test]
    fn a_segment_ahead_of_a_hole_waits_for_it() {
        let mut r = Reassembly::default();
        let got = collect(&mut r, &[(0, 2, b"ab"), (4, 2, b"ef"), (6, 1, b"g")]);
        assert_eq!(got, "ab");
        assert!(r.holding());
        let mut rest = String::new();
        r.segment(2, 2, b"cd", |p| push(&mut rest, p));
        assert_eq!(rest, "cdefg");
        assert!(!r.holding());
    }

    #[test]
    fn an_acknowledged_hole_is_a_gap_before_what_was_held() {
        let mut r = Reassembly::default();
        let got = collect(&mut r, &[(0, 2, b"ab"), (5, 2, b"fg")]);
        assert_eq!(got, "ab");
        let mut rest = String::new();
        r.acknowledged(7, |p| push(&mut rest, p));
        assert_eq!(rest, "<3>fg");
        // The missed segment turning up late is old news.
        r.segment(2, 3, b"cde", |p| push(&mut rest, p));
        assert_eq!(rest, "<3>fg");
    }

    #[test]
    fn snap_cut_segments_give_their_captured_bytes_then_a_gap() {
        let mut r = Reassembly::default();
        let got = collect(
            &mut r,
            &[(0, 10, b"abc"), (10, 2, b"kl"), (8, 6, b"ijklmn")],
        );
        assert_eq!(got, "abc<7>klmn");
    }

    #[test]
    fn held_bytes_are_capped() {
        let block = vec![b'x'; 64 * 1024];
        let mut r2 = Reassembly::default();
        r2.segment(0, 1, b"a", |_| {});
        let mut gaps = 0;
        for i in 0..6 {
            let lo = 10 + i * block.len() as i64;
            r2.segment(lo, block.len() as u32, &block, |p| {
                gaps += u64::from(matches!(p, Piece::Gap(_)))
            });
        }
        assert_eq!(gaps, 1, "the hole became a gap once the cap was passed");
        assert!(!r2.holding());
    }

    #[test]
    fn flush_turns_every_hole_into_a_gap() {
        let mut r = Reassembly::default();
        let mut got = collect(&mut r, &[(0, 1, b"a"), (3, 1, b"d"), (6, 1, b"g")]);
        r.flush(|p| push(&mut got, p));
        assert_eq!(got, "a<2>d<2>g");
        assert!(!r.holding());
    }
}
