//! Checks across a lab's fields that no single field's type can make: they fail when the file
//! is read, with the dotted key of the value to blame (its line and column come from
//! [`super::locate`]).

use super::spec::LabSpec;

/// Every problem found, as (dotted key, which time the key is written: 0 for the first, what
/// is wrong and what to write).
pub fn check(spec: &LabSpec) -> Vec<(String, usize, String)> {
    let mut problems = Vec::new();
    if let Some(at) = spec.server.as_ref().and_then(|s| s.shutdown_at_ms) {
        let limit = spec.timeout_s.saturating_mul(1000);
        if at >= limit {
            problems.push((
                "server.shutdown_at_ms".into(),
                0,
                format!(
                    "shutdown_at_ms = {at} is not before the end of the lab (timeout_s = {} \
                     s): shut down earlier or raise timeout_s",
                    spec.timeout_s
                ),
            ));
        }
    }
    for (nth, p) in spec.link.partition.iter().enumerate() {
        if p.from_ms >= p.to_ms {
            problems.push((
                "link.partition.to_ms".into(),
                nth,
                format!(
                    "a partition from {} ms to {} ms cuts nothing: to_ms must be after from_ms",
                    p.from_ms, p.to_ms
                ),
            ));
        }
    }
    problems
}
