//! RESP, the Redis serialization protocol (RESP2 and RESP3), framed as a stream: bytes in, one
//! [`Message`] out per top-level value, whatever the segment boundaries.
//!
//! Nothing is buffered beyond a bounded prefix: a header line keeps its first [`WORD`] bytes, a
//! bulk string's body is skipped and only the first [`WORD`] bytes of the first three elements
//! of a top-level aggregate (the command's name and first arguments) are kept. So a hostile
//! stream (a length of 2^63, an aggregate of 2^32 elements, a bulk string never finished, an
//! endless line) costs a few hundred bytes per direction and ends, where it breaks the
//! protocol, in a [`Broken`] reason: never a panic, never unbounded memory.

use std::fmt;

/// Bytes kept of a word (a command's name or argument, an error line's start).
pub(crate) const WORD: usize = 64;
/// Elements of a top-level aggregate whose start is kept.
pub(crate) const WORDS: usize = 4;
/// Nesting deeper than this is refused (Redis's own replies nest a few levels at most).
pub(crate) const MAX_DEPTH: usize = 32;
/// A bulk string longer than this is refused: Redis's `proto-max-bulk-len` default (512 MB).
pub(crate) const MAX_BULK: u64 = 512 * 1024 * 1024;
/// An inline command longer than this is refused, as Redis does (`PROTO_INLINE_MAX_SIZE`).
pub(crate) const MAX_INLINE: u64 = 64 * 1024;
/// A header line (a length, a number) longer than this is no RESP (a simple string or error
/// line may be longer: only its start is kept).
const MAX_NUMBER_LINE: u64 = 32;

/// The first bytes of a word, as many as [`WORD`] holds. Only the first `len` bytes mean
/// anything: a word is emptied by its length alone, never zeroed (framing a small command
/// must not cost a clear of a few hundred bytes).
#[derive(Clone, Copy)]
pub(crate) struct Word {
    len: u8,
    bytes: [u8; WORD],
}

impl Default for Word {
    fn default() -> Self {
        Word {
            len: 0,
            bytes: [0; WORD],
        }
    }
}

impl PartialEq for Word {
    fn eq(&self, other: &Word) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Word {}

impl Word {
    fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, data: &[u8]) {
        let at = usize::from(self.len);
        let n = data.len().min(WORD - at);
        self.bytes[at..at + n].copy_from_slice(&data[..n]);
        self.len += n as u8;
    }

    /// The bytes kept.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A top-level value's type: its RESP type byte, or an inline command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A command written as a line of words (`PING\r\n`), as telnet users and old clients do.
    Inline,
    /// `*`: an array (a command, or a reply).
    Array,
    /// `>`: RESP3's out-of-band push (pub/sub messages, invalidations).
    Push,
    /// `%`: a RESP3 map.
    Map,
    /// `~`: a RESP3 set.
    Set,
    /// `+`: a simple string (`+OK`).
    Simple,
    /// `-`: an error (`-ERR ...`).
    Error,
    /// `!`: a RESP3 blob error.
    BlobError,
    /// `:`, `,`, `(`, `#`: a number or a boolean.
    Number,
    /// `$` and `=`: a bulk or verbatim string.
    Bulk,
    /// `_`, or a RESP2 `$-1` / `*-1`: nothing.
    Null,
}

/// One top-level value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// What it is.
    pub kind: Kind,
    /// Elements of an aggregate (words of an inline command).
    pub count: u64,
    /// The start of its first (up to four) elements that are strings, or of its line (a
    /// simple string or an error: in `words[0]`). Four: `CLIENT SETINFO LIB-NAME redis-py`.
    pub words: [Word; WORDS],
}

impl Message {
    fn new(kind: Kind) -> Message {
        Message {
            kind,
            count: 0,
            words: [Word::default(); WORDS],
        }
    }

    /// Starts the next message in place.
    fn reset(&mut self, kind: Kind) {
        self.kind = kind;
        self.count = 0;
        for w in &mut self.words {
            w.clear();
        }
    }

