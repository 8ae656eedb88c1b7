//! PostgreSQL's framing (protocol 3.0), one direction at a time, in bounded memory.
//!
//! Every message is a type byte and a 4-byte big-endian length that counts itself; the
//! client's first messages (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) have no
//! type byte. A message's body is kept only up to [`KEEP`] bytes, which is all any reader of
//! it needs (a query's first words, an error's fields, a parameter); the rest is skipped
//! without copying, so a bulk COPY or a large row costs its length, not its bytes. A gap in
//! the capture that falls inside a body being skipped costs nothing either: the framing
//! survives it.

/// Body bytes kept per message: the prefix the analysis reads.
pub(crate) const KEEP: usize = 512;
/// The longest startup packet a server accepts (PostgreSQL's `MAX_STARTUP_PACKET_LENGTH`).
const MAX_STARTUP: u32 = 10_000;
/// The longest message PostgreSQL reads (`PQ_LARGE_MESSAGE_LIMIT`, 1 GiB less one byte).
const MAX_MESSAGE: u32 = 0x3fff_ffff;

/// The message types a client sends after its startup.
const CLIENT_TYPES: &[u8] = b"QPBEDCSHXdcfpF";
/// The message types a server sends.
const SERVER_TYPES: &[u8] = b"RSKZTDCENAGHWdc123nstIvV";

/// One framed message: its type (0 for the client's untyped startup messages) and its body's
/// first bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    pub ty: u8,
    /// The body's first [`KEEP`] bytes (all of it when shorter).
    pub body: &'a [u8],
}

/// Why a direction's bytes are not PostgreSQL (then nothing more of it is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// A length field below its own 4 bytes.
    ShortLength,
    /// A startup packet longer than any server accepts.
    StartupTooLong,
    /// A message longer than PostgreSQL reads.
    TooLong,
    /// A type byte no message of this direction has.
    UnknownType,
}

impl Broken {
    /// The reason in words, for the event.
    pub fn as_str(self) -> &'static str {
        match self {
            Broken::ShortLength => "a length below 4",
            Broken::StartupTooLong => "a startup packet over 10000 bytes",
            Broken::TooLong => "a message over 1 GiB",
            Broken::UnknownType => "a message type this side never sends",
        }
    }
}

/// Where the reader is inside the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Reading a header: `have` bytes of it are in `head`.
    Head { have: u8 },
    /// Reading a body: `left` bytes of it still to come.
    Body { ty: u8, left: u32 },
    /// Bytes broke the framing, or a gap fell where framing was needed: nothing more is read.
    Lost,
}

/// One direction's framing state.
#[derive(Debug)]
pub(crate) struct Wire {
    /// The client side (whose first messages are untyped).
    client: bool,
    /// The next message is an untyped startup message (the client, until its StartupMessage).
    untyped: bool,
    head: [u8; 5],
    at: At,
    /// The body's kept prefix, while it arrives in pieces.
    kept: Vec<u8>,
}

impl Wire {
    /// A reader for the client's direction (`client`) or the server's.
    pub fn new(client: bool) -> Wire {
        Wire {
            client,
            untyped: client,
            head: [0; 5],
            at: At::Head { have: 0 },
            kept: Vec::new(),
        }
    }

    /// Whether the framing is lost (a broken message, or a gap where a header was due).
    pub fn lost(&self) -> bool {
        self.at == At::Lost
    }

    /// Nothing more of this direction is read: its bytes broke the protocol.
    pub fn stop(&mut self) {
        self.at = At::Lost;
    }

    /// The client's startup is over: its next messages carry a type byte.
    pub fn typed(&mut self) {
        self.untyped = false;
    }

    /// `len` bytes of this direction are missing from the capture: inside a body they are
    /// skipped like its other bytes; anywhere else the framing is lost.
    pub fn gap(&mut self, len: u64) {
        match self.at {
            At::Body { ty, left } if u64::from(left) >= len && len > 0 => {
                let left = left - len as u32;
                self.at = At::Body { ty, left };
            }
            At::Head { have: 0 } if len == 0 => {}
            _ => self.at = At::Lost,
        }
    }

    fn header_len(&self) -> usize {
        if self.untyped {
            4
        } else {
            5
        }
    }

