//! conn.log's two formats, as Zeek writes them: TSV under its `#` header (what `zeek-cut`
//! reads), or JSON lines (what DuckDB's `read_json` reads), unset fields left out.

use std::fmt::Write as _;

use serde_json::Value;

use super::Row;
use crate::analyze::{Side, TimeWaitHolder};

/// The columns: Zeek's, then connlab's, with Zeek's type names.
const COLUMNS: [(&str, &str); 23] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("requests", "count"),
    ("reused", "count"),
    ("first_fin_by", "string"),
    ("time_wait_holder", "string"),
    ("findings", "set[string]"),
];

/// Seconds with Zeek's six decimals.
fn seconds(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1_000)
}

fn side(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

fn holder(h: TimeWaitHolder) -> &'static str {
    match h {
        TimeWaitHolder::Client => "client",
        TimeWaitHolder::Server => "server",
        TimeWaitHolder::Both => "both",
    }
}

/// A row's values in column order, `None` where unset. Zeek sets the duration and the byte
/// counts only when the duration is above 0.
fn values(row: &Row) -> [Option<Value>; 23] {
    let timed = row.duration_ns > 0;
    let text = |s: &str| Some(Value::from(s));
    let n = |x: u64| Some(Value::from(x));
    [
        Some(Value::from(seconds(row.ts_ns))),
        text(&row.uid),
        text(&row.orig.ip().to_string()),
        n(u64::from(row.orig.port())),
        text(&row.resp.ip().to_string()),
        n(u64::from(row.resp.port())),
        text("tcp"),
        row.service.and_then(text),
        timed.then(|| Value::from(seconds(row.duration_ns))),
        timed.then(|| Value::from(row.orig_bytes)),
        timed.then(|| Value::from(row.resp_bytes)),
        text(row.conn_state),
        n(row.missed_bytes),
        (!row.history.is_empty()).then(|| Value::from(row.history.as_str())),
        n(row.orig_pkts),
        n(row.orig_ip_bytes),
        n(row.resp_pkts),
        n(row.resp_ip_bytes),
        n(row.requests),
        n(row.reused),
        row.first_fin_by.map(side).and_then(text),
        row.time_wait.map(holder).and_then(text),
        Some(Value::from(row.findings.clone())),
    ]
}

/// The TSV file: Zeek's header (`open` and `close` in its `%Y-%m-%d-%H-%M-%S`), a line per
/// row, and the `#close` line.
pub fn tsv(rows: &[Row], open: &str, close: &str) -> String {
    let mut out = String::from("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n");
    let _ = writeln!(out, "#unset_field\t-\n#path\tconn\n#open\t{open}");
    let names: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    let types: Vec<&str> = COLUMNS.iter().map(|(_, ty)| *ty).collect();
    let _ = writeln!(out, "#fields\t{}", names.join("\t"));
    let _ = writeln!(out, "#types\t{}", types.join("\t"));
    for row in rows {
        let cells: Vec<String> = values(row)
            .into_iter()
            .map(|v| match v {
                None => "-".to_owned(),
                Some(Value::String(s)) => escape(&s, false),
                Some(Value::Array(a)) if a.is_empty() => "(empty)".to_owned(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| escape(x.as_str().unwrap_or_default(), true))
                    .collect::<Vec<_>>()
                    .join(","),
                Some(v) => v.to_string(),
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("\t"));
    }
    let _ = writeln!(out, "#close\t{close}");
    out
}

/// Zeek's escaping in TSV: a tab, a newline or a backslash in a value, and in a set's element
/// the set separator, is written `\xNN`.
fn escape(s: &str, element: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' | '\n' | '\\' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            ',' if element => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// JSON lines: one object per row, its unset fields left out, `ts` and `duration` as
/// numbers of seconds.
pub fn json_lines(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        // In the columns' order, as Zeek writes it (a map would sort the keys).
        out.push('{');
        let mut first = true;
        for ((name, ty), value) in COLUMNS.iter().zip(values(row)) {
            let Some(value) = value else { continue };
            if !std::mem::take(&mut first) {
                out.push(',');
            }
            let _ = write!(out, "{}:", Value::from(*name));
            match (*ty, value) {
                // Seconds with six decimals, as a number.
                ("time" | "interval", Value::String(s)) => out.push_str(&s),
                (_, v) => out.push_str(&v.to_string()),
            }
        }
        out.push_str("}\n");
    }
    out
}
