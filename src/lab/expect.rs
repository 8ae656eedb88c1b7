//! `[expect]`: assertions on the run summary, checked against the analyser's reading of the
//! wire (not the actors' word).
//!
//! A key is a summary field, dotted for nested ones (`time_wait.client`). A value is a number
//! (equality), a comparison string (`">= 99"`, `"< 3"`, `"!= 0"`), an inclusive range
//! (`"45..55"`), or, for a per-side field such as `fin_first_by`, a side: `"server"` means every
//! such event came from the server (server > 0, client = 0), likewise `"client"`, `"both"`
//! (both > 0) and `"none"` (both 0); for a field that names a side (a finding's `side`), the
//! same word means that side.
//!
//! Findings: `findings = ["server_idle_close"]` wants exactly these kinds (`[]`: none), and
//! `findings.server_idle_close.after_ms = "900..1100"` reaches a field of the finding of that
//! kind with the most connections (inside a list, a key picks the element of that `kind`).

use connlab_core::diagnose::FindingKind;
use serde::Serialize;
use serde_json::Value;

/// The run summary's top-level fields: what an `[expect]` key starts with (a typo is refused
/// when the file is read, not found out as `got null` after the run). `tests/labs.rs` checks
/// the list against a real run's summary.
pub const SUMMARY_FIELDS: &[&str] = &[
    "lab",
    "connections",
    "requests",
    "reused",
    "responses",
    "fin_first_by",
    "rst_by",
    "time_wait",
    "keepalive_probes",
    "retransmits",
    "frames",
    "tcp_segments",
    "undecodable",
    "cut_segments",
    "open",
    "websocket",
    "http2",
    "tls",
    "findings",
    "capture_gaps",
    "withheld_findings",
    "endpoints",
    "distributions",
    "dropped",
    "link_dropped",
    "kernel_time_wait",
    "kernel_states",
    "wire",
    "middlebox",
    "client",
    "capture",
    "events",
    "report",
    "interrupted",
    "overrides",
    "privileges",
    "unavailable",
    "memory",
    "teardown_ms",
    "scale",
    "exec",
    "expectations",
];

/// Every top-level field a summary may have: connlab's own, then each protocol's section.
pub fn summary_fields() -> impl Iterator<Item = &'static str> {
    SUMMARY_FIELDS
        .iter()
        .copied()
        .chain(connlab_core::analyze::PROTOCOL_SECTIONS)
}

/// One assertion from the lab file.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Summary field, dotted.
    pub key: String,
    /// What is wanted.
    pub want: Want,
}

/// A wanted value.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    /// Compare the number with `op`.
    Compare(Op, f64),
    /// Inclusive range.
    Range(f64, f64),
    /// Which side produced every event of a per-side counter.
    Side(SideWord),
    /// Exactly these finding kinds (sorted, without repeats).
    Kinds(Vec<String>),
    /// A field that names something (`findings.reset_after_idle.by = "middlebox"`).
    Word(String),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// ==
    Eq,
    /// !=
    Ne,
    /// >=
    Ge,
    /// <=
    Le,
    /// >
    Gt,
    /// <
    Lt,
}

/// Side words for per-side counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideWord {
    /// Only the client.
    Client,
    /// Only the server.
    Server,
    /// Both sides.
    Both,
    /// Neither.
    None,
}

