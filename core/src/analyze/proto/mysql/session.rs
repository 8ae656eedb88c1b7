//! What a MySQL session's packets mean, once framed: the greeting, the login with its
//! connection attributes, the authentication, then each command and the end of its answer
//! (an OK, an ERR, or result sets read through to their last row), and the server's errors.

use compact_str::CompactString;

use super::event::{answered, MyEvent};
use super::wire::{cstring, lenenc, Packet};
use crate::analyze::event::{EventKind, Side};
use crate::analyze::proto::layer::Cx;
use crate::analyze::stack::{Clue, Stack};

const CONNECT_WITH_DB: u32 = 0x8;
const COMPRESS: u32 = 0x20;
const PROTOCOL_41: u32 = 0x200;
const SSL: u32 = 0x800;
const SECURE_CONNECTION: u32 = 0x8000;
const PLUGIN_AUTH: u32 = 1 << 19;
const CONNECT_ATTRS: u32 = 1 << 20;
const PLUGIN_AUTH_LENENC: u32 = 1 << 21;
const DEPRECATE_EOF: u32 = 1 << 24;
/// The status flag that says another result set follows.
const MORE_RESULTS: u16 = 0x8;
/// Prepared statements remembered per session (with their statement's kind).
const STATEMENTS: usize = 64;
/// Characters of an error's message kept.
const MESSAGE: usize = 160;

/// Where the session is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// Waiting for the server's greeting.
    #[default]
    Greeting,
    /// Waiting for the client's login.
    Login,
    /// Authenticating.
    Auth,
    /// Commands and their answers.
    Commands,
}

/// What the rest of a command's answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// One packet: OK, ERR or EOF.
    Simple,
    /// Result sets: their first packet is due.
    First,
    /// Column definitions still to come.
    Columns(u64),
    /// The EOF after the column definitions.
    ColumnsEof,
    /// Rows, until an EOF (or an OK) ends the result set.
    Rows,
    /// A prepare's OK is due.
    Prepare,
    /// The definitions after a prepare's OK, this many packets still.
    Definitions(u64),
}

/// The command waiting for the rest of its answer.
#[derive(Debug, Clone, Copy)]
struct Pending {
    n: u32,
    expect: Expect,
    rows: u64,
    /// The statement kind of a prepare, remembered with its id once the OK tells it.
    kind: Option<Kind>,
}

/// A statement's kind: its first keyword, upper case, at most 16 bytes.
type Kind = ([u8; 16], u8);

fn kind_of(sql: &[u8]) -> Kind {
    let sql = sql.trim_ascii_start();
    let word = sql
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
        .count()
        .min(16);
    let mut out = [0u8; 16];
    out[..word].copy_from_slice(&sql[..word].to_ascii_uppercase());
    (out, word as u8)
}

fn kind_text(kind: &Kind) -> CompactString {
    text(&kind.0[..usize::from(kind.1)])
}

/// A field as text (the capture's bytes, lossily).
fn text(bytes: &[u8]) -> CompactString {
    CompactString::from_utf8_lossy(bytes)
}

/// A command's name by its first byte.
fn command_name(byte: u8) -> &'static str {
    match byte {
        0x01 => "COM_QUIT",
        0x02 => "COM_INIT_DB",
        0x03 => "COM_QUERY",
        0x04 => "COM_FIELD_LIST",
        0x09 => "COM_STATISTICS",
        0x0d => "COM_DEBUG",
        0x0e => "COM_PING",
        0x11 => "COM_CHANGE_USER",
        0x16 => "COM_STMT_PREPARE",
        0x17 => "COM_STMT_EXECUTE",
        0x18 => "COM_STMT_SEND_LONG_DATA",
        0x19 => "COM_STMT_CLOSE",
        0x1a => "COM_STMT_RESET",
        0x1b => "COM_SET_OPTION",
        0x1c => "COM_STMT_FETCH",
        0x1f => "COM_RESET_CONNECTION",
        _ => "COM_OTHER",
    }
}

