//! HTTP/2 (RFC 9113) as a protocol layer: both directions' frames, read as they cross
//! segments, into streams (opened, answered, ended, reset), PINGs and their acknowledgements,
//! GOAWAYs, SETTINGS and flow-control stalls. On HTTP/2, keep-alive is streams on one
//! connection: this is what tells how many, for how long, and how the connection ended.
//!
//! Memory per connection: per direction a frame header, the payload of the control frame being
//! read (bounded), the header block being assembled (bounded) and the HPACK table (bounded by
//! what the receiver advertised); per open stream a few words. DATA payloads are counted and
//! skipped, never buffered. A frame that breaks the protocol is counted where it is and reading
//! goes on while its length is usable; a gap in the capture inside a DATA payload is skipped, a
//! gap in a header block loses that direction's HPACK table (later header blocks are not
//! decoded, frames still count), and a gap where a frame header was loses the framing of that
//! direction for good: nothing after it is guessed.

pub(crate) mod frame;
mod hpack;
pub(crate) mod summary;

use compact_str::CompactString;
use smallvec::SmallVec;

use super::layer::{Cx, Layer, Next};
use crate::analyze::event::{EventKind, Side};
use crate::analyze::h2_event::{H2Code, Http2Event};
use frame::{Head, Kind, ACK, END_HEADERS, END_STREAM, HEADER_LEN, PREFACE};

use hpack::Hpack;

/// The client's first bytes begin HTTP/2's preface (prior knowledge): its request line, or
/// its start; what follows is this layer's to check.
pub(crate) fn is_preface(data: &[u8]) -> bool {
    let n = data.len().min(16);
    n >= 4 && data[..n] == PREFACE[..n]
}

/// The largest control frame payload kept (SETTINGS, PING, GOAWAY, ...); a longer one is
/// counted as an error and skipped.
const MAX_CONTROL: usize = 16 * 1024;
/// The largest header block assembled (HEADERS and its CONTINUATIONs); past it the block is
/// dropped and the direction's HPACK table is lost (an endless CONTINUATION stops here).
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// GOAWAY debug data kept, bytes.
const MAX_DEBUG: usize = 128;
/// Streams followed at once; more are counted but not followed.
const MAX_OPEN_STREAMS: usize = 4096;
/// Outstanding PINGs remembered per side; older ones are given up.
const MAX_PINGS: usize = 8;
/// The flow-control window every stream and the connection start with (RFC 9113 §6.9.2).
const DEFAULT_WINDOW: i64 = 65_535;

/// Where one direction's reading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The client's preface, `have` bytes of it seen (the client's direction only).
    Preface { have: u8 },
    /// Collecting a frame header.
    Header,
    /// In a frame's payload, `read` of its bytes seen or skipped.
    Payload { head: Head, read: u32 },
    /// The framing was lost to a gap in the capture or a broken preface.
    Lost,
}

/// A header block being assembled from a HEADERS (or PUSH_PROMISE) and its CONTINUATIONs.
#[derive(Debug, Clone)]
struct Block {
    stream: u32,
    end_stream: bool,
    push: bool,
    bytes: Vec<u8>,
    /// Part of it was not captured, or it grew past the bound: it cannot be decoded.
    broken: bool,
}

/// One direction of the connection.
#[derive(Debug)]
struct Direction {
    state: State,
    header: [u8; HEADER_LEN],
    have: u8,
    /// The payload of the control frame being read.
    payload: Vec<u8>,
    /// Some of that payload was not captured.
    payload_cut: bool,
    block: Option<Block>,
    /// The decoder of this side's header blocks.
    hpack: Hpack,
}

impl Direction {
    fn new(state: State) -> Direction {
        Direction {
            state,
            header: [0; HEADER_LEN],
            have: 0,
            payload: Vec::new(),
            payload_cut: false,
            block: None,
            hpack: Hpack::new(),
        }
    }
}

/// One stream, while open.
#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    /// END_STREAM seen, per side.
    ended: [bool; 2],
    /// Its response head was seen.
    answered: bool,
    grpc_status: Option<u32>,
    /// What each side may still send on it, and whether it is blocked.
    window: [i64; 2],
    stalled: [bool; 2],
}

/// What the decoded headers of a block say.
#[derive(Debug, Default)]
struct Heads {
    method: CompactString,
    path: CompactString,
    status: Option<u16>,
    grpc: bool,
    grpc_status: Option<u32>,
}

