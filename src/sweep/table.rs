//! A sweep's results: one row per point with the varied values and the key figures (the
//! median over repeats), as text, CSV and JSON.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use super::plan::Point;
use super::run::PointRun;
use crate::lab::expect::value_at;
use crate::report::charts::trim_number;

/// The figures every sweep shows: (column, summary key).
pub const FIGURES: [(&str, &str); 11] = [
    ("connections", "connections"),
    ("reused", "reused"),
    ("fin_first.client", "fin_first_by.client"),
    ("fin_first.server", "fin_first_by.server"),
    ("time_wait.client", "time_wait.client"),
    ("time_wait.server", "time_wait.server"),
    ("rst.client", "rst_by.client"),
    ("rst.server", "rst_by.server"),
    ("client.ok", "client.ok"),
    ("client.failed", "client.failed"),
    ("elapsed_s", "client.elapsed_ns"),
];

pub use crate::child_run::Outcome;

/// One point's row.
#[derive(Debug, Clone, Serialize)]
pub struct PointRow {
    /// The varied values, in `--vary` order: (key, value as written).
    pub values: Vec<(String, String)>,
    /// Runs that ended with a summary.
    pub runs: usize,
    /// Figure name → median over its runs (None: no run gave it).
    pub figures: Vec<(String, Option<f64>)>,
    /// The worst outcome of its runs.
    pub outcome: Outcome,
    /// The first error, when a run could not finish.
    pub error: Option<String>,
    /// Why it did not pass, in a line: the first expectation that failed (`time_wait.client
    /// <= 5 (got 49)`), or the error.
    pub reason: Option<String>,
    /// The runs' output folders.
    pub outputs: Vec<String>,
    /// The runs' captures and HTML reports, as their summaries name them.
    pub files: Vec<(String, Option<String>)>,
}

/// Builds the rows, in plan order, of the points that have at least one ended run.
pub fn rows(points: &[Point], runs: &[PointRun], metrics: &[String]) -> Vec<PointRow> {
    let mut columns: Vec<(String, String)> = FIGURES
        .iter()
        .map(|(name, key)| (name.to_string(), key.to_string()))
        .collect();
    columns.extend(metrics.iter().map(|m| (m.clone(), m.clone())));
    let mut rows = Vec::new();
    for (i, point) in points.iter().enumerate() {
        let mine: Vec<&PointRun> = runs.iter().filter(|r| r.point == i).collect();
        if mine.is_empty() {
            continue;
        }
        let summaries: Vec<&Value> = mine
            .iter()
            .filter_map(|r| r.child.summary.as_ref())
            .collect();
        let figures = columns
            .iter()
            .map(|(name, key)| {
                let mut values: Vec<f64> = summaries
                    .iter()
                    .filter_map(|s| value_at(s, key).as_f64())
                    .map(|v| if key.ends_with("_ns") { v / 1e9 } else { v })
                    .collect();
                (name.clone(), median(&mut values))
            })
            .collect();
        rows.push(PointRow {
            values: point
                .iter()
                .map(|o| {
                    (
                        o.key.clone(),
                        o.value.to_string().trim_matches('"').to_owned(),
                    )
                })
                .collect(),
            runs: summaries.len(),
            figures,
            outcome: mine
                .iter()
                .map(|r| Outcome::of(&r.child))
                .max()
                .unwrap_or(Outcome::Error),
            error: mine.iter().find_map(|r| r.child.error.clone()),
            reason: summaries.iter().find_map(|s| first_failure(s)).or_else(|| {
                let error = mine.iter().find_map(|r| r.child.error.as_deref())?;
                error.lines().last().map(str::to_owned)
            }),
            outputs: mine.iter().map(|r| r.out.display().to_string()).collect(),
            files: summaries
                .iter()
                .filter_map(|s| {
                    let capture = s["capture"].as_str()?.to_owned();
                    Some((capture, s["report"].as_str().map(str::to_owned)))
                })
                .collect(),
        });
    }
    rows
}

