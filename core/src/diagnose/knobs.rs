//! The knob table (`knobs.txt`, data rather than code per finding): what to change for each
//! finding, per stack. A finding names the knobs of the stacks its traffic identified (and the
//! stack-neutral ones), never another stack's; where nothing was identified, the rows marked
//! `*` stand in.

use super::kind::FindingKind;
use crate::analyze::{Side, PROTOCOL_KNOBS};

/// The table: `finding | stacks | knob`, `#` comments.
const TABLE: &str = include_str!("knobs.txt");

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnobRow {
    /// The finding's name (`keepalive_off:client` for the side that turned keep-alive off).
    pub finding: &'static str,
    /// The stacks it applies to (`go`, `node`, `any`), comma-separated.
    pub stacks: &'static str,
    /// Shown when no identified stack has a row for the finding.
    pub default: bool,
    /// The knob in words, with its default.
    pub knob: &'static str,
}

/// Every row, in the table's order, then the rows each protocol keeps in its own folder.
pub fn rows() -> impl Iterator<Item = KnobRow> {
    std::iter::once(TABLE)
        .chain(PROTOCOL_KNOBS)
        .flat_map(str::lines)
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let mut parts = line.splitn(3, " | ");
            let (finding, stacks, knob) = (parts.next()?, parts.next()?, parts.next()?);
            let default = stacks.ends_with('*');
            Some(KnobRow {
                finding,
                stacks: stacks.trim_end_matches('*'),
                default,
                knob,
            })
        })
}

/// No stack identified: the default rows.
pub(crate) const NO_STACK: &[&str] = &[];

/// The table's key of a finding.
fn key(kind: FindingKind, side: Option<Side>) -> String {
    match (kind, side) {
        (FindingKind::KeepaliveOff, Some(side)) => format!("{}:{side}", kind.as_str()),
        (FindingKind::KeepaliveOff, None) => format!("{}:client", kind.as_str()),
        _ => kind.as_str().to_owned(),
    }
}