    /// The `i`th word kept (empty when there is none).
    pub fn word(&self, i: usize) -> &[u8] {
        self.words.get(i).map_or(&[], Word::as_bytes)
    }
}

/// Why a direction's framing was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// A byte that begins no RESP value.
    UnknownType,
    /// A length or count that is not a number (or a negative one other than -1).
    BadLength,
    /// A bulk string over `proto-max-bulk-len`.
    BulkTooLong,
    /// Aggregates nested deeper than connlab follows.
    TooDeep,
    /// An inline command over Redis's 64 KiB.
    InlineTooLong,
    /// A bulk string not followed by CRLF.
    MissingCrlf,
}

impl Broken {
    /// In words, for events and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Broken::UnknownType => "unknown type byte",
            Broken::BadLength => "bad length",
            Broken::BulkTooLong => "bulk string over 512 MB",
            Broken::TooDeep => "aggregates nested too deep",
            Broken::InlineTooLong => "inline command over 64 KiB",
            Broken::MissingCrlf => "bulk string without CRLF",
        }
    }
}

/// Where the reader stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a value's type byte.
    Type,
    /// The rest of a header line after type byte `.0`.
    Line(u8),
    /// A blob's body: bytes left, its CRLF included; the word it fills, if any.
    Blob { left: u64, word: Option<u8> },
    /// An inline command's line.
    Inline,
    /// Framing given up (a protocol error, or bytes the capture lost outside a blob).
    Lost,
}

/// An aggregate being read: elements left, and whether it is an attribute (RESP3 `|`, which
/// annotates the value after it and is no element of its own).
#[derive(Debug, Clone, Copy, Default)]
struct Open {
    left: u64,
    attribute: bool,
}

/// One direction's RESP reader.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    /// The client's direction: a top-level value that is not an array is an inline command.
    client: bool,
    state: State,
    open: [Open; MAX_DEPTH],
    depth: usize,
    /// The header line so far (its first bytes) and its whole length.
    line: Word,
    line_len: u64,
    /// The inline command's words so far.
    inline_word: bool,
    msg: Message,
}

impl Resp {
    /// A reader of the client's (`client`) or the server's direction.
    pub fn new(client: bool) -> Resp {
        Resp {
            client,
            state: State::Type,
            open: [Open::default(); MAX_DEPTH],
            depth: 0,
            line: Word::default(),
            line_len: 0,
            inline_word: false,
            msg: Message::new(Kind::Null),
        }
    }

    /// Whether the framing was given up.
    pub fn lost(&self) -> bool {
        self.state == State::Lost
    }

