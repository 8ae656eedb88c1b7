//! Where a value is written in a lab file, for errors found after parsing (the parsed table
//! keeps no positions): a dotted key (`server.shutdown_at_ms`, `expect.time_wait.client`) is
//! looked up under its table header, quoted and dotted keys alike.

/// 1-based line and column of the value of `key` in `text`; the table's header when the key
/// is not written there, and (1, 1) when neither is.
pub fn value_of(text: &str, key: &str) -> (usize, usize) {
    value_of_nth(text, key, 0)
}

/// As [`value_of`], for the `nth` time `key` is written (0 for the first): keys of an array
/// of tables (`[[link.partition]]`) are written once per entry. A key inside an inline table
/// (`to_server = { delay_ms = 5 }`) is found inside it.
pub fn value_of_nth(text: &str, key: &str, nth: usize) -> (usize, usize) {
    let mut table = String::new();
    let mut header = (1, 1);
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix('[') {
            // `[table]` or `[[array.of.tables]]`, maybe with a comment after it.
            let name = name.strip_prefix('[').unwrap_or(name);
            table = name[..name.find(']').unwrap_or(name.len())].replace([' ', '"'], "");
            if key.starts_with(&format!("{table}.")) {
                header = (i + 1, line.len() - trimmed.len() + 1);
            }
            continue;
        }
        let Some((lhs, rhs)) = line.split_once('=') else {
            continue;
        };
        let written: String = lhs
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '"')
            .collect();
        let full = if table.is_empty() {
            written
        } else {
            format!("{table}.{written}")
        };
        let at = if full == key {
            Some(lhs.len() + 1 + (rhs.len() - rhs.trim_start().len()) + 1)
        } else {
            key.strip_prefix(&format!("{full}."))
                .and_then(|inner| inline_value(rhs, inner))
                .map(|col| lhs.len() + 1 + col)
        };
        if let Some(column) = at {
            if seen == nth {
                return (i + 1, column);
            }
            seen += 1;
        }
    }
    header
}

/// 1-based column, within `rhs`, of the value of `inner` in an inline table written there.
fn inline_value(rhs: &str, inner: &str) -> Option<usize> {
    // An empty last part (a key ending in '.') would be found everywhere, forever.
    let last = inner.rsplit('.').next().filter(|l| !l.is_empty())?;
    let open = rhs.find('{')?;
    let mut from = open + 1;
    while let Some(found) = rhs[from..].find(last) {
        let start = from + found;
        let before = rhs[..start].trim_end().chars().last();
        let after = rhs[start + last.len()..].trim_start();
        if matches!(before, Some('{') | Some(',') | Some('"')) && after.starts_with(['=', '"']) {
            let eq = start + rhs[start..].find('=')?;
            let value = eq + 1 + (rhs[eq + 1..].len() - rhs[eq + 1..].trim_start().len());
            return Some(value + 1);
        }
        from = start + last.len();
    }
    None
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map(|i| before.len() - i)
        .unwrap_or(before.len() + 1);
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "question = \"q\"\n[server]\nport = 80\n[expect]\n\"time_wait.client\" = 4\nreused = 1\n";

    #[test]
    fn a_key_ending_in_a_dot_is_not_looked_for_forever() {
        // Found by the lab_file fuzz target (a timeout): `expect.reused.` against an inline
        // table searched for an empty name at the same place again and again.
        let text = "[expect]\nreused = { x = 1 }\n";
        assert_eq!(value_of(text, "expect.reused."), (1, 1));
    }

    #[test]
    fn keys_are_found_under_their_table() {
        assert_eq!(value_of(TEXT, "server.port"), (3, 8));
        assert_eq!(value_of(TEXT, "expect.time_wait.client"), (5, 22));
        assert_eq!(value_of(TEXT, "expect.reused"), (6, 10));
        assert_eq!(value_of(TEXT, "question"), (1, 12));
        assert_eq!(value_of(TEXT, "server.missing"), (2, 1), "the header");
        assert_eq!(value_of(TEXT, "nowhere.at_all"), (1, 1));
    }

    #[test]
    fn array_entries_and_inline_tables_are_found() {
        let text = "[[link.partition]]\nfrom_ms = 1\n[[link.partition]]\nfrom_ms = -1\n\
                    [link]\nto_server = { jitter_ms = 1, delay_ms = -5 }\n";
        assert_eq!(value_of_nth(text, "link.partition.from_ms", 1), (4, 11));
        assert_eq!(value_of(text, "link.to_server.delay_ms"), (6, 41));
    }

    #[test]
    fn a_comment_after_a_table_header_does_not_hide_its_keys() {
        let text = "[link]  # the link\ndelay_ms = -5.0\n[[link.partition]] # cut\nfrom_ms = -1\n";
        assert_eq!(value_of(text, "link.delay_ms"), (2, 12));
        assert_eq!(value_of(text, "link.partition.from_ms"), (4, 11));
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
