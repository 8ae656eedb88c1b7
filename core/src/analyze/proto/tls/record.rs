//! TLS record framing (RFC 8446 §5.1, RFC 5246 §6.2) of one direction, read as it crosses
//! segments: a 5-byte header (content type, version, length), then the body. Bodies are
//! copied only when the caller wants them (to decrypt or to read a cleartext handshake);
//! the rest are counted and skipped. A gap in the capture inside a body cuts that record; a
//! gap where a header was loses the framing for good.

/// Content types.
pub(crate) const CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;

/// The longest record body: 2^14 plus TLS 1.2's allowance for expansion (RFC 5246 §6.2.3).
pub(crate) const MAX_BODY: usize = (1 << 14) + 2048;

/// A record's 5-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header(pub [u8; 5]);

impl Header {
    pub fn content_type(&self) -> u8 {
        self.0[0]
    }

    pub fn len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.0[3], self.0[4]]))
    }
}

/// What the framing found.
pub(crate) enum Found<'a> {
    /// A whole record; `body` when it was kept, `cut` when part of it was not captured.
    Record {
        head: Header,
        body: Option<&'a mut [u8]>,
        cut: bool,
    },
    /// A header that is not TLS (an unknown content type, a length past the bound).
    Broken { error: &'static str },
    /// A gap in the capture where a header was: nothing more of this direction is framed.
    Lost,
}

/// Where the framing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a header (`have` bytes of it so far).
    Header,
    /// Reading the body of `head` (`read` bytes of it so far).
    Body,
    Lost,
}

/// One direction's record framing. The record being read is in plain fields rather than in
/// the state (an enum holding the header): read back right after it is written, a packed
/// header made the processor wait on every record.
#[derive(Debug)]
pub(crate) struct Records {
    state: State,
    header: [u8; 5],
    have: usize,
    head: Header,
    read: usize,
    keep: bool,
    body: Vec<u8>,
    cut: bool,
}

impl Default for Records {
    fn default() -> Self {
        Records {
            state: State::Header,
            header: [0; 5],
            have: 0,
            head: Header([0; 5]),
            read: 0,
            keep: false,
            body: Vec::new(),
            cut: false,
        }
    }
}

pub(crate) fn known(content_type: u8) -> bool {
    (CHANGE_CIPHER_SPEC..=APPLICATION_DATA).contains(&content_type)
}

impl Records {
    /// Frames the next of `data` (advancing it) up to one finding: a whole record, a broken
    /// header or a loss; None when `data` ran out first. At a header, `keep` says whether its
    /// body is wanted.
    pub fn next(
        &mut self,
        data: &mut &[u8],
        keep: impl FnOnce(Header) -> bool,
    ) -> Option<Found<'_>> {
        if self.state == State::Header {
            if data.is_empty() {
                return None;
            }
            let n = (5 - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            *data = &data[n..];
            if self.have < 5 {
                return None;
            }
            self.have = 0;
            let head = Header(self.header);
            if !known(head.content_type()) {
                self.state = State::Lost;
                return Some(Found::Broken {
                    error: "not a TLS record (unknown content type)",
                });
            }
            if head.len() > MAX_BODY {
                self.state = State::Lost;
                return Some(Found::Broken {
                    error: "record longer than TLS allows",
                });
            }
            self.keep = keep(head);
            self.head = head;
            self.read = 0;
            self.body.clear();
            self.cut = false;
            self.state = State::Body;
        }
        if self.state == State::Lost {
            *data = &[];
            return None;
        }
        let n = (self.head.len() - self.read).min(data.len());
        if self.keep {
            self.body.extend_from_slice(&data[..n]);
        }
        *data = &data[n..];
        self.read += n;
        if self.read < self.head.len() {
            return None;
        }
        Some(self.finish())
    }

    /// The next byte is a record's first: no header or body is partly read.
    pub fn at_boundary(&self) -> bool {
        self.state == State::Header && self.have == 0
    }