    /// Checks a complete header; the message's type and body length.
    fn check(&self, head: &[u8]) -> Result<(u8, u32), Broken> {
        let (ty, len) = if self.untyped {
            (0, u32::from_be_bytes([head[0], head[1], head[2], head[3]]))
        } else {
            let types = if self.client {
                CLIENT_TYPES
            } else {
                SERVER_TYPES
            };
            if !types.contains(&head[0]) {
                return Err(Broken::UnknownType);
            }
            (
                head[0],
                u32::from_be_bytes([head[1], head[2], head[3], head[4]]),
            )
        };
        if len < 4 {
            return Err(Broken::ShortLength);
        }
        if ty == 0 && len > MAX_STARTUP {
            return Err(Broken::StartupTooLong);
        }
        if len > MAX_MESSAGE {
            return Err(Broken::TooLong);
        }
        Ok((ty, len - 4))
    }

    /// Reads `data`, handing each complete message to `out`, which returns whether the
    /// reader goes on (false: the messages after it are another protocol's, as after an
    /// accepted SSLRequest); the bytes read, or why they broke the framing.
    pub fn feed(
        &mut self,
        data: &[u8],
        out: &mut impl FnMut(&mut Wire, Message<'_>) -> bool,
    ) -> Result<usize, Broken> {
        let mut i = 0;
        while i < data.len() {
            match self.at {
                At::Lost => return Ok(data.len()),
                At::Head { have: 0 } => {
                    // The common case: whole messages in one piece, read where they lie.
                    let hl = self.header_len();
                    let rest = &data[i..];
                    if rest.len() >= hl {
                        let (ty, len) = self.fail(self.check(&rest[..hl]))?;
                        let whole = hl + len as usize;
                        if rest.len() >= whole {
                            let body = &rest[hl..whole.min(hl + KEEP)];
                            i += whole;
                            if !out(self, Message { ty, body }) {
                                return Ok(i);
                            }
                            continue;
                        }
                        self.start_body(ty, len);
                        i += hl;
                    } else {
                        self.head[..rest.len()].copy_from_slice(rest);
                        self.at = At::Head {
                            have: rest.len() as u8,
                        };
                        i = data.len();
                    }
                }
                At::Head { have } => {
                    let hl = self.header_len();
                    let take = (hl - usize::from(have)).min(data.len() - i);
                    self.head[usize::from(have)..usize::from(have) + take]
                        .copy_from_slice(&data[i..i + take]);
                    i += take;
                    let have = have + take as u8;
                    if usize::from(have) < hl {
                        self.at = At::Head { have };
                        continue;
                    }
                    let head = self.head;
                    let (ty, len) = self.fail(self.check(&head[..hl]))?;
                    self.start_body(ty, len);
                    if len == 0 && !self.finish(out) {
                        return Ok(i);
                    }
                }
                At::Body { ty, left } => {
                    let take = (left as usize).min(data.len() - i);
                    let room = KEEP.saturating_sub(self.kept.len()).min(take);
                    self.kept.extend_from_slice(&data[i..i + room]);
                    i += take;
                    let left = left - take as u32;
                    self.at = At::Body { ty, left };
                    if left == 0 && !self.finish(out) {
                        return Ok(i);
                    }
                }
            }
        }
        Ok(i)
    }

    fn fail<T>(&mut self, r: Result<T, Broken>) -> Result<T, Broken> {
        if r.is_err() {
            self.at = At::Lost;
        }
        r
    }

    fn start_body(&mut self, ty: u8, len: u32) {
        self.kept.clear();
        self.at = At::Body { ty, left: len };
    }

    /// Hands the message whose body just ended to `out`.
    fn finish(&mut self, out: &mut impl FnMut(&mut Wire, Message<'_>) -> bool) -> bool {
        let At::Body { ty, .. } = self.at else {
            return true;
        };
        self.at = At::Head { have: 0 };
        let kept = std::mem::take(&mut self.kept);
        let go_on = out(self, Message { ty, body: &kept });
        self.kept = kept;
        go_on
    }
}

/// The fields of a body: NUL-terminated strings one after another (a StartupMessage's
/// parameters, a Parse's name then query).
pub(crate) fn cstrings(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(0, rest).unwrap_or(rest.len());
        let s = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or(&[]);
        Some(s)
    })
}

/// A big-endian u32 at `at`, if the body holds it.
pub(crate) fn u32_at(body: &[u8], at: usize) -> Option<u32> {
    let b = body.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