/// The knobs of a finding, given the stack families identified at its endpoint (`node`,
/// `python-requests`, `python`, and each with its side: `server:node`): theirs and the
/// stack-neutral ones when any of them has a row, else the default rows. A row for
/// `server:go` is Go's server knob: it applies only where the server is Go, never because the
/// client is.
pub(crate) fn knobs(
    kind: FindingKind,
    side: Option<Side>,
    families: &[impl AsRef<str>],
) -> Vec<&'static str> {
    let key = key(kind, side);
    let mine: Vec<KnobRow> = rows().filter(|r| r.finding == key).collect();
    let applies = |r: &KnobRow| {
        r.stacks
            .split(',')
            .any(|s| families.iter().any(|f| f.as_ref() == s))
    };
    if mine.iter().any(applies) {
        mine.iter()
            .filter(|r| applies(r) || r.stacks == "any")
            .map(|r| r.knob)
            .collect()
    } else {
        mine.iter().filter(|r| r.default).map(|r| r.knob).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Clue, Stack};

    #[test]
    fn every_finding_has_default_knobs_and_every_row_a_known_finding() {
        for kind in FindingKind::ALL {
            let sides: &[Option<Side>] = if kind == FindingKind::KeepaliveOff {
                &[Some(Side::Client), Some(Side::Server)]
            } else {
                &[None]
            };
            for &side in sides {
                assert!(!knobs(kind, side, NO_STACK).is_empty(), "{kind:?} {side:?}");
            }
        }
        let names: Vec<String> = FindingKind::ALL
            .iter()
            .flat_map(|k| [key(*k, None), key(*k, Some(Side::Server))])
            .collect();
        for row in rows() {
            assert!(names.iter().any(|n| n == row.finding), "{row:?}");
        }
    }

    #[test]
    fn an_identified_stack_gets_its_knobs_and_no_others() {
        let node = knobs(
            FindingKind::ServerIdleClose,
            None,
            &seen(&[], &[Stack::Node]),
        );
        assert!(node[0].contains("keepAliveTimeout"), "{node:?}");
        assert!(
            !node
                .iter()
                .any(|k| k.contains("Go ") || k.contains("nginx") || k.contains("undici")),
            "{node:?}"
        );
        let python = knobs(
            FindingKind::SingleRequestConnections,
            None,
            &seen(&[Stack::PythonRequests], &[]),
        );
        assert!(python[0].contains("requests.Session()"), "{python:?}");
        // Nothing identified: the defaults, Go and nginx first as before.
        let unknown = knobs(FindingKind::ServerIdleClose, None, NO_STACK);
        assert!(
            unknown[0].starts_with("Go http.Server.IdleTimeout"),
            "{unknown:?}"
        );
        assert!(!unknown.iter().any(|k| k.contains("Node")), "{unknown:?}");
        // Identified, but without a row for this finding: the defaults.
        let other = knobs(
            FindingKind::SynRetransmits,
            None,
            &seen(&[], &[Stack::Node]),
        );
        assert_eq!(other, knobs(FindingKind::SynRetransmits, None, NO_STACK));
    }

    #[test]
    fn a_sides_knob_is_named_only_where_that_side_is_the_stack() {
        // A Go client against nginx closing idle connections: nginx's knob first, the Go
        // client's own idle timeout next, never Go's server knob.
        let go_nginx = seen(&[Stack::Go], &[Stack::Nginx]);
        let idle = knobs(FindingKind::ServerIdleClose, None, &go_nginx);
        assert_eq!(idle[0], "nginx keepalive_timeout", "{idle:?}");
        assert!(idle.iter().any(|k| k.contains("Transport.IdleConnTimeout")));
        assert!(!idle.iter().any(|k| k.contains("http.Server")), "{idle:?}");
        // curl without keep-alive against nginx: curl's knob, not nginx's as a proxy.
        let curl_nginx = seen(&[Stack::Curl], &[Stack::Nginx]);
        let off = knobs(FindingKind::KeepaliveOff, Some(Side::Client), &curl_nginx);
        assert!(off.iter().all(|k| !k.contains("as a proxy")), "{off:?}");
        assert!(off[0].starts_with("curl"), "{off:?}");
        // nginx as the client (proxy_pass): its upstream keepalive.
        let proxy = seen(&[Stack::Nginx], &[Stack::Node]);
        let off = knobs(FindingKind::KeepaliveOff, Some(Side::Client), &proxy);
        assert!(off[0].starts_with("nginx as a proxy"), "{off:?}");
        // A Go client against a server that named nothing (Go's sends no Server header):
        // Go's server knob first, as before, and the Go client's own.
        let go_unnamed = seen(&[Stack::Go], &[]);
        let idle = knobs(FindingKind::ServerIdleClose, None, &go_unnamed);
        assert!(
            idle[0].starts_with("Go http.Server.IdleTimeout"),
            "{idle:?}"
        );
        assert!(!idle.iter().any(|k| k.contains("nginx")), "{idle:?}");
        // A Python client against a Go server that turned keep-alive off: Go's server knob,
        // not Python's http.server.
        let py_go = seen(&[Stack::PythonRequests], &[Stack::Go]);
        let off = knobs(FindingKind::KeepaliveOff, Some(Side::Server), &py_go);
        assert_eq!(off, ["Go http.Server.SetKeepAlivesEnabled(false)"]);
    }

    /// The families a capture with these client and server stacks gives.
    fn seen(clients: &[Stack], servers: &[Stack]) -> Vec<String> {
        let mut stacks = crate::diagnose::stacks::StacksSeen::default();
        for &s in clients {
            stacks.note(Side::Client, s, Clue::UserAgent);
        }
        for &s in servers {
            stacks.note(Side::Server, s, Clue::Server);
        }
        stacks.families()
    }
}
