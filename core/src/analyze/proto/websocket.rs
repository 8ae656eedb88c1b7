//! WebSocket (RFC 6455) as a protocol layer: the frames of both directions after an accepted
//! upgrade, read as they cross segments, into messages, pings, pongs and close frames.
//!
//! Memory per connection: one partial frame header per direction, the payload of the control
//! frame being read (at most 125 bytes), and a few outstanding pings. Data payloads are counted
//! and skipped, never buffered. A frame that breaks the protocol is counted with its frame
//! number and reading goes on while its length is still usable; a gap in the capture (a snap
//! length, a missed segment) inside a payload is counted, and a gap where a header was loses
//! the framing of that direction for good: nothing after it is guessed.

use compact_str::CompactString;
use smallvec::SmallVec;

use super::layer::{Cx, Layer, Next};
use crate::analyze::event::{EventKind, Side};

/// The longest control frame payload (RFC 6455 5.5).
const MAX_CONTROL: usize = 125;
/// Outstanding pings remembered per side; older ones are given up as unanswered.
const MAX_PINGS: usize = 16;
/// A payload length above this is absurd (the framing is taken as lost): 1 TiB.
const MAX_PAYLOAD: u64 = 1 << 40;

/// A frame's opcode (RFC 6455 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    Reserved(u8),
}

impl Opcode {
    fn of(bits: u8) -> Opcode {
        match bits {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            other => Opcode::Reserved(other),
        }
    }

    fn control(self) -> bool {
        match self {
            Opcode::Close | Opcode::Ping | Opcode::Pong => true,
            Opcode::Reserved(bits) => bits & 8 != 0,
            _ => false,
        }
    }
}

/// A frame whose header has been read.
#[derive(Debug, Clone, Copy)]
struct Frame {
    opcode: Opcode,
    fin: bool,
    mask: Option<[u8; 4]>,
    len: u64,
}

/// Where one direction's reading stands.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Collecting a frame header.
    Header,
    /// In a frame's payload, `read` of its bytes seen or skipped.
    Payload { frame: Frame, read: u64 },
    /// The framing was lost to a gap in the capture or an unusable length.
    Lost,
}

/// A data message being assembled from its frames.
#[derive(Debug, Clone, Copy)]
struct Message {
    text: bool,
    bytes: u64,
    frames: u32,
    /// Payload bytes the capture did not hold.
    cut: u64,
}

/// One direction of the connection.
#[derive(Debug, Clone)]
struct Direction {
    state: State,
    header: [u8; 14],
    have: u8,
    message: Option<Message>,
    /// The control frame payload being read, unmasked.
    control: [u8; MAX_CONTROL],
    control_len: u8,
    /// Some of that payload was not captured.
    control_cut: bool,
    /// A close frame was sent.
    closed: bool,
}

impl Default for Direction {
    fn default() -> Self {
        Direction {
            state: State::Header,
            header: [0; 14],
            have: 0,
            message: None,
            control: [0; MAX_CONTROL],
            control_len: 0,
            control_cut: false,
            closed: false,
        }
    }
}