    /// A record's body is being read (the piece ended inside it).
    pub fn in_body(&self) -> bool {
        self.state == State::Body
    }

    /// `len` bytes of this direction were not captured: the record they fall in is cut
    /// (found when its end is reached), or, when they cover a header, the framing is lost.
    pub fn gap(&mut self, len: u64) -> Option<Found<'_>> {
        match self.state {
            State::Lost => None,
            State::Body if (self.head.len() - self.read) as u64 >= len => {
                self.cut = true;
                self.read += len as usize;
                (self.read == self.head.len()).then(|| self.finish())
            }
            _ => {
                self.state = State::Lost;
                Some(Found::Lost)
            }
        }
    }

    /// The record being read is whole.
    fn finish(&mut self) -> Found<'_> {
        self.state = State::Header;
        let body = (self.keep && !self.cut).then_some(&mut self.body[..]);
        Found::Record {
            head: self.head,
            body,
            cut: self.cut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend((body.len() as u16).to_be_bytes());
        r.extend(body);
        r
    }

    /// Reads `pieces` and lists (content type, kept body or None, cut) per record.
    fn read(pieces: &[&[u8]], keep: bool) -> Vec<(u8, Option<Vec<u8>>, bool)> {
        let mut r = Records::default();
        let mut out = Vec::new();
        for p in pieces {
            let mut p: &[u8] = p;
            while let Some(f) = r.next(&mut p, |_| keep) {
                if let Found::Record { head, body, cut } = f {
                    out.push((head.content_type(), body.map(|b| b.to_vec()), cut));
                }
            }
        }
        out
    }

    #[test]
    fn records_split_anywhere_read_the_same() {
        let stream = [
            record(HANDSHAKE, b"hello"),
            record(APPLICATION_DATA, b"data!"),
        ]
        .concat();
        let whole = read(&[&stream], true);
        assert_eq!(
            whole,
            [
                (HANDSHAKE, Some(b"hello".to_vec()), false),
                (APPLICATION_DATA, Some(b"data!".to_vec()), false)
            ]
        );
        for at in 0..stream.len() {
            let (a, b) = stream.split_at(at);
            assert_eq!(read(&[a, b], true), whole, "split at {at}");
        }
    }

    #[test]
    fn unkept_bodies_are_counted_not_copied() {
        let stream = record(APPLICATION_DATA, &[1; 300]);
        assert_eq!(read(&[&stream], false), [(APPLICATION_DATA, None, false)]);
    }

    #[test]
    fn a_gap_in_a_body_cuts_the_record_and_one_at_a_header_loses_the_framing() {
        let mut r = Records::default();
        let stream = record(APPLICATION_DATA, &[1; 100]);
        let mut first: &[u8] = &stream[..50];
        assert!(r.next(&mut first, |_| true).is_none());
        assert!(matches!(
            r.gap(55),
            Some(Found::Record {
                cut: true,
                body: None,
                ..
            })
        ));
        assert!(matches!(r.gap(10), Some(Found::Lost)));
        // Nothing after a loss is framed.
        let mut again: &[u8] = &stream;
        assert!(r.next(&mut again, |_| true).is_none());
    }

    /// The broken header's error, if any.
    fn broken(bytes: &[u8]) -> Option<&'static str> {
        let mut bytes = bytes;
        match Records::default().next(&mut bytes, |_| true) {
            Some(Found::Broken { error }) => Some(error),
            _ => None,
        }
    }

    #[test]
    fn a_header_that_is_not_tls_stops_the_framing() {
        assert_eq!(
            broken(b"GET / HTTP/1.1\r\n"),
            Some("not a TLS record (unknown content type)")
        );
        assert_eq!(
            broken(&[APPLICATION_DATA, 3, 3, 0xFF, 0xFF, 0]),
            Some("record longer than TLS allows")
        );
    }
}
