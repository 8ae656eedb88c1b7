//! `sweep.html`: the sweep's table and a line chart per figure against the first varied knob,
//! one line per value of the other knobs. Inline SVG, opens offline.

use std::fmt::Write as _;
use std::path::Path;

use super::table::PointRow;
use crate::report::charts::{line_chart, trim_number, Series};
use crate::report::html::{esc, page};

/// The page for `rows` of a sweep of `lab`, written into `folder` (its links to the points'
/// captures and reports are relative to it, so the folder can be moved whole).
pub fn render(lab: &str, rows: &[PointRow], folder: &Path) -> String {
    let mut body = String::new();
    let _ = write!(body, "<h1>connlab sweep: {}</h1>", esc(lab));
    let Some(first) = rows.first() else {
        body.push_str("<p>No point finished.</p>");
        return page(&format!("connlab sweep: {lab}"), &body);
    };
    let x_key = first.values[0].0.clone();
    // The x axis: the first knob's values, in the order they were given.
    let mut xs: Vec<String> = Vec::new();
    for r in rows {
        if !xs.contains(&r.values[0].1) {
            xs.push(r.values[0].1.clone());
        }
    }
    // One series per combination of the other knobs' values.
    let mut groups: Vec<String> = Vec::new();
    let group_of = |r: &PointRow| {
        r.values[1..]
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for r in rows {
        let g = group_of(r);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    body.push_str("<h2>Figures</h2><div class=\"charts\">");
    for (f, (name, _)) in first.figures.iter().enumerate() {
        // A figure that is zero (or absent) at every point says nothing a chart would.
        if rows.iter().all(|r| r.figures[f].1.unwrap_or(0.0) == 0.0) {
            continue;
        }
        let series: Vec<Series> = groups
            .iter()
            .map(|g| Series {
                name: if g.is_empty() {
                    name.clone()
                } else {
                    g.clone()
                },
                points: xs
                    .iter()
                    .map(|x| {
                        rows.iter()
                            .find(|r| &r.values[0].1 == x && &group_of(r) == g)
                            .and_then(|r| r.figures[f].1)
                    })
                    .collect(),
            })
            .collect();
        body.push_str(&line_chart(name, &x_key, &xs, &series));
    }
    body.push_str("</div><h2>Points</h2><div class=\"wide\"><table><tr>");
    for (k, _) in &first.values {
        let _ = write!(body, "<th>{}</th>", esc(k));
    }
    body.push_str("<th>runs</th>");
    for (n, _) in &first.figures {
        let _ = write!(body, "<th>{}</th>", esc(n));
    }
    body.push_str("<th>result</th><th>files</th></tr>");
    for r in rows {
        body.push_str("<tr>");
        for (_, v) in &r.values {
            let _ = write!(body, "<td>{}</td>", esc(v));
        }
        let _ = write!(body, "<td>{}</td>", r.runs);
        for (_, v) in &r.figures {
            let _ = write!(
                body,
                "<td>{}</td>",
                v.map(trim_number).unwrap_or_else(|| "-".into())
            );
        }
        let verdict = format!("{:?}", r.outcome).to_lowercase();
        let _ = write!(
            body,
            "<td class=\"{verdict}\" style=\"text-align:left\">{}{}</td><td style=\"text-align:left\">",
            esc(&verdict),
            r.reason
                .as_ref()
                .filter(|_| verdict != "pass")
                .map(|why| format!(": {}", esc(why)))
                .unwrap_or_default()
        );
        for (i, (capture, report)) in r.files.iter().enumerate() {
            let run = if r.files.len() > 1 {
                format!(" {}", i + 1)
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<a href=\"{}\">capture{run}</a> ",
                esc(&relative(capture, folder))
            );
            if let Some(report) = report {
                let _ = write!(
                    body,
                    "<a href=\"{}\">report{run}</a> ",
                    esc(&relative(report, folder))
                );
            }
        }
        body.push_str("</td></tr>");
    }
    body.push_str("</table></div>");
    page(&format!("connlab sweep: {lab}"), &body)
}

/// `path` relative to `folder` when it is inside it (a point's files are), else as it is.
fn relative(path: &str, folder: &Path) -> String {
    let path = Path::new(path);
    let folder = folder.canonicalize().unwrap_or_else(|_| folder.to_owned());
    let path_abs = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    path_abs
        .strip_prefix(&folder)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}
