//! TLS (1.2 and 1.3) as a protocol layer between the byte stream and the protocol it carries.
//!
//! Without keys it reads the record layer and the cleartext handshake: version, SNI, ALPN, a
//! full handshake or a resumption, the handshake's duration, alerts where they are visible.
//! With the connection's keys (a key log, a capture's Decryption Secrets Block) it decrypts
//! every record and hands the plaintext to an inner reader (a [`Stream`], the registry's
//! protocols): HTTP/1.1, HTTP/2 or WebSocket inside TLS are read by the same code as in clear.
//!
//! Memory per connection: per direction one record being read (its body is copied only to be
//! decrypted or when it is a cleartext handshake record) and the hello being assembled; the
//! keys. A record that does not decrypt stops that direction's decryption (counted, never
//! guessed); a gap where a record header was stops its framing.

pub(crate) mod ahead;
mod handshake;
pub(crate) mod hello;
pub(crate) mod keys;
mod record;
pub(crate) mod summary;
#[cfg(test)]
mod tests;

use super::layer::{Cx, Layer, Next, Stream};
use crate::analyze::event::{EventKind, Side};
use crate::analyze::reassembly::Piece;
use crate::analyze::tls_event::TlsEvent::{self, Alert};
use handshake::{Message, Messages};
use hello::{
    SessionId, CLIENT_HELLO, ENCRYPTED_EXTENSIONS, FINISHED, KEY_UPDATE, NEW_SESSION_TICKET,
    SERVER_HELLO,
};
use keys::{ConnKeys, RecordKey, Suite};
use record::{Found, Header, Records, ALERT, APPLICATION_DATA, CHANGE_CIPHER_SPEC, HANDSHAKE};

/// The bytes of a TLS 1.3 record's tag and inner content type.
const TLS13_OVERHEAD: u64 = 17;

/// The client's first bytes open a TLS handshake record (content type 22, version 3.x).
pub(crate) fn is_client_hello(data: &[u8]) -> bool {
    data.len() >= 3 && data[0] == HANDSHAKE && data[1] == 3 && data[2] <= 4
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Unknown,
    Tls12,
    Tls13,
}

/// Where the connection's keys stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    /// Not needed yet (no protected record so far).
    NotLooked,
    /// Looked for and not found (said once; looked for again at each protected record, as a
    /// live run's key log may come a little late).
    Missing,
    Found,
}

/// TLS 1.3's key stage of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Handshake,
    Application,
}

/// One direction.
#[derive(Debug)]
struct Dir {
    records: Records,
    messages: Messages,
    /// This side's records are protected: TLS 1.2 after its ChangeCipherSpec, TLS 1.3 after
    /// the ServerHello.
    protected: bool,
    /// Protected records seen, for the sequence number of keys found late.
    sealed: u64,
    key: Option<RecordKey>,
    stage: Stage,
    /// TLS 1.3: the current application traffic secret (for KeyUpdate).
    secret: Vec<u8>,
    /// A record did not decrypt: nothing more is decrypted.
    failed: bool,
    /// The record being read ends a key stage (Finished, KeyUpdate).
    next_key: Option<Stage>,
    /// Records framed so far (a reader decrypting ahead counts them the same way).
    count: u64,
    /// The serial of the note that handed the current key to a reader decrypting ahead.
    noted: Option<u64>,
}

impl Default for Dir {
    fn default() -> Self {
        Dir {
            records: Records::default(),
            messages: Messages::default(),
            protected: false,
            sealed: 0,
            key: None,
            stage: Stage::Handshake,
            secret: Vec::new(),
            failed: false,
            next_key: None,
            count: 0,
            noted: None,
        }
    }
}

/// One TLS connection, both directions, its plaintext read by `I`.
#[derive(Debug)]
pub(crate) struct Tls<I> {
    dirs: [Dir; 2],
    version: Version,
    suite: u16,
    client_random: [u8; 32],
    server_random: [u8; 32],
    client_session: SessionId,
    hello_at_ns: Option<u64>,
    server_hello_seen: bool,
    handshake_done: bool,
    keys: KeyState,
    /// The suite of TLS 1.3 keys (for KeyUpdate).
    suite13: Option<Suite>,
    /// What the plaintext is: HTTP/1.1 first, switching as it says.
    inner: I,
    /// What the records of the piece being read were.
    piece: PieceKinds,
}

