//! HTTP/2 frame headers and the few payloads the analysis reads (RFC 9113 §4, §6).

/// The client's connection preface (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// A frame header's length.
pub(crate) const HEADER_LEN: usize = 9;

/// Frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    /// An extension frame type: skipped, as RFC 9113 §4.1 asks.
    Unknown,
}

impl Kind {
    fn of(byte: u8) -> Kind {
        match byte {
            0 => Kind::Data,
            1 => Kind::Headers,
            2 => Kind::Priority,
            3 => Kind::RstStream,
            4 => Kind::Settings,
            5 => Kind::PushPromise,
            6 => Kind::Ping,
            7 => Kind::GoAway,
            8 => Kind::WindowUpdate,
            9 => Kind::Continuation,
            _ => Kind::Unknown,
        }
    }
}

/// Flag bits.
pub(crate) const END_STREAM: u8 = 0x1;
/// ACK on SETTINGS and PING (same bit as END_STREAM).
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY: u8 = 0x20;

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub len: u32,
    pub kind: Kind,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// Reads a 9-byte frame header.
    pub fn parse(h: &[u8; HEADER_LEN]) -> Head {
        Head {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: Kind::of(h[3]),
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether the analysis keeps this frame's payload (else it is counted and skipped).
    pub fn keeps_payload(&self) -> bool {
        !matches!(self.kind, Kind::Data | Kind::Unknown | Kind::Priority)
    }
}

/// The header block fragment inside a HEADERS or PUSH_PROMISE payload: without the padding,
/// the priority fields and the promised stream id. None when the lengths do not fit.
pub(crate) fn fragment<'p>(head: &Head, payload: &'p [u8]) -> Option<&'p [u8]> {
    let mut body = payload;
    let mut pad = 0usize;
    if head.has(PADDED) {
        let (&p, rest) = body.split_first()?;
        pad = usize::from(p);
        body = rest;
    }
    let skip = match head.kind {
        Kind::Headers if head.has(PRIORITY) => 5,
        Kind::PushPromise => 4,
        _ => 0,
    };
    let body = body.get(skip..)?;
    body.get(..body.len().checked_sub(pad)?)
}

/// Setting identifiers the analysis uses.
pub(crate) const SETTINGS_HEADER_TABLE_SIZE: u16 = 1;
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 3;
pub(crate) const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 4;

/// The (identifier, value) pairs of a SETTINGS payload (a trailing partial pair is ignored;
/// the caller reports the length).
pub(crate) fn settings(payload: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    payload.chunks_exact(6).map(|p| {
        (
            u16::from_be_bytes([p[0], p[1]]),
            u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
        )
    })
}

/// A 4-byte big-endian value at the start of `payload`.
pub(crate) fn u32_at(payload: &[u8], at: usize) -> Option<u32> {
    let b = payload.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_read_with_the_reserved_bit_cleared() {
        let h = Head::parse(&[0, 0x01, 0x02, 1, 0x25, 0x80, 0, 0, 3]);
        assert_eq!(h.len, 0x102);
        assert_eq!(h.kind, Kind::Headers);
        assert!(h.has(END_STREAM) && h.has(END_HEADERS) && h.has(PRIORITY));
        assert_eq!(h.stream, 3);
    }

    #[test]
    fn padding_and_priority_are_cut_from_a_header_block() {
        let head = Head {
            len: 0,
            kind: Kind::Headers,
            flags: PADDED | PRIORITY,
            stream: 1,
        };
        let payload = [2, 0, 0, 0, 0, 16, 0x82, 0x86, 0, 0];
        assert_eq!(fragment(&head, &payload), Some(&[0x82, 0x86][..]));
        // Padding longer than the payload is no block.
        assert_eq!(fragment(&head, &[9, 0, 0, 0, 0, 0]), None);
    }
}
