//! Stacks' default idle timeouts (`defaults.txt`, data): a measured idle close that falls on
//! the default of a stack the capture identified is said to be that default, so a statement
//! tells what was measured and what is inferred from it.

use super::kind::FindingKind;

/// The table: `finding | stack | ms | words`, `#` comments.
const TABLE: &str = include_str!("defaults.txt");

/// One row: a finding's figure that is a stack's default.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DefaultRow {
    finding: &'static str,
    stack: &'static str,
    ms: f64,
    words: &'static str,
}

fn rows() -> impl Iterator<Item = DefaultRow> {
    TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let mut parts = line.splitn(4, " | ");
            Some(DefaultRow {
                finding: parts.next()?,
                stack: parts.next()?,
                ms: parts.next()?.parse().ok()?,
                words: parts.next()?,
            })
        })
}

/// The default that explains `after_ms` for `kind`, among the identified `families`' rows
/// (the `any` rows when none of them has a row for the finding).
pub(crate) fn explaining(
    kind: FindingKind,
    after_ms: f64,
    families: &[impl AsRef<str>],
) -> Option<&'static str> {
    let mine: Vec<DefaultRow> = rows().filter(|r| r.finding == kind.as_str()).collect();
    let seen = |stack: &str| families.iter().any(|f| f.as_ref() == stack);
    let known = mine.iter().any(|r| seen(r.stack));
    mine.into_iter()
        .filter(|r| {
            if known {
                seen(r.stack)
            } else {
                r.stack == "any"
            }
        })
        .find(|r| (after_ms - r.ms).abs() <= (r.ms * 0.03).max(100.0))
        .map(|r| r.words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses_and_names_a_finding() {
        let text_rows = TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        assert_eq!(rows().count(), text_rows, "a row that does not parse");
        for row in rows() {
            assert!(
                FindingKind::ALL.iter().any(|k| k.as_str() == row.finding),
                "{row:?}"
            );
        }
    }

    #[test]
    fn a_figure_on_an_identified_stacks_default_is_named_and_no_other() {
        let node = explaining(
            FindingKind::ServerIdleClose,
            6_004.1,
            &["node", "server:node"],
        );
        assert!(node.is_some_and(|w| w.contains("plus its keepAliveTimeoutBuffer")));
        assert!(
            explaining(FindingKind::ServerIdleClose, 5_000.4, &["apache"])
                .is_some_and(|w| w.contains("Apache"))
        );
        // Off the default: nothing claimed.
        assert_eq!(
            explaining(
                FindingKind::ServerIdleClose,
                3_000.0,
                &["node", "server:node"]
            ),
            None
        );
        // A Node client (undici) says nothing of the server's idle timeout.
        assert_eq!(
            explaining(
                FindingKind::ServerIdleClose,
                6_000.0,
                &["node", "client:node"]
            ),
            None
        );
        // Apache identified: Node's 5 s is not named.
        assert!(
            !explaining(FindingKind::ServerIdleClose, 5_000.0, &["apache"])
                .is_some_and(|w| w.contains("Node"))
        );
        // Nothing identified: only what any stack's traffic would say.
        assert_eq!(
            explaining(
                FindingKind::ServerIdleClose,
                5_000.0,
                crate::diagnose::knobs::NO_STACK
            ),
            None
        );
        assert!(explaining(
            FindingKind::ServerIdleClose,
            60_010.0,
            crate::diagnose::knobs::NO_STACK
        )
        .is_some_and(|w| w.contains("load balancer")));
    }
}
