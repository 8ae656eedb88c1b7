//! What a field of a lab file holds when it is not a number, and what it is when left out:
//! learned from the lab parser itself, as [`super::keys`] learns the fields, so the man page
//! can never fall behind the format. A word no field accepts makes the parser name an enum's
//! words or say a boolean is wanted; a lab with the field's table and not the field, read and
//! written back, shows its default.

use serde_json::Value;

use super::spec::LabSpec;

/// What a field accepts besides numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepts {
    /// `true` or `false`.
    Bool,
    /// One of these words.
    OneOf(Vec<String>),
    /// Text, a list or a table of the user's own (or a number).
    Other,
}

/// A value no field takes as one of its words.
const PROBE: &str = "connlab_probe";

/// What `key` (dotted, as [`super::keys::all`] gives it) accepts.
pub fn accepts(key: &str) -> Accepts {
    let (table, field) = split(key);
    let text = format!(
        "question = \"q?\"\n{}{field} = \"{PROBE}\"\n",
        header(table)
    );
    let Err(err) = toml::from_str::<LabSpec>(&text) else {
        return Accepts::Other;
    };
    let message = err.message();
    if let Some(list) = message.strip_prefix(&format!("unknown variant `{PROBE}`, expected ")) {
        let words = list.split('`').skip(1).step_by(2).map(str::to_owned);
        return Accepts::OneOf(words.collect());
    }
    if message.ends_with("expected a boolean") {
        return Accepts::Bool;
    }
    Accepts::Other
}

/// Tables that cannot stand alone, with the fields they need (set to what no default
/// depends on), so that their other fields' defaults can be read.
const REQUIRED: &[(&str, &str)] = &[
    ("exec_client", "command = [\"true\"]\n"),
    ("exec_server", "command = [\"true\"]\n"),
    ("link.middlebox", "idle_timeout_ms = 1000\n"),
];

/// What `key` is when the file leaves it out, as TOML writes it; None when it is then unset
/// (off, or falling back to another field) or must be given (`question`).
pub fn default_of(key: &str) -> Option<String> {
    match default_value(key)? {
        Value::String(text) => Some(format!("\"{text}\"")),
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) && n.is_f64() => {
            Some(format!("{}", n.as_f64()? as i64))
        }
        other => Some(other.to_string()),
    }
}

fn default_value(key: &str) -> Option<Value> {
    let (table, field) = split(key);
    let needed = REQUIRED
        .iter()
        .find(|(t, _)| *t == table)
        .map_or("", |(_, fields)| *fields);
    if needed.contains(&format!("{field} =")) || key == "question" {
        return None;
    }
    let text = format!("question = \"q?\"\n{}{needed}", header(table));
    let spec: LabSpec = toml::from_str(&text).ok()?;
    let mut value = serde_json::to_value(&spec).ok()?;
    for part in key.split('.') {
        value = value.get_mut(part)?.take();
    }
    (!value.is_null()).then_some(value)
}

/// The man page's words for a field that is no number: its values and its default.
pub fn describe(key: &str) -> String {
    let values = match (accepts(key), default_value(key)) {
        (Accepts::Bool, _) => "true or false".to_owned(),
        (Accepts::OneOf(words), _) => format!("one of {}", words.join(", ")),
        (Accepts::Other, Some(Value::String(_))) => "text".to_owned(),
        (Accepts::Other, Some(Value::Array(_))) => {
            "a list: see the embedded labs (connlab show)".to_owned()
        }
        (Accepts::Other, Some(Value::Object(_))) => "a table of names and values".to_owned(),
        (Accepts::Other, _) => {
            "text, a list or a table: see the embedded labs (connlab show)".to_owned()
        }
    };
    match default_of(key) {
        Some(default) => format!("{values} (default {default})"),
        None => values,
    }
}

/// `key`'s table and field: `client.socket` and `close` for `client.socket.close`.
fn split(key: &str) -> (&str, &str) {
    key.rsplit_once('.').unwrap_or(("", key))
}

fn header(table: &str) -> String {
    if table.is_empty() {
        String::new()
    } else {
        format!("[{table}]\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enum_names_its_words_and_a_boolean_says_so() {
        assert_eq!(
            accepts("client.socket.close"),
            Accepts::OneOf(vec!["fin".into(), "rst".into()])
        );
        assert_eq!(accepts("ipv6"), Accepts::Bool);
        assert_eq!(accepts("question"), Accepts::Other);
    }

    #[test]
    fn defaults_are_read_back_from_a_lab_that_leaves_the_field_out() {
        assert_eq!(
            default_of("db_client.protocol").as_deref(),
            Some("\"line\"")
        );
        assert_eq!(default_of("db_client.max_idle").as_deref(), Some("2"));
        assert_eq!(default_of("ipv6").as_deref(), Some("false"));
        assert_eq!(default_of("db_client.max_lifetime_ms"), None);
        assert_eq!(default_of("link.delay_ms").as_deref(), Some("0"));
        assert_eq!(
            default_of("link.middlebox.on_expired").as_deref(),
            Some("\"rst\"")
        );
        assert_eq!(
            default_of("exec_server.refuses_root").as_deref(),
            Some("false")
        );
        assert_eq!(default_of("question"), None);
        assert_eq!(
            describe("client.socket.close"),
            "one of fin, rst (default \"fin\")"
        );
    }
}
