//! The documented range of every number a lab file can hold, checked on the raw table before
//! the typed fields are read, so that `delay_ms = -5.0`, `loss_pct = 150`, `nan` or a delay
//! of 2^63 ms is an error that names the field, its line and column, and what is allowed,
//! instead of a link that silently behaves as if it were 0. Lab files and `--set` values go
//! through the same check. Times are bounded (a day at most) so that no `ms * 1_000_000` or
//! `Instant + duration` can overflow.

use std::fmt::Write as _;

/// A day in milliseconds: the bound of every time in a lab.
const DAY_MS: f64 = 86_400_000.0;
/// The kernel's bound on TCP keepalive idle and interval times (MAX_TCP_KEEPIDLE, seconds).
const KEEPALIVE_MAX_MS: f64 = 32_767_000.0;

/// What one numeric field accepts.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// Smallest value allowed.
    pub min: f64,
    /// Largest value allowed.
    pub max: f64,
    /// Values must be a multiple of this (1 for any integer; 0 for any real).
    pub step: f64,
    /// Unit, for the message (`ms`, `%`, `s`, or empty).
    pub unit: &'static str,
    /// Why the bounds are what they are, or what to write instead.
    pub note: &'static str,
}

const fn ints(min: f64, max: f64, unit: &'static str, note: &'static str) -> Range {
    Range {
        min,
        max,
        step: 1.0,
        unit,
        note,
    }
}

const fn reals(min: f64, max: f64, unit: &'static str, note: &'static str) -> Range {
    Range {
        min,
        max,
        step: 0.0,
        unit,
        note,
    }
}

const TIME: Range = ints(0.0, DAY_MS, "ms", "");
const TIMEOUT: Range = ints(1.0, DAY_MS, "ms", "leave the field out for no timeout");
/// A WebSocket timer of gorilla/websocket's, 0 to leave it off.
const WS_TIMER: Range = ints(0.0, DAY_MS, "ms", "0: off");
/// A timeout that falls back to another when left out (its default is in the actor's table).
const TIMEOUT_WITH_DEFAULT: Range = ints(
    1.0,
    DAY_MS,
    "ms",
    "left out: the actor's default, in docs/actors.md",
);
const PORT: Range = ints(1.0, 65_535.0, "", "");
const LINK_TIME: Range = reals(
    0.0,
    60_000.0,
    "ms",
    "a link slower than a minute is a cut link: use [[link.partition]]",
);
const LOSS: Range = reals(0.0, 100.0, "%", "");
const KEEPALIVE_TIME: Range = Range {
    min: 1_000.0,
    max: KEEPALIVE_MAX_MS,
    step: 1_000.0,
    unit: "ms",
    note: "the kernel counts keepalive times in whole seconds",
};
const COUNT: Range = ints(1.0, 1_000_000.0, "", "");