/// One checked expectation, as printed and as written in `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The key as written.
    pub name: String,
    /// The wanted value as text (`>= 99`).
    pub want: String,
    /// The summary's value.
    pub got: Value,
    /// Whether it held.
    pub pass: bool,
    /// Why a failed expectation may not be the lab's doing: connlab's own machine lost frames
    /// during the run (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl Expectation {
    /// Parses one `key = value` line of `[expect]`; the error says what is accepted.
    pub fn parse(key: &str, value: &toml::Value) -> Result<Expectation, String> {
        known_key(key).map_err(|e| format!("expectation {e}"))?;
        let want = match value {
            toml::Value::Array(items) if key == "findings" => {
                let mut kinds = Vec::new();
                for item in items {
                    let kind = item.as_str().ok_or_else(|| {
                        format!(
                            "expectation `findings`: list finding kinds as strings, found {item}"
                        )
                    })?;
                    known_kind(key, kind).map_err(|e| format!("expectation {e}"))?;
                    kinds.push(kind.to_owned());
                }
                kinds.sort();
                kinds.dedup();
                Want::Kinds(kinds)
            }
            toml::Value::Integer(i) => Want::Compare(Op::Eq, *i as f64),
            toml::Value::Float(f) => Want::Compare(Op::Eq, *f),
            toml::Value::String(s) => {
                parse_text(s.trim(), names_something(key)).ok_or_else(|| {
                    format!(
                        "expectation `{key}`: cannot read {s:?}; write a number (5), a comparison \
                     (\">= 5\", \"< 3\", \"!= 0\"), a range (\"45..55\"), for per-side \
                     counters \"client\", \"server\", \"both\" or \"none\", or for `by`, `via` \
                     and `side` a lowercase word (\"middlebox\"), for `code` an HTTP/2 error \
                     code (\"REFUSED_STREAM\")"
                    )
                })?
            }
            other => {
                return Err(format!(
                    "expectation `{key}`: expected a number or a string, found a {}",
                    other.type_str()
                ))
            }
        };
        Ok(Expectation {
            key: key.to_owned(),
            want,
        })
    }

    /// Checks the expectation against the summary (as JSON).
    pub fn check(&self, summary: &Value) -> Outcome {
        let mut got = value_at(summary, &self.key);
        if let Want::Kinds(_) = self.want {
            got = finding_kinds(&got);
        }
        let pass = match (&self.want, &got) {
            (Want::Compare(op, n), Value::Number(g)) => g.as_f64().is_some_and(|g| op.holds(g, *n)),
            (Want::Range(lo, hi), Value::Number(g)) => {
                g.as_f64().is_some_and(|g| *lo <= g && g <= *hi)
            }
            (Want::Side(word), Value::Object(sides)) => {
                let count = |s: &str| sides.get(s).and_then(Value::as_u64).unwrap_or(0);
                // "none" means no one at all, a middlebox included.
                let others = sides
                    .iter()
                    .filter(|(k, _)| *k != "client" && *k != "server")
                    .any(|(_, v)| v.as_u64().unwrap_or(0) > 0);
                word.holds(count("client"), count("server")) && !(*word == SideWord::None && others)
            }
            // A field that names one side (a finding's `side`).
            (Want::Side(word), Value::String(side)) => word.name() == side,
            (Want::Word(word), Value::String(got)) => word == got,
            (Want::Kinds(want), Value::Array(kinds)) => {
                kinds.len() == want.len() && kinds.iter().zip(want).all(|(g, w)| g == w)
            }
            _ => false,
        };
        let lost = summary["dropped"].as_u64().unwrap_or(0);
        let why = (!pass && lost > 0).then(|| {
            let wire = &summary["wire"];
            format!(
                "connlab's own machine fell behind and lost {lost} frames (wire ring {}, \
                 recorder {}, kernel input queues {}): the run is damaged, not the lab's \
                 network",
                wire["kernel_dropped"], wire["recorder_dropped"], wire["backlog_dropped"]
            )
        });
        Outcome {
            name: self.key.clone(),
            want: self.want.to_string(),
            got,
            pass,
            why,
        }
    }
}

/// The value at a dotted key of a summary (`time_wait.client`,
/// `findings.pool_overflow.kept_idle`), Null when there is none. A field whose own name holds
/// dots is reached too (`tls.versions.1.3`: the field `1.3` of `versions`).
pub fn value_at(summary: &Value, key: &str) -> Value {
    let parts: Vec<&str> = key.split('.').collect();
    walk(summary, &parts).cloned().unwrap_or(Value::Null)
}

/// The value at `parts`, each step taking the fewest parts that name something.
fn walk<'a>(v: &'a Value, parts: &[&str]) -> Option<&'a Value> {
    if parts.is_empty() {
        return Some(v);
    }
    (1..=parts.len()).find_map(|n| {
        let next = lookup(v, &parts[..n].join("."))?;
        walk(next, &parts[n..])
    })
}

/// One step of a dotted key: a field of an object, or in a list the element whose `kind` is
/// `part` (findings), or the element at that index.
fn lookup<'a>(v: &'a Value, part: &str) -> Option<&'a Value> {
    match v {
        Value::Array(items) => items
            .iter()
            .find(|item| item.get("kind").and_then(Value::as_str) == Some(part))
            .or_else(|| part.parse::<usize>().ok().and_then(|i| items.get(i))),
        _ => v.get(part),
    }
}

/// The sorted, distinct kinds of a findings list.
fn finding_kinds(findings: &Value) -> Value {
    let mut kinds: Vec<String> = findings
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("kind").and_then(Value::as_str).map(str::to_owned))
        .collect();
    kinds.sort();
    kinds.dedup();
    Value::Array(kinds.into_iter().map(Value::String).collect())
}