    /// Reads `data`, handing each complete top-level value to `out`; the reason when the
    /// stream breaks RESP here (nothing more is read of it).
    pub fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(&Message)) -> Result<(), Broken> {
        while !data.is_empty() {
            data = match self.state {
                State::Lost => return Ok(()),
                State::Type => self.type_byte(data, out)?,
                State::Line(kind) => self.header_line(kind, data, out)?,
                State::Blob { left, word } => self.blob(left, word, data, out)?,
                State::Inline => self.inline(data, out)?,
            };
        }
        Ok(())
    }

    /// `len` bytes the capture missed: skipped inside a blob's body, else the framing is lost.
    pub fn gap(&mut self, len: u64) {
        match self.state {
            State::Blob { left, .. } if len < left.saturating_sub(2) => {
                self.state = State::Blob {
                    left: left - len,
                    word: None,
                };
            }
            _ => self.state = State::Lost,
        }
    }

    fn fail(&mut self, why: Broken) -> Result<&'static [u8], Broken> {
        self.state = State::Lost;
        Err(why)
    }

    fn type_byte<'d>(
        &mut self,
        data: &'d [u8],
        out: &mut impl FnMut(&Message),
    ) -> Result<&'d [u8], Broken> {
        let b = data[0];
        let top = self.depth == 0;
        if top && self.client && b != b'*' {
            // Redis reads anything but an array as an inline command.
            self.msg.reset(Kind::Inline);
            self.line_len = 0;
            self.inline_word = false;
            self.state = State::Inline;
            return self.inline(data, out);
        }
        if !matches!(
            b,
            b'*' | b'>'
                | b'%'
                | b'~'
                | b'|'
                | b'+'
                | b'-'
                | b'!'
                | b':'
                | b','
                | b'('
                | b'#'
                | b'$'
                | b'='
                | b'_'
        ) {
            return self.fail(Broken::UnknownType);
        }
        if top && b == b'*' {
            if let Some(used) = self.whole_array(data, out) {
                return Ok(&data[used..]);
            }
        }
        if top && b != b'|' {
            self.msg.reset(kind_of(b));
        }
        // The common case: the whole header line is here and short. Read it in place.
        let line = &data[1..data.len().min(1 + MAX_NUMBER_LINE as usize + 2)];
        if let Some(at) = line.iter().position(|&c| c == b'\n') {
            let text = &line[..at];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            self.state = State::Type;
            self.line_done(b, text, out)?;
            return Ok(&data[1 + at + 1..]);
        }
        self.line.clear();
        self.line_len = 0;
        self.state = State::Line(b);
        Ok(&data[1..])
    }

    fn header_line<'d>(
        &mut self,
        kind: u8,
        data: &'d [u8],
        out: &mut impl FnMut(&Message),
    ) -> Result<&'d [u8], Broken> {
        let (part, rest, ended) = match memchr::memchr(b'\n', data) {
            Some(at) => (&data[..at], &data[at + 1..], true),
            None => (data, &data[data.len()..], false),
        };
        self.line.push(part);
        self.line_len += part.len() as u64;
        // A length is a few digits; other lines (a simple string, an error, a RESP3 big
        // number) may be long: only their start is kept.
        if b"$=!*>%~|".contains(&kind) && self.line_len > MAX_NUMBER_LINE {
            return self.fail(Broken::BadLength);
        }
        if !ended {
            return Ok(rest);
        }
        let line = self.line;
        let mut text = line.as_bytes();
        if self.line_len <= WORD as u64 {
            text = text.strip_suffix(b"\r").unwrap_or(text);
        }
        self.state = State::Type;
        self.line_done(kind, text, out)?;
        Ok(rest)
    }

    /// A header line after type byte `kind` ended; `text` is its start (all of it when short),
    /// without CRLF.
    fn line_done(
        &mut self,
        kind: u8,
        text: &[u8],
        out: &mut impl FnMut(&Message),
    ) -> Result<(), Broken> {
        match kind {
            b'+' | b'-' => {
                if self.depth == 0 {
                    self.msg.words[0].push(text);
                } else {
                    self.fill_word(text);
                }
                self.element(out);
            }
            b':' | b',' | b'(' | b'#' | b'_' => self.element(out),
            b'$' | b'=' | b'!' => match number(text) {
                Some(-1) => {
                    if self.depth == 0 {
                        self.msg.kind = Kind::Null;
                    }
                    self.element(out);
                }
                Some(n) if n >= 0 && n as u64 <= MAX_BULK => {
                    let word = self.word_slot();
                    self.state = State::Blob {
                        left: n as u64 + 2,
                        word,
                    };
                }
                Some(n) if n >= 0 => return self.fail(Broken::BulkTooLong).map(drop),
                _ => return self.fail(Broken::BadLength).map(drop),
            },
            _ => {
                // An aggregate: `*`, `>`, `~`, `|` count elements, `%` pairs.
                let n = match number(text) {
                    Some(-1) if kind == b'*' => {
                        if self.depth == 0 {
                            self.msg.kind = Kind::Null;
                        }
                        self.element(out);
                        return Ok(());
                    }
                    Some(n) if n >= 0 => n as u64,
                    _ => return self.fail(Broken::BadLength).map(drop),
                };
                let n = if matches!(kind, b'%' | b'|') {
                    n.saturating_mul(2)
                } else {
                    n
                };
                if self.depth == 0 && kind != b'|' {
                    self.msg.count = n;
                }
                if self.depth == MAX_DEPTH {
                    return self.fail(Broken::TooDeep).map(drop);
                }
                let attribute = kind == b'|';
                self.open[self.depth] = Open { left: n, attribute };
                self.depth += 1;
                if n == 0 {
                    self.aggregate_done(out);
                }
            }
        }
        Ok(())
    }

    /// The commonest message read in one go: a top-level array of bulk strings (every
    /// command, many replies) wholly in `data`, which starts at its `*`. Returns the bytes it
    /// took; None when the message is anything else or is cut, and the state machine reads it
    /// (errors included) from its first byte as if this had not looked.
    fn whole_array(&mut self, data: &[u8], out: &mut impl FnMut(&Message)) -> Option<usize> {
        let (n, mut at) = length_line(data, 1)?;
        if n > WHOLE_ARRAY_MAX {
            return None;
        }
        self.msg.reset(Kind::Array);
        self.msg.count = n;
        for i in 0..n as usize {
            if data.get(at) != Some(&b'$') {
                return None;
            }
            let (len, body) = length_line(data, at + 1)?;
            if len > MAX_BULK {
                return None;
            }
            let end = body.checked_add(len as usize)?;
            if data.get(end..end + 2)? != b"\r\n" {
                return None;
            }
            if let Some(word) = self.msg.words.get_mut(i) {
                word.push(&data[body..end]);
            }
            at = end + 2;
        }
        out(&self.msg);
        Some(at)
    }

    /// The word a string at this place fills: the first [`WORDS`] elements of a top-level
    /// aggregate, or a top-level bulk string's start.
    fn word_slot(&self) -> Option<u8> {
        match self.depth {
            0 => Some(0),
            1 if !self.open[0].attribute => {
                let i = self.msg.count - self.open[0].left;
                (i < WORDS as u64).then_some(i as u8)
            }
            _ => None,
        }
    }

    fn fill_word(&mut self, text: &[u8]) {
        if let Some(i) = self.word_slot() {
            self.msg.words[usize::from(i)].push(text);
        }
    }

    fn blob<'d>(
        &mut self,
        left: u64,
        word: Option<u8>,
        data: &'d [u8],
        out: &mut impl FnMut(&Message),
    ) -> Result<&'d [u8], Broken> {
        let take = left.min(data.len() as u64) as usize;
        let (part, rest) = data.split_at(take);
        let body_here = take.min(left.saturating_sub(2) as usize);
        if let Some(i) = word {
            self.msg.words[usize::from(i)].push(&part[..body_here]);
        }
        // What arrived of the CRLF after the body (1 byte of it may have come before).
        let crlf_from = 2 - left.min(2) as usize;
        let crlf = &part[body_here..];
        if crlf != &b"\r\n"[crlf_from..crlf_from + crlf.len()] {
            return self.fail(Broken::MissingCrlf);
        }
        let left = left - take as u64;
        if left > 0 {
            let word = word.filter(|_| left > 2);
            self.state = State::Blob { left, word };
            return Ok(rest);
        }
        self.state = State::Type;
        self.element(out);
        Ok(rest)
    }

    fn inline<'d>(
        &mut self,
        data: &'d [u8],
        out: &mut impl FnMut(&Message),
    ) -> Result<&'d [u8], Broken> {
        let (part, rest, ended) = match memchr::memchr(b'\n', data) {
            Some(at) => (&data[..at], &data[at + 1..], true),
            None => (data, &data[data.len()..], false),
        };
        self.line_len += part.len() as u64;
        if self.line_len > MAX_INLINE {
            return self.fail(Broken::InlineTooLong);
        }
        for &b in part {
            let space = matches!(b, b' ' | b'\t' | b'\r');
            if space {
                self.inline_word = false;
                continue;
            }
            if !self.inline_word {
                self.inline_word = true;
                self.msg.count += 1;
            }
            if let Some(word) = self.msg.words.get_mut(self.msg.count as usize - 1) {
                word.push(&[b]);
            }
        }
        if ended {
            self.state = State::Type;
            // An empty line is no command (Redis skips it too).
            if self.msg.count > 0 {
                out(&self.msg);
            }
        }
        Ok(rest)
    }

    /// A value ended: it completes its aggregate's element, and maybe the message.
    fn element(&mut self, out: &mut impl FnMut(&Message)) {
        if self.depth == 0 {
            return out(&self.msg);
        }
        let open = &mut self.open[self.depth - 1];
        open.left -= 1;
        if open.left == 0 {
            self.aggregate_done(out);
        }
    }

    /// The innermost aggregate got its last element.
    fn aggregate_done(&mut self, out: &mut impl FnMut(&Message)) {
        self.depth -= 1;
        if self.open[self.depth].attribute {
            // It annotated the value that follows: no element of its parent.
            return;
        }
        self.element(out);
    }
}