/// What the records of one piece were: closing alerts, or anything else.
#[derive(Debug, Clone, Copy, Default)]
struct PieceKinds {
    closing: bool,
    other: bool,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

fn emit(cx: &mut Cx<'_>, event: TlsEvent) {
    cx.emit(EventKind::Tls(event));
}

/// An alert's description (RFC 8446 §6).
fn alert_name(code: u8) -> &'static str {
    match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "other",
    }
}

impl<I: Default> Default for Tls<I> {
    fn default() -> Self {
        Tls {
            dirs: [Dir::default(), Dir::default()],
            version: Version::Unknown,
            suite: 0,
            client_random: [0; 32],
            server_random: [0; 32],
            client_session: SessionId::default(),
            hello_at_ns: None,
            server_hello_seen: false,
            handshake_done: false,
            keys: KeyState::NotLooked,
            suite13: None,
            inner: I::default(),
            piece: PieceKinds::default(),
        }
    }
}

impl<I: Stream> Tls<I> {
    /// Whether a record's body is wanted: cleartext handshakes and alerts, and protected
    /// records that may be decrypted.
    fn keep(&self, cx: &Cx<'_>, side: Side, head: Header) -> bool {
        let dir = &self.dirs[idx(side)];
        if !self.is_protected(side, head) {
            return matches!(head.content_type(), HANDSHAKE | ALERT);
        }
        !dir.failed && (dir.key.is_some() || cx.secrets.keys.is_some_and(|k| !k.is_empty()))
    }

    /// A record of `side` is protected: after its switch, except TLS 1.3's compatibility
    /// ChangeCipherSpec and alerts sent in clear.
    fn is_protected(&self, side: Side, head: Header) -> bool {
        self.dirs[idx(side)].protected
            && !(self.version == Version::Tls13 && head.content_type() != APPLICATION_DATA)
    }

    fn record(&mut self, cx: &mut Cx<'_>, side: Side, found: Found<'_>) {
        let (head, body, cut) = match found {
            Found::Record { head, body, cut } => {
                self.dirs[idx(side)].count += 1;
                (head, body, cut)
            }
            Found::Broken { error } => {
                return emit(cx, TlsEvent::ProtocolError { by: side, error });
            }
            Found::Lost => return emit(cx, TlsEvent::LostSync { by: side }),
        };
        if self.likely_alert(side, head) {
            self.piece.closing = true;
        } else {
            self.piece.other = true;
        }
        if self.is_protected(side, head) {
            return self.protected(cx, side, head, body, cut);
        }
        let i = idx(side);
        match (head.content_type(), body) {
            (HANDSHAKE, Some(body)) => self.handshake(cx, side, body),
            (HANDSHAKE, None) => self.dirs[i].messages.lost(),
            (CHANGE_CIPHER_SPEC, _) => {
                if self.version == Version::Tls12 {
                    self.dirs[i].protected = true;
                }
            }
            (ALERT, Some(body)) if body.len() == 2 => {
                let description = alert_name(body[1]);
                emit(
                    cx,
                    TlsEvent::Alert {
                        by: side,
                        description,
                    },
                );
            }
            (ALERT, _) => emit(
                cx,
                TlsEvent::ProtocolError {
                    by: side,
                    error: "alert record of the wrong length",
                },
            ),
            _ => emit(
                cx,
                TlsEvent::ProtocolError {
                    by: side,
                    error: "application data before the handshake",
                },
            ),
        }
    }

    /// A record is an alert, or one by its size: TLS 1.3 hides the type, but an alert is
    /// the only record whose protected body is 19 bytes (2, its type and a 16-byte tag) in
    /// practice. Used for timing only, never for an event.
    fn likely_alert(&self, side: Side, head: Header) -> bool {
        head.content_type() == ALERT
            || (self.version == Version::Tls13
                && self.dirs[idx(side)].protected
                && head.content_type() == APPLICATION_DATA
                && head.len() == 19)
    }

    /// Handshake bytes of `side` (cleartext, or decrypted).
    fn handshake(&mut self, cx: &mut Cx<'_>, side: Side, bytes: &[u8]) {
        let i = idx(side);
        let mut messages = std::mem::take(&mut self.dirs[i].messages);
        messages.data(bytes, |m| self.message(cx, side, m));
        self.dirs[i].messages = messages;
    }