/// An error naming what there is, unless `key` reaches into a field every summary (or some
/// lab's) has: its first part is a summary field, and under `findings.` comes a finding kind.
/// For `[expect]` keys and `sweep --metric`.
pub fn known_key(key: &str) -> Result<(), String> {
    let field = key.split('.').next().unwrap_or(key);
    if !summary_fields().any(|f| f == field) {
        let all: Vec<&str> = summary_fields().collect();
        return Err(format!(
            "`{key}`: the summary has no field `{field}`; its fields are {}",
            all.join(", ")
        ));
    }
    if let Some(kind) = key
        .strip_prefix("findings.")
        .and_then(|k| k.split('.').next())
    {
        known_kind(key, kind)?;
    }
    Ok(())
}

/// An error naming the valid kinds unless `kind` is one.
fn known_kind(key: &str, kind: &str) -> Result<(), String> {
    if FindingKind::ALL.iter().any(|k| k.as_str() == kind) {
        return Ok(());
    }
    let names: Vec<&str> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
    Err(format!(
        "`{key}`: {kind:?} is not a finding kind; the kinds are {}",
        names.join(", ")
    ))
}

/// The fields whose values are words: a finding's `by`, `via`, `side` and `code`.
fn names_something(key: &str) -> bool {
    [".by", ".via", ".side", ".code"]
        .iter()
        .any(|end| key.ends_with(end))
}

fn parse_text(s: &str, word_field: bool) -> Option<Want> {
    match s {
        "client" => return Some(Want::Side(SideWord::Client)),
        "server" => return Some(Want::Side(SideWord::Server)),
        "both" => return Some(Want::Side(SideWord::Both)),
        "none" => return Some(Want::Side(SideWord::None)),
        _ => {}
    }
    if let Some((lo, hi)) = s.split_once("..") {
        let lo = lo.trim().parse().ok()?;
        let hi = hi.trim().trim_start_matches('=').trim().parse().ok()?;
        return Some(Want::Range(lo, hi));
    }
    let ops = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
    ];
    for (text, op) in ops {
        if let Some(rest) = s.strip_prefix(text) {
            return rest.trim().parse().ok().map(|n| Want::Compare(op, n));
        }
    }
    if let Ok(n) = s.parse() {
        return Some(Want::Compare(Op::Eq, n));
    }
    // A word for a field that names something (`middlebox`, `connection_close_header`, an
    // HTTP/2 error code such as `REFUSED_STREAM`).
    let word = !s.is_empty()
        && (s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            || s.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
    (word && word_field).then(|| Want::Word(s.to_owned()))
}

impl Op {
    fn holds(self, got: f64, want: f64) -> bool {
        match self {
            Op::Eq => got == want,
            Op::Ne => got != want,
            Op::Ge => got >= want,
            Op::Le => got <= want,
            Op::Gt => got > want,
            Op::Lt => got < want,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Lt => "<",
        }
    }
}

impl SideWord {
    fn name(self) -> &'static str {
        match self {
            SideWord::Client => "client",
            SideWord::Server => "server",
            SideWord::Both => "both",
            SideWord::None => "none",
        }
    }

    fn holds(self, client: u64, server: u64) -> bool {
        match self {
            SideWord::Client => client > 0 && server == 0,
            SideWord::Server => server > 0 && client == 0,
            SideWord::Both => client > 0 && server > 0,
            SideWord::None => client == 0 && server == 0,
        }
    }
}

impl std::fmt::Display for Want {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Want::Compare(op, n) => write!(f, "{} {n}", op.as_str()),
            Want::Range(lo, hi) => write!(f, "in {lo}..{hi}"),
            Want::Side(SideWord::Client) => f.write_str("= client only"),
            Want::Side(SideWord::Server) => f.write_str("= server only"),
            Want::Side(SideWord::Both) => f.write_str("= both sides"),
            Want::Side(SideWord::None) => f.write_str("= none"),
            Want::Kinds(kinds) if kinds.is_empty() => f.write_str("= no finding"),
            Want::Kinds(kinds) => write!(f, "= exactly {}", kinds.join(", ")),
            Want::Word(word) => write!(f, "= {word}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(key: &str, value: toml::Value, summary: Value) -> bool {
        Expectation::parse(key, &value)
            .expect("parses")
            .check(&summary)
            .pass
    }