/// Every numeric field and its range. `*` stands for any actor table (`server`, `client`,
/// `tcp_client`, ...); array-of-tables entries (`[[link.partition]]`) share one key.
pub const RULES: &[(&str, Range)] = &[
    ("settle_ms", TIME),
    ("timeout_s", ints(1.0, 86_400.0, "s", "a day at most")),
    (
        "capture.snaplen",
        ints(
            64.0,
            65_535.0,
            "bytes",
            "64 keeps the Ethernet, IP and TCP headers",
        ),
    ),
    (
        "capture.ring_frames",
        ints(
            16.0,
            1_048_576.0,
            "frames",
            "rounded up to a power of two; 65536 unless a test wants connlab's own drops",
        ),
    ),
    ("link.seed", ints(0.0, 9.2e18, "", "")),
    ("link.delay_ms", LINK_TIME),
    ("link.jitter_ms", LINK_TIME),
    ("link.loss_pct", LOSS),
    ("link.to_server.delay_ms", LINK_TIME),
    ("link.to_server.jitter_ms", LINK_TIME),
    ("link.to_server.loss_pct", LOSS),
    ("link.to_client.delay_ms", LINK_TIME),
    ("link.to_client.jitter_ms", LINK_TIME),
    ("link.to_client.loss_pct", LOSS),
    ("link.partition.from_ms", TIME),
    ("link.partition.to_ms", TIME),
    ("link.inject_rst.at_ms", TIME),
    (
        "link.inject_rst.conn",
        ints(1.0, 10_000_000.0, "", "connections count from 1"),
    ),
    (
        "link.middlebox.idle_timeout_ms",
        ints(1.0, DAY_MS, "ms", ""),
    ),
    ("server.port", PORT),
    ("server.extra_ports", PORT),
    ("server.read_timeout_ms", TIMEOUT),
    ("server.read_header_timeout_ms", TIMEOUT_WITH_DEFAULT),
    ("server.write_timeout_ms", TIMEOUT),
    ("server.idle_timeout_ms", TIMEOUT_WITH_DEFAULT),
    ("server.handler_delay_ms", TIME),
    ("server.handler_timeout_ms", TIMEOUT),
    (
        "server.body_bytes",
        ints(0.0, 1_073_741_824.0, "bytes", "1 GiB at most"),
    ),
    (
        "server.max_requests_per_conn",
        ints(1.0, 4_294_967_295.0, "", "leave it out for no limit"),
    ),
    ("server.shutdown_at_ms", TIME),
    ("server.shutdown_grace_ms", TIME),
    ("client.requests", ints(1.0, 100_000_000.0, "", "")),
    ("client.concurrency", COUNT),
    ("client.interval_ms", TIME),
    ("client.stagger_ms", TIME),
    ("client.bursts", COUNT),
    ("client.burst_gap_ms", TIME),
    (
        "client.max_idle_per_host",
        ints(0.0, 1_000_000.0, "", "0 keeps no idle connection"),
    ),
    (
        "client.max_conns_per_host",
        ints(0.0, 1_000_000.0, "", "0 means no limit, as in Go"),
    ),
    ("client.idle_conn_timeout_ms", TIMEOUT_WITH_DEFAULT),
    ("client.post_every", ints(1.0, 4_294_967_295.0, "", "")),
    ("client.request_timeout_ms", TIMEOUT),
    ("client.tls_handshake_timeout_ms", TIMEOUT_WITH_DEFAULT),
    ("tcp_server.port", PORT),
    ("tcp_server.read_deadline_ms", TIMEOUT),
    ("tcp_client.connections", COUNT),
    ("tcp_client.dial_batch", COUNT),
    (
        "tcp_client.dial_rate",
        ints(
            1.0,
            10_000_000.0,
            "connections/s",
            "leave it out to dial as fast as possible",
        ),
    ),
    ("tcp_client.heartbeat_ms", ints(1.0, DAY_MS, "ms", "")),
    ("tcp_client.duration_ms", TIME),
    (
        "db_client.max_open",
        ints(0.0, 1_000_000.0, "", "0 for no limit"),
    ),
    (
        "db_client.max_idle",
        ints(0.0, 1_000_000.0, "", "0 keeps none"),
    ),
    ("db_client.max_lifetime_ms", TIMEOUT),
    ("db_client.max_idle_time_ms", TIMEOUT),
    ("db_client.bursts", COUNT),
    ("db_client.burst_size", COUNT),
    ("db_client.burst_gap_ms", TIME),
    ("ws_server.port", PORT),
    ("ws_server.ping_interval_ms", WS_TIMER),
    ("ws_server.pong_wait_ms", WS_TIMER),
    ("ws_server.write_wait_ms", ints(1.0, DAY_MS, "ms", "")),
    ("ws_client.connections", ints(1.0, 100_000.0, "", "")),
    ("ws_client.messages", ints(1.0, 10_000_000.0, "", "")),
    (
        "ws_client.ping_every",
        ints(0.0, 10_000_000.0, "", "0: no \"ping\" text message"),
    ),
    ("ws_client.interval_ms", TIME),
    ("ws_client.idle_ms", TIME),
    (
        "ws_client.messages_after_idle",
        ints(0.0, 10_000_000.0, "", ""),
    ),
    ("ws_client.ping_interval_ms", WS_TIMER),
    ("ws_client.pong_wait_ms", WS_TIMER),
    ("ws_client.write_wait_ms", ints(1.0, DAY_MS, "ms", "")),
    (
        "ws_client.close_code",
        ints(
            1000.0,
            4999.0,
            "",
            "RFC 6455 7.4: 1000 normal, 1001 going away, 4000-4999 private",
        ),
    ),
    ("h2_server.port", PORT),
    (
        "h2_server.max_concurrent_streams",
        ints(
            1.0,
            4_294_967_295.0,
            "",
            "leave it out for the default (Go 250, gRPC none)",
        ),
    ),
    ("h2_server.idle_timeout_ms", TIMEOUT),
    ("h2_server.read_timeout_ms", TIMEOUT),
    ("h2_server.handler_delay_ms", TIME),
    (
        "h2_server.body_bytes",
        ints(0.0, 16_777_216.0, "bytes", "16 MiB at most"),
    ),
    ("h2_server.min_ping_interval_ms", TIME),
    ("h2_server.max_connection_idle_ms", TIMEOUT),
    ("h2_server.max_connection_age_ms", TIMEOUT),
    ("h2_server.max_connection_age_grace_ms", TIME),
    ("h2_server.hang_after_ms", TIME),
    ("h2_client.requests", ints(0.0, 100_000_000.0, "", "")),
    ("h2_client.concurrency", COUNT),
    ("h2_client.interval_ms", TIME),
    ("h2_client.idle_ms", TIME),
    (
        "h2_client.requests_after_idle",
        ints(0.0, 100_000_000.0, "", ""),
    ),
    ("h2_client.read_idle_timeout_ms", TIMEOUT),
    ("h2_client.keepalive_time_ms", TIMEOUT),
    ("h2_client.ping_timeout_ms", TIMEOUT),
    ("h2_client.keepalive_timeout_ms", TIMEOUT),
    ("h2_client.request_timeout_ms", TIMEOUT),
    ("exec_server.port", PORT),
    ("exec_client.port", PORT),
    ("*.socket.tcp_keepalive.idle_ms", KEEPALIVE_TIME),
    ("*.socket.tcp_keepalive.interval_ms", KEEPALIVE_TIME),
    (
        "*.socket.tcp_keepalive.count",
        ints(1.0, 127.0, "", "the kernel's TCP_KEEPCNT bound"),
    ),
    ("*.socket.user_timeout_ms", TIMEOUT),
];

