//! `connlab inspect --conn-log FILE`: the capture's connections as Zeek's conn.log, JSON lines
//! when FILE ends in `.json`, else Zeek's TSV.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result};
use connlab_core::connlog::{format, Row};

/// Writes `rows` to `path` in the format its name says.
pub fn write(path: &Path, rows: &[Row]) -> Result<()> {
    let text = if path.extension().is_some_and(|e| e == "json") {
        format::json_lines(rows)
    } else {
        let open = rows.iter().map(|r| r.ts_ns).min();
        let close = rows.iter().map(|r| r.ts_ns + r.duration_ns).max();
        format::tsv(rows, &zeek_time(open), &zeek_time(close))
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A time as Zeek's header writes it (`2026-12-07-18-07-24`, UTC); `-` for none.
fn zeek_time(ns: Option<u64>) -> String {
    ns.map_or_else(
        || "-".to_owned(),
        |ns| {
            let t = UNIX_EPOCH + Duration::from_nanos(ns);
            humantime::format_rfc3339_seconds(t)
                .to_string()
                .trim_end_matches('Z')
                .replace(['T', ':'], "-")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeeks_header_time() {
        let ns = 1_796_666_844_000_000_000;
        assert_eq!(zeek_time(Some(ns)), "2026-12-07-18-07-24");
        assert_eq!(zeek_time(None), "-");
    }
}
