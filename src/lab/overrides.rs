//! `--set key=value`: change any field of a lab from the command line, so a knob can be swept
//! without editing files (`--set client.requests=500 --set link.delay_ms=20`).
//!
//! Overrides are applied to the lab's TOML table and the result is checked exactly like a lab
//! file, so an unknown key is an error that lists the valid ones.

use anyhow::{anyhow, bail, Result};
use serde::Deserialize;

use super::file::{plain_words, Lab};
use super::ranges;
use super::spec::LabSpec;

/// One `key=value` from the command line.
#[derive(Debug, Clone)]
pub struct Override {
    /// Dotted path of the field (`client.requests`).
    pub key: String,
    /// The value, read as TOML (`5`, `true`, `"fin"`, `[80, 8080]`), else as a plain string.
    pub value: toml::Value,
}

impl std::str::FromStr for Override {
    type Err = String;

    fn from_str(s: &str) -> Result<Override, String> {
        let (key, raw) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not KEY=VALUE (for example client.requests=10)"))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(format!(
                "{s:?}: the key must be a dotted field path such as client.requests"
            ));
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
        Ok(Override {
            key: key.to_owned(),
            value,
        })
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The lab with `overrides` applied and checked.
pub fn apply(lab: &Lab, overrides: &[Override]) -> Result<Lab> {
    if overrides.is_empty() {
        return Ok(lab.clone());
    }
    let mut table = lab.table.clone();
    for o in overrides {
        set(&mut table, &o.key, o.value.clone()).map_err(|e| anyhow!("--set {o}: {e}"))?;
    }
    let listed: Vec<String> = overrides.iter().map(Override::to_string).collect();
    ranges::check(&table).map_err(|bad| anyhow!("--set {}: {}", listed.join(" "), bad.message))?;
    let spec = LabSpec::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| anyhow!("--set {}: {}", listed.join(" "), plain_words(e.message())))?;
    let mut changed = Lab::from_spec(&lab.name, spec, table)
        .map_err(|(_, message)| anyhow!("--set {}: {message}", listed.join(" ")))?;
    changed.overrides = listed;
    Ok(changed)
}

fn set(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<()> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or(key);
    let mut here = table;
    for (i, part) in parts.iter().enumerate() {
        let entry = here
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = match entry {
            toml::Value::Table(t) => t,
            other => bail!(
                "{} is a {}, not a table",
                parts[..=i].join("."),
                other.type_str()
            ),
        };
    }
    here.insert(last.to_owned(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Lab {
        Lab::parse(
            "t",
            "t.toml",
            "question = \"q?\"\n[server]\n[client]\nrequests = 3\n[expect]\nrequests = 3\n",
        )
        .expect("lab")
    }

    fn o(s: &str) -> Override {
        s.parse().expect("override")
    }

    #[test]
    fn values_are_read_as_toml_or_plain_text() {
        assert_eq!(o("client.requests=10").value, toml::Value::Integer(10));
        assert_eq!(
            o("server.socket.close=rst").value,
            toml::Value::String("rst".into())
        );
        assert_eq!(
            o("client.keep_alive=false").value,
            toml::Value::Boolean(false)
        );
        assert!("client.requests".parse::<Override>().is_err());
        assert!("client..x=1".parse::<Override>().is_err());
    }

    #[test]
    fn overrides_change_fields_and_are_listed() {
        let changed = apply(&lab(), &[o("client.requests=7"), o("link.delay_ms=5")]).expect("ok");
        assert_eq!(changed.spec.client.as_ref().map(|c| c.requests), Some(7));
        assert_eq!(changed.spec.link.delay_ms, 5.0);
        assert_eq!(changed.overrides, ["client.requests=7", "link.delay_ms=5"]);
    }

    #[test]
    fn expectations_can_be_overridden_too() {
        let changed = apply(&lab(), &[o("expect.requests=9")]).expect("ok");
        assert_eq!(changed.expectations.len(), 1);
        assert_eq!(changed.expectations[0].key, "requests");
    }

    #[test]
    fn unknown_keys_list_the_valid_ones() {
        let err = apply(&lab(), &[o("client.requets=7")])
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("requets") && err.contains("requests"), "{err}");
        let err = apply(&lab(), &[o("client.requests.x=7")])
            .expect_err("not a table")
            .to_string();
        assert!(err.contains("not a table"), "{err}");
    }
}
