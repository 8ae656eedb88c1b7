//! `[expect]`: assertions on the run summary, checked against the analyser's reading of the
//! wire (not the actors' word).
//!
//! A key is a summary field, dotted for nested ones (`time_wait.client`). A value is a number
//! (equality), a comparison string (`">= 99"`, `"< 3"`, `"!= 0"`), an inclusive range
//! (`"45..55"`), or, for a per-side field such as `fin_first_by`, a side: `"server"` means every
//! such event came from the server (server > 0, client = 0), likewise `"client"`, `"both"`
//! (both > 0) and `"none"` (both 0).

use serde::Serialize;
use serde_json::Value;

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
}

impl Expectation {
    /// Parses one `key = value` line of `[expect]`; the error says what is accepted.
    pub fn parse(key: &str, value: &toml::Value) -> Result<Expectation, String> {
        let want = match value {
            toml::Value::Integer(i) => Want::Compare(Op::Eq, *i as f64),
            toml::Value::Float(f) => Want::Compare(Op::Eq, *f),
            toml::Value::String(s) => parse_text(s.trim()).ok_or_else(|| {
                format!(
                    "expectation `{key}`: cannot read {s:?}; write a number (5), a comparison \
                     (\">= 5\", \"< 3\", \"!= 0\"), a range (\"45..55\") or, for per-side \
                     counters, \"client\", \"server\", \"both\" or \"none\""
                )
            })?,
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
        let got = self
            .key
            .split('.')
            .try_fold(summary, |v, part| v.get(part))
            .cloned()
            .unwrap_or(Value::Null);
        let pass = match (&self.want, &got) {
            (Want::Compare(op, n), Value::Number(g)) => g.as_f64().is_some_and(|g| op.holds(g, *n)),
            (Want::Range(lo, hi), Value::Number(g)) => {
                g.as_f64().is_some_and(|g| *lo <= g && g <= *hi)
            }
            (Want::Side(word), Value::Object(sides)) => {
                let count = |s: &str| sides.get(s).and_then(Value::as_u64).unwrap_or(0);
                word.holds(count("client"), count("server"))
            }
            _ => false,
        };
        Outcome {
            name: self.key.clone(),
            want: self.want.to_string(),
            got,
            pass,
        }
    }
}

fn parse_text(s: &str) -> Option<Want> {
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
    s.parse().ok().map(|n| Want::Compare(Op::Eq, n))
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
        assert!(!check("nonsense", 0.into(), json!({"connections": 0})));
    }

    #[test]
    fn unreadable_values_are_errors() {
        assert!(Expectation::parse("reused", &"lots".into()).is_err());
        assert!(Expectation::parse("reused", &toml::Value::Boolean(true)).is_err());
    }
}