    fn message(&mut self, cx: &mut Cx<'_>, side: Side, m: Message<'_>) {
        let i = idx(side);
        match (side, m.kind) {
            (Side::Client, CLIENT_HELLO) if self.hello_at_ns.is_none() => {
                let Some(h) = m.body.and_then(hello::client_hello) else {
                    let error = "ClientHello does not parse";
                    return emit(cx, TlsEvent::ProtocolError { by: side, error });
                };
                self.hello_at_ns = Some(cx.t_ns);
                self.client_random = h.random;
                self.client_session = h.session_id;
                emit(
                    cx,
                    TlsEvent::ClientHello {
                        offers_resumption: h.offers_resumption(),
                        sni: h.sni,
                        alpn: h.alpn,
                    },
                );
            }
            (Side::Server, SERVER_HELLO) if !self.server_hello_seen => {
                let Some(h) = m.body.and_then(hello::server_hello) else {
                    let error = "ServerHello does not parse";
                    return emit(cx, TlsEvent::ProtocolError { by: side, error });
                };
                if h.random == hello::HELLO_RETRY_RANDOM {
                    // A HelloRetryRequest: the client says hello again, same random.
                    return;
                }
                self.server_hello_seen = true;
                self.server_random = h.random;
                self.suite = h.cipher;
                let resumed = if h.tls13 {
                    self.version = Version::Tls13;
                    self.dirs[0].protected = true;
                    self.dirs[1].protected = true;
                    h.psk
                } else {
                    self.version = Version::Tls12;
                    !h.session_id.is_empty() && h.session_id == self.client_session
                };
                emit(
                    cx,
                    TlsEvent::ServerHello {
                        version: hello::version_name(h.version),
                        cipher: hello::cipher_name(h.cipher),
                        alpn: h.alpn,
                        resumed,
                    },
                );
            }
            (Side::Server, ENCRYPTED_EXTENSIONS) if self.version == Version::Tls13 => {
                let alpn = m.body.and_then(hello::encrypted_extensions);
                emit(
                    cx,
                    TlsEvent::Protocol {
                        alpn: alpn.unwrap_or_default(),
                    },
                );
            }
            (Side::Server, NEW_SESSION_TICKET) => emit(cx, TlsEvent::SessionTicket),
            (_, FINISHED) if self.version == Version::Tls13 => {
                self.dirs[i].next_key = Some(Stage::Application);
            }
            (_, KEY_UPDATE) if self.version == Version::Tls13 => {
                self.dirs[i].next_key = Some(Stage::Application);
                // The update replaces the current application secret.
                self.dirs[i].stage = Stage::Application;
                if let (Some(suite), false) = (self.suite13, self.dirs[i].secret.is_empty()) {
                    self.dirs[i].secret =
                        keys::tls13_next_secret(suite, &self.dirs[i].secret).unwrap_or_default();
                }
                emit(cx, TlsEvent::KeyUpdate { by: side });
            }
            _ => {}
        }
    }

    /// Looks up the connection's keys, once its hellos are known; each direction's key
    /// starts at the records it already sent.
    fn find_keys(&mut self, cx: &mut Cx<'_>) {
        let Some(keys) = cx.secrets.keys else {
            return self.missing(cx);
        };
        if self.version == Version::Unknown {
            return self.missing(cx);
        }
        let tls13 = self.version == Version::Tls13;
        let Some(found) =
            keys.keys_for(&self.client_random, &self.server_random, self.suite, tls13)
        else {
            return self.missing(cx);
        };
        match found {
            ConnKeys::Tls13 {
                suite,
                handshake,
                application,
            } => {
                self.suite13 = Some(suite);
                for ((dir, hs), app) in self.dirs.iter_mut().zip(handshake).zip(application) {
                    dir.key = keys::tls13_key(suite, &hs).map(|k| k.at(dir.sealed));
                    dir.noted = None;
                    dir.secret = app;
                }
            }
            ConnKeys::Tls12(pair) => {
                for (dir, key) in self.dirs.iter_mut().zip(pair) {
                    dir.key = Some(key.at(dir.sealed));
                    dir.noted = None;
                }
            }
        }
        self.keys = KeyState::Found;
        emit(cx, TlsEvent::Decrypting);
    }

    fn missing(&mut self, cx: &mut Cx<'_>) {
        if self.keys == KeyState::NotLooked {
            self.keys = KeyState::Missing;
            emit(cx, TlsEvent::NoKeys);
        }
    }

