//! MySQL's part of the diagnosis: what its sessions say beyond their exchanges. The
//! TCP-level findings (an idle close, a pool's burst, a command on a closed connection, a
//! dead peer) come from the exchanges like every protocol's; this adds the error a server
//! sends as it ends a session: MySQL 8.0.24's 4031 before an idle close (MariaDB and older
//! MySQL close without a word), 1040 when its connections are all taken, 1053 at shutdown.

use std::net::SocketAddr;

use super::event::MyEvent;
use crate::diagnose::{Examples, Finding, FindingKind};
use crate::words::plural;

/// Error codes kept apart per endpoint; past them a hostile stream's codes are not followed.
const CODES: usize = 16;

/// One session as the diagnosis follows it: the error it ended with, and its frame.
#[derive(Debug, Clone, Default)]
pub(crate) struct MyConn {
    ended_with: Option<(u16, u64)>,
}

impl MyConn {
    /// Follows one event of the session at `frame`.
    pub fn apply(&mut self, my: &MyEvent, frame: u64) {
        if let MyEvent::Error {
            code,
            unasked: true,
            ..
        } = my
        {
            self.ended_with.get_or_insert((*code, frame));
        }
    }

    /// Folds the closed session into its endpoint.
    pub fn finish(&self, conn: u64, ep: &mut MyEndpoint) {
        ep.sessions += 1;
        let Some((code, frame)) = self.ended_with else {
            return;
        };
        if let Some((_, examples)) = ep.ended_with.iter_mut().find(|(c, _)| *c == code) {
            examples.add(conn, frame);
        } else if ep.ended_with.len() < CODES {
            let mut examples = Examples::default();
            examples.add(conn, frame);
            ep.ended_with.push((code, examples));
        }
    }
}

/// What an endpoint's MySQL sessions said as they ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct MyEndpoint {
    sessions: u64,
    ended_with: Vec<(u16, Examples)>,
}

impl MyEndpoint {
    fn ended_with(&self, code: u16) -> Option<&Examples> {
        self.ended_with
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, e)| e)
    }
}

/// Says, on an idle close found by the exchanges, whether the server gave its reason first
/// (MySQL 8.0.24 and later: 4031) or closed without a word (MariaDB, older MySQL).
pub(crate) fn amend(ep: &MyEndpoint, out: &mut [Finding]) {
    if ep.sessions == 0 {
        return;
    }
    for f in out
        .iter_mut()
        .filter(|f| f.kind == FindingKind::ServerIdleClose)
    {
        if let Some(said) = ep.ended_with(4031) {
            f.code = Some("4031".to_owned());
            f.statement.push_str(&format!(
                "; the server said why before closing {}: ERR 4031, the client was idle past \
                 wait_timeout",
                plural(said.count, "session", "sessions")
            ));
        } else {
            f.statement.push_str(
                "; the server closed without a word, as MariaDB and MySQL before 8.0.24 do at \
                 wait_timeout: the client learns it at its next command (\"server has gone \
                 away\", 2006 or 2013)",
            );
        }
    }
}

/// The findings only MySQL's errors show: a full server and a shutdown (direct
/// observations: one session is enough).
pub(crate) fn findings(server: SocketAddr, ep: &MyEndpoint, out: &mut Vec<Finding>) {
    for (code, examples) in &ep.ended_with {
        let (kind, what) = match code {
            1040 => (
                FindingKind::TooManyConnections,
                "refused at connect: ERR 1040, too many connections (max_connections)",
            ),
            1053 => (
                FindingKind::ServerShutdown,
                "ended by the server shutting down: ERR 1053",
            ),
            _ => continue,
        };
        let statement = format!(
            "{} with {server} {what}",
            plural(examples.count, "session", "sessions")
        );
        out.push(Finding {
            code: Some(code.to_string()),
            ..Finding::new(kind, server, examples).says(statement)
        });
    }
}