/// Tables whose numbers are not lab knobs: expectations, and sysctls (the kernel checks
/// those when they are written, and the run reports its error).
const UNCHECKED: &[&str] = &["expect", "sysctl"];

/// A value outside its range.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfRange {
    /// The dotted key (`link.delay_ms`).
    pub key: String,
    /// Which occurrence of the key, for keys in arrays of tables (0 for the first).
    pub nth: usize,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The range of `key`, if it is a numeric field.
pub fn range_of(key: &str) -> Option<Range> {
    RULES
        .iter()
        .find(|(pattern, _)| matches(pattern, key))
        .map(|(_, range)| *range)
}

fn matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => key.split_once('.').is_some_and(|(_, tail)| tail == rest),
        None => pattern == key,
    }
}

/// Checks every number of the lab's table against its range; the first bad one is returned.
pub fn check(table: &toml::Table) -> Result<(), OutOfRange> {
    match check_all(table).into_iter().next() {
        Some(bad) => Err(bad),
        None => Ok(()),
    }
}

/// Every number of the lab's table outside its range (in the table's order of keys, not the
/// file's: the caller places them).
pub fn check_all(table: &toml::Table) -> Vec<OutOfRange> {
    let mut seen = std::collections::HashMap::new();
    let mut bad = Vec::new();
    for (key, value) in table {
        if UNCHECKED.contains(&key.as_str()) {
            continue;
        }
        walk(key, value, &mut seen, &mut bad);
    }
    bad
}