/// The client library a `_client_name` attribute names, where connlab knows its knobs.
fn client_of(name: &[u8]) -> Option<Stack> {
    let name = name.to_ascii_lowercase();
    match &name[..] {
        b"pymysql" => Some(Stack::Pymysql),
        b"go-mysql-driver" | b"go-sql-driver" => Some(Stack::GoMysql),
        _ => None,
    }
}

/// An ERR packet's code, SQL state and message.
fn error(body: &[u8]) -> (u16, CompactString, CompactString) {
    let code = u16::from_le_bytes([
        body.get(1).copied().unwrap_or(0),
        body.get(2).copied().unwrap_or(0),
    ]);
    let rest = body.get(3..).unwrap_or_default();
    let (state, message) = match rest.strip_prefix(b"#") {
        Some(after) if after.len() >= 5 => (&after[..5], &after[5..]),
        _ => (&[][..], rest),
    };
    (
        code,
        text(state),
        text(&message[..message.len().min(MESSAGE)]),
    )
}

/// The status flags of an OK packet (after its header, affected rows and last insert id).
fn ok_status(body: &[u8]) -> u16 {
    let rest = body.get(1..).unwrap_or_default();
    let Some((_, a)) = lenenc(rest) else {
        return 0;
    };
    let Some((_, b)) = lenenc(&rest[a..]) else {
        return 0;
    };
    let at = a + b;
    match rest.get(at..at + 2) {
        Some(s) => u16::from_le_bytes([s[0], s[1]]),
        None => 0,
    }
}

/// A session's state between packets.
#[derive(Debug, Default)]
pub(crate) struct Session {
    phase: Phase,
    server_caps: u32,
    /// The capabilities both sides agreed.
    caps: u32,
    commands: u32,
    pending: Option<Pending>,
    /// Prepared statements by id, with their kind.
    statements: Vec<(u32, Kind)>,
    last_server_ns: Option<u64>,
}

/// What reading a packet means for the framing after it.
pub(crate) enum After {
    /// Read on.
    Go,
    /// Stop reading both directions: they turn encrypted or compressed.
    Stop,
}

impl Session {
    /// Reads one packet of `side`.
    pub fn packet(&mut self, cx: &mut Cx<'_>, side: Side, p: Packet<'_>) -> After {
        if p.continuation {
            return After::Go;
        }
        match side {
            Side::Client => self.client(cx, p),
            Side::Server => {
                let after = self.server(cx, p);
                if !cx.was_quiet() {
                    self.last_server_ns = Some(cx.t_ns);
                }
                after
            }
        }
    }

    fn client(&mut self, cx: &mut Cx<'_>, p: Packet<'_>) -> After {
        match self.phase {
            Phase::Login => self.login(cx, p),
            Phase::Commands if p.seq == 0 => {
                self.command(cx, p.body);
                After::Go
            }
            _ => After::Go,
        }
    }

    fn login(&mut self, cx: &mut Cx<'_>, p: Packet<'_>) -> After {
        let b = p.body;
        let caps = match b.get(..4) {
            Some(c) => u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            None => 0,
        };
        if caps & SSL != 0 && p.len == 32 {
            cx.emit(EventKind::Mysql(MyEvent::SslRequest));
            return After::Stop;
        }
        self.caps = caps & self.server_caps;
        self.phase = Phase::Auth;
        if caps & PROTOCOL_41 == 0 {
            return After::Go;
        }
        let (user, mut rest) = cstring(b.get(32..).unwrap_or_default());
        // The auth response: length-encoded, or one byte of length, or NUL-terminated.
        rest = if caps & PLUGIN_AUTH_LENENC != 0 {
            lenenc_str(rest).map_or(&[][..], |(_, after)| after)
        } else if caps & SECURE_CONNECTION != 0 {
            let n = rest.first().copied().unwrap_or(0) as usize;
            rest.get(1 + n..).unwrap_or_default()
        } else {
            cstring(rest).1
        };
        let mut database = &[][..];
        if caps & CONNECT_WITH_DB != 0 {
            (database, rest) = cstring(rest);
        }
        if caps & PLUGIN_AUTH != 0 {
            rest = cstring(rest).1;
        }
        let mut client_name = &[][..];
        if caps & CONNECT_ATTRS != 0 {
            if let Some((total, used)) = lenenc(rest) {
                // All of them, or as many as the kept bytes hold.
                let end = usize::try_from(total).map_or(rest.len(), |t| used.saturating_add(t));
                let mut attrs = rest.get(used..end.min(rest.len())).unwrap_or_default();
                while let Some((key, value, after)) = pair(attrs) {
                    if key == b"_client_name" {
                        client_name = value;
                    }
                    attrs = after;
                }
            }
        }
        cx.emit(EventKind::Mysql(MyEvent::Login {
            user: text(user),
            database: text(database),
            client_name: text(client_name),
        }));
        if let Some(stack) = client_of(client_name) {
            cx.emit(EventKind::Stack {
                by: Side::Client,
                stack,
                clue: Clue::ClientName,
            });
        }
        After::Go
    }

