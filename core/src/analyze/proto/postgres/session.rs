//! What a PostgreSQL session's messages mean, once framed: the startup, the queries grouped
//! into turns (a simple Query, or extended messages up to a Sync) that each ReadyForQuery
//! ends in order, the server's errors, and the stacks the startup names.

use std::collections::VecDeque;

use compact_str::CompactString;

use super::event::{PgEvent, TxStatus};
use super::wire::{cstrings, u32_at, Message, Wire};
use crate::analyze::event::{EventKind, Side};
use crate::analyze::proto::layer::Cx;
use crate::analyze::stack::{Clue, Stack};

/// The startup codes of the client's untyped first messages.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// Statement and portal names remembered per session (with the kind of statement each
/// runs); past them an Execute's statement is `OTHER`, so a hostile stream stays bounded.
const NAMED: usize = 64;
/// Turns waiting for their ReadyForQuery that are remembered; a client that pipelines more
/// is counted, not followed.
const PENDING: usize = 4096;
/// Characters of an error's message kept.
const MESSAGE: usize = 160;

/// One turn of the conversation: the messages up to a Sync (or one simple Query).
#[derive(Debug, Clone, Copy, Default)]
struct Turn {
    /// The first query of the turn (0: none yet).
    query: u32,
}

/// A session's state between messages.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// The client asked for encryption and the server's one-byte answer is due.
    pub awaiting: Option<&'static str>,
    queries: u32,
    /// The turn the client is sending (extended messages not yet ended by a Sync).
    open: Option<Turn>,
    /// Turns sent and not yet answered, oldest first.
    pending: VecDeque<Turn>,
    /// When the server last spoke (a query's idle time runs from it).
    last_server_ns: Option<u64>,
    /// Prepared statements and portals by name, with the kind of statement each runs.
    statements: Vec<(CompactString, CompactString)>,
    portals: Vec<(CompactString, CompactString)>,
    /// The server was named (once per connection).
    told_server: bool,
    /// The startup's ParameterStatus: the latest name (lower case, a bounded prefix), whether
    /// one came out of PostgreSQL's order, and whether `server_version` was among them.
    last_parameter: CompactString,
    parameters_unsorted: bool,
    told_version: bool,
}

/// Characters of a parameter's name compared for order; no server's names are longer.
const PARAMETER_NAME: usize = 48;

/// A field as text (the capture's bytes, lossily).
fn text(bytes: &[u8]) -> CompactString {
    CompactString::from_utf8_lossy(bytes)
}

/// The kind of a statement: its first keyword, upper case, after blanks, comments and
/// opening parentheses (`SELECT`, `BEGIN`, `WITH`); `EMPTY` for none.
pub(crate) fn statement_kind(sql: &[u8]) -> CompactString {
    let mut rest = sql;
    loop {
        rest = rest.trim_ascii_start();
        if let Some(after) = rest.strip_prefix(b"--") {
            rest = &after[memchr::memchr(b'\n', after).map_or(after.len(), |i| i + 1)..];
        } else if let Some(after) = rest.strip_prefix(b"/*") {
            rest = memchr::memmem::find(after, b"*/").map_or(&[][..], |i| &after[i + 2..]);
        } else if let Some(after) = rest.strip_prefix(b"(") {
            rest = after;
        } else {
            break;
        }
    }
    let word = rest
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
        .count();
    if word == 0 {
        return CompactString::const_new("EMPTY");
    }
    text(&rest[..word.min(24)].to_ascii_uppercase())
}

fn remember(list: &mut Vec<(CompactString, CompactString)>, name: &[u8], kind: CompactString) {
    if let Some(slot) = list.iter_mut().find(|(n, _)| n.as_bytes() == name) {
        slot.1 = kind;
    } else if list.len() < NAMED {
        list.push((text(name), kind));
    }
}

fn recall(list: &[(CompactString, CompactString)], name: &[u8]) -> CompactString {
    list.iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map_or(CompactString::const_new("OTHER"), |(_, k)| k.clone())
}