fn walk(
    key: &str,
    value: &toml::Value,
    seen: &mut std::collections::HashMap<String, usize>,
    bad: &mut Vec<OutOfRange>,
) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                walk(&format!("{key}.{k}"), v, seen, bad);
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|v| walk(key, v, seen, bad)),
        toml::Value::Integer(i) => bad.extend(leaf(key, *i as f64, &i.to_string(), seen).err()),
        toml::Value::Float(f) => bad.extend(leaf(key, *f, &format!("{f:?}"), seen).err()),
        _ => {}
    }
}

fn leaf(
    key: &str,
    value: f64,
    written: &str,
    seen: &mut std::collections::HashMap<String, usize>,
) -> Result<(), OutOfRange> {
    let nth = seen.entry(key.to_owned()).or_insert(0);
    let this = *nth;
    *nth += 1;
    // A number where none is expected: the typed reading names the field and its type.
    let Some(range) = range_of(key) else {
        return Ok(());
    };
    let problem = if value.is_nan() {
        Some("is not a number".to_owned())
    } else if value.is_infinite() {
        Some("is infinite".to_owned())
    } else if value < range.min || value > range.max {
        Some("is out of range".to_owned())
    } else if range.step > 0.0 && value % range.step != 0.0 {
        Some(format!("is not a multiple of {}", range.step))
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(OutOfRange {
            key: key.to_owned(),
            nth: this,
            message: format!("{key} = {written} {problem}: {}", describe(&range)),
        }),
    }
}