    #[test]
    fn numbers_mean_equality() {
        assert!(check("connections", 1.into(), json!({"connections": 1})));
        assert!(!check("connections", 1.into(), json!({"connections": 2})));
    }

    #[test]
    fn comparisons_and_ranges() {
        let s = json!({"reused": 99});
        assert!(check("reused", ">= 99".into(), s.clone()));
        assert!(!check("reused", "> 99".into(), s.clone()));
        assert!(check("reused", "!= 0".into(), s.clone()));
        assert!(check("reused", "90..100".into(), s.clone()));
        assert!(!check("reused", "100..110".into(), s));
    }

    #[test]
    fn dotted_keys_reach_nested_fields() {
        let s = json!({"time_wait": {"client": 48, "server": 0}});
        assert!(check("time_wait.client", 48.into(), s.clone()));
        assert!(check("time_wait.server", 0.into(), s));
    }

    #[test]
    fn field_names_with_dots_are_reached() {
        let summary = serde_json::json!({"tls": {"versions": {"1.2": 3, "1.3": 7}}});
        assert_eq!(value_at(&summary, "tls.versions.1.3"), serde_json::json!(7));
        assert_eq!(value_at(&summary, "tls.versions.1.4"), Value::Null);
        assert!(check("tls.versions.1.2", toml::Value::Integer(3), summary));
    }

    #[test]
    fn side_words_judge_both_counters() {
        let s = json!({"fin_first_by": {"client": 0, "server": 5}});
        assert!(check("fin_first_by", "server".into(), s.clone()));
        assert!(!check("fin_first_by", "client".into(), s.clone()));
        assert!(!check("fin_first_by", "none".into(), s));
        assert!(check(
            "rst_by",
            "none".into(),
            json!({"rst_by": {"client": 0, "server": 0}})
        ));
    }

    #[test]
    fn missing_field_fails_instead_of_passing() {
        // A known field the summary of this run lacks (an actor's own, say).
        assert!(!check("client.ok", 0.into(), json!({"connections": 0})));
    }

    #[test]
    fn findings_by_kind_and_their_fields() {
        let s = json!({"findings": [
            {"kind": "server_idle_close", "after_ms": 1000.4, "connections": 4},
            {"kind": "abortive_close", "connections": 3},
            {"kind": "abortive_close", "connections": 3}
        ]});
        let kinds = |list: &[&str]| {
            toml::Value::Array(list.iter().map(|k| toml::Value::from(*k)).collect())
        };
        assert!(check(
            "findings",
            kinds(&["abortive_close", "server_idle_close"]),
            s.clone()
        ));
        assert!(!check("findings", kinds(&["server_idle_close"]), s.clone()));
        assert!(!check("findings", kinds(&[]), s.clone()));
        assert!(check("findings", kinds(&[]), json!({"findings": []})));
        assert!(check(
            "findings.server_idle_close.after_ms",
            "950..1050".into(),
            s.clone()
        ));
        assert!(!check(
            "findings.pool_overflow.kept_idle",
            2.into(),
            s.clone()
        ));
        let by = json!({"findings": [{"kind": "reset_after_idle", "by": "middlebox"}]});
        assert!(check(
            "findings.reset_after_idle.by",
            "middlebox".into(),
            by.clone()
        ));
        assert!(!check("findings.reset_after_idle.by", "server".into(), by));
        let rst = json!({"rst_by": {"client": 0, "server": 0, "middlebox": 1}});
        assert!(
            !check("rst_by", "none".into(), rst),
            "a middlebox's reset is one"
        );
        let side = json!({"findings": [{"kind": "abortive_close", "side": "server"}]});
        assert!(check(
            "findings.abortive_close.side",
            "server".into(),
            side.clone()
        ));
        assert!(!check(
            "findings.abortive_close.side",
            "client".into(),
            side
        ));
        let err = Expectation::parse("findings", &kinds(&["idle_close"])).expect_err("unknown");
        assert!(err.contains("server_idle_close"), "{err}");
        assert!(Expectation::parse("findings.idle.after_ms", &1.into()).is_err());
    }

    #[test]
    fn unreadable_values_are_errors() {
        assert!(Expectation::parse("reused", &"lots".into()).is_err());
        let typo = Expectation::parse("conections", &2.into()).expect_err("a typo");
        assert!(typo.contains("no field `conections`"), "{typo}");
        assert!(Expectation::parse("time_wait.client", &2.into()).is_ok());
        assert!(Expectation::parse("reused", &toml::Value::Boolean(true)).is_err());
    }
}