/// The open streams, by id. Clients open them in increasing order, so a sorted vector is a
/// push at its end and a binary search, and few are open at once.
#[derive(Debug, Default)]
struct Streams(Vec<(u32, Stream)>);

impl Streams {
    fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        let at = self.0.binary_search_by_key(&id, |(i, _)| *i).ok()?;
        Some(&mut self.0[at].1)
    }

    /// Adds stream `id` (above every open one: the caller checked).
    fn push(&mut self, id: u32, stream: Stream) {
        self.0.push((id, stream));
    }

    fn remove(&mut self, id: u32) {
        if let Ok(at) = self.0.binary_search_by_key(&id, |(i, _)| *i) {
            self.0.remove(at);
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.0.iter_mut().map(|(_, s)| s)
    }
}

/// A side's PINGs awaiting the peer's ACK: (opaque data, sent at).
type Pings = SmallVec<[([u8; 8], u64); 2]>;

/// One HTTP/2 connection, both directions.
#[derive(Debug)]
pub(crate) struct Http2 {
    dirs: [Direction; 2],
    streams: Streams,
    /// The highest stream id the client opened.
    last_client_stream: u32,
    /// What each side may still send on the connection, and whether it is blocked.
    window: [i64; 2],
    stalled: [bool; 2],
    /// The window each side starts a stream with, for what it sends: its peer's
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    initial_window: [i64; 2],
    /// Per side, its PINGs awaiting the peer's ACK: (opaque data, sent at).
    pings: [Pings; 2],
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

fn emit(cx: &mut Cx<'_>, event: Http2Event) {
    cx.emit(EventKind::Http2(event));
}

fn error(cx: &mut Cx<'_>, by: Side, error: &'static str) {
    emit(cx, Http2Event::ProtocolError { by, error });
}

impl Http2 {
    /// A connection whose client starts with the preface (prior knowledge, or after an h2c
    /// upgrade: then stream 1 is the upgraded request, already open).
    pub fn new(cx: &mut Cx<'_>, upgraded: bool) -> Http2 {
        let mut h2 = Http2 {
            dirs: [
                Direction::new(State::Preface { have: 0 }),
                Direction::new(State::Header),
            ],
            streams: Streams::default(),
            last_client_stream: 0,
            window: [DEFAULT_WINDOW; 2],
            stalled: [false; 2],
            initial_window: [DEFAULT_WINDOW; 2],
            pings: [SmallVec::new(), SmallVec::new()],
        };
        if upgraded {
            // The upgrade request was stream 1, its request side already ended (RFC 7540
            // §3.2); it was counted as an HTTP/1.1 request.
            h2.last_client_stream = 1;
            let mut stream = h2.stream_with_windows();
            stream.ended[0] = true;
            h2.streams.push(1, stream);
        }
        emit(cx, Http2Event::Preface { upgraded });
        h2
    }

    fn stream_with_windows(&self) -> Stream {
        Stream {
            window: self.initial_window,
            ..Stream::default()
        }
    }

    /// A frame header is whole: checks it and starts its payload.
    fn start_frame(&mut self, cx: &mut Cx<'_>, side: Side, head: Head) {
        let dir = &mut self.dirs[idx(side)];
        dir.have = 0;
        dir.payload.clear();
        dir.payload_cut = false;
        // A header block must go on with CONTINUATIONs of its stream and nothing else.
        let continuing = dir.block.as_ref().map(|b| b.stream);
        match (continuing, head.kind) {
            (Some(s), Kind::Continuation) if s == head.stream => {}
            (Some(_), _) => {
                dir.block = None;
                error(cx, side, "a header block interrupted by another frame");
                self.hpack_lost(cx, side);
            }
            (None, Kind::Continuation) => error(cx, side, "CONTINUATION without a header block"),
            (None, _) => {}
        }
        if is_block(head.kind) && head.len as usize > MAX_HEADER_BLOCK {
            error(cx, side, "header block over 64 KiB");
        } else if head.keeps_payload() && head.len as usize > MAX_CONTROL && !is_block(head.kind) {
            error(cx, side, "control frame over 16 KiB (skipped)");
        }
        self.dirs[idx(side)].state = State::Payload { head, read: 0 };
        if head.len == 0 {
            self.end_frame(cx, side, head);
        }
    }