    fn command(&mut self, cx: &mut Cx<'_>, body: &[u8]) {
        let Some(&byte) = body.first() else {
            return;
        };
        let name = command_name(byte);
        if name == "COM_QUIT" {
            cx.quiet();
            cx.emit(EventKind::Mysql(MyEvent::Quit));
            return;
        }
        let (statement, expect, kind) = match byte {
            0x03 => {
                let kind = kind_of(&body[1..]);
                (kind_text(&kind), Expect::First, None)
            }
            0x16 => {
                let kind = kind_of(&body[1..]);
                (kind_text(&kind), Expect::Prepare, Some(kind))
            }
            0x17 => {
                let id = body
                    .get(1..5)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                let kind = self
                    .statements
                    .iter()
                    .find(|(s, _)| Some(*s) == id)
                    .map_or(CompactString::const_new("OTHER"), |(_, k)| kind_text(k));
                (kind, Expect::First, None)
            }
            0x04 | 0x1c => (CompactString::default(), Expect::First, None),
            _ => (CompactString::default(), Expect::Simple, None),
        };
        self.commands += 1;
        let n = self.commands;
        let reused = n > 1;
        cx.emit(EventKind::Mysql(MyEvent::Command {
            n,
            name,
            statement,
            reused,
            idle_ns: self
                .last_server_ns
                .filter(|_| reused)
                .map(|last| cx.t_ns.saturating_sub(last)),
        }));
        self.pending = answered(name).then_some(Pending {
            n,
            expect,
            rows: 0,
            kind,
        });
    }

    fn server(&mut self, cx: &mut Cx<'_>, p: Packet<'_>) -> After {
        let b = p.body;
        let head = b.first().copied().unwrap_or(0);
        match self.phase {
            Phase::Greeting if head == 10 => {
                self.greeting(cx, b);
                return After::Go;
            }
            Phase::Auth if head == 0x00 => {
                self.phase = Phase::Commands;
                cx.emit(EventKind::Mysql(MyEvent::Authenticated));
                if self.caps & COMPRESS != 0 {
                    cx.emit(EventKind::Mysql(MyEvent::Compressed));
                    return After::Stop;
                }
                return After::Go;
            }
            Phase::Auth if head != 0xff => return After::Go,
            Phase::Commands if self.pending.is_some() => {
                self.answer(cx, p);
                return After::Go;
            }
            _ => {}
        }
        if head == 0xff {
            // An error nobody waited for: at connect (too many connections), a refused
            // login, or a server closing an idle session (MySQL 8.0.24's 4031).
            cx.quiet();
            let (code, sql_state, message) = error(b);
            cx.emit(EventKind::Mysql(MyEvent::Error {
                code,
                sql_state,
                message,
                unasked: true,
            }));
        }
        After::Go
    }

