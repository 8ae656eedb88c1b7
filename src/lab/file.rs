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

/// A lab file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct LabFileError {
    /// File path or `embedded:<name>`.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what is expected.
    pub message: String,
}

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
    /// Parses lab text; `origin` names it in errors, `name` is the lab's name.
    pub fn parse(name: &str, origin: &str, text: &str) -> Result<Lab, LabFileError> {
        let at = |(line, column): (usize, usize), message: String| LabFileError {
            origin: origin.to_owned(),
            line,
            column,
            message,
        };
        let spanned = |e: toml::de::Error| {
            let place = e
                .span()
                .map(|s| locate::line_column(text, s.start))
                .unwrap_or((1, 1));
            at(place, plain_words(e.message()))
        };
        let table: toml::Table = toml::from_str(text).map_err(spanned)?;
        // Ranges first: `delay_ms = -5` names its field, where the typed reading would only
        // say that an integer was not a u64.
        ranges::check(&table)
            .map_err(|bad| at(locate::value_of_nth(text, &bad.key, bad.nth), bad.message))?;
        let spec: LabSpec = toml::from_str(text).map_err(spanned)?;
        Lab::from_spec(name, spec, table).map_err(|(key, message)| {
            let (line, column) = locate::value_of(text, &key);
            LabFileError {
                origin: origin.to_owned(),
                line,
                column,
                message,
            }
        })
    }

    /// A lab from an already checked spec and its table; a bad expectation or value is
    /// returned as (its dotted key, message).
    pub fn from_spec(
        name: &str,
        spec: LabSpec,
        table: toml::Table,
    ) -> Result<Lab, (String, String)> {
        if let Err(e) = spec.server_role().and(spec.client_role()) {
            return Err((String::new(), e.to_string()));
        }
        validate::check(&spec)?;
        let mut expectations = Vec::new();
        flatten_expectations(&spec.expect, "", &mut |key, value| {
            let exp = Expectation::parse(key, value).map_err(|m| (format!("expect.{key}"), m))?;
            expectations.push(exp);
            Ok::<(), (String, String)>(())
        })?;
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
    fn a_shutdown_after_the_labs_timeout_is_refused_where_it_is_written() {
        let text = "question = \"q?\"\ntimeout_s = 5\n[server]\nshutdown_at_ms = 9000\n[client]\n";
        let err = Lab::parse("t", "t.toml", text).expect_err("past the timeout");
        assert_eq!((err.line, err.column), (4, 18), "{err}");
        assert!(err.message.contains("timeout_s"), "{err}");
    }
}