    /// A frame's payload is complete in the direction's buffer (or given up to a gap).
    fn end_frame(&mut self, cx: &mut Cx<'_>, side: Side, head: Head) {
        let i = idx(side);
        let payload = std::mem::take(&mut self.dirs[i].payload);
        let cut = self.dirs[i].payload_cut;
        self.frame(cx, side, head, &payload, cut);
        let dir = &mut self.dirs[i];
        if dir.payload.capacity() == 0 {
            // Keep the buffer for the next frame.
            dir.payload = payload;
            dir.payload.clear();
        }
    }

    /// A whole frame: its header and its payload (`cut` when part of it was not captured).
    fn frame(&mut self, cx: &mut Cx<'_>, side: Side, head: Head, payload: &[u8], cut: bool) {
        self.dirs[idx(side)].state = State::Header;
        match head.kind {
            Kind::Data => self.data_frame(cx, side, head),
            Kind::Headers | Kind::PushPromise => self.start_block(cx, side, head, payload, cut),
            Kind::Continuation => self.continue_block(cx, side, head, payload, cut),
            Kind::RstStream => match frame::u32_at(payload, 0).filter(|_| head.len == 4) {
                Some(code) => {
                    emit(
                        cx,
                        Http2Event::Reset {
                            by: side,
                            stream: head.stream,
                            code: H2Code(code),
                        },
                    );
                    self.streams.remove(head.stream);
                }
                None if cut => {}
                None => error(cx, side, "RST_STREAM not 4 bytes long"),
            },
            Kind::Settings => self.settings(cx, side, head, payload, cut),
            Kind::Ping => self.ping(cx, side, head, payload, cut),
            Kind::GoAway => match (frame::u32_at(payload, 0), frame::u32_at(payload, 4)) {
                (Some(last), Some(code)) => {
                    let debug = &payload[8..payload.len().min(8 + MAX_DEBUG)];
                    emit(
                        cx,
                        Http2Event::GoAway {
                            by: side,
                            last_stream: last & 0x7fff_ffff,
                            code: H2Code(code),
                            debug: CompactString::from_utf8_lossy(debug),
                        },
                    );
                }
                _ if cut => {}
                _ => error(cx, side, "GOAWAY shorter than 8 bytes"),
            },
            Kind::WindowUpdate => match frame::u32_at(payload, 0) {
                Some(n) if head.len == 4 => self.window_update(cx, side, head.stream, n),
                _ if cut => {}
                _ => error(cx, side, "WINDOW_UPDATE not 4 bytes long"),
            },
            Kind::Priority | Kind::Unknown => {}
        }
    }

    /// A DATA frame's header and length: flow control and END_STREAM. A window used up is a
    /// stall only when the sender may have more to send: not by the frame that ends the only
    /// stream (a body that exactly fills its window waits for nothing).
    fn data_frame(&mut self, cx: &mut Cx<'_>, side: Side, head: Head) {
        let i = idx(side);
        let len = i64::from(head.len);
        let last = head.has(END_STREAM);
        self.window[i] -= len;
        let others = self.streams.len() > 1;
        if self.window[i] <= 0 && !self.stalled[i] && (!last || others) {
            self.stalled[i] = true;
            emit(
                cx,
                Http2Event::WindowStall {
                    by: side,
                    stream: 0,
                },
            );
        }
        if head.stream == 0 {
            return error(cx, side, "DATA on stream 0");
        }
        if let Some(stream) = self.streams.get_mut(head.stream) {
            stream.window[i] -= len;
            if stream.window[i] <= 0 && !stream.stalled[i] && len > 0 && !last {
                stream.stalled[i] = true;
                emit(
                    cx,
                    Http2Event::WindowStall {
                        by: side,
                        stream: head.stream,
                    },
                );
            }
        }
        if head.has(END_STREAM) {
            self.end_stream(cx, side, head.stream);
        }
    }

    /// `side` ended `stream` (END_STREAM): once both have, the stream is over.
    fn end_stream(&mut self, cx: &mut Cx<'_>, side: Side, id: u32) {
        let Some(stream) = self.streams.get_mut(id) else {
            return;
        };
        stream.ended[idx(side)] = true;
        if stream.ended == [true, true] {
            let grpc_status = stream.grpc_status;
            self.streams.remove(id);
            emit(
                cx,
                Http2Event::StreamEnd {
                    stream: id,
                    grpc_status,
                },
            );
        }
    }