fn kind_of(b: u8) -> Kind {
    match b {
        b'*' => Kind::Array,
        b'>' => Kind::Push,
        b'%' => Kind::Map,
        b'~' => Kind::Set,
        b'+' => Kind::Simple,
        b'-' => Kind::Error,
        b'!' => Kind::BlobError,
        b'$' | b'=' => Kind::Bulk,
        b'_' => Kind::Null,
        _ => Kind::Number,
    }
}

/// Elements an array read in one go may have (a longer one is read element by element).
const WHOLE_ARRAY_MAX: u64 = 1024;

/// A non-negative length and its CRLF at `data[from..]`: the length and where the bytes after
/// the CRLF start. None when it is not one, or is cut.
fn length_line(data: &[u8], from: usize) -> Option<(u64, usize)> {
    let mut n: u64 = 0;
    let mut at = from;
    loop {
        let b = *data.get(at)?;
        match b {
            b'0'..=b'9' if at - from < 19 => n = n * 10 + u64::from(b - b'0'),
            b'\r' if at > from => {
                return (data.get(at + 1) == Some(&b'\n')).then_some((n, at + 2));
            }
            _ => return None,
        }
        at += 1;
    }
}

/// A RESP length: optional `-`, then decimal digits.
fn number(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().fold(0i64, |n, d| {
        n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message `bytes` gives when fed in pieces of `step` bytes, and the break if any.
    fn read(client: bool, bytes: &[u8], step: usize) -> (Vec<Message>, Option<Broken>) {
        let mut resp = Resp::new(client);
        let mut got = Vec::new();
        for piece in bytes.chunks(step) {
            if let Err(why) = resp.feed(piece, &mut |m| got.push(m.clone())) {
                return (got, Some(why));
            }
        }
        (got, None)
    }

    /// The same messages whatever the segment boundaries.
    fn each_step(client: bool, bytes: &[u8]) -> (Vec<Message>, Option<Broken>) {
        let whole = read(client, bytes, bytes.len().max(1));
        for step in 1..8 {
            assert_eq!(read(client, bytes, step), whole, "in pieces of {step}");
        }
        whole
    }

    fn words(m: &Message) -> Vec<String> {
        (0..WORDS)
            .map(|i| String::from_utf8_lossy(m.word(i)).into_owned())
            .filter(|w| !w.is_empty())
            .collect()
    }

    #[test]
    fn commands_as_arrays_and_inline_pipelined() {
        let bytes =
            b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING\r\n\r\n*1\r\n$4\r\nQUIT\r\n";
        let (got, broken) = each_step(true, bytes);
        assert_eq!(broken, None);
        let seen: Vec<(Kind, u64, Vec<String>)> =
            got.iter().map(|m| (m.kind, m.count, words(m))).collect();
        assert_eq!(
            seen,
            [
                (
                    Kind::Array,
                    3,
                    vec!["SET".into(), "key".into(), "value".into()]
                ),
                (Kind::Inline, 1, vec!["PING".into()]),
                (Kind::Array, 1, vec!["QUIT".into()]),
            ]
        );
    }

    #[test]
    fn every_reply_type_of_resp2_and_resp3() {
        let bytes = b"+OK\r\n-ERR max number of clients reached\r\n:1000\r\n$5\r\nhello\r\n$-1\r\n\
*-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n_\r\n,3.14\r\n#t\r\n(12345678901234567890\r\n\
!21\r\nSYNTAX invalid syntax\r\n=15\r\ntxt:Some string\r\n%2\r\n+k1\r\n:1\r\n+k2\r\n:2\r\n\
~2\r\n+a\r\n+b\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n\
|1\r\n+ttl\r\n:3600\r\n$2\r\nv1\r\n*0\r\n";
        let (got, broken) = each_step(false, bytes);
        assert_eq!(broken, None);
        let kinds: Vec<Kind> = got.iter().map(|m| m.kind).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [
                Simple, Error, Number, Bulk, Null, Null, Array, Null, Number, Number, Number,
                BlobError, Bulk, Map, Set, Push, Bulk, Array
            ]
        );
        assert_eq!(words(&got[1]), ["ERR max number of clients reached"]);
        assert_eq!(words(&got[15]), ["message", "ch", "hi"]);
        assert_eq!(got[13].count, 4, "a map of two pairs");
        // The attribute annotates the bulk string after it, which is the message.
        assert_eq!(words(&got[16]), ["v1"]);
        assert_eq!(got[17].count, 0);
    }

    #[test]
    fn a_long_word_keeps_its_start_only() {
        let value = vec![b'x'; 100_000];
        let mut bytes = format!("*2\r\n$3\r\nSET\r\n${}\r\n", value.len()).into_bytes();
        bytes.extend_from_slice(&value);
        bytes.extend_from_slice(b"\r\n");
        let (got, broken) = read(true, &bytes, 1460);
        assert_eq!(broken, None);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].word(1).len(), WORD);
    }

    #[test]
    fn hostile_streams_break_and_stay_bounded() {
        let cases: [(&[u8], bool, Broken); 7] = [
            (b"$9999999999999\r\n", false, Broken::BulkTooLong),
            (b"$abc\r\n", false, Broken::BadLength),
            (b"*-5\r\n", false, Broken::BadLength),
            (b"?what\r\n", false, Broken::UnknownType),
            (b"$3\r\nabcXY", false, Broken::MissingCrlf),
            (
                b"*123456789012345678901234567890123456\r\n",
                false,
                Broken::BadLength,
            ),
            (&[b'*'; 40], false, Broken::BadLength),
        ];
        for (bytes, client, why) in cases {
            let (_, broken) = read(client, bytes, 3);
            assert_eq!(broken, Some(why), "{:?}", String::from_utf8_lossy(bytes));
        }
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(read(false, &deep, 7).1, Some(Broken::TooDeep));
        let inline = vec![b'a'; MAX_INLINE as usize + 1];
        assert_eq!(read(true, &inline, 1000).1, Some(Broken::InlineTooLong));
        // An aggregate of 2^32 elements and a bulk string never finished only wait.
        let (got, broken) = read(false, b"*4294967296\r\n:1\r\n:2\r\n$100\r\nabc", 2);
        assert_eq!((got.len(), broken), (0, None));
    }

    #[test]
    fn a_gap_inside_a_bulk_body_is_skipped_else_the_framing_is_lost() {
        let mut resp = Resp::new(false);
        let mut got = Vec::new();
        resp.feed(b"$10\r\nab", &mut |m| got.push(m.clone()))
            .expect("ok");
        resp.gap(6);
        resp.feed(b"ij\r\n+OK\r\n", &mut |m| got.push(m.clone()))
            .expect("ok");
        assert_eq!(
            got.iter().map(|m| m.kind).collect::<Vec<_>>(),
            [Kind::Bulk, Kind::Simple]
        );
        resp.gap(1);
        assert!(resp.lost());
        resp.feed(b"+OK\r\n", &mut |m| got.push(m.clone()))
            .expect("ok");
        assert_eq!(got.len(), 2, "nothing is read after the framing is lost");
    }

    #[test]
    fn numbers_are_read_as_resp_writes_them() {
        assert_eq!(number(b"0"), Some(0));
        assert_eq!(number(b"-1"), Some(-1));
        assert_eq!(number(b"512"), Some(512));
        for bad in [&b""[..], b"-", b"1a", b" 1", b"99999999999999999999"] {
            assert_eq!(number(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