/// The client library an `application_name` names, where it names one by default.
fn client_of(application_name: &[u8]) -> Option<Stack> {
    match application_name {
        b"psql" => Some(Stack::Psql),
        b"PostgreSQL JDBC Driver" => Some(Stack::Pgjdbc),
        _ => None,
    }
}

/// The names of a StartupMessage's parameters, as far as they tell drivers apart. Each sends
/// its own set (captured from Debian's builds): lib/pq `extra_float_digits`, `datestyle`,
/// `client_encoding`, `user`, `database` in a random order (a Go map's); pgjdbc `user`,
/// `database`, `client_encoding`, `DateStyle`, `TimeZone`, `extra_float_digits`;
/// tokio-postgres `client_encoding`, `user`, `database`. libpq (psql, psycopg2) and pgx send
/// `user` and `database` alone unless told more, so they are not told apart here.
#[derive(Default)]
struct Shape {
    /// How many parameters.
    count: u8,
    /// The first was `client_encoding`.
    encoding_first: bool,
    datestyle: bool,
    camel_datestyle: bool,
    timezone: bool,
    extra_float_digits: bool,
}

impl Shape {
    fn add(&mut self, name: &[u8]) {
        self.encoding_first |= self.count == 0 && name == b"client_encoding";
        self.count = self.count.saturating_add(1);
        match name {
            b"datestyle" => self.datestyle = true,
            b"DateStyle" => self.camel_datestyle = true,
            b"TimeZone" => self.timezone = true,
            b"extra_float_digits" => self.extra_float_digits = true,
            _ => {}
        }
    }

    fn driver(&self) -> Option<Stack> {
        if self.datestyle && self.extra_float_digits && !self.timezone {
            Some(Stack::LibPq)
        } else if self.camel_datestyle && self.timezone && self.extra_float_digits {
            Some(Stack::Pgjdbc)
        } else if self.encoding_first && self.count == 3 {
            Some(Stack::TokioPostgres)
        } else {
            None
        }
    }
}

/// An ErrorResponse's or NoticeResponse's fields: severity (untranslated where the server
/// gives it), SQLSTATE and message.
fn fields(body: &[u8]) -> (CompactString, CompactString, CompactString) {
    let (mut severity, mut localized, mut code, mut message) = (None, None, None, None);
    for field in cstrings(body) {
        let Some((&tag, value)) = field.split_first() else {
            break;
        };
        match tag {
            b'V' => severity = Some(value),
            b'S' => localized = Some(value),
            b'C' => code = Some(value),
            b'M' => message = Some(value),
            _ => {}
        }
    }
    let message = message.unwrap_or_default();
    (
        text(severity.or(localized).unwrap_or_default()),
        text(code.unwrap_or_default()),
        text(&message[..message.len().min(MESSAGE)]),
    )
}

