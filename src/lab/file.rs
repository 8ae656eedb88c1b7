//! A lab read from its file: the TOML parsed into its [`LabSpec`], value ranges and the rules
//! across fields checked, expectations parsed. Every error names the file, the line and the
//! column, and what was expected there.

use std::path::Path;

use super::expect::Expectation;
use super::spec::LabSpec;
use super::{locate, ranges, validate};

/// A lab ready to run: its name, spec and parsed expectations.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Name (file stem), used in output file names.
    pub name: String,
    /// The parsed file.
    pub spec: LabSpec,
    /// The `[expect]` table, parsed.
    pub expectations: Vec<Expectation>,
    /// The file as a TOML table, for `--set` overrides.
    pub table: toml::Table,
    /// The `--set` overrides applied, as given.
    pub overrides: Vec<String>,
}

/// A lab file that cannot be used, with where and why: its first error, and every other one
/// found in the same reading, in file order.
#[derive(Debug)]
pub struct LabFileError {
    /// File path or `embedded:<name>`.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what is expected.
    pub message: String,
    /// The file's other errors, after this one in file order: (line, column, message).
    pub also: Vec<(usize, usize, String)>,
}

impl LabFileError {
    /// The errors found at `places` (line, column, message), put in file order; `None` when
    /// there are none.
    fn of(origin: &str, mut places: Vec<(usize, usize, String)>) -> Option<LabFileError> {
        places.sort_by_key(|(line, column, _)| (*line, *column));
        places.dedup();
        let mut places = places.into_iter();
        let (line, column, message) = places.next()?;
        Some(LabFileError {
            origin: origin.to_owned(),
            line,
            column,
            message,
            also: places.collect(),
        })
    }
}