    fn start_block(&mut self, cx: &mut Cx<'_>, side: Side, head: Head, payload: &[u8], cut: bool) {
        if head.stream == 0 {
            return error(cx, side, "HEADERS on stream 0");
        }
        let fragment = frame::fragment(&head, payload);
        if fragment.is_none() && !cut {
            error(cx, side, "padding longer than the frame");
        }
        let end_stream = head.kind == Kind::Headers && head.has(END_STREAM);
        let push = head.kind == Kind::PushPromise;
        let whole = fragment.filter(|_| !cut);
        if head.has(END_HEADERS) {
            // The usual block, in one frame: decoded from the frame itself.
            return self.header_block(cx, side, (head.stream, end_stream, push), whole);
        }
        self.dirs[idx(side)].block = Some(Block {
            stream: head.stream,
            end_stream,
            push,
            bytes: whole.unwrap_or_default().to_vec(),
            broken: whole.is_none(),
        });
    }

    fn continue_block(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        head: Head,
        payload: &[u8],
        cut: bool,
    ) {
        let Some(block) = self.dirs[idx(side)].block.as_mut() else {
            return; // reported at its header
        };
        block.broken |= cut;
        if block.bytes.len() + payload.len() > MAX_HEADER_BLOCK {
            if !block.broken {
                error(cx, side, "header block over 64 KiB");
            }
            block.broken = true;
            block.bytes = Vec::new();
        } else if !block.broken {
            block.bytes.extend_from_slice(payload);
        }
        if head.has(END_HEADERS) {
            self.end_block(cx, side);
        }
    }

    /// A header block assembled from CONTINUATIONs is whole.
    fn end_block(&mut self, cx: &mut Cx<'_>, side: Side) {
        let Some(block) = self.dirs[idx(side)].block.take() else {
            return;
        };
        let bytes = (!block.broken).then_some(block.bytes.as_slice());
        self.header_block(
            cx,
            side,
            (block.stream, block.end_stream, block.push),
            bytes,
        );
    }

    /// A whole header block of `(stream, END_STREAM, a PUSH_PROMISE's)`: decoded (keeping
    /// the HPACK table in step; None when it was not wholly captured), then what it says.
    fn header_block(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        (stream, end_stream, push): (u32, bool, bool),
        bytes: Option<&[u8]>,
    ) {
        let i = idx(side);
        let mut heads = Heads::default();
        match bytes {
            None => self.hpack_lost(cx, side),
            // Not decodable any more; the frames still count.
            Some(_) if self.dirs[i].hpack.is_lost() => {}
            Some(bytes) => {
                let decoded = self.dirs[i]
                    .hpack
                    .decode(bytes, |name, value| heads.take(name, value));
                if decoded.is_err() {
                    error(cx, side, "header block HPACK cannot decode");
                    self.hpack_lost(cx, side);
                }
            }
        }
        if push {
            return; // a pushed request: kept only to keep the HPACK table in step
        }
        match side {
            Side::Client => self.request_headers(cx, stream, end_stream, heads),
            Side::Server => self.response_headers(cx, stream, end_stream, heads),
        }
    }

    fn request_headers(&mut self, cx: &mut Cx<'_>, id: u32, end_stream: bool, heads: Heads) {
        if id.is_multiple_of(2) {
            return error(cx, Side::Client, "client stream with an even id");
        }
        if self.streams.get_mut(id).is_some() {
            // Trailers of a request.
            if end_stream {
                self.end_stream(cx, Side::Client, id);
            }
            return;
        }
        if id <= self.last_client_stream {
            return error(cx, Side::Client, "stream id not above the previous one");
        }
        self.last_client_stream = id;
        if self.streams.len() >= MAX_OPEN_STREAMS {
            return error(cx, Side::Client, "over 4096 open streams (not followed)");
        }
        let stream = self.stream_with_windows();
        self.streams.push(id, stream);
        emit(
            cx,
            Http2Event::StreamOpen {
                stream: id,
                method: heads.method,
                path: heads.path,
                grpc: heads.grpc,
                concurrent: self.streams.len() as u32,
            },
        );
        if end_stream {
            self.end_stream(cx, Side::Client, id);
        }
    }

