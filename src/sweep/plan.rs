//! What a sweep will run: the knobs varied and their values (checked against the lab before
//! anything runs), and every combination of them.

use anyhow::{bail, Result};

use crate::lab::file::Lab;
use crate::lab::overrides::{self, Override};

/// One `--vary KEY=V1,V2,...`.
#[derive(Debug, Clone)]
pub struct Vary {
    /// The dotted lab field.
    pub key: String,
    /// Its values, as written (each read as TOML, like `--set`).
    pub values: Vec<String>,
}

impl std::str::FromStr for Vary {
    type Err = String;

    fn from_str(s: &str) -> Result<Vary, String> {
        let (key, list) = s.split_once('=').ok_or_else(|| {
            format!("{s:?} is not KEY=V1,V2,... (for example client.max_idle_per_host=1,2,5)")
        })?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(format!("{s:?}: the key must be a dotted field path"));
        }
        let values = split_values(list);
        if values.is_empty() {
            return Err(format!("--vary {key}: the list of values is empty"));
        }
        Ok(Vary {
            key: key.to_owned(),
            values,
        })
    }
}

/// Splits `1,2,[80,81],"a,b"` at the commas outside brackets and quotes.
fn split_values(list: &str) -> Vec<String> {
    let mut values = Vec::new();
    let (mut depth, mut quoted, mut current) = (0i32, false, String::new());
    for c in list.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                values.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    values.push(current);
    values
        .into_iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// One combination of values, as `--set` overrides, in `--vary` order.
pub type Point = Vec<Override>;

/// Every combination (the first `--vary` outermost), each checked against the lab so that a
/// bad key or value fails before anything runs.
pub fn points(lab: &Lab, vary: &[Vary]) -> Result<Vec<Point>> {
    if vary.is_empty() {
        bail!("nothing to vary: give at least one --vary KEY=V1,V2,...");
    }
    for (i, v) in vary.iter().enumerate() {
        if vary[..i].iter().any(|earlier| earlier.key == v.key) {
            bail!(
                "--vary {} is given twice: every point would run with the last value only; \
                 give its values once, as --vary {}=V1,V2,...",
                v.key,
                v.key
            );
        }
    }
    let mut points: Vec<Point> = vec![Vec::new()];
    for v in vary {
        let mut next = Vec::with_capacity(points.len() * v.values.len());
        for point in &points {
            for value in &v.values {
                let o: Override = format!("{}={value}", v.key)
                    .parse()
                    .map_err(|e: String| anyhow::anyhow!(e))?;
                let mut p = point.clone();
                p.push(o);
                next.push(p);
            }
        }
        points = next;
    }
    for point in &points {
        overrides::apply(lab, point).map_err(|e| anyhow::anyhow!("--vary: {e:#}"))?;
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Lab {
        Lab::parse(
            "t",
            "t.toml",
            "question = \"q?\"\n[server]\n[client]\nrequests = 3\n",
        )
        .expect("lab")
    }

    fn vary(s: &str) -> Vary {
        s.parse().expect("vary")
    }

    #[test]
    fn values_split_at_top_level_commas() {
        assert_eq!(vary("client.requests=1, 2,5").values, ["1", "2", "5"]);
        assert_eq!(
            vary("server.extra_ports=[81,82],[83]").values,
            ["[81,82]", "[83]"]
        );
        assert!("client.requests=".parse::<Vary>().is_err(), "empty list");
        assert!("client.requests".parse::<Vary>().is_err());
    }

    #[test]
    fn every_combination_first_key_outermost() {
        let p = points(
            &lab(),
            &[vary("client.requests=1,2"), vary("link.delay_ms=0,5,10")],
        )
        .expect("points");
        assert_eq!(p.len(), 6);
        let first: Vec<String> = p[0].iter().map(|o| o.to_string()).collect();
        assert_eq!(first, ["client.requests=1", "link.delay_ms=0"]);
        assert_eq!(p[1][1].to_string(), "link.delay_ms=5");
        assert_eq!(p[3][0].to_string(), "client.requests=2");
    }

    #[test]
    fn a_key_varied_twice_is_refused() {
        let err = points(
            &lab(),
            &[vary("client.requests=1,2"), vary("client.requests=3")],
        )
        .expect_err("twice")
        .to_string();
        assert!(err.contains("client.requests is given twice"), "{err}");
    }

    #[test]
    fn bad_keys_and_values_fail_before_running() {
        let err = points(&lab(), &[vary("client.max_idle=1,2")])
            .expect_err("unknown key")
            .to_string();
        assert!(
            err.contains("max_idle_per_host"),
            "lists the valid keys: {err}"
        );
        let err = points(&lab(), &[vary("client.requests=1,many")])
            .expect_err("wrong type")
            .to_string();
        assert!(
            err.contains("many") || err.contains("invalid type"),
            "{err}"
        );
    }
}
