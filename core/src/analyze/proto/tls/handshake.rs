//! Handshake messages of one direction (RFC 8446 §4), reassembled across records: a message
//! may span records (a certificate chain) and a record may hold several. Only the hellos' and
//! TLS 1.3's EncryptedExtensions' bodies are kept (bounded); every other message is known by
//! its type and skipped.

use super::hello::{CLIENT_HELLO, ENCRYPTED_EXTENSIONS, SERVER_HELLO};

/// The largest hello kept; a longer one is reported as too long and not read.
const MAX_HELLO: usize = 64 * 1024;

/// A whole handshake message: its type, and its body when it is a hello.
pub(crate) struct Message<'a> {
    pub kind: u8,
    pub body: Option<&'a [u8]>,
}

/// One direction's handshake message reader.
#[derive(Debug, Default)]
pub(crate) struct Messages {
    header: [u8; 4],
    have: usize,
    /// Body bytes still to come of the current message (after its header).
    remaining: usize,
    in_body: bool,
    body: Vec<u8>,
    keep: bool,
}

impl Messages {
    /// Reads `data`, the next bytes of this direction's handshake stream.
    pub fn data(&mut self, mut data: &[u8], mut message: impl FnMut(Message<'_>)) {
        loop {
            if !self.in_body {
                if data.is_empty() {
                    return;
                }
                let n = (4 - self.have).min(data.len());
                self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
                self.have += n;
                data = &data[n..];
                if self.have < 4 {
                    return;
                }
                self.have = 0;
                let [kind, a, b, c] = self.header;
                self.remaining = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                self.keep = matches!(kind, CLIENT_HELLO | SERVER_HELLO | ENCRYPTED_EXTENSIONS)
                    && self.remaining <= MAX_HELLO;
                self.body.clear();
                self.in_body = true;
            }
            let n = self.remaining.min(data.len());
            if self.keep {
                self.body.extend_from_slice(&data[..n]);
            }
            self.remaining -= n;
            data = &data[n..];
            if self.remaining > 0 {
                return;
            }
            self.in_body = false;
            let body = self.keep.then_some(&self.body[..]);
            message(Message {
                kind: self.header[0],
                body,
            });
        }
    }

    /// Part of the handshake stream was not captured: the message being read is dropped
    /// and reading starts again at the next record's first message.
    pub fn lost(&mut self) {
        *self = Messages {
            body: std::mem::take(&mut self.body),
            ..Messages::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len() as u32;
        let mut m = vec![kind];
        m.extend(&len.to_be_bytes()[1..]);
        m.extend(body);
        m
    }

    fn read(pieces: &[&[u8]]) -> Vec<(u8, Option<Vec<u8>>)> {
        let mut r = Messages::default();
        let mut out = Vec::new();
        for p in pieces {
            r.data(p, |m| out.push((m.kind, m.body.map(<[u8]>::to_vec))));
        }
        out
    }

    #[test]
    fn messages_across_and_within_records_are_whole_and_only_hellos_kept() {
        let stream = [
            message(SERVER_HELLO, b"server hello"),
            message(11, &[0; 3000]),
            message(20, b"fin"),
        ]
        .concat();
        let want = vec![
            (SERVER_HELLO, Some(b"server hello".to_vec())),
            (11, None),
            (20, None),
        ];
        assert_eq!(read(&[&stream]), want);
        for at in [1, 3, 4, 10, 20, 1000, stream.len() - 1] {
            let (a, b) = stream.split_at(at);
            assert_eq!(read(&[a, b]), want, "split at {at}");
        }
    }
}
