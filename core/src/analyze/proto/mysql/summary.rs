//! MySQL totals over a capture (`"mysql"` in the summary), folded from the mysql events like
//! every summary, so the live view and a later read agree by construction.

use serde::Serialize;

use super::event::MyEvent;
use crate::analyze::event::{Event, EventKind};
use crate::analyze::vocabulary::ByName;
use crate::words::plural;
use crate::FastMap;

/// Commands: how many, by name, and by the statement's first keyword.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Commands {
    /// Every command the clients sent (COM_QUIT apart).
    pub total: u64,
    /// By name (`COM_QUERY`, `COM_PING`, ...).
    pub by_name: ByName,
    /// Queries and prepared statements by their first keyword (`SELECT`, `SET`, ...).
    pub by_statement: ByName,
    /// Commands whose answer was read to its end.
    pub answered: u64,
}

/// How the sessions ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Ended {
    /// The client sent COM_QUIT.
    pub quit: u64,
    /// The server sent an error nobody asked for (MySQL 8.0.24's 4031 on an idle session),
    /// then the connection closed.
    pub error_then_close: u64,
    /// A FIN with no word in the protocol before it.
    pub fin: u64,
    /// A reset.
    pub rst: u64,
    /// Still open when the capture ended.
    pub open: u64,
}

/// MySQL totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MySummary {
    /// Connections the server greeted.
    pub sessions: u64,
    /// The clients' commands.
    pub commands: Commands,
    /// COM_PINGs (a pool's check before use, or its keepalive).
    pub pings: u64,
    /// Rows of the result sets.
    pub rows: u64,
    /// Errors by code (`1054`, `4031`, `1040`, ...).
    pub errors: ByName,
    /// How the sessions ended.
    pub ended: Ended,
    /// The servers' versions, by the sessions that reported each.
    pub server_versions: ByName,
    /// The client libraries, as their connection attributes name them (`_client_name`).
    pub clients: ByName,
    /// Sessions whose client asked for TLS (not read further).
    pub ssl_requests: u64,
    /// Sessions that agreed on the compressed protocol (not read further).
    pub compressed: u64,
    /// Directions whose framing was lost to a gap in the capture.
    pub lost_sync: u64,
    /// Open sessions, with how each is ending.
    #[serde(skip)]
    open: FastMap<u64, Ending>,
}

/// What an open session said of its end so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Ending {
    #[default]
    Nothing,
    Quit,
    Error,
}

impl MySummary {
    /// Whether the capture held no MySQL at all (the section is then left out).
    pub fn is_empty(&self) -> bool {
        self.sessions == 0
    }

    /// The section in words, for the text summary (None where no MySQL was seen).
    pub fn text(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let e = &self.ended;
        Some(format!(
            "mysql: {} on {} ({}), {} rows, errors {}; sessions ended by COM_QUIT {}, error \
             then close {}, bare FIN {}, RST {}, open {}",
            plural(self.commands.total, "command", "commands"),
            plural(self.sessions, "session", "sessions"),
            self.commands.by_name.busiest(6),
            self.rows,
            self.errors.listed(),
            e.quit,
            e.error_then_close,
            e.fin,
            e.rst,
            e.open,
        ))
    }

    /// Folds a connection's `Closed` event: nothing to do (and no call) where no session
    /// is open, as in a capture without MySQL.
    #[inline]
    pub fn close(&mut self, event: &Event) {
        if !self.open.is_empty() {
            self.apply(event);
        }
    }

    /// Folds one event (the mysql events, and `Closed` to settle a session's end).
    pub fn apply(&mut self, event: &Event) {
        let my = match &event.kind {
            EventKind::Mysql(my) => my,
            // Every connection's close comes here: a capture without MySQL pays no lookup.
            EventKind::Closed { .. } if self.open.is_empty() => return,
            EventKind::Closed { by_rst, .. } => {
                if let Some(ending) = self.open.remove(&event.conn) {
                    self.ended.open -= 1;
                    let e = &mut self.ended;
                    *(match ending {
                        Ending::Quit => &mut e.quit,
                        Ending::Error => &mut e.error_then_close,
                        Ending::Nothing if *by_rst => &mut e.rst,
                        Ending::Nothing => &mut e.fin,
                    }) += 1;
                }
                return;
            }
            _ => return,
        };
        match my {
            MyEvent::Greeting { version, .. } => {
                self.sessions += 1;
                self.ended.open += 1;
                self.open.insert(event.conn, Ending::Nothing);
                self.server_versions.add(version);
            }
            MyEvent::Login { client_name, .. } if !client_name.is_empty() => {
                self.clients.add(client_name);
            }
            MyEvent::Command {
                name, statement, ..
            } => {
                self.commands.total += 1;
                self.commands.by_name.add(name);
                if !statement.is_empty() {
                    self.commands.by_statement.add(statement);
                }
                self.pings += u64::from(*name == "COM_PING");
            }
            MyEvent::Reply { n, rows, .. } => {
                self.commands.answered += u64::from(*n > 0);
                self.rows += rows;
            }
            MyEvent::Error { code, unasked, .. } => {
                self.errors.add(&code.to_string());
                if let Some(ending) = self.open.get_mut(&event.conn) {
                    if *ending == Ending::Nothing && *unasked {
                        *ending = Ending::Error;
                    }
                }
            }
            MyEvent::Quit => {
                if let Some(ending) = self.open.get_mut(&event.conn) {
                    *ending = Ending::Quit;
                }
            }
            MyEvent::SslRequest => self.ssl_requests += 1,
            MyEvent::Compressed => self.compressed += 1,
            MyEvent::LostSync { .. } => self.lost_sync += 1,
            MyEvent::Login { .. } | MyEvent::Authenticated => {}
        }
    }
}