    fn response_headers(&mut self, cx: &mut Cx<'_>, id: u32, end_stream: bool, heads: Heads) {
        let Some(stream) = self.streams.get_mut(id) else {
            if id % 2 == 1 && id > self.last_client_stream {
                error(
                    cx,
                    Side::Server,
                    "response on a stream the client never opened",
                );
            }
            return;
        };
        if let Some(status) = heads.status.filter(|s| !(100..200).contains(s)) {
            if !stream.answered {
                stream.answered = true;
                emit(cx, Http2Event::Response { stream: id, status });
            }
        }
        if heads.grpc_status.is_some() {
            stream.grpc_status = heads.grpc_status;
        }
        if end_stream {
            self.end_stream(cx, Side::Server, id);
        }
    }

    fn hpack_lost(&mut self, cx: &mut Cx<'_>, side: Side) {
        let hpack = &mut self.dirs[idx(side)].hpack;
        if !hpack.is_lost() {
            hpack.lose();
            emit(cx, Http2Event::HpackLost { by: side });
        }
    }

    fn settings(&mut self, cx: &mut Cx<'_>, side: Side, head: Head, payload: &[u8], cut: bool) {
        if head.has(ACK) {
            if head.len != 0 {
                error(cx, side, "SETTINGS acknowledgement with a payload");
            }
            return;
        }
        if head.stream != 0 {
            error(cx, side, "SETTINGS on a stream");
        }
        if !head.len.is_multiple_of(6) && !cut {
            error(cx, side, "SETTINGS length not a multiple of 6");
        }
        let (mut max_streams, mut initial) = (None, None);
        for (id, value) in frame::settings(payload) {
            match id {
                frame::SETTINGS_HEADER_TABLE_SIZE => {
                    // What the sender decodes: the bound of its peer's table.
                    self.dirs[idx(side.peer())].hpack.allow(value);
                }
                frame::SETTINGS_MAX_CONCURRENT_STREAMS => max_streams = Some(value),
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    if value > 0x7fff_ffff {
                        error(cx, side, "initial window size over 2^31-1");
                        continue;
                    }
                    // The window the peer starts its streams with; open streams change by the
                    // difference (RFC 9113 §6.9.2).
                    let peer = idx(side.peer());
                    let delta = i64::from(value) - self.initial_window[peer];
                    self.initial_window[peer] = i64::from(value);
                    for s in self.streams.values_mut() {
                        s.window[peer] += delta;
                    }
                    initial = Some(value);
                }
                _ => {}
            }
        }
        emit(
            cx,
            Http2Event::Settings {
                by: side,
                max_concurrent_streams: max_streams,
                initial_window_size: initial,
            },
        );
    }

    fn ping(&mut self, cx: &mut Cx<'_>, side: Side, head: Head, payload: &[u8], cut: bool) {
        let data: Option<[u8; 8]> = payload.try_into().ok();
        if (head.len != 8 || head.stream != 0) && !cut {
            error(cx, side, "PING not 8 bytes long on stream 0");
        }
        if head.has(ACK) {
            let pings = &mut self.pings[idx(side.peer())];
            let matched = data.and_then(|d| pings.iter().position(|(o, _)| *o == d));
            let rtt_ns = matched.map(|at| {
                let sent = pings[at].1;
                pings.drain(..=at);
                cx.t_ns.saturating_sub(sent)
            });
            emit(cx, Http2Event::PingAck { by: side, rtt_ns });
        } else {
            let pings = &mut self.pings[idx(side)];
            if pings.len() == MAX_PINGS {
                pings.remove(0);
            }
            pings.push((data.unwrap_or_default(), cx.t_ns));
            emit(cx, Http2Event::Ping { by: side });
        }
    }

    /// `side` gives its peer `n` more bytes on `stream` (0: the connection).
    fn window_update(&mut self, cx: &mut Cx<'_>, side: Side, stream: u32, n: u32) {
        if n == 0 {
            return error(cx, side, "WINDOW_UPDATE of 0");
        }
        let peer = idx(side.peer());
        let (window, stalled) = match stream {
            0 => (&mut self.window[peer], &mut self.stalled[peer]),
            id => match self.streams.get_mut(id) {
                Some(s) => (&mut s.window[peer], &mut s.stalled[peer]),
                None => return,
            },
        };
        *window += i64::from(n & 0x7fff_ffff);
        if *window > 0 {
            *stalled = false;
        }
    }

