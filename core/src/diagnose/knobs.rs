//! The knob table (`knobs.txt`, data rather than code per finding): what to change for each
//! finding, per stack. A finding names the knobs of the stacks its traffic identified (and the
//! stack-neutral ones), never another stack's; where nothing was identified, the rows marked
//! `*` stand in.

use super::findings::FindingKind;
use crate::analyze::Side;

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

/// Every row, in the table's order.
pub fn rows() -> impl Iterator<Item = KnobRow> {
    TABLE
        .lines()
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

/// The table's key of a finding.
fn key(kind: FindingKind, side: Option<Side>) -> String {
    match (kind, side) {
        (FindingKind::KeepaliveOff, Some(side)) => format!("{}:{side}", kind.as_str()),
        (FindingKind::KeepaliveOff, None) => format!("{}:client", kind.as_str()),
        _ => kind.as_str().to_owned(),
    }
}

/// The knobs of a finding, given the stack families identified at its endpoint (`node`,
/// `python-requests`, `python`): theirs and the stack-neutral ones when any of them has a row,
/// else the default rows.
pub(crate) fn knobs(kind: FindingKind, side: Option<Side>, families: &[&str]) -> Vec<&'static str> {
    let key = key(kind, side);
    let mine: Vec<KnobRow> = rows().filter(|r| r.finding == key).collect();
    let applies = |r: &KnobRow| r.stacks.split(',').any(|s| families.contains(&s));
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

    #[test]
    fn every_finding_has_default_knobs_and_every_row_a_known_finding() {
        for kind in FindingKind::ALL {
            let sides: &[Option<Side>] = if kind == FindingKind::KeepaliveOff {
                &[Some(Side::Client), Some(Side::Server)]
            } else {
                &[None]
            };
            for &side in sides {
                assert!(!knobs(kind, side, &[]).is_empty(), "{kind:?} {side:?}");
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
        let node = knobs(FindingKind::ServerIdleClose, None, &["node"]);
        assert!(node[0].contains("keepAliveTimeout"), "{node:?}");
        assert!(
            !node
                .iter()
                .any(|k| k.contains("Go ") || k.contains("nginx")),
            "{node:?}"
        );
        let python = knobs(
            FindingKind::SingleRequestConnections,
            None,
            &["python-requests", "python"],
        );
        assert!(python[0].contains("requests.Session()"), "{python:?}");
        // Nothing identified: the defaults, Go and nginx first as before.
        let unknown = knobs(FindingKind::ServerIdleClose, None, &[]);
        assert!(
            unknown[0].starts_with("Go http.Server.IdleTimeout"),
            "{unknown:?}"
        );
        assert!(!unknown.iter().any(|k| k.contains("Node")), "{unknown:?}");
        // Identified, but without a row for this finding: the defaults.
        let other = knobs(FindingKind::SynRetransmits, None, &["node"]);
        assert_eq!(other, knobs(FindingKind::SynRetransmits, None, &[]));
    }
}
