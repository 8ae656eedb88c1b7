//! Checks across a lab's fields that no single field's type can make: they fail when the file
//! is read, with the dotted key of the value to blame (its line and column come from
//! [`super::locate`]).

use super::spec::LabSpec;

/// The first problem found, as (dotted key, what is wrong and what to write).
pub fn check(spec: &LabSpec) -> Result<(), (String, String)> {
    if let Some(at) = spec.server.as_ref().and_then(|s| s.shutdown_at_ms) {
        let limit = spec.timeout_s.saturating_mul(1000);
        if at >= limit {
            return Err((
                "server.shutdown_at_ms".into(),
                format!(
                    "shutdown_at_ms = {at} is not before the end of the lab (timeout_s = {} \
                     s): shut down earlier or raise timeout_s",
                    spec.timeout_s
                ),
            ));
        }
    }
    for p in &spec.link.partition {
        if p.from_ms >= p.to_ms {
            return Err((
                "link.partition.to_ms".into(),
                format!(
                    "a partition from {} ms to {} ms cuts nothing: to_ms must be after from_ms",
                    p.from_ms, p.to_ms
                ),
            ));
        }
    }
    Ok(())
}