/// `allowed: 0 to 100 %`, with the note.
pub fn describe(range: &Range) -> String {
    let number = |v: f64| {
        if v >= 9e18 {
            "2^63".to_owned()
        } else {
            format!("{v}")
        }
    };
    let unit = if range.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", range.unit)
    };
    let kind = if range.step == 0.0 {
        ""
    } else if range.step == 1.0 {
        "a whole number "
    } else {
        "a multiple of 1000 "
    };
    let mut out = format!(
        "allowed: {kind}from {} to {}{unit}",
        number(range.min),
        number(range.max)
    );
    if !range.note.is_empty() {
        let _ = write!(out, " ({})", range.note);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).expect("toml")
    }

    #[test]
    fn the_values_from_the_issue_are_refused_and_name_the_field() {
        for (text, key) in [
            ("[link]\ndelay_ms = -5.0", "link.delay_ms"),
            ("[link]\ndelay_ms = nan", "link.delay_ms"),
            ("[link]\nloss_pct = -1.0", "link.loss_pct"),
            ("[link]\ndelay_ms = 9223372036854775807", "link.delay_ms"),
            ("[link]\nloss_pct = 150.0", "link.loss_pct"),
            ("[link]\njitter_ms = 1e300", "link.jitter_ms"),
            ("[link]\njitter_ms = inf", "link.jitter_ms"),
        ] {
            let err = check(&table(text)).expect_err(text);
            assert_eq!(err.key, key, "{text}");
            assert!(err.message.starts_with(key), "{}", err.message);
            assert!(err.message.contains("allowed: "), "{}", err.message);
        }
    }

    #[test]
    fn socket_rules_apply_to_every_actor_and_keepalive_is_in_seconds() {
        let err = check(&table(
            "[tcp_client.socket.tcp_keepalive]\nidle_ms = 1500\ninterval_ms = 1000\ncount = 3",
        ))
        .expect_err("not whole seconds");
        assert_eq!(err.key, "tcp_client.socket.tcp_keepalive.idle_ms");
        assert!(err.message.contains("multiple of 1000"), "{}", err.message);
        assert!(check(&table("[server.socket]\nuser_timeout_ms = 0")).is_err());
        assert!(check(&table("[client.socket]\nuser_timeout_ms = 2000")).is_ok());
    }

    #[test]
    fn entries_of_arrays_of_tables_are_counted() {
        let err = check(&table(
            "[[link.partition]]\nfrom_ms = 1\nto_ms = 2\n[[link.partition]]\nfrom_ms = -1\nto_ms = 2",
        ))
        .expect_err("second entry");
        assert_eq!((err.key.as_str(), err.nth), ("link.partition.from_ms", 1));
    }

    #[test]
    fn expectations_and_sysctls_are_not_knobs() {
        assert!(check(&table(
            "[expect]\nreused = -1\n[sysctl.client]\n\"net.x\" = -1"
        ))
        .is_ok());
    }

    /// Every concrete key of RULES (`*` expanded to each actor with a socket).
    fn keys() -> Vec<String> {
        let actors = [
            "server",
            "client",
            "tcp_server",
            "tcp_client",
            "ws_server",
            "ws_client",
            "h2_server",
            "h2_client",
            "db_client",
        ];
        RULES
            .iter()
            .flat_map(|(pattern, _)| match pattern.strip_prefix("*.") {
                Some(rest) => actors.iter().map(|a| format!("{a}.{rest}")).collect(),
                None => vec![pattern.to_string()],
            })
            .collect()
    }

    /// A lab file setting `key` to the marker `@`, with the actors the key needs.
    fn lab_setting(key: &str) -> String {
        let (head, rest) = key.split_once('.').unwrap_or(("", key));
        let roles = match head {
            "tcp_server" | "tcp_client" => "[tcp_server]\n[tcp_client]\n",
            "ws_server" | "ws_client" => "[ws_server]\n[ws_client]\n",
            "h2_server" | "h2_client" => "[h2_server]\n[h2_client]\n",
            "db_client" => "[tcp_server]\n[db_client]\n",
            "exec_server" => "[exec_server]\ncommand = [\"true\"]\n[client]\n",
            "exec_client" => "[server]\n[exec_client]\ncommand = [\"true\"]\n",
            _ => "[server]\n[client]\n",
        };
        let mut text = String::from("question = \"q?\"\n");
        match (head, rest) {
            ("", _) => text.push_str(&format!("{key} = @\n{roles}")),
            ("capture", _) => text.push_str(&format!("{roles}[capture]\n{rest} = @\n")),
            ("link", "partition.from_ms") => text.push_str(&format!(
                "{roles}[[link.partition]]\nfrom_ms = @\nto_ms = 99\n"
            )),
            ("link", "partition.to_ms") => text.push_str(&format!(
                "{roles}[[link.partition]]\nfrom_ms = 0\nto_ms = @\n"
            )),
            ("link", "inject_rst.at_ms") => {
                text.push_str(&format!("{roles}[[link.inject_rst]]\nat_ms = @\n"))
            }
            ("link", "inject_rst.conn") => text.push_str(&format!(
                "{roles}[[link.inject_rst]]\nat_ms = 1\nconn = @\n"
            )),
            ("link", _) => text.push_str(&format!("{roles}[link]\n{rest} = @\n")),
            ("server", "extra_ports") => text.push_str("[server]\nextra_ports = [@]\n[client]\n"),
            _ => {
                // The key goes under its actor's header, as a dotted key.
                let header = format!("[{head}]\n");
                let mut lines = format!("{rest} = @\n");
                // tcp_keepalive needs its three fields.
                if let Some(field) = rest.strip_prefix("socket.tcp_keepalive.") {
                    for (other, good) in [("idle_ms", 1000), ("interval_ms", 1000), ("count", 3)] {
                        if other != field {
                            lines.push_str(&format!("socket.tcp_keepalive.{other} = {good}\n"));
                        }
                    }
                }
                let roles = roles.replacen(&header, &format!("{header}{lines}"), 1);
                assert_ne!(roles.find('@'), None, "{key}: its actor is in the lab");
                text.push_str(&roles);
            }
        }
        text
    }

    /// Values outside `range`: below, above (unless unbounded), NaN and infinity for reals.
    fn bad_values(range: &Range) -> Vec<String> {
        let mut bad = vec![format!("{}", range.min - range.step.max(1.0))];
        if range.max < 9e18 {
            bad.push(format!("{}", range.max + range.step.max(1.0)));
        }
        if range.step == 0.0 {
            bad.extend(["nan".to_owned(), "inf".to_owned(), "-inf".to_owned()]);
        }
        if range.step > 1.0 {
            bad.push(format!("{}", range.min + 1.0));
        }
        bad
    }

    #[test]
    fn one_bad_value_per_field_is_refused_in_files_and_in_set() {
        use crate::lab::file::Lab;
        use crate::lab::overrides::{apply, Override};
        let mut checked = 0;
        for key in keys() {
            let range = range_of(&key).expect("a rule");
            let template = lab_setting(&key);
            let good = template.replace('@', &format!("{}", range.min.max(range.step)));
            let base = Lab::parse("t", "t.toml", &good)
                .unwrap_or_else(|e| panic!("{key}: the lab with a good value parses: {e}\n{good}"));
            // Numbers in an array are placed at the array.
            let marker = template.find("[@").or(template.find('@')).expect("marker");
            let place = crate::lab::locate::line_column(&template, marker);
            for bad in bad_values(&range) {
                let text = template.replace('@', &bad);
                let err = Lab::parse("t", "t.toml", &text)
                    .expect_err(&format!("{key} = {bad} is refused"));
                assert_eq!((err.line, err.column), place, "{key} = {bad}: {err}");
                assert!(err.message.starts_with(&format!("{key} = ")), "{err}");
                assert!(err.message.contains("allowed: "), "{err}");
                if !key.contains("partition")
                    && !key.contains("inject_rst")
                    && !key.ends_with("extra_ports")
                {
                    let set: Override = format!("{key}={bad}").parse().expect("override");
                    let err = apply(&base, &[set]).expect_err(&format!("--set {key}={bad}"));
                    assert!(err.to_string().contains(&format!("{key} = ")), "{err}");
                }
                checked += 1;
            }
        }
        assert!(checked > 150, "{checked} bad values");
    }

    /// The table of ranges in docs/lab-format.md, as RULES say it.
    fn documented_table() -> String {
        let mut out = String::from("| field | allowed |\n|---|---|\n");
        for (key, range) in RULES {
            let allowed = describe(range);
            let allowed = allowed.trim_start_matches("allowed: ");
            out.push_str(&format!("| `{key}` | {allowed} |\n"));
        }
        out
    }

    #[test]
    fn the_docs_document_every_range() {
        let page = include_str!("../../docs/lab-format.md");
        let start = "<!-- ranges: generated from src/lab/ranges.rs -->\n";
        let table = page
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("<!-- /ranges -->"))
            .map(|(table, _)| table)
            .unwrap_or("");
        assert_eq!(
            table,
            documented_table(),
            "docs/lab-format.md's range table, between the markers"
        );
    }

    #[test]
    fn every_numeric_field_of_every_embedded_lab_has_a_range() {
        fn numbers(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
            match v {
                toml::Value::Table(t) => t
                    .iter()
                    .for_each(|(k, v)| numbers(&format!("{prefix}.{k}"), v, out)),
                toml::Value::Array(a) => a.iter().for_each(|v| numbers(prefix, v, out)),
                toml::Value::Integer(_) | toml::Value::Float(_) => out.push(prefix.to_owned()),
                _ => {}
            }
        }
        for (name, text) in crate::lab::catalog::EMBEDDED {
            let mut keys = Vec::new();
            for (k, v) in table(text) {
                if !UNCHECKED.contains(&k.as_str()) {
                    numbers(&k, &v, &mut keys);
                }
            }
            for key in keys {
                assert!(range_of(&key).is_some(), "{name}: {key} has no range");
            }
        }
    }
}