    /// Reads payload bytes of the current frame; returns how many it used.
    fn payload(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        head: Head,
        read: u32,
        data: &[u8],
    ) -> usize {
        let left = (head.len - read) as usize;
        let take = data.len().min(left);
        let dir = &mut self.dirs[idx(side)];
        if head.keeps_payload() && head.len as usize <= payload_limit(head.kind) {
            dir.payload.extend_from_slice(&data[..take]);
        } else if head.keeps_payload() {
            dir.payload_cut = true;
        }
        let read = read + take as u32;
        if read == head.len {
            self.end_frame(cx, side, head);
        } else {
            dir.state = State::Payload { head, read };
        }
        take
    }
}

/// The most payload kept of a frame of `kind` (its frame is read, past it, as cut).
fn payload_limit(kind: Kind) -> usize {
    if is_block(kind) {
        MAX_HEADER_BLOCK
    } else {
        MAX_CONTROL
    }
}

fn is_block(kind: Kind) -> bool {
    matches!(kind, Kind::Headers | Kind::PushPromise | Kind::Continuation)
}

impl Heads {
    fn take(&mut self, name: &[u8], value: &[u8]) {
        let text = || match std::str::from_utf8(value) {
            Ok(s) => CompactString::new(s),
            Err(_) => CompactString::from_utf8_lossy(value),
        };
        match name {
            b":method" => self.method = text(),
            b":path" => self.path = text(),
            b":status" => {
                self.status = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            b"content-type" => self.grpc = value.starts_with(b"application/grpc"),
            b"grpc-status" => {
                self.grpc_status = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            _ => {}
        }
    }
}

impl Layer for Http2 {
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, mut data: &[u8]) -> Next {
        while !data.is_empty() {
            let dir = &mut self.dirs[idx(side)];
            match dir.state {
                State::Lost => break,
                State::Preface { have } => {
                    let at = usize::from(have);
                    let take = (PREFACE.len() - at).min(data.len());
                    if data[..take] != PREFACE[at..at + take] {
                        dir.state = State::Lost;
                        error(cx, side, "not the HTTP/2 connection preface");
                        emit(cx, Http2Event::LostSync { by: side });
                        break;
                    }
                    dir.state = match at + take {
                        n if n == PREFACE.len() => State::Header,
                        n => State::Preface { have: n as u8 },
                    };
                    data = &data[take..];
                }
                State::Payload { head, read: 0 } if data.len() >= head.len as usize => {
                    // The whole payload is in this piece: read it where it is (past the
                    // bound kept for its kind, as a payload not kept).
                    let (payload, rest) = data.split_at(head.len as usize);
                    let kept = head.len as usize <= payload_limit(head.kind);
                    let payload = if kept { payload } else { &[][..] };
                    self.frame(cx, side, head, payload, !kept);
                    data = rest;
                }
                State::Payload { head, read } => {
                    let used = self.payload(cx, side, head, read, data);
                    data = &data[used..];
                }
                State::Header if dir.have == 0 && data.len() >= HEADER_LEN => {
                    let (header, rest) = data
                        .split_first_chunk::<HEADER_LEN>()
                        .unwrap_or((&[0; HEADER_LEN], &[]));
                    data = rest;
                    self.start_frame(cx, side, Head::parse(header));
                }
                State::Header => {
                    let have = usize::from(dir.have);
                    let take = (HEADER_LEN - have).min(data.len());
                    dir.header[have..have + take].copy_from_slice(&data[..take]);
                    dir.have += take as u8;
                    data = &data[take..];
                    if usize::from(dir.have) == HEADER_LEN {
                        let head = Head::parse(&dir.header);
                        self.start_frame(cx, side, head);
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
            State::Payload { head, read } if len <= u64::from(head.len - read) => {
                if head.keeps_payload() {
                    dir.payload_cut = true;
                }
                let read = read + len as u32;
                if read == head.len {
                    self.end_frame(cx, side, head);
                } else {
                    dir.state = State::Payload { head, read };
                }
            }
            _ => {
                // The next frame header was in the bytes the capture does not hold.
                dir.state = State::Lost;
                if dir.block.take().is_some() {
                    self.hpack_lost(cx, side);
                }
                emit(cx, Http2Event::LostSync { by: side });
            }
        }
    }
}

#[cfg(test)]
mod tests;
