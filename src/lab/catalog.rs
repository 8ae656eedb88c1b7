//! The labs shipped inside the binary, so `connlab run <name>` works from anywhere.

use std::path::Path;

use anyhow::{bail, Result};

use super::file::Lab;

/// Embeds `labs/<name>.toml` for each name (`labs/<dir>/<name>.toml` for `name in dir`).
macro_rules! embedded_labs {
    ($($name:literal $(in $dir:literal)?),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../labs/", $($dir, "/",)? $name, ".toml")))),*]
    };
}

/// (name, file text) of every embedded lab, in catalogue order.
pub const EMBEDDED: &[(&str, &str)] = embedded_labs![
    "keepalive-reuse",
    "pool-per-host",
    "body-unread-leak",
    "body-read-no-close",
    "body-close-unread",
    "pool-burst",
    "pool-burst-big-idle",
    "pool-max-conns",
    "peer-close-detected",
    "keepalive-race",
    "keepalive-race-no-retry",
    "short-vs-long",
    "short-vs-long-keepalive",
    "read-timeout-as-idle",
    "idle-timeout-fix",
    "write-timeout-includes-handler",
    "timeout-handler-503",
    "tcp-keepalive-dead-peer",
    "tcp-keepalive-off-half-open",
    "abortive-close-rst",
    "time-wait-port-exhaustion",
    "websocket-ping-pong",
    "websocket-idle-behind-middlebox",
    "websocket-ping-keeps-alive",
    "websocket-dead-peer",
    "websocket-close-without-handshake",
    "h2-many-streams",
    "h2-idle-goaway",
    "h2-stream-limit",
    "h2-ping-keeps-middlebox",
    "h2-hung-server-ping-timeout",
    "h2-dead-peer-no-ping",
    "grpc-too-many-pings",
    "grpc-max-connection-age",
    "tls-keepalive-reuse",
    "tls-short-connections",
    "tls-session-cache",
    "tls-resumption-refused",
    "tls-read-timeout-as-idle",
    "tls-pool-burst",
    "rst-injection",
    "read-deadline-absolute",
    "read-deadline-per-read",
    "long-connections",
    // In a folder of its own, so a suite of labs/ (a CI job) does not hold 500,000
    // connections unasked.
    "c500k" in "scale",
    "curl-keepalive",
    "curl-connection-close",
    "redis-idle-timeout",
    "pg-idle-session-timeout",
    "pg-idle-in-transaction",
    "pgbouncer-server-idle",
    "pg-stale-after-middlebox",
    "mysql-wait-timeout-gone-away",
    "mysql-stale-after-middlebox",
    "db-pool-burst",
    "pg-pool-burst",
    "pg-max-lifetime-fix",
    "mysql-pool-burst",
    "mysql-max-lifetime-fix",
    "middlebox-idle-reset",
    "middlebox-idle-reset-post",
    "middlebox-idle-blackhole",
    "middlebox-keepalive-fix",
    "middlebox-pool-timeout-fix",
    "graceful-shutdown",
    "server-request-limit",
    "dead-peer-retransmit",
    "dead-peer-user-timeout",
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
    if let Some(near) = nearest(name_or_path, &names) {
        bail!(
            "no lab named {name_or_path:?} and no such file: did you mean {near:?}? (`connlab \
             list` shows them all)"
        );
    }
    // A path (a `/` or an extension in it) is a file that is not there, not an unknown lab.
    if name_or_path.contains('/') || path.extension().is_some() {
        bail!("no such file: {name_or_path}");
    }
    bail!(
        "no lab named {name_or_path:?} and no such file; embedded labs: {} (see `connlab list`)",
        names.join(", ")
    )
}

/// The name a misspelling most likely meant: a typo or two away, or the only name it begins.
fn nearest<'a>(typed: &str, names: &[&'a str]) -> Option<&'a str> {
    let stem = Path::new(typed)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(typed);
    let (distance, best) = names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(stem, n), *n))
        .min()?;
    if distance <= 2.max(stem.len() / 6) {
        return Some(best);
    }
    let mut begun = names
        .iter()
        .filter(|n| n.starts_with(stem) && stem.len() >= 4);
    match (begun.next(), begun.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
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
    fn misspelt_names_get_a_suggestion() {
        for typo in [
            "keepalive-reues",
            "pool-brust",
            "labs/pool-burst-big-idel.toml",
        ] {
            let err = resolve(typo).expect_err("no such lab").to_string();
            assert!(err.contains("did you mean"), "{typo}: {err}");
        }
        let err = resolve("pool-burst-big").expect_err("a prefix").to_string();
        assert!(
            err.contains("did you mean \"pool-burst-big-idle\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_names_list_the_catalogue() {
        let err = resolve("no-such-lab").expect_err("unknown").to_string();
        assert!(err.contains("keepalive-reuse"), "{err}");
    }
}
