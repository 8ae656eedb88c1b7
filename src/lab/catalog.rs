//! The labs shipped inside the binary, so `connlab run <name>` works from anywhere.

use std::path::Path;

use anyhow::{bail, Result};

use super::spec::Lab;

/// (name, file text) of every embedded lab, in catalogue order.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "keepalive-reuse",
        include_str!("../../labs/keepalive-reuse.toml"),
    ),
    (
        "pool-per-host",
        include_str!("../../labs/pool-per-host.toml"),
    ),
    (
        "body-unread-leak",
        include_str!("../../labs/body-unread-leak.toml"),
    ),
    (
        "body-read-no-close",
        include_str!("../../labs/body-read-no-close.toml"),
    ),
    (
        "body-close-unread",
        include_str!("../../labs/body-close-unread.toml"),
    ),
    ("pool-burst", include_str!("../../labs/pool-burst.toml")),
    (
        "pool-burst-big-idle",
        include_str!("../../labs/pool-burst-big-idle.toml"),
    ),
    (
        "pool-max-conns",
        include_str!("../../labs/pool-max-conns.toml"),
    ),
    (
        "peer-close-detected",
        include_str!("../../labs/peer-close-detected.toml"),
    ),
    (
        "keepalive-race",
        include_str!("../../labs/keepalive-race.toml"),
    ),
    (
        "keepalive-race-no-retry",
        include_str!("../../labs/keepalive-race-no-retry.toml"),
    ),
    (
        "short-vs-long",
        include_str!("../../labs/short-vs-long.toml"),
    ),
    (
        "short-vs-long-keepalive",
        include_str!("../../labs/short-vs-long-keepalive.toml"),
    ),
    (
        "read-timeout-as-idle",
        include_str!("../../labs/read-timeout-as-idle.toml"),
    ),
    (
        "idle-timeout-fix",
        include_str!("../../labs/idle-timeout-fix.toml"),
    ),
    (
        "write-timeout-includes-handler",
        include_str!("../../labs/write-timeout-includes-handler.toml"),
    ),
    (
        "timeout-handler-503",
        include_str!("../../labs/timeout-handler-503.toml"),
    ),
    (
        "tcp-keepalive-dead-peer",
        include_str!("../../labs/tcp-keepalive-dead-peer.toml"),
    ),
    (
        "tcp-keepalive-off-half-open",
        include_str!("../../labs/tcp-keepalive-off-half-open.toml"),
    ),
    (
        "abortive-close-rst",
        include_str!("../../labs/abortive-close-rst.toml"),
    ),
    (
        "time-wait-port-exhaustion",
        include_str!("../../labs/time-wait-port-exhaustion.toml"),
    ),
];

/// Finds a lab by embedded name or by file path. A name that is neither gets an error listing
/// the embedded labs.
pub fn resolve(name_or_path: &str) -> Result<Lab> {
    let path = Path::new(name_or_path);
    if path.is_file() {
        return Lab::load(path);
    }
    if let Some((name, text)) = EMBEDDED.iter().find(|(n, _)| *n == name_or_path) {
        return Ok(Lab::parse(name, &format!("embedded:{name}"), text)?);
    }
    let names: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
    bail!(
        "no lab named {name_or_path:?} and no such file; embedded labs: {} (see `connlab list`)",
        names.join(", ")
    )
}

/// Every embedded lab, parsed.
pub fn all() -> Result<Vec<Lab>> {
    EMBEDDED
        .iter()
        .map(|(name, text)| Ok(Lab::parse(name, &format!("embedded:{name}"), text)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_lab_parses_and_states_its_question_and_expectations() {
        for lab in all().expect("embedded labs parse") {
            assert!(lab.spec.question.ends_with('?'), "{}: question", lab.name);
            assert!(!lab.spec.about.is_empty(), "{}: about", lab.name);
            assert!(!lab.expectations.is_empty(), "{}: [expect]", lab.name);
        }
    }

    #[test]
    fn unknown_names_list_the_catalogue() {
        let err = resolve("no-such-lab").expect_err("unknown").to_string();
        assert!(err.contains("keepalive-reuse"), "{err}");
    }
}