impl std::fmt::Display for LabFileError {
    /// One error: `file:line:column: message`. Several: how many, then each on its own line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origin = &self.origin;
        if self.also.is_empty() {
            return write!(
                f,
                "{origin}:{}:{}: {}",
                self.line, self.column, self.message
            );
        }
        write!(f, "{} errors in {origin}:", self.also.len() + 1)?;
        let first = (self.line, self.column, self.message.clone());
        for (line, column, message) in std::iter::once(&first).chain(&self.also) {
            write!(f, "\n  {origin}:{line}:{column}: {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LabFileError {}

/// A reading error in the words of a lab file's author, not of Rust's types: `expected u32`
/// becomes `expected a whole number`.
pub fn plain_words(message: &str) -> String {
    const TYPES: [(&str, &str); 9] = [
        ("u8", "a whole number, 0 to 255"),
        ("u16", "a whole number, 0 to 65535"),
        ("u32", "a whole number, 0 or more"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
    ];
    let mut out = message.to_owned();
    for (rust, words) in TYPES {
        for end in ["", ",", " "] {
            let from = format!("expected {rust}{end}");
            if end.is_empty() && !out.ends_with(&from) {
                continue;
            }
            out = out.replace(&from, &format!("expected {words}{end}"));
        }
    }
    out
}

impl Lab {
    /// Parses lab text; `origin` names it in errors, `name` is the lab's name. Every error of
    /// the file is found in one reading, as far as the file can be read past them: a value out
    /// of its range, of the wrong type or under an unknown key is set aside (its line left
    /// blank) and the rest read again, so `check` gives them all at once, in file order.
    pub fn parse(name: &str, origin: &str, text: &str) -> Result<Lab, LabFileError> {
        let spanned = |doc: &str, e: &toml::de::Error| {
            let (line, column) = e
                .span()
                .map(|s| locate::line_column(doc, s.start))
                .unwrap_or((1, 1));
            (line, column, plain_words(e.message()))
        };
        // Bad TOML: nothing past it can be read.
        let table: toml::Table = match toml::from_str(text) {
            Ok(table) => table,
            Err(e) => {
                let place = spanned(text, &e);
                return Err(LabFileError::of(origin, vec![place]).expect("one error"));
            }
        };
        let mut found = Vec::new();
        let mut doc = text.to_owned();
        let mut blanked = Vec::new();
        // Ranges first: `delay_ms = -5` names its field, where the typed reading would only
        // say that an integer was not a u64.
        let mut all_set_aside = true;
        for bad in ranges::check_all(&table) {
            let (line, column) = locate::value_of_nth(text, &bad.key, bad.nth);
            all_set_aside &= blank(&mut doc, line, &mut blanked);
            found.push((line, column, bad.message));
        }
        // The typed reading, again past each error it meets; not where a value out of range
        // could not be set aside (it would be said twice).
        let mut spec = None;
        while all_set_aside && found.len() < 100 {
            match toml::from_str::<LabSpec>(&doc) {
                Ok(read) => {
                    spec = Some(read);
                    break;
                }
                Err(e) => {
                    // A field missing only because its bad line was set aside is no error.
                    let missing = e
                        .message()
                        .strip_prefix("missing field `")
                        .and_then(|m| m.split('`').next());
                    if missing.is_some_and(|field| blanked.iter().any(|b| b == field)) {
                        break;
                    }
                    let place = spanned(&doc, &e);
                    let line = place.0;
                    found.push(place);
                    if e.span().is_none() || !blank(&mut doc, line, &mut blanked) {
                        break;
                    }
                }
            }
        }
        if let Some(spec) = spec {
            let (expectations, problems) = checked(&spec);
            for (key, nth, message) in problems {
                let (line, column) = locate::value_of_nth(text, &key, nth);
                found.push((line, column, message));
            }
            if found.is_empty() {
                return Ok(Lab {
                    name: name.to_owned(),
                    spec,
                    expectations,
                    table,
                    overrides: Vec::new(),
                });
            }
        }
        Err(LabFileError::of(origin, found).expect("an error, or the lab was read"))
    }

    /// A lab from an already checked spec and its table; a bad expectation or value is
    /// returned as (its dotted key, message).
    pub fn from_spec(
        name: &str,
        spec: LabSpec,
        table: toml::Table,
    ) -> Result<Lab, (String, String)> {
        let (expectations, problems) = checked(&spec);
        if let Some((key, _, message)) = problems.into_iter().next() {
            return Err((key, message));
        }
        Ok(Lab {
            name: name.to_owned(),
            spec,
            expectations,
            table,
            overrides: Vec::new(),
        })
    }

    /// Reads and parses a lab file; the lab is named after the file stem.
    pub fn load(path: &Path) -> anyhow::Result<Lab> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read lab file {}: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lab".to_owned());
        Ok(Lab::parse(&name, &path.display().to_string(), &text)?)
    }
}

/// The expectations of a spec, and every problem across its fields and expectations: (dotted
/// key, which time it is written, message), the roles' first.
fn checked(spec: &LabSpec) -> (Vec<Expectation>, Vec<(String, usize, String)>) {
    let mut problems = Vec::new();
    if let Err(e) = spec.server_role().and(spec.client_role()) {
        problems.push((String::new(), 0, e.to_string()));
    }
    problems.extend(validate::check(spec));
    let mut expectations = Vec::new();
    let _ = flatten_expectations(&spec.expect, "", &mut |key, value| {
        match Expectation::parse(key, value) {
            Ok(exp) => expectations.push(exp),
            Err(m) => problems.push((format!("expect.{key}"), 0, m)),
        }
        Ok::<(), ()>(())
    });
    (expectations, problems)
}

/// Sets aside line `line` (1-based) of `doc`, a `key = value` line whose value is wrong, by
/// blanking it (its bytes become spaces, so every other place keeps its line and column), if
/// the file still reads as TOML without it; the key's name goes to `blanked`.
fn blank(doc: &mut String, line: usize, blanked: &mut Vec<String>) -> bool {
    let Some((start, text)) = doc
        .split_inclusive('\n')
        .scan(0, |at, l| {
            let here = *at;
            *at += l.len();
            Some((here, l))
        })
        .nth(line.saturating_sub(1))
    else {
        return false;
    };
    let body = text.trim_end_matches(['\n', '\r']);
    let Some((lhs, _)) = body.split_once('=') else {
        return false;
    };
    if body.trim_start().starts_with(['[', '#']) {
        return false;
    }
    let key = lhs.trim().rsplit('.').next().unwrap_or_default();
    let key = key.trim().trim_matches(['"', '\'']).to_owned();
    let mut candidate = doc.clone();
    candidate.replace_range(start..start + body.len(), &" ".repeat(body.len()));
    if toml::from_str::<toml::Table>(&candidate).is_err() {
        return false;
    }
    *doc = candidate;
    blanked.push(key);
    true
}

/// Walks `[expect]`, joining nested keys (from dotted keys such as `time_wait.client`) with
/// dots, calling `each(key, value)`.
fn flatten_expectations<E>(
    table: &toml::Table,
    prefix: &str,
    each: &mut impl FnMut(&str, &toml::Value) -> Result<(), E>,
) -> Result<(), E> {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(nested) => flatten_expectations(nested, &full, each)?,
            leaf => each(&full, leaf)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "question = \"q?\"\n[server]\n[client]\nrequests = 3\n";

    #[test]
    fn a_minimal_lab_parses_with_defaults() {
        let lab = Lab::parse("t", "t.toml", MINIMAL).expect("parses");
        assert_eq!(lab.spec.client.as_ref().map(|c| c.requests), Some(3));
        assert_eq!(lab.spec.settle_ms, 500);
        assert!(lab.expectations.is_empty());
    }

    #[test]
    fn unknown_field_is_reported_with_line_and_column() {
        let text = "question = \"q?\"\n[server]\n[client]\nrequets = 3\n";
        let err = Lab::parse("t", "t.toml", text).expect_err("unknown field");
        assert_eq!((err.line, err.column), (4, 1), "{err}");
        assert!(err.message.contains("requets"), "{err}");
        assert!(err.to_string().starts_with("t.toml:4:1:"), "{err}");
    }

    #[test]
    fn bad_expectation_points_at_its_value() {
        let text = format!("{MINIMAL}[expect]\nreused = \"about 5\"\n");
        let err = Lab::parse("t", "t.toml", &text).expect_err("bad expectation");
        assert_eq!((err.line, err.column), (6, 10), "{err}");
    }

    #[test]
    fn dotted_and_quoted_keys_both_work() {
        let text = format!("{MINIMAL}[expect]\ntime_wait.client = 0\n\"rst_by.server\" = 1\n");
        let lab = Lab::parse("t", "t.toml", &text).expect("parses");
        let keys: Vec<&str> = lab.expectations.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["rst_by.server", "time_wait.client"]);
    }

    #[test]
    fn bad_middlebox_and_server_values_are_refused_with_their_place() {
        let cases = [
            ("[link.middlebox]\nidle_timeout_ms = 0\n", (6, 19), "from 1"),
            (
                "[link.middlebox]\nidle_timeout_ms = 10\non_expired = \"reject\"\n",
                (7, 14),
                "reject",
            ),
            ("[server.extra]\n", (5, 9), "extra"),
        ];
        for (tail, place, says) in cases {
            let text = format!("question = \"q?\"\n[server]\n[client]\nrequests = 1\n{tail}");
            let err = Lab::parse("t", "t.toml", &text).expect_err(tail);
            assert_eq!((err.line, err.column), place, "{err}");
            assert!(err.message.contains(says), "{err}");
        }
        let text = "question = \"q?\"\n[server]\nmax_requests_per_conn = 0\n[client]\n";
        let err = Lab::parse("t", "t.toml", text).expect_err("zero");
        assert_eq!((err.line, err.column), (3, 25), "{err}");
    }

    #[test]
    fn every_error_of_a_file_is_found_at_once_in_file_order() {
        // Two out of range (found in the table's order: client before server), one of the
        // wrong type, one unknown key.
        let text = "question = \"q?\"\n[server]\nhandler_delay_ms = -5\n[client]\n\
                    requests = \"many\"\nconcurrency = 2\nrequets = 5\ninterval_ms = 99999999\n";
        let err = Lab::parse("t", "t.toml", text).expect_err("four errors");
        let places: Vec<(usize, usize)> = std::iter::once((err.line, err.column))
            .chain(err.also.iter().map(|(line, column, _)| (*line, *column)))
            .collect();
        assert_eq!(places, [(3, 20), (5, 12), (7, 1), (8, 15)], "{err}");
        assert!(
            err.to_string()
                .starts_with("4 errors in t.toml:\n  t.toml:3:20: "),
            "{err}"
        );
        // A field left out only because its bad value was set aside is not one more error.
        let err = Lab::parse("t", "t.toml", "question = 5\n[server]\n[client]\n").expect_err("one");
        assert!(err.also.is_empty(), "{err}");
        assert_eq!((err.line, err.column), (1, 12), "{err}");
    }

    #[test]
    fn a_shutdown_after_the_labs_timeout_is_refused_where_it_is_written() {
        let text = "question = \"q?\"\ntimeout_s = 5\n[server]\nshutdown_at_ms = 9000\n[client]\n";
        let err = Lab::parse("t", "t.toml", text).expect_err("past the timeout");
        assert_eq!((err.line, err.column), (4, 18), "{err}");
        assert!(err.message.contains("timeout_s"), "{err}");
    }
}