/// The first expectation a run's summary failed, in a line.
fn first_failure(summary: &Value) -> Option<String> {
    let failed = summary["expectations"]
        .as_array()?
        .iter()
        .find(|o| o["pass"] == Value::Bool(false))?;
    Some(format!(
        "{} {} (got {})",
        failed["name"].as_str().unwrap_or("?"),
        failed["want"].as_str().unwrap_or("?"),
        failed["got"]
    ))
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| trim_number((v * 1000.0).round() / 1000.0))
        .unwrap_or_else(|| "-".to_owned())
}

/// Figures shown in one terminal column, as `a/b` (client/server, ok/failed), with their
/// short header; the terminal table stays within about 100 columns.
const PAIRS: [(&str, [&str; 2]); 6] = [
    ("conns", ["connections", ""]),
    ("reused", ["reused", ""]),
    ("FIN c/s", ["fin_first.client", "fin_first.server"]),
    ("TW c/s", ["time_wait.client", "time_wait.server"]),
    ("RST c/s", ["rst.client", "rst.server"]),
    ("ok/failed", ["client.ok", "client.failed"]),
];

/// The table as aligned text: the varied values, the figures in pairs, any `--metric`, and
/// the result with its reason.
pub fn text(rows: &[PointRow]) -> String {
    let Some(first) = rows.first() else {
        return "no point finished\n".to_owned();
    };
    let figure = |r: &PointRow, name: &str| {
        r.figures
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| "-".to_owned(), |(_, v)| cell(*v))
    };
    let extra: Vec<&String> = first.figures[FIGURES.len()..]
        .iter()
        .map(|(n, _)| n)
        .collect();
    // Headers name the field's end (the CSV and JSON keep whole keys).
    let tail = |key: &str| key.rsplit('.').next().unwrap_or(key).to_owned();
    let short = |key: &str| {
        let clash = extra.iter().filter(|n| tail(n) == tail(key)).count() > 1;
        if clash {
            key.to_owned()
        } else {
            tail(key)
        }
    };
    let mut header: Vec<String> = first
        .values
        .iter()
        .map(|(k, _)| k.rsplit('.').next().unwrap_or(k).to_owned())
        .collect();
    header.push("runs".into());
    header.extend(PAIRS.iter().map(|(h, _)| h.to_string()));
    header.push("elapsed s".into());
    header.extend(extra.iter().map(|n| short(n)));
    header.push("result".into());
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut line: Vec<String> = r.values.iter().map(|(_, v)| v.clone()).collect();
            line.push(r.runs.to_string());
            for (_, [a, b]) in PAIRS {
                line.push(if b.is_empty() {
                    figure(r, a)
                } else {
                    format!("{}/{}", figure(r, a), figure(r, b))
                });
            }
            line.push(figure(r, "elapsed_s"));
            line.extend(extra.iter().map(|n| figure(r, n)));
            let verdict = match r.outcome {
                Outcome::Pass => "pass".to_owned(),
                Outcome::Failed => "FAIL".to_owned(),
                other => format!("{other:?}").to_lowercase(),
            };
            line.push(match &r.reason {
                Some(why) if r.outcome != Outcome::Pass => format!("{verdict}: {why}"),
                _ => verdict,
            });
            line
        })
        .collect();
    // A figure column that is zero everywhere says nothing: left out (the CSV has it).
    let fixed = first.values.len() + 1;
    let said: Vec<usize> = (0..header.len())
        .filter(|&i| {
            i < fixed
                || i + 1 == header.len()
                || body
                    .iter()
                    .any(|l| !matches!(l[i].as_str(), "0" | "0/0" | "-" | "-/-"))
        })
        .collect();
    let header: Vec<String> = said.iter().map(|&i| header[i].clone()).collect();
    let body: Vec<Vec<String>> = body
        .iter()
        .map(|l| said.iter().map(|&i| l[i].clone()).collect())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            body.iter()
                .map(|l| l[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in std::iter::once(&header).chain(&body) {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i + 1 == line.len() {
                    c.clone()
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  "));
    }
    out
}

/// The table as CSV (values quoted when they hold a comma or a quote).
pub fn csv(rows: &[PointRow]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    if let Some(first) = rows.first() {
        let mut header: Vec<String> = first.values.iter().map(|(k, _)| quote(k)).collect();
        header.push("runs".into());
        header.extend(first.figures.iter().map(|(n, _)| quote(n)));
        header.push("result".into());
        header.push("reason".into());
        let _ = writeln!(out, "{}", header.join(","));
    }
    for r in rows {
        let mut line: Vec<String> = r.values.iter().map(|(_, v)| quote(v)).collect();
        line.push(r.runs.to_string());
        line.extend(
            r.figures
                .iter()
                .map(|(_, v)| v.map(trim_number).unwrap_or_default()),
        );
        line.push(format!("{:?}", r.outcome).to_lowercase());
        line.push(quote(r.reason.as_deref().unwrap_or("")));
        let _ = writeln!(out, "{}", line.join(","));
    }
    out
}

/// The sweep as JSON: the lab, the varied keys and every point with its figures.
pub fn json(lab: &str, rows: &[PointRow], interrupted: bool) -> Value {
    json!({
        "lab": lab,
        "interrupted": interrupted,
        "points": rows.iter().map(|r| json!({
            "values": r.values.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "runs": r.runs,
            "figures": r.figures.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "result": r.outcome,
            "error": r.error,
            "reason": r.reason,
            "outputs": r.outputs,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child_run::ChildRun;

    fn run(point: usize, code: i32, tw: u64) -> PointRun {
        PointRun {
            point,
            repeat: 0,
            child: ChildRun {
                code: Some(code),
                summary: Some(json!({
                    "connections": 50, "reused": 0,
                    "time_wait": {"client": tw, "server": 0},
                    "client": {"ok": 50, "failed": 0, "elapsed_ns": 210_000_000},
                })),
                error: None,
                elapsed: std::time::Duration::ZERO,
            },
            out: format!("/tmp/p{point}").into(),
        }
    }

    fn points() -> Vec<Point> {
        ["1", "2", "50"]
            .iter()
            .map(|v| vec![format!("client.max_idle_per_host={v}").parse().expect("o")])
            .collect()
    }

    #[test]
    fn rows_hold_medians_and_outcomes() {
        let mut runs = vec![run(0, 0, 49), run(1, 0, 48), run(2, 1, 0)];
        runs.push(PointRun {
            repeat: 1,
            ..run(1, 0, 46)
        });
        let rows = rows(
            &points(),
            &runs,
            &["findings.pool_overflow.kept_idle".into()],
        );
        assert_eq!(rows.len(), 3);
        let tw = |r: &PointRow| {
            r.figures
                .iter()
                .find(|(n, _)| n == "time_wait.client")
                .and_then(|f| f.1)
        };
        assert_eq!(tw(&rows[1]), Some(47.0), "median of 48 and 46");
        assert_eq!(rows[1].runs, 2);
        assert_eq!(rows[2].outcome, Outcome::Failed);
        let elapsed = rows[0]
            .figures
            .iter()
            .find(|(n, _)| n == "elapsed_s")
            .and_then(|f| f.1);
        assert_eq!(elapsed, Some(0.21));
        let table = text(&rows);
        assert!(table
            .lines()
            .next()
            .unwrap_or("")
            .contains("max_idle_per_host"));
        assert!(table.contains("FAIL"), "{table}");
        let csv = csv(&rows);
        assert_eq!(csv.lines().count(), 4);
        assert!(
            csv.lines().nth(2).unwrap_or("").starts_with("2,2,50,0,"),
            "{csv}"
        );
        assert_eq!(
            json("pool-burst", &rows, false)["points"][0]["values"]["client.max_idle_per_host"],
            "1"
        );
    }
}
