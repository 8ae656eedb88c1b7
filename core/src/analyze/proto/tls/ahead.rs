//! Decrypting ahead: record decryption moved off the analyser, onto a thread that reads the
//! capture before it.
//!
//! AES-GCM costs about as much per record as the rest of the analysis of that record, and the
//! analyser reads one record after another: decrypting where it reads doubles its work while
//! the reading thread waits. So the reader frames the TLS records of every connection it saw
//! open, in order, as they cross its segments; once the analyser has found a direction's
//! application keys it says so in a [`KeyNote`] (the key, and which record of the direction
//! takes which sequence number), and from then on the reader decrypts that direction's
//! records as it reads them and hands each plaintext on with its frame ([`Opened`]).
//!
//! Nothing the analyser concludes rests on the reader: it takes an opened record only for the
//! key it noted, at the sequence number it would have used, for exactly the bytes it framed
//! itself (compared whole), and decrypts everything else itself. The reader gives up on a
//! direction at anything out of the ordinary (a segment out of order, a gap, a record that
//! does not decrypt, a capture that began mid-connection): the analyser's own reassembly
//! handles those.

use std::net::SocketAddr;
use std::ops::Range;

use super::hello::{CLIENT_HELLO, SERVER_HELLO};
use super::keys::RecordKey;
use super::record::{known, Found, Header, Records, APPLICATION_DATA, HANDSHAKE, MAX_BODY};
use crate::analyze::event::Side;
use crate::analyze::frame::Segment;
use crate::analyze::index::Key;
use crate::FastMap;

/// The analyser found a direction's application key: the reader may open its records from
/// record number `first` (counted from the direction's first byte) on, which takes the key's
/// current sequence number.
#[derive(Debug, Clone)]
pub struct KeyNote {
    client: SocketAddr,
    server: SocketAddr,
    /// Both sides' initial sequence numbers: the connection, not just its addresses.
    isn: [u32; 2],
    side: Side,
    first: u64,
    serial: u64,
    key: RecordKey,
}

/// The notes the analyser has written and not yet handed over, numbered.
#[derive(Debug, Default)]
pub(crate) struct KeyNotes {
    serial: u64,
    notes: Vec<KeyNote>,
}

impl KeyNotes {
    /// Notes `key` for `side` of the connection `(client, server, isn)`, from its record
    /// number `first`; returns the note's serial, which the reader's records carry back.
    pub fn note(
        &mut self,
        (client, server, isn): (SocketAddr, SocketAddr, [u32; 2]),
        side: Side,
        first: u64,
        key: &RecordKey,
    ) -> u64 {
        self.serial += 1;
        self.notes.push(KeyNote {
            client,
            server,
            isn,
            side,
            first,
            serial: self.serial,
            key: key.clone(),
        });
        self.serial
    }

    /// Moves the notes written so far into `out`.
    pub fn drain_into(&mut self, out: &mut Vec<KeyNote>) {
        out.append(&mut self.notes);
    }
}

/// One record the reader opened: under which note, with which sequence number, and where its
/// sealed and opened bodies are in the buffer.
#[derive(Debug, Clone, Copy)]
struct OpenedRecord {
    serial: u64,
    seq: u64,
    /// The sealed body at `at`, the opened one right after it, both `len` bytes.
    at: usize,
    len: usize,
    /// The plaintext within the opened body.
    text: (usize, usize),
}

/// The records a reader opened, over many frames: each frame takes a range of them.
#[derive(Debug, Default)]
pub struct OpenedRecords {
    records: Vec<OpenedRecord>,
    bytes: Vec<u8>,
}

impl OpenedRecords {
    /// The records of range `of` (what [`Ahead::segment`] gave for a frame).
    pub fn of(&self, of: Range<u32>) -> Opened<'_> {
        Opened {
            records: self
                .records
                .get(of.start as usize..of.end as usize)
                .unwrap_or_default(),
            bytes: &self.bytes,
        }
    }

    /// Forgets every record (the buffers are kept for the next frames).
    pub fn clear(&mut self) {
        self.records.clear();
        self.bytes.clear();
    }
}

/// The records the reader opened that completed in the frame being analysed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opened<'a> {
    records: &'a [OpenedRecord],
    bytes: &'a [u8],
}

impl<'a> Opened<'a> {
    /// The opened body of the record sealed as `sealed`, under note `serial` at `seq`, and
    /// where its plaintext is in it; None when the reader did not open exactly that.
    pub(crate) fn find(
        &self,
        serial: u64,
        seq: u64,
        sealed: &[u8],
    ) -> Option<(&'a [u8], Range<usize>)> {
        let r = self
            .records
            .iter()
            .find(|r| r.serial == serial && r.seq == seq && r.len == sealed.len())?;
        let bytes = self.bytes;
        (bytes.get(r.at..r.at + r.len)? == sealed).then_some(())?;
        let opened = bytes.get(r.at + r.len..r.at + 2 * r.len)?;
        Some((opened, r.text.0..r.text.0 + r.text.1))
    }
}

