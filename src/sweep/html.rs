//! `sweep.html`: the sweep's table and a line chart per figure against the first varied knob,
//! one line per value of the other knobs. Inline SVG, opens offline.

use std::fmt::Write as _;

use super::table::PointRow;
use crate::report::charts::{line_chart, trim_number, Series};
use crate::report::html::{esc, page};

/// The page for `rows` of a sweep of `lab`.
pub fn render(lab: &str, rows: &[PointRow]) -> String {
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
    body.push_str("</div><h2>Points</h2><table><tr>");
    for (k, _) in &first.values {
        let _ = write!(body, "<th>{}</th>", esc(k));
    }
    body.push_str("<th>runs</th>");
    for (n, _) in &first.figures {
        let _ = write!(body, "<th>{}</th>", esc(n));
    }
    body.push_str("<th>result</th></tr>");
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
        let _ = write!(body, "<td>{}</td></tr>", esc(&format!("{:?}", r.outcome)));
    }
    body.push_str("</table>");
    page(&format!("connlab sweep: {lab}"), &body)
}
