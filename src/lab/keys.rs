//! Every field a lab file accepts, as dotted keys (`client.socket.close`): what shell
//! completion offers after `--set`. Learned from the lab parser itself, by asking each table
//! for a field it does not have and reading the list of those it does, so the list can never
//! fall behind the lab format.

use super::spec::LabSpec;

/// Tables whose keys are free (any sysctl, any summary field): not walked.
const FREE: &[&str] = &["sysctl", "expect"];

/// The dotted keys of every field that holds a value (tables are walked into), sorted.
pub fn all() -> Vec<String> {
    let mut keys = Vec::new();
    walk("", &mut keys);
    keys.sort();
    keys
}

fn walk(table: &str, keys: &mut Vec<String>) {
    let Some(fields) = fields_of(table) else {
        return;
    };
    for field in fields {
        let key = if table.is_empty() {
            field
        } else {
            format!("{table}.{field}")
        };
        if FREE.contains(&key.as_str()) {
            continue;
        }
        if fields_of(&key).is_some() {
            walk(&key, keys);
        } else {
            keys.push(key);
        }
    }
}

/// The fields of `table` (the top level when empty), or None when it is no table.
fn fields_of(table: &str) -> Option<Vec<String>> {
    const PROBE: &str = "connlab_no_such_field";
    let header = if table.is_empty() {
        String::new()
    } else {
        format!("[{table}]\n")
    };
    let text = format!("question = \"q?\"\n{header}{PROBE} = 1\n");
    let err = toml::from_str::<LabSpec>(&text).err()?;
    let message = err.message();
    let listed = message
        .strip_prefix(&format!("unknown field `{PROBE}`, expected "))?
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_and_nested_field_is_listed() {
        let keys = all();
        for key in [
            "timeout_s",
            "client.requests",
            "client.socket.close",
            "server.socket.tcp_keepalive.idle_ms",
            "link.delay_ms",
            "link.middlebox.idle_timeout_ms",
            "h2_client.ping_timeout_ms",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
        assert!(
            !keys.iter().any(|k| k.starts_with("expect.")),
            "free tables"
        );
        assert!(keys.len() > 100, "{}", keys.len());
    }
}