/// A noted key, as the reader uses it.
#[derive(Debug)]
struct Noted {
    serial: u64,
    first: u64,
    /// The key, its sequence number that of record `first`.
    key: RecordKey,
    first_seq: u64,
    /// A record did not open: wait for the analyser's next note.
    failed: bool,
}

/// One direction as the reader follows it.
#[derive(Debug, Default)]
struct Dir {
    /// The sequence number of the next byte in order (None before the handshake said it).
    next: Option<u32>,
    records: Records,
    /// Records framed so far.
    count: u64,
    /// Given up on: out of order, a gap, broken framing.
    lost: bool,
    fin: bool,
    key: Option<Noted>,
}

/// One connection as the reader follows it, from its client's hello.
#[derive(Debug)]
struct Flow {
    client: SocketAddr,
    isn: [Option<u32>; 2],
    dirs: [Dir; 2],
}

/// The reader's side: every TLS connection it saw begin, framed as it reads.
#[derive(Debug, Default)]
pub struct Ahead {
    flows: FastMap<Key, Flow>,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl Ahead {
    /// Takes the analyser's notes: the directions they name are opened from then on.
    pub fn follow(&mut self, notes: impl IntoIterator<Item = KeyNote>) {
        for note in notes {
            let key = Key::of_pair(note.client, note.server);
            let Some(flow) = self.flows.get_mut(&key) else {
                continue;
            };
            if flow.client != note.client || flow.isn != note.isn.map(Some) {
                continue;
            }
            let first_seq = note.key.seq();
            flow.dirs[idx(note.side)].key = Some(Noted {
                serial: note.serial,
                first: note.first,
                key: note.key,
                first_seq,
                failed: false,
            });
        }
    }

    /// Frames one segment's records and, `open` (the analyser is behind: there is time to
    /// spare), decrypts those a note covers into `out`; returns the range of `out`'s records
    /// that completed in this segment.
    pub fn segment(&mut self, seg: &Segment, open: bool, out: &mut OpenedRecords) -> Range<u32> {
        let start = out.records.len() as u32;
        let none = start..start;
        if self.flows.is_empty() && !starts_hello(seg, CLIENT_HELLO) {
            // Nothing followed, nothing to begin: cleartext costs no lookup.
            return none;
        }
        let key = Key::of(seg);
        let Some(flow) = self.flows.get_mut(&key) else {
            // A connection is followed from its client's hello, the first bytes of its stream.
            if starts_hello(seg, CLIENT_HELLO) {
                let mut flow = Flow {
                    client: seg.src,
                    isn: [Some(seg.seq.wrapping_sub(1)), None],
                    dirs: Default::default(),
                };
                flow.dirs[0].next = Some(seg.seq);
                flow.dirs[0].read(seg, open, out);
                self.flows.insert(key, flow);
            }
            return none;
        };
        let f = seg.flags;
        if f.rst || (f.syn && !f.ack) {
            // The end, or another connection on the same addresses.
            self.flows.remove(&key);
            return none;
        }
        let side = if seg.src == flow.client {
            Side::Client
        } else {
            Side::Server
        };
        let dir = &mut flow.dirs[idx(side)];
        if dir.next.is_none() && starts_hello(seg, SERVER_HELLO) {
            flow.isn[1] = Some(seg.seq.wrapping_sub(1));
            dir.next = Some(seg.seq);
        }
        if seg.len > 0 && !dir.lost {
            dir.read(seg, open, out);
        }
        if f.fin {
            dir.fin = true;
            if flow.dirs.iter().all(|d| d.fin) {
                self.flows.remove(&key);
            }
        }
        start..out.records.len() as u32
    }
}

/// The segment's payload opens with a handshake record whose first message is `kind`.
fn starts_hello(seg: &Segment, kind: u8) -> bool {
    let p = seg.payload;
    p.len() > 5 && p[0] == HANDSHAKE && p[1] == 3 && p[2] <= 4 && p[5] == kind
}

impl Dir {
    /// The segment's bytes, if they are the next in order.
    fn read(&mut self, seg: &Segment, open: bool, out: &mut OpenedRecords) {
        let Some(next) = self.next else {
            // The server's first bytes were no hello: not the start of its stream.
            self.lost = true;
            return;
        };
        let ahead = seg.seq.wrapping_sub(next) as i32;
        let end = ahead.wrapping_add(seg.len as i32);
        if ahead < 0 && end <= 0 {
            // A retransmission of bytes already framed.
            return;
        }
        if ahead != 0 || seg.payload.len() != seg.len as usize {
            self.lost = true;
            return;
        }
        self.next = Some(next.wrapping_add(seg.len));
        let mut data = seg.payload;
        let wanted = open && self.key.as_ref().is_some_and(|k| !k.failed);
        // Whole records in the segment are read where they are; the framer takes the rest
        // (a record cut across segments, a header it will call broken).
        while self.records.at_boundary() && data.len() >= 5 {
            let head = Header([data[0], data[1], data[2], data[3], data[4]]);
            let Some(body) = data.get(5..5 + head.len()) else {
                break;
            };
            if !known(head.content_type()) || head.len() > MAX_BODY {
                break;
            }
            let index = self.count;
            self.count += 1;
            if let (true, APPLICATION_DATA, Some(noted)) =
                (wanted, head.content_type(), self.key.as_mut())
            {
                noted.open(index, &head.0, body, out);
            }
            data = &data[5 + head.len()..];
        }
        let count = &mut self.count;
        let records = &mut self.records;
        while !data.is_empty() {
            let found = records.next(&mut data, |head| {
                wanted && head.content_type() == APPLICATION_DATA
            });
            match found {
                None => break,
                Some(Found::Record { head, body, .. }) => {
                    let index = *count;
                    *count += 1;
                    if let (Some(body), Some(noted)) = (body, self.key.as_mut()) {
                        noted.open(index, &head.0, body, out);
                    }
                }
                Some(Found::Broken { .. } | Found::Lost) => {
                    self.lost = true;
                    return;
                }
            }
        }
    }
}

impl Noted {
    /// Opens record number `index` (sealed `body`) into `out`.
    fn open(&mut self, index: u64, header: &[u8; 5], body: &[u8], out: &mut OpenedRecords) {
        if self.failed || index < self.first {
            return;
        }
        let seq = self.first_seq + (index - self.first);
        self.key.set_seq(seq);
        let at = out.bytes.len();
        out.bytes.extend_from_slice(body);
        out.bytes.extend_from_slice(body);
        let opened = &mut out.bytes[at + body.len()..];
        match self.key.open(header, opened) {
            Ok(text) => out.records.push(OpenedRecord {
                serial: self.serial,
                seq,
                at,
                len: body.len(),
                text: (text.start, text.len()),
            }),
            Err(_) => {
                // A key update, or a key that does not fit: the analyser finds out itself.
                out.bytes.truncate(at);
                self.failed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! A reader decrypting ahead, driven as `connlab inspect` drives it: it reads each frame
    //! `lag` frames before the analyser, and gets the analyser's key notes only once the
    //! analyser has read the frames that gave them.

    use super::*;
    use crate::analyze::event::EventKind;
    use crate::analyze::frame::{decode, LinkType};
    use crate::testframes::{read_ahead, AheadRead as Read, Lab};
    use crate::testtls::{ends, setup, suites12, suites13, Session};

    /// Changes what the reader opened, before the analyser reads it.
    type Spoil = fn(&mut [u8], &OpenedRecord);

    /// Reads `frames` with `keys`; `ahead`: a reader `lag` frames ahead, whose records of
    /// each frame pass through `spoil` before the analyser sees them.
    fn read(frames: &[(u64, Vec<u8>)], keys: &str, ahead: Option<(usize, Spoil)>) -> Read {
        let spoil = ahead.map_or(untouched as Spoil, |(_, spoil)| spoil);
        read_ahead(
            frames,
            keys.as_bytes(),
            ahead.map(|(lag, _)| lag),
            |out, range| {
                for r in &out.records[range.start as usize..range.end as usize] {
                    spoil(&mut out.bytes, r);
                }
            },
        )
    }

    fn kinds(read: &Read) -> Vec<EventKind> {
        read.events.iter().map(|e| e.kind.clone()).collect()
    }

    /// A capture's frames (time in ms, bytes), with its suite's name and its key log.
    type Capture = (String, Vec<(u64, Vec<u8>)>, String);

    /// Ten requests on one connection of each suite and version, segments of `mss` bytes.
    fn captures(mss: usize) -> Vec<Capture> {
        let all = suites13()
            .into_iter()
            .map(|s| setup(true, s))
            .chain(suites12().into_iter().map(|s| setup(false, s)));
        all.map(|s| {
            let ends = ends(&s);
            let mut capture = Lab::default();
            {
                let mut session = Session::open(&mut capture, &ends, 40000, mss);
                for n in 0..10 {
                    session.exchange(&format!("/{n}"));
                    session.idle(10);
                }
            }
            let keys = ends.keys.0.lock().expect("keys").clone();
            (format!("{:?}", s.suite.suite()), capture.frames, keys)
        })
        .collect()
    }

    fn untouched(_: &mut [u8], _: &OpenedRecord) {}

    #[test]
    fn records_opened_ahead_give_the_same_events_as_decrypting_in_place() {
        for mss in [1400, 50] {
            for (suite, frames, keys) in captures(mss) {
                let alone = read(&frames, &keys, None);
                for lag in [0, 1, 7] {
                    let ahead = read(&frames, &keys, Some((lag, untouched)));
                    assert_eq!(
                        kinds(&ahead),
                        kinds(&alone),
                        "{suite}, mss {mss}, lag {lag}"
                    );
                    // The handshakes and the first exchanges are the analyser's own (the
                    // reader learns the keys `lag` frames late); most of the 20 records are
                    // the reader's.
                    assert!(
                        ahead.opened >= 10,
                        "{suite}, mss {mss}, lag {lag}: {}",
                        ahead.opened
                    );
                }
            }
        }
    }

    #[test]
    fn the_analyser_reads_the_readers_plaintext_only_for_the_bytes_it_framed_itself() {
        let (_, frames, keys) = captures(1400).swap_remove(0);
        let alone = read(&frames, &keys, None);
        let requests = |r: &Read| {
            r.events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Request { .. }))
                .count()
        };
        assert_eq!(requests(&alone), 10);
        // Plaintexts spoiled after the reader opened them: read as they are (the analyser
        // did not decrypt those records again).
        fn spoil_text(bytes: &mut [u8], r: &OpenedRecord) {
            bytes[r.at + r.len + r.text.0] ^= 0xff;
        }
        assert!(requests(&read(&frames, &keys, Some((1, spoil_text)))) < 10);
        // Sealed bytes that differ from the analyser's: its own decryption, the same story.
        fn spoil_sealed(bytes: &mut [u8], r: &OpenedRecord) {
            bytes[r.at] ^= 0xff;
        }
        let checked = read(&frames, &keys, Some((1, spoil_sealed)));
        assert_eq!(kinds(&checked), kinds(&alone));
    }

    #[test]
    fn out_of_order_segments_and_key_updates_leave_the_analysis_to_the_analyser() {
        let s = setup(true, suites13()[2]);
        let ends = ends(&s);
        let mut capture = Lab::default();
        {
            let mut session = Session::open(&mut capture, &ends, 40000, 100);
            session.exchange("/before");
            session.client.refresh_traffic_keys().expect("key update");
            session.exchange("/after");
            session.exchange("/again");
        }
        let keys = ends.keys.0.lock().expect("keys").clone();
        let mut frames = capture.frames;
        let alone = read(&frames, &keys, None);
        let ahead = read(&frames, &keys, Some((3, untouched)));
        assert_eq!(kinds(&ahead), kinds(&alone));
        assert!(ahead.opened > 0);
        // The last two segments of the client's data swapped: the reader gives up on the
        // client's direction and leaves it to the analyser's reassembly.
        let client_data: Vec<usize> = (0..frames.len())
            .filter(|&i| {
                decode(LinkType::Ethernet, &frames[i].1)
                    .is_ok_and(|s| s.is_some_and(|s| s.src.port() == 40000 && s.len > 0))
            })
            .collect();
        let [.., a, b] = client_data[..] else {
            panic!("two client segments");
        };
        frames.swap(a, b);
        let swapped_alone = read(&frames, &keys, None);
        let swapped = read(&frames, &keys, Some((3, untouched)));
        assert_eq!(kinds(&swapped), kinds(&swapped_alone));
        assert!(
            swapped.opened < ahead.opened,
            "{} {}",
            swapped.opened,
            ahead.opened
        );
    }

    #[test]
    fn a_found_record_is_the_same_serial_number_and_bytes() {
        let out = OpenedRecords {
            records: vec![OpenedRecord {
                serial: 2,
                seq: 5,
                at: 0,
                len: 3,
                text: (0, 2),
            }],
            bytes: vec![1, 2, 3, 7, 8, 9],
        };
        let opened = out.of(0..1);
        assert_eq!(
            opened.find(2, 5, &[1, 2, 3]),
            Some((&[7u8, 8, 9][..], 0..2))
        );
        assert_eq!(opened.find(1, 5, &[1, 2, 3]), None);
        assert_eq!(opened.find(2, 6, &[1, 2, 3]), None);
        assert_eq!(opened.find(2, 5, &[1, 2, 4]), None);
        assert_eq!(opened.find(2, 5, &[1, 2]), None);
        assert_eq!(out.of(1..1).find(2, 5, &[1, 2, 3]), None);
    }
}