    fn greeting(&mut self, cx: &mut Cx<'_>, b: &[u8]) {
        let (version, rest) = cstring(&b[1..]);
        let word = |at: usize| {
            rest.get(at..at + 2)
                .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
        };
        let connection_id = rest
            .get(..4)
            .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
        // id 4, auth data 8, filler 1, then the capabilities' low half; charset 1, status 2,
        // then their high half.
        self.server_caps = u32::from(word(13)) | (u32::from(word(18)) << 16);
        self.phase = Phase::Login;
        let mariadb = memchr::memmem::find(version, b"MariaDB").is_some();
        cx.emit(EventKind::Mysql(MyEvent::Greeting {
            version: text(version),
            connection_id,
        }));
        cx.emit(EventKind::Stack {
            by: Side::Server,
            stack: if mariadb {
                Stack::Mariadb
            } else {
                Stack::Mysql
            },
            clue: Clue::Protocol,
        });
    }

    /// A packet of the answer to the pending command.
    fn answer(&mut self, cx: &mut Cx<'_>, p: Packet<'_>) {
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        let b = p.body;
        let head = b.first().copied().unwrap_or(0);
        let deprecate_eof = self.caps & DEPRECATE_EOF != 0;
        let ends_rows = head == 0xfe && p.len < 0xff_ffff && (deprecate_eof || p.len < 9);
        let mut failed = None;
        let done = match pending.expect {
            _ if head == 0xff && !matches!(pending.expect, Expect::Columns(_)) => {
                let (code, sql_state, message) = error(b);
                failed = Some(code);
                cx.emit(EventKind::Mysql(MyEvent::Error {
                    code,
                    sql_state,
                    message,
                    unasked: false,
                }));
                true
            }
            Expect::Simple => true,
            Expect::First => match head {
                0x00 => ok_status(b) & MORE_RESULTS == 0,
                // LOCAL INFILE: the client sends the file, then the server's OK.
                0xfb => false,
                _ => {
                    let columns = lenenc(b).map_or(0, |(n, _)| n);
                    pending.expect = Expect::Columns(columns);
                    false
                }
            },
            Expect::Columns(left) => {
                let left = left.saturating_sub(1);
                pending.expect = match (left, deprecate_eof) {
                    (0, true) => Expect::Rows,
                    (0, false) => Expect::ColumnsEof,
                    _ => Expect::Columns(left),
                };
                false
            }
            Expect::ColumnsEof => {
                pending.expect = Expect::Rows;
                false
            }
            Expect::Rows if ends_rows => {
                let status = if deprecate_eof {
                    ok_status(b)
                } else {
                    b.get(3..5).map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
                };
                pending.expect = Expect::First;
                status & MORE_RESULTS == 0
            }
            Expect::Rows => {
                pending.rows += 1;
                false
            }
            Expect::Prepare => {
                let word = |at: usize| {
                    b.get(at..at + 2)
                        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
                };
                if let (Some(id), Some(kind)) = (
                    b.get(1..5)
                        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])),
                    pending.kind,
                ) {
                    if self.statements.len() < STATEMENTS {
                        self.statements.push((id, kind));
                    }
                }
                let eof = u64::from(!deprecate_eof);
                let part = |n: u16| if n > 0 { u64::from(n) + eof } else { 0 };
                let left = part(word(5)) + part(word(7));
                pending.expect = Expect::Definitions(left);
                left == 0
            }
            Expect::Definitions(left) => {
                pending.expect = Expect::Definitions(left.saturating_sub(1));
                left <= 1
            }
        };
        if done {
            cx.emit(EventKind::Mysql(MyEvent::Reply {
                n: pending.n,
                error: failed,
                rows: pending.rows,
            }));
        } else {
            self.pending = Some(pending);
        }
    }
}

/// The length-encoded string at the start of `data`, and what follows it.
fn lenenc_str(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, used) = lenenc(data)?;
    let end = used.checked_add(usize::try_from(n).ok()?)?;
    Some((data.get(used..end)?, &data[end..]))
}

/// One connection attribute (a length-encoded key and value) and what follows it.
fn pair(attrs: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (key, rest) = lenenc_str(attrs)?;
    let (value, rest) = lenenc_str(rest)?;
    Some((key, value, rest))
}