impl Session {
    /// Reads one message of `side`; whether the direction's reader goes on, or why the
    /// message is no PostgreSQL.
    pub fn message(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        wire: &mut Wire,
        m: Message<'_>,
    ) -> Result<bool, &'static str> {
        match side {
            Side::Client if m.ty == 0 => self.startup(cx, wire, m),
            Side::Client => {
                self.client(cx, m);
                Ok(true)
            }
            Side::Server => {
                if self.server(cx, m) {
                    self.last_server_ns = Some(cx.t_ns);
                }
                Ok(true)
            }
        }
    }

    fn startup(
        &mut self,
        cx: &mut Cx<'_>,
        wire: &mut Wire,
        m: Message<'_>,
    ) -> Result<bool, &'static str> {
        let code = u32_at(m.body, 0).ok_or("a startup packet without a code")?;
        match code {
            SSL_REQUEST => self.awaiting = Some("ssl"),
            GSSENC_REQUEST => self.awaiting = Some("gss"),
            CANCEL_REQUEST => {
                let (pid, key) = (u32_at(m.body, 4), u32_at(m.body, 8));
                let (Some(pid), Some(key)) = (pid, key) else {
                    return Err("a CancelRequest without its key");
                };
                cx.emit(EventKind::Postgres(PgEvent::Cancel { pid, key }));
                return Ok(true);
            }
            _ if code >> 16 == 3 => {
                wire.typed();
                let mut params = cstrings(&m.body[4..]);
                let (mut user, mut database, mut application_name) = (None, None, None);
                let mut shape = Shape::default();
                while let (Some(name), Some(value)) = (params.next(), params.next()) {
                    shape.add(name);
                    match name {
                        b"user" => user = Some(value),
                        b"database" => database = Some(value),
                        b"application_name" => application_name = Some(value),
                        _ => {}
                    }
                }
                let user = user.unwrap_or_default();
                let application_name = application_name.unwrap_or_default();
                cx.emit(EventKind::Postgres(PgEvent::Startup {
                    user: text(user),
                    database: text(database.unwrap_or(user)),
                    application_name: text(application_name),
                }));
                let named = client_of(application_name).map(|s| (s, Clue::ApplicationName));
                let shaped = shape.driver().map(|s| (s, Clue::StartupParameters));
                if let Some((stack, clue)) = named.or(shaped) {
                    cx.emit(EventKind::Stack {
                        by: Side::Client,
                        stack,
                        clue,
                    });
                }
                return Ok(true);
            }
            _ => return Err("an unknown startup code"),
        }
        // The server's one-byte answer comes next; nothing the client sends before it is
        // PostgreSQL's to read.
        Ok(false)
    }

    fn client(&mut self, cx: &mut Cx<'_>, m: Message<'_>) {
        match m.ty {
            b'Q' => {
                if let Some(turn) = self.open.take() {
                    self.push(turn);
                }
                let sql = cstrings(m.body).next().unwrap_or_default();
                let mut turn = Turn::default();
                self.query(cx, &mut turn, statement_kind(sql), false);
                self.push(turn);
            }
            b'P' => {
                let mut f = cstrings(m.body);
                let (name, sql) = (f.next().unwrap_or_default(), f.next().unwrap_or_default());
                remember(&mut self.statements, name, statement_kind(sql));
                self.open.get_or_insert_with(Turn::default);
            }
            b'B' => {
                let mut f = cstrings(m.body);
                let (portal, statement) =
                    (f.next().unwrap_or_default(), f.next().unwrap_or_default());
                let kind = recall(&self.statements, statement);
                remember(&mut self.portals, portal, kind);
                self.open.get_or_insert_with(Turn::default);
            }
            b'E' => {
                let portal = cstrings(m.body).next().unwrap_or_default();
                let kind = recall(&self.portals, portal);
                let mut turn = self.open.take().unwrap_or_default();
                self.query(cx, &mut turn, kind, true);
                self.open = Some(turn);
            }
            b'S' => {
                let turn = self.open.take().unwrap_or_default();
                self.push(turn);
            }
            b'D' | b'C' | b'H' | b'F' => {
                self.open.get_or_insert_with(Turn::default);
            }
            b'X' => {
                cx.quiet();
                cx.emit(EventKind::Postgres(PgEvent::Terminate));
            }
            _ => {}
        }
    }

    /// A query of `turn` (a Query, or an Execute).
    fn query(&mut self, cx: &mut Cx<'_>, turn: &mut Turn, kind: CompactString, extended: bool) {
        self.queries += 1;
        let n = self.queries;
        let opens_turn = turn.query == 0;
        if opens_turn {
            turn.query = n;
        }
        let reused = n > 1;
        let waiting = self.pending.iter().filter(|t| t.query > 0).count() as u32;
        cx.emit(EventKind::Postgres(PgEvent::Query {
            n,
            kind,
            extended,
            opens_turn,
            reused,
            idle_ns: self
                .last_server_ns
                .filter(|_| reused && opens_turn)
                .map(|last| cx.t_ns.saturating_sub(last)),
            depth: waiting + 1,
        }));
    }

    fn push(&mut self, turn: Turn) {
        if self.pending.len() < PENDING {
            self.pending.push_back(turn);
        }
    }

    /// Follows the order of the startup's ParameterStatus names. PostgreSQL sends them sorted
    /// by name, ignoring case (it walks its settings in that order); pgbouncer relays the
    /// server's, then its own tracked ones (client_encoding, DateStyle, TimeZone,
    /// standard_conforming_strings, application_name) at the end, out of that order.
    fn parameter_order(&mut self, name: &[u8]) {
        let name = &name[..name.len().min(PARAMETER_NAME)];
        let lower = text(&name.to_ascii_lowercase());
        self.parameters_unsorted |= lower < self.last_parameter;
        self.last_parameter = lower;
    }

    /// Reads a server's message; whether it is activity (a FATAL that ends an idle session
    /// is not: a query after it was idle since the last answer).
    fn server(&mut self, cx: &mut Cx<'_>, m: Message<'_>) -> bool {
        let pg = |e| EventKind::Postgres(e);
        match m.ty {
            b'R' if u32_at(m.body, 0) == Some(0) => cx.emit(pg(PgEvent::Authenticated)),
            b'S' => {
                let mut f = cstrings(m.body);
                let (name, value) = (f.next().unwrap_or_default(), f.next().unwrap_or_default());
                if name == b"server_version" {
                    cx.emit(pg(PgEvent::ServerVersion {
                        version: text(value),
                    }));
                    self.told_version = true;
                }
                if !self.told_server {
                    self.parameter_order(name);
                }
            }
            b'K' | b'Z' if !self.told_server && self.told_version => {
                self.told_server = true;
                let stack = match self.parameters_unsorted {
                    true => (Stack::Pgbouncer, Clue::ParameterOrder),
                    false => (Stack::Postgres, Clue::Protocol),
                };
                cx.emit(EventKind::Stack {
                    by: Side::Server,
                    stack: stack.0,
                    clue: stack.1,
                });
                return self.server(cx, m);
            }
            b'K' => {
                if let (Some(pid), Some(key)) = (u32_at(m.body, 0), u32_at(m.body, 4)) {
                    cx.emit(pg(PgEvent::BackendKey { pid, key }));
                }
            }
            b'Z' => {
                let status = m.body.first().copied().and_then(TxStatus::of);
                let n = self.pending.pop_front().map_or(0, |t| t.query);
                if let Some(status) = status {
                    cx.emit(pg(PgEvent::Ready { n, status }));
                }
            }
            b'E' | b'N' => {
                let (severity, code, message) = fields(m.body);
                if m.ty == b'N' {
                    cx.emit(pg(PgEvent::Notice { severity, code }));
                    return true;
                }
                // A session's end announced while it was idle (idle_session_timeout, an
                // admin's shutdown, a pooler's timeout) is not activity: its idle time runs
                // from the last answer.
                let ends = matches!(severity.as_str(), "FATAL" | "PANIC");
                let idle = self.pending.is_empty() && self.open.is_none();
                if ends && idle {
                    cx.quiet();
                }
                cx.emit(pg(PgEvent::Error {
                    severity,
                    code,
                    message,
                }));
                return !(ends && idle);
            }
            b'A' => {
                let channel = m.body.get(4..).and_then(|b| cstrings(b).next());
                cx.emit(pg(PgEvent::Notification {
                    channel: text(channel.unwrap_or_default()),
                }));
            }
            b'G' => cx.emit(pg(PgEvent::Copy { direction: "in" })),
            b'H' => cx.emit(pg(PgEvent::Copy { direction: "out" })),
            b'W' => cx.emit(pg(PgEvent::Copy { direction: "both" })),
            _ => {}
        }
        true
    }
}