    /// A protected record of `side`.
    fn protected(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        head: Header,
        body: Option<&mut [u8]>,
        cut: bool,
    ) {
        let i = idx(side);
        if self.keys != KeyState::Found {
            self.find_keys(cx);
        }
        self.dirs[i].sealed += 1;
        let tls13 = self.version == Version::Tls13;
        let dir = &mut self.dirs[i];
        if dir.failed || dir.key.is_none() {
            return self.sealed(cx, side, head);
        }
        let Some(body) = body else {
            // Cut by the capture: its sequence number is used up, its bytes are a gap.
            if let Some(key) = dir.key.as_mut() {
                key.skip();
            }
            if cut && (dir.stage == Stage::Application || !tls13) {
                let overhead = if tls13 { TLS13_OVERHEAD } else { 24 };
                let len = (head.len() as u64).saturating_sub(overhead);
                self.inner.piece(cx, side, Piece::Gap(len));
            }
            return;
        };
        let Some(plain) = self.open(cx, side, head, body) else {
            // Keys that do not fit (or a damaged record): the connection is read no further
            // rather than guessed.
            self.dirs[0].failed = true;
            self.dirs[1].failed = true;
            return emit(cx, TlsEvent::DecryptFailed { by: side });
        };
        self.opened(cx, side, head, plain);
    }

    /// A whole protected record at the start of `data` (at a record boundary) that the reader
    /// decrypting ahead opened already: read from its plaintext, with nothing framed or
    /// copied; returns its length in `data`. None when it is anything else (the framer
    /// takes it).
    fn opened_ahead(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) -> Option<usize> {
        let opened = cx.secrets.opened;
        let dir = &self.dirs[idx(side)];
        let (Some(serial), Some(key)) = (dir.noted, dir.key.as_ref()) else {
            return None;
        };
        if dir.failed || data.len() < 5 {
            return None;
        }
        let head = Header([data[0], data[1], data[2], data[3], data[4]]);
        let sealed = data.get(5..5 + head.len())?;
        if head.content_type() != APPLICATION_DATA || !self.is_protected(side, head) {
            return None;
        }
        let (body, text) = opened.find(serial, key.seq(), sealed)?;
        let dir = &mut self.dirs[idx(side)];
        dir.count += 1;
        dir.sealed += 1;
        if let Some(key) = dir.key.as_mut() {
            key.skip();
        }
        if self.likely_alert(side, head) {
            self.piece.closing = true;
        } else {
            self.piece.other = true;
        }
        self.opened(cx, side, head, &body[text]);
        Some(5 + head.len())
    }

    /// The plaintext of a protected record of `side`.
    fn opened(&mut self, cx: &mut Cx<'_>, side: Side, head: Header, plain: &[u8]) {
        let tls13 = self.version == Version::Tls13;
        let (kind, text) = match tls13 {
            true => {
                // TLS 1.3's inner plaintext: content, the real type, zero padding.
                let Some(end) = plain.iter().rposition(|b| *b != 0) else {
                    let error = "record without a content type";
                    return emit(cx, TlsEvent::ProtocolError { by: side, error });
                };
                (plain[end], &plain[..end])
            }
            false => (head.content_type(), plain),
        };
        match kind {
            HANDSHAKE => self.handshake(cx, side, text),
            APPLICATION_DATA => {
                self.app_data(cx, side);
                self.inner.piece(cx, side, Piece::Data(text));
            }
            ALERT if text.len() == 2 => {
                let description = alert_name(text[1]);
                emit(
                    cx,
                    TlsEvent::Alert {
                        by: side,
                        description,
                    },
                );
            }
            _ => emit(
                cx,
                TlsEvent::ProtocolError {
                    by: side,
                    error: "unexpected record content",
                },
            ),
        }
        self.advance_key(side);
        self.note_key(cx, side);
    }

    /// Hands `side`'s application key to a reader decrypting ahead, once per key: it opens
    /// the records from the next on.
    fn note_key(&mut self, cx: &mut Cx<'_>, side: Side) {
        let tls13 = self.version == Version::Tls13;
        let dir = &mut self.dirs[idx(side)];
        if dir.noted.is_some() || dir.failed || (tls13 && dir.stage != Stage::Application) {
            return;
        }
        if let Some(key) = dir.key.as_ref() {
            dir.noted = cx.note(side, dir.count, key);
        }
    }