/// One WebSocket connection, both directions.
#[derive(Debug, Clone)]
pub(crate) struct WebSocket {
    /// `permessage-deflate` was agreed: RSV1 marks compressed messages.
    deflate: bool,
    dirs: [Direction; 2],
    /// Per side, its pings awaiting the peer's pong: (payload hash, sent at).
    pings: [SmallVec<[(u64, u64); 2]>; 2],
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// Header bytes needed once the first two are known.
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// FNV-1a of a control payload, to match a pong to its ping.
fn hash(payload: &[u8]) -> u64 {
    payload.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl WebSocket {
    /// A connection just upgraded; `deflate` when `permessage-deflate` was agreed.
    pub fn new(deflate: bool) -> WebSocket {
        WebSocket {
            deflate,
            dirs: [Direction::default(), Direction::default()],
            pings: [SmallVec::new(), SmallVec::new()],
        }
    }

    fn error(cx: &mut Cx<'_>, by: Side, error: &'static str) {
        cx.emit(EventKind::WsProtocolError { by, error });
    }

    /// The header in `dir.header` is whole: checks it and starts its payload.
    fn start_frame(&mut self, cx: &mut Cx<'_>, side: Side) {
        let deflate = self.deflate;
        let dir = &mut self.dirs[idx(side)];
        let h = &dir.header;
        let (b0, b1) = (h[0], h[1]);
        let (len, at) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => (
                u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
                10,
            ),
            short => (u64::from(short), 2),
        };
        let mask = (b1 & 0x80 != 0).then(|| [h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let frame = Frame {
            opcode: Opcode::of(b0 & 0x0f),
            fin: b0 & 0x80 != 0,
            mask,
            len,
        };
        dir.have = 0;
        if len > MAX_PAYLOAD {
            dir.state = State::Lost;
            Self::error(cx, side, "absurd payload length");
            cx.emit(EventKind::WsLostSync { by: side });
            return;
        }
        let minimal = match b1 & 0x7f {
            126 => len >= 126,
            127 => len > 0xffff,
            _ => true,
        };
        let mut errors: SmallVec<[&'static str; 2]> = SmallVec::new();
        if !minimal {
            errors.push("payload length not in its shortest form");
        }
        let rsv = b0 & 0x70;
        let rsv1_allowed = deflate && matches!(frame.opcode, Opcode::Text | Opcode::Binary);
        if rsv & 0x30 != 0 || (rsv & 0x40 != 0 && !rsv1_allowed) {
            errors.push("reserved bits set");
        }
        match (side, mask.is_some()) {
            (Side::Client, false) => errors.push("unmasked client frame"),
            (Side::Server, true) => errors.push("masked server frame"),
            _ => {}
        }
        if dir.closed {
            errors.push("frame after a close frame");
        }
        match frame.opcode {
            Opcode::Reserved(_) => errors.push("reserved opcode"),
            op if op.control() => {
                if len > MAX_CONTROL as u64 {
                    errors.push("control frame over 125 bytes");
                }
                if !frame.fin {
                    errors.push("fragmented control frame");
                }
            }
            Opcode::Continuation => {
                if dir.message.is_none() {
                    errors.push("continuation without a message");
                }
            }
            _ => {
                if dir.message.is_some() {
                    errors.push("new message inside a fragmented one");
                }
            }
        }
        if let Opcode::Text | Opcode::Binary = frame.opcode {
            dir.message = Some(Message {
                text: frame.opcode == Opcode::Text,
                bytes: 0,
                frames: 0,
                cut: 0,
            });
        }
        dir.control_len = 0;
        dir.control_cut = false;
        dir.state = State::Payload { frame, read: 0 };
        for e in errors {
            Self::error(cx, side, e);
        }
        if len == 0 {
            self.end_frame(cx, side, frame);
        }
    }

    /// A frame's payload is complete (or given up to a gap).
    fn end_frame(&mut self, cx: &mut Cx<'_>, side: Side, frame: Frame) {
        let i = idx(side);
        let dir = &mut self.dirs[i];
        dir.state = State::Header;
        match frame.opcode {
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                let Some(m) = dir.message.as_mut() else {
                    return;
                };
                m.bytes += frame.len;
                m.frames += 1;
                if frame.fin {
                    let m = *m;
                    dir.message = None;
                    cx.emit(EventKind::WsMessage {
                        by: side,
                        text: m.text,
                        bytes: m.bytes,
                        frames: m.frames,
                        cut: m.cut,
                    });
                }
            }
            Opcode::Ping => {
                let payload = &dir.control[..usize::from(dir.control_len)];
                let key = if dir.control_cut { 0 } else { hash(payload) };
                let pings = &mut self.pings[i];
                if pings.len() == MAX_PINGS {
                    pings.remove(0);
                }
                pings.push((key, cx.t_ns));
                cx.emit(EventKind::WsPing {
                    by: side,
                    bytes: frame.len,
                });
            }
            Opcode::Pong => {
                let key = hash(&dir.control[..usize::from(dir.control_len)]);
                let pings = &mut self.pings[idx(side.peer())];
                // The ping with the same payload; else the oldest waiting one (an endpoint may
                // answer only the latest of several pings: the older ones are answered too).
                let matched = pings
                    .iter()
                    .position(|(k, _)| *k == key && !dir.control_cut)
                    .or_else(|| (!pings.is_empty()).then_some(0));
                let rtt_ns = matched.map(|at| {
                    let sent = pings[at].1;
                    pings.drain(..=at);
                    cx.t_ns.saturating_sub(sent)
                });
                let answers = matched.map_or(0, |at| at as u32 + 1);
                cx.emit(EventKind::WsPong {
                    by: side,
                    rtt_ns,
                    answers,
                });
            }
            Opcode::Close => {
                dir.closed = true;
                let payload = &dir.control[..usize::from(dir.control_len)];
                let code = (payload.len() >= 2 && !dir.control_cut)
                    .then(|| u16::from_be_bytes([payload[0], payload[1]]));
                let reason = CompactString::from_utf8_lossy(payload.get(2..).unwrap_or(&[]));
                let bad_length = frame.len == 1;
                cx.emit(EventKind::WsClose {
                    by: side,
                    code,
                    reason,
                });
                if bad_length {
                    Self::error(cx, side, "close frame with a 1-byte payload");
                }
            }
            Opcode::Reserved(_) => {}
        }
    }

    /// Reads payload bytes of the current frame; returns how many it used.
    fn payload(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        frame: Frame,
        read: u64,
        data: &[u8],
    ) -> usize {
        let left = frame.len - read;
        let take = (data.len() as u64).min(left) as usize;
        let dir = &mut self.dirs[idx(side)];
        if frame.opcode.control() {
            for (k, &b) in data[..take].iter().enumerate() {
                let at = read as usize + k;
                if at >= MAX_CONTROL {
                    break;
                }
                let key = frame.mask.map_or(0, |m| m[at % 4]);
                dir.control[at] = b ^ key;
                dir.control_len = (at + 1) as u8;
            }
        }
        let read = read + take as u64;
        if read == frame.len {
            self.end_frame(cx, side, frame);
        } else {
            dir.state = State::Payload { frame, read };
        }
        take
    }
}

impl Layer for WebSocket {
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, mut data: &[u8]) -> Next {
        while !data.is_empty() {
            let dir = &mut self.dirs[idx(side)];
            match dir.state {
                State::Lost => break,
                State::Payload { frame, read } => {
                    let used = self.payload(cx, side, frame, read, data);
                    data = &data[used..];
                }
                State::Header => {
                    let need = if dir.have < 2 {
                        2
                    } else {
                        header_len(dir.header[1])
                    };
                    let take = (need - usize::from(dir.have)).min(data.len());
                    let have = usize::from(dir.have);
                    dir.header[have..have + take].copy_from_slice(&data[..take]);
                    dir.have += take as u8;
                    data = &data[take..];
                    let have = usize::from(dir.have);
                    if have >= 2 && have == header_len(dir.header[1]) {
                        self.start_frame(cx, side);
                    }
                }
            }
        }
        Next::Same
    }

    fn gap(&mut self, cx: &mut Cx<'_>, side: Side, len: u64) {
        let dir = &mut self.dirs[idx(side)];
        match dir.state {
            State::Lost => {}
            State::Payload { frame, read } if len <= frame.len - read => {
                if frame.opcode.control() {
                    dir.control_cut = true;
                }
                if let Some(m) = dir.message.as_mut() {
                    m.cut += len;
                }
                let read = read + len;
                if read == frame.len {
                    self.end_frame(cx, side, frame);
                } else {
                    dir.state = State::Payload { frame, read };
                }
            }
            _ => {
                // The next header was in the bytes the capture does not hold.
                dir.state = State::Lost;
                cx.emit(EventKind::WsLostSync { by: side });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::event::Event;
    use crate::analyze::proto::Secrets;

    /// A frame as a client (masked with `key`) or server (unmasked) would send it.
    pub(crate) fn frame(fin: bool, opcode: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![u8::from(fin) << 7 | opcode];
        let mask_bit = if key.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n <= 0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match key {
            Some(k) => {
                out.extend_from_slice(&k);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

    struct Run {
        ws: WebSocket,
        out: Vec<Event>,
    }

    impl Run {
        fn new() -> Run {
            Run {
                ws: WebSocket::new(false),
                out: Vec::new(),
            }
        }

        fn feed(&mut self, t_ms: u64, side: Side, data: &[u8]) {
            let addr = "10.0.0.1:1".parse().expect("addr");
            let mut cx = Cx::new(
                t_ms * 1_000_000,
                (1, addr, addr),
                Secrets::default(),
                &mut self.out,
            );
            self.ws.data(&mut cx, side, data);
        }

        fn gap(&mut self, side: Side, len: u64) {
            let addr = "10.0.0.1:1".parse().expect("addr");
            let mut cx = Cx::new(0, (1, addr, addr), Secrets::default(), &mut self.out);
            self.ws.gap(&mut cx, side, len);
        }

        fn kinds(&self) -> Vec<EventKind> {
            self.out.iter().map(|e| e.kind.clone()).collect()
        }
    }

    fn message(by: Side, text: bool, bytes: u64, frames: u32) -> EventKind {
        EventKind::WsMessage {
            by,
            text,
            bytes,
            frames,
            cut: 0,
        }
    }

    #[test]
    fn messages_in_both_directions_and_several_frames_per_segment() {
        let mut r = Run::new();
        let two = [
            frame(true, 1, b"hello", KEY),
            frame(true, 2, &[0; 300], KEY),
        ]
        .concat();
        r.feed(1, Side::Client, &two);
        r.feed(2, Side::Server, &frame(true, 1, b"hello", None));
        assert_eq!(
            r.kinds(),
            [
                message(Side::Client, true, 5, 1),
                message(Side::Client, false, 300, 1),
                message(Side::Server, true, 5, 1),
            ]
        );
    }

    #[test]
    fn a_frame_split_byte_by_byte_across_segments_is_one_message() {
        let mut r = Run::new();
        let big = frame(true, 2, &vec![7; 70_000], KEY);
        for b in big.chunks(1) {
            r.feed(1, Side::Client, b);
        }
        assert_eq!(r.kinds(), [message(Side::Client, false, 70_000, 1)]);
    }

    #[test]
    fn a_fragmented_message_with_a_ping_between_its_fragments_is_one_message() {
        let mut r = Run::new();
        let data = [
            frame(false, 1, b"hel", KEY),
            frame(true, 9, b"p1", KEY),
            frame(false, 0, b"l", KEY),
            frame(true, 0, b"o", KEY),
        ]
        .concat();
        r.feed(1, Side::Client, &data);
        r.feed(5, Side::Server, &frame(true, 10, b"p1", None));
        assert_eq!(
            r.kinds(),
            [
                EventKind::WsPing {
                    by: Side::Client,
                    bytes: 2
                },
                message(Side::Client, true, 5, 3),
                EventKind::WsPong {
                    by: Side::Server,
                    rtt_ns: Some(4_000_000),
                    answers: 1,
                },
            ]
        );
    }

    #[test]
    fn pongs_match_their_ping_by_payload_else_by_order() {
        let mut r = Run::new();
        r.feed(0, Side::Server, &frame(true, 9, b"a", None));
        r.feed(10, Side::Server, &frame(true, 9, b"b", None));
        // The answer to "b" answers "a" too (RFC 6455 5.5.3).
        r.feed(12, Side::Client, &frame(true, 10, b"b", KEY));
        // An unsolicited pong (a heartbeat) answers nothing.
        r.feed(20, Side::Client, &frame(true, 10, b"x", KEY));
        r.feed(30, Side::Server, &frame(true, 9, b"c", None));
        r.feed(35, Side::Client, &frame(true, 10, b"other", KEY));
        let rtts: Vec<(Option<u64>, u32)> = r
            .kinds()
            .into_iter()
            .filter_map(|k| match k {
                EventKind::WsPong {
                    rtt_ns, answers, ..
                } => Some((rtt_ns.map(|ns| ns / 1_000_000), answers)),
                _ => None,
            })
            .collect();
        // Three pings, all answered: none is left unanswered in the summary.
        assert_eq!(rtts, [(Some(2), 2), (None, 0), (Some(5), 1)]);
    }

    #[test]
    fn close_frames_give_code_and_reason() {
        let mut r = Run::new();
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        r.feed(1, Side::Client, &frame(true, 8, &payload, KEY));
        r.feed(
            2,
            Side::Server,
            &frame(true, 8, &1000u16.to_be_bytes(), None),
        );
        r.feed(3, Side::Server, &frame(true, 8, b"", None));
        let closes: Vec<(Option<u16>, String)> = r
            .kinds()
            .into_iter()
            .filter_map(|k| match k {
                EventKind::WsClose { code, reason, .. } => Some((code, reason.to_string())),
                _ => None,
            })
            .collect();
        assert_eq!(
            closes,
            [
                (Some(1000), "bye".to_owned()),
                (Some(1000), String::new()),
                (None, String::new())
            ]
        );
        // The third one came after the server's own close frame.
        assert!(r.kinds().contains(&EventKind::WsProtocolError {
            by: Side::Server,
            error: "frame after a close frame"
        }));
    }

    #[test]
    fn bad_frames_are_counted_and_reading_goes_on() {
        let mut r = Run::new();
        let data = [
            frame(true, 3, b"x", KEY),
            frame(true, 9, &[0; 126], KEY),
            frame(true, 1, b"plain", None),
            frame(true, 0, b"orphan", KEY),
            frame(false, 9, b"", KEY),
            frame(true, 1, b"fine", KEY),
        ]
        .concat();
        r.feed(1, Side::Client, &data);
        let errors: Vec<&str> = r
            .kinds()
            .into_iter()
            .filter_map(|k| match k {
                EventKind::WsProtocolError { error, .. } => Some(error),
                _ => None,
            })
            .collect();
        assert_eq!(
            errors,
            [
                "reserved opcode",
                "control frame over 125 bytes",
                "unmasked client frame",
                "continuation without a message",
                "fragmented control frame",
            ]
        );
        assert_eq!(r.kinds().last(), Some(&message(Side::Client, true, 4, 1)));
        let mut s = Run::new();
        s.feed(1, Side::Server, &frame(true, 1, b"x", KEY));
        assert!(s.kinds().contains(&EventKind::WsProtocolError {
            by: Side::Server,
            error: "masked server frame"
        }));
    }

    #[test]
    fn an_absurd_length_loses_the_framing_without_a_panic() {
        let mut r = Run::new();
        let mut bad = vec![0x82, 127];
        bad.extend_from_slice(&u64::MAX.to_be_bytes());
        r.feed(1, Side::Server, &bad);
        r.feed(2, Side::Server, &frame(true, 1, b"never read", None));
        assert_eq!(
            r.kinds(),
            [
                EventKind::WsProtocolError {
                    by: Side::Server,
                    error: "absurd payload length"
                },
                EventKind::WsLostSync { by: Side::Server }
            ]
        );
    }

    #[test]
    fn a_gap_inside_a_payload_is_counted_and_one_over_a_header_loses_the_framing() {
        let mut r = Run::new();
        let f = frame(true, 2, &[1; 1000], None);
        r.feed(1, Side::Server, &f[..100]);
        r.gap(Side::Server, (f.len() - 100) as u64);
        r.feed(2, Side::Server, &frame(true, 1, b"next", None));
        assert_eq!(
            r.kinds(),
            [
                EventKind::WsMessage {
                    by: Side::Server,
                    text: false,
                    bytes: 1000,
                    frames: 1,
                    cut: 904
                },
                message(Side::Server, true, 4, 1),
            ]
        );
        r.gap(Side::Server, 3);
        r.feed(3, Side::Server, &frame(true, 1, b"lost", None));
        assert_eq!(
            r.kinds().last(),
            Some(&EventKind::WsLostSync { by: Side::Server })
        );
    }

    #[test]
    fn any_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2_000 {
            let mut r = Run::new();
            for _ in 0..(next() % 20) {
                let side = if next() % 2 == 0 {
                    Side::Client
                } else {
                    Side::Server
                };
                if next() % 5 == 0 {
                    r.gap(side, next() % 300);
                    continue;
                }
                let data: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
                r.feed(1, side, &data);
            }
        }
    }
}
