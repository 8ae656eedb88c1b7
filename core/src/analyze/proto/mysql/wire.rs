//! MySQL's framing (the client/server protocol MariaDB speaks too), one direction at a time,
//! in bounded memory.
//!
//! Every packet is a 3-byte little-endian payload length, a sequence id, then the payload; a
//! payload of 16 MiB − 1 bytes continues in the next packet. A packet's payload is kept only up
//! to [`KEEP`] bytes, all any reader of it needs (a command and its statement's first words,
//! an error, a greeting); the rest (rows, long data) is skipped without copying. A gap in the
//! capture inside a payload being skipped costs nothing; one where a header was due loses the
//! framing.

/// Payload bytes kept per packet.
pub(crate) const KEEP: usize = 512;
/// The length that says the payload goes on in the next packet.
const CONTINUED: u32 = 0xff_ffff;

/// One framed packet: its sequence id, its payload's length and first bytes, and whether it
/// continues a payload of the packet before (its first byte is then no header of its own).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packet<'a> {
    pub seq: u8,
    pub len: u32,
    pub body: &'a [u8],
    pub continuation: bool,
}

/// Where the reader is inside the current packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Reading a header: `have` bytes of it are in `head`.
    Head { have: u8 },
    /// Reading a payload: `left` bytes of it still to come.
    Body { seq: u8, len: u32, left: u32 },
    /// A gap fell where a header was due (or reading stopped): nothing more is read.
    Lost,
}

/// One direction's framing state.
#[derive(Debug)]
pub(crate) struct Wire {
    head: [u8; 4],
    at: At,
    /// The packet before had the continuing length.
    continuing: bool,
    kept: Vec<u8>,
}

impl Default for Wire {
    fn default() -> Wire {
        Wire {
            head: [0; 4],
            at: At::Head { have: 0 },
            continuing: false,
            kept: Vec::new(),
        }
    }
}

impl Wire {
    /// Whether the framing is lost.
    pub fn lost(&self) -> bool {
        self.at == At::Lost
    }

    /// Nothing more of this direction is read (it turned compressed, or encrypted).
    pub fn stop(&mut self) {
        self.at = At::Lost;
    }

    /// `len` bytes of this direction are missing from the capture: inside a payload they
    /// are skipped like its other bytes; anywhere else the framing is lost.
    pub fn gap(&mut self, len: u64) {
        match self.at {
            At::Body { seq, len: n, left } if u64::from(left) >= len && len > 0 => {
                self.at = At::Body {
                    seq,
                    len: n,
                    left: left - len as u32,
                };
            }
            At::Head { have: 0 } if len == 0 => {}
            _ => self.at = At::Lost,
        }
    }

    /// Reads `data`, handing each complete packet to `out`, which returns whether the reader
    /// goes on (false: what follows is not this protocol's to read).
    pub fn feed(&mut self, data: &[u8], out: &mut impl FnMut(&mut Wire, Packet<'_>) -> bool) {
        let mut i = 0;
        while i < data.len() {
            match self.at {
                At::Lost => return,
                At::Head { have: 0 } if data.len() - i >= 4 => {
                    // The common case: whole packets in one piece, read where they lie.
                    let rest = &data[i..];
                    let (seq, len) = header(&rest[..4]);
                    let whole = 4 + len as usize;
                    if rest.len() >= whole {
                        i += whole;
                        let packet = self.packet(seq, len, &rest[4..whole.min(4 + KEEP)]);
                        if !out(self, packet) {
                            return;
                        }
                        continue;
                    }
                    self.start_body(seq, len);
                    i += 4;
                }
                At::Head { have } => {
                    let take = (4 - usize::from(have)).min(data.len() - i);
                    let have = usize::from(have);
                    self.head[have..have + take].copy_from_slice(&data[i..i + take]);
                    i += take;
                    if have + take < 4 {
                        self.at = At::Head {
                            have: (have + take) as u8,
                        };
                        continue;
                    }
                    let (seq, len) = header(&self.head);
                    self.start_body(seq, len);
                    if len == 0 && !self.finish(out) {
                        return;
                    }
                }
                At::Body { seq, len, left } => {
                    let take = (left as usize).min(data.len() - i);
                    let room = KEEP.saturating_sub(self.kept.len()).min(take);
                    self.kept.extend_from_slice(&data[i..i + room]);
                    i += take;
                    let left = left - take as u32;
                    self.at = At::Body { seq, len, left };
                    if left == 0 && !self.finish(out) {
                        return;
                    }
                }
            }
        }
    }

    /// The packet just framed, noting whether the next continues it.
    fn packet<'a>(&mut self, seq: u8, len: u32, body: &'a [u8]) -> Packet<'a> {
        let continuation = std::mem::replace(&mut self.continuing, len == CONTINUED);
        Packet {
            seq,
            len,
            body,
            continuation,
        }
    }

    fn start_body(&mut self, seq: u8, len: u32) {
        self.kept.clear();
        self.at = At::Body {
            seq,
            len,
            left: len,
        };
    }

    fn finish(&mut self, out: &mut impl FnMut(&mut Wire, Packet<'_>) -> bool) -> bool {
        let At::Body { seq, len, .. } = self.at else {
            return true;
        };
        self.at = At::Head { have: 0 };
        let kept = std::mem::take(&mut self.kept);
        let packet = self.packet(seq, len, &kept);
        let go_on = out(self, packet);
        self.kept = kept;
        go_on
    }
}

/// A header's sequence id and payload length.
fn header(head: &[u8]) -> (u8, u32) {
    (head[3], u32::from_le_bytes([head[0], head[1], head[2], 0]))
}

/// A length-encoded integer at the start of `data`, and the bytes it took.
pub(crate) fn lenenc(data: &[u8]) -> Option<(u64, usize)> {
    let (&first, rest) = data.split_first()?;
    let bytes = match first {
        0..=0xfa => return Some((u64::from(first), 1)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let raw = rest.get(..bytes)?;
    let mut value = [0u8; 8];
    value[..bytes].copy_from_slice(raw);
    Some((u64::from_le_bytes(value), 1 + bytes))
}

/// The NUL-terminated string at the start of `data`, and what follows it.
pub(crate) fn cstring(data: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(0, data) {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[]),
    }
}