    /// Decrypts a record; TLS 1.3 keys found after the handshake's records passed are tried
    /// at the application stage when the handshake stage fails.
    fn open<'b>(
        &mut self,
        cx: &Cx<'_>,
        side: Side,
        head: Header,
        body: &'b mut [u8],
    ) -> Option<&'b [u8]> {
        let i = idx(side);
        let dir = &mut self.dirs[i];
        let key = dir.key.as_mut()?;
        if let Some(serial) = dir.noted {
            // The reader may have opened it already (a record cut across segments): the same
            // bytes, key and number.
            if let Some((opened, text)) = cx.secrets.opened.find(serial, key.seq(), body) {
                body.copy_from_slice(opened);
                key.skip();
                return Some(&body[text]);
            }
        }
        if dir.stage == Stage::Handshake && self.version == Version::Tls13 {
            let saved: Vec<u8> = body.to_vec();
            if let Ok(r) = key.open(&head.0, body) {
                return Some(&body[r]);
            }
            body.copy_from_slice(&saved);
            let suite = self.suite13?;
            let mut app = keys::tls13_key(suite, &dir.secret)?;
            let r = app.open(&head.0, body).ok()?;
            dir.key = Some(app);
            dir.noted = None;
            dir.stage = Stage::Application;
            return Some(&body[r]);
        }
        let r = key.open(&head.0, body).ok()?;
        Some(&body[r])
    }

    /// After a Finished or KeyUpdate, the next records use the next key.
    fn advance_key(&mut self, side: Side) {
        let dir = &mut self.dirs[idx(side)];
        let Some(stage) = dir.next_key.take() else {
            return;
        };
        dir.stage = stage;
        dir.noted = None;
        dir.key = self
            .suite13
            .and_then(|suite| keys::tls13_key(suite, &dir.secret));
        if dir.key.is_none() {
            dir.failed = true;
        }
    }

    /// A protected record that is not decrypted: counted, and what its type, size and
    /// position say without keys. TLS 1.2 shows types. TLS 1.3 hides them: its first
    /// protected client record is its Finished, and a 19-byte one is an alert (2 bytes, the
    /// type and a 16-byte tag: nothing else is that small in practice).
    fn sealed(&mut self, cx: &mut Cx<'_>, side: Side, head: Header) {
        let alert = Alert {
            by: side,
            description: "encrypted",
        };
        match (self.version, head.content_type()) {
            (Version::Tls12, ALERT) => emit(cx, alert),
            (Version::Tls12, APPLICATION_DATA) => self.app_data(cx, side),
            (Version::Tls13, APPLICATION_DATA) if self.likely_alert(side, head) => emit(cx, alert),
            (Version::Tls13, APPLICATION_DATA) if self.dirs[idx(side)].sealed > 1 => {
                self.app_data(cx, side)
            }
            _ => {}
        }
    }

    /// An application data record of `side`: the client's first ends the handshake.
    fn app_data(&mut self, cx: &mut Cx<'_>, side: Side) {
        if side == Side::Client && !self.handshake_done {
            self.handshake_done = true;
            if let Some(at) = self.hello_at_ns {
                let handshake_ns = cx.t_ns.saturating_sub(at);
                emit(cx, TlsEvent::HandshakeDone { handshake_ns });
            }
        }
    }
}

impl<I: Stream> Layer for Tls<I> {
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, mut data: &[u8]) -> Next {
        let i = idx(side);
        let mut records = std::mem::take(&mut self.dirs[i].records);
        self.piece = PieceKinds::default();
        loop {
            if records.at_boundary() {
                if let Some(n) = self.opened_ahead(cx, side, data) {
                    data = &data[n..];
                    continue;
                }
            }
            let Some(found) = records.next(&mut data, |head| self.keep(cx, side, head)) else {
                break;
            };
            self.record(cx, side, found);
        }
        self.dirs[i].records = records;
        // A piece that only closed (alerts) is not activity: an idle close is timed from
        // the data before it.
        if self.piece.closing && !self.piece.other && !self.dirs[i].records.in_body() {
            cx.quiet();
        }
        Next::Same
    }

    fn gap(&mut self, cx: &mut Cx<'_>, side: Side, len: u64) {
        let i = idx(side);
        let mut records = std::mem::take(&mut self.dirs[i].records);
        if let Some(found) = records.gap(len) {
            self.record(cx, side, found);
        }
        self.dirs[i].records = records;
    }
}
