//! `connlab report`: one self-contained HTML file of a capture (any tool's, or a lab run's):
//! the summary, the findings linked to their connections, the timeline of every connection
//! (drawn from the same timeline model as the terminal view) and the distributions.
//!
//! Large captures stay small: at most [`ROW_BUDGET`] connections are drawn in full (the first
//! ones and the most eventful), all of them in a density strip; the file is a few MB at most
//! and is written in one pass over the capture.

pub mod charts;
pub mod html;
pub mod timeline_svg;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use connlab_core::analyze::{BySide, Summary};
use connlab_core::diagnose::{DiagnosisReport, Finding};
use connlab_core::timeline::TimelineModel;
use connlab_core::words::plural;

use crate::capture::reader::ReadError;
use crate::capture::timeline::{read_into, Frames};
use html::esc;

/// Connections drawn in full; the rest are in the density strip.
pub const ROW_BUDGET: usize = 500;

/// What the page says about where the capture came from.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// The lab's name, or the capture's file name.
    pub title: String,
    /// The lab's question, when a lab made the capture.
    pub question: Option<String>,
    /// The lab's story.
    pub about: Option<String>,
    /// The link model in words.
    pub link: Option<String>,
    /// `--set` overrides of the run.
    pub overrides: Vec<String>,
    /// The kernel's TIME_WAIT count per side at the end of a run.
    pub kernel_time_wait: Option<BySide>,
    /// Further lines (the client's own account, the capture file).
    pub notes: Vec<String>,
    /// TLS secrets (NSS key log text) to decrypt the capture with, besides its own.
    pub keylog: Option<Vec<u8>>,
    /// The question and story of an embedded lab by its name, for a capture that names the
    /// lab that made it (the caller knows the labs; the report does not).
    pub lab_story: Option<LabStory>,
}

/// An embedded lab's (question, story) by its name, if there is such a lab.
pub type LabStory = fn(&str) -> Option<(String, String)>;

/// What writing a report did.
#[derive(Debug)]
pub struct Written {
    /// Connections in the capture.
    pub connections: u64,
    /// Connections drawn in full.
    pub rows: usize,
    /// Bytes written.
    pub bytes: usize,
    /// Set when the capture was damaged (the report covers what came before).
    pub error: Option<ReadError>,
}

/// Reads `capture` and writes its report to `out`.
pub fn write(capture: &Path, out: &Path, header: &Header) -> Result<Written> {
    let mut model = TimelineModel::with_row_budget(
        &header.title,
        header.link.as_deref().unwrap_or(""),
        ROW_BUDGET,
    );
    let read = read_into(
        &[capture.to_path_buf()],
        header.keylog.as_deref(),
        &mut model,
        Frames::DroppedOnly,
    );
    let (made_by, error) = match read {
        Ok(facts) => ((facts.lab, facts.link), None),
        Err(e) => ((None, None), Some(e)),
    };
    if model.summary.connections == 0 {
        if let Some(e) = error {
            return Err(e).context("nothing could be read from the capture");
        }
    }
    let page = render(&model, &with_lab(header, made_by));
    std::fs::write(out, &page).with_context(|| format!("writing {}", out.display()))?;
    Ok(Written {
        connections: model.connections(),
        rows: model.rows.len(),
        bytes: page.len(),
        error,
    })
}

/// `header` with the question and story of the embedded lab that made the capture and its
/// link (its pcapng names them), when the caller knew none: a report of a lab's capture keeps
/// its question.
fn with_lab(header: &Header, (lab, link): (Option<String>, Option<String>)) -> Header {
    let mut header = header.clone();
    if header.link.is_none() {
        header.link = link;
    }
    let known = lab
        .zip(header.lab_story)
        .and_then(|(name, story)| Some((story(&name)?, name)));
    if let (None, Some(((question, about), name))) = (&header.question, known) {
        header.question = Some(question);
        header.about = Some(about);
        header.notes.push(format!(
            "made by connlab run {name} (`connlab show {name}`)"
        ));
    }
    header
}

/// The whole page for `model`.
pub fn render(model: &TimelineModel, header: &Header) -> String {
    let diagnosis = model.diagnosis().report();
    let mut body = String::new();
    header_section(&mut body, model, header);
    summary_section(&mut body, &model.summary, header.kernel_time_wait);
    findings_section(&mut body, &diagnosis.findings, model);
    endpoints_section(&mut body, &diagnosis);
    let flagged = diagnosis
        .findings
        .iter()
        .flat_map(|f| f.evidence.conns.iter().copied())
        .collect();
    timeline_section(&mut body, model, &flagged);
    distributions_section(&mut body, &diagnosis);
    html::page(&format!("connlab report: {}", header.title), &body)
}

fn header_section(out: &mut String, model: &TimelineModel, h: &Header) {
    let _ = write!(out, "<header><h1>connlab: {}</h1>", esc(&h.title));
    if let Some(q) = &h.question {
        let _ = write!(out, "<p class=\"question\">{}</p>", esc(q));
    }
    if let Some(about) = &h.about {
        let _ = write!(out, "<p class=\"about\">{}</p>", esc(about.trim()));
    }
    let span = model
        .start_ns
        .map(|s| model.end_ns.saturating_sub(s) as f64 / 1e9)
        .unwrap_or(0.0);
    let mut meta = vec![format!("{span:.3} s of capture")];
    if let Some(link) = &h.link {
        meta.push(format!("link: {link}"));
    }
    if !h.overrides.is_empty() {
        meta.push(format!("overrides: {}", h.overrides.join(" ")));
    }
    meta.extend(h.notes.iter().cloned());
    for line in meta {
        let _ = write!(out, "<p class=\"meta\">{}</p>", esc(&line));
    }
    out.push_str("</header>");
}

fn summary_section(out: &mut String, s: &Summary, kernel: Option<BySide>) {
    let _ = write!(
        out,
        "<section id=\"summary\"><h2>Summary</h2><p>connections <b>{}</b> · requests <b>{}</b> \
         · reused <b>{}</b> · responses <b>{}</b> · keepalive probes {} · retransmits {} · \
         still open {}</p><table><tr><th></th><th>client</th><th>server</th></tr>",
        s.connections, s.requests, s.reused, s.responses, s.keepalive_probes, s.retransmits, s.open
    );
    let mut rows = vec![
        ("first FIN", s.fin_first_by),
        ("RST sent", s.rst_by.ends()),
        ("TIME_WAIT (wire)", s.time_wait),
    ];
    if let Some(k) = kernel {
        rows.push(("TIME_WAIT (kernel)", k));
    }
    if s.rst_by.middlebox > 0 {
        let _ = write!(
            out,
            "<p>RSTs forged by a middlebox on the path: <b>{}</b></p>",
            s.rst_by.middlebox
        );
    }
    for (label, v) in rows {
        let _ = write!(
            out,
            "<tr><td>{label}</td><td>{}</td><td>{}</td></tr>",
            v.client, v.server
        );
    }
    out.push_str("</table></section>");
}

fn findings_section(out: &mut String, findings: &[Finding], model: &TimelineModel) {
    out.push_str("<section id=\"findings\"><h2>Findings</h2>");
    if findings.is_empty() {
        let _ = write!(
            out,
            "<p class=\"none\">Nothing wrong found in {}.</p>",
            plural(model.connections(), "connection", "connections")
        );
    }
    for f in findings {
        let conns: Vec<String> = f
            .evidence
            .conns
            .iter()
            .map(|c| {
                if model.row(*c).is_some() {
                    format!("<a href=\"#c-{c}\">{c}</a>")
                } else {
                    c.to_string()
                }
            })
            .collect();
        let frames: Vec<String> = f.evidence.frames.iter().map(u64::to_string).collect();
        let _ = write!(
            out,
            "<div class=\"finding\"><span class=\"kind\">{}</span> <span>{}</span>\
             <div class=\"evidence\">connections {} · frames {} (Wireshark: \
             <code>frame.number == {}</code>)</div><div class=\"knobs\">knobs: {}</div></div>",
            f.kind,
            esc(&f.statement),
            conns.join(" "),
            frames.join(" "),
            f.evidence.frames.first().copied().unwrap_or(0),
            esc(&f.knobs.join("; "))
        );
    }
    out.push_str("</section>");
}

/// The stacks an endpoint's traffic named: `client Python requests, server nginx`.
fn stacks_of(e: &connlab_core::diagnose::EndpointReport) -> String {
    let named: Vec<String> = [("client", &e.client_stack), ("server", &e.server_stack)]
        .into_iter()
        .filter_map(|(side, s)| Some(format!("{side} {}", s.as_ref()?.name)))
        .collect();
    named.join(", ")
}

fn endpoints_section(out: &mut String, d: &DiagnosisReport) {
    if d.endpoints.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"endpoints\"><h2>Endpoints</h2><table><tr><th>server</th><th>connections</th>\
         <th>requests</th><th>reused</th><th>first FIN c/s</th><th>RST c/s</th>\
         <th>TIME_WAIT c/s</th><th>findings</th><th>stacks</th></tr>",
    );
    let pair = |v: BySide| format!("{}/{}", v.client, v.server);
    for e in d.endpoints.iter().take(crate::summary_text::SHOWN) {
        let kinds: Vec<&str> = e.findings.iter().map(|k| k.as_str()).collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            e.server,
            e.connections,
            e.requests,
            e.reused,
            pair(e.fin_first_by),
            crate::summary_text::rst_pair(e.rst_by),
            pair(e.time_wait),
            kinds.join(", "),
            esc(&stacks_of(e))
        );
    }
    out.push_str("</table>");
    if d.endpoints.len() > crate::summary_text::SHOWN {
        let _ = write!(
            out,
            "<p class=\"meta\">… and {} more endpoints</p>",
            d.endpoints.len() - crate::summary_text::SHOWN
        );
    }
    out.push_str("</section>");
}

fn timeline_section(
    out: &mut String,
    model: &TimelineModel,
    flagged: &std::collections::BTreeSet<u64>,
) {
    out.push_str("<section id=\"timeline\"><h2>Timeline</h2>");
    out.push_str(&timeline_svg::legend());
    let total = model.connections();
    if total as usize > model.rows.len() {
        let _ = write!(
            out,
            "<p class=\"meta\">{total} connections: all of them below, per state over time; the \
             first {} and the {} most eventful are drawn in full after.</p>",
            ROW_BUDGET / 2,
            model.rows.len().saturating_sub(ROW_BUDGET / 2)
        );
        out.push_str(&timeline_svg::density(model));
    }
    if !flagged.is_empty() {
        out.push_str(
            "<p class=\"meta\"><span class=\"flag-sw\"></span> rows in a finding's evidence</p>",
        );
    }
    out.push_str(&timeline_svg::rows(model, flagged));
    out.push_str("</section>");
}

fn distributions_section(out: &mut String, d: &DiagnosisReport) {
    let s = &d.sketches;
    let ms = |ns: u64| format!("{:.3} ms", ns as f64 / 1e6);
    out.push_str("<section id=\"distributions\"><h2>Distributions</h2><div class=\"charts\">");
    out.push_str(&charts::histogram(
        "requests per connection",
        &s.requests_per_connection.bins(30),
        |v| v.to_string(),
    ));
    out.push_str(&charts::histogram(
        "connection lifetime",
        &s.lifetime_ns.bins(30),
        ms,
    ));
    out.push_str(&charts::histogram(
        "idle before reuse",
        &s.idle_before_reuse_ns.bins(30),
        ms,
    ));
    out.push_str(&charts::histogram(
        "idle before close, client's FIN",
        &s.idle_before_close_ns[0].bins(30),
        ms,
    ));
    out.push_str(&charts::histogram(
        "idle before close, server's FIN",
        &s.idle_before_close_ns[1].bins(30),
        ms,
    ));
    out.push_str("</div></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use connlab_core::analyze::{EventKind, Side};
    use connlab_core::testframes::{ev, fin, req, resp};

    /// `n` connections, each with one request, closed by the server after 1 s idle.
    fn model(n: u64, budget: usize) -> TimelineModel {
        let mut m = TimelineModel::with_row_budget("t", "transparent", budget);
        for c in 1..=n {
            let t = c * 2_000;
            m.apply_event(&ev(c, t, EventKind::Syn));
            m.apply_event(&ev(c, t + 1, req(1, false)));
            m.apply_event(&ev(c, t + 2, resp(1)));
            let close = EventKind::Fin {
                by: Side::Server,
                idle_ns: Some(1_000_000_000),
            };
            m.apply_event(&ev(c, t + 1_002, close));
            m.apply_event(&ev(c, t + 1_002, fin(Side::Client, None)));
            let tw = EventKind::TimeWait {
                holder: connlab_core::analyze::TimeWaitHolder::Server,
            };
            m.apply_event(&ev(c, t + 1_002, tw));
            let closed = EventKind::Closed {
                by_rst: false,
                lifetime_ns: 1_002_000_000,
            };
            m.apply_event(&ev(c, t + 1_003, closed));
        }
        m.finish();
        m
    }

    #[test]
    fn a_small_capture_has_every_section_and_links_findings_to_rows() {
        let page = render(&model(3, ROW_BUDGET), &Header::default());
        for part in [
            "Summary",
            "Findings",
            "Endpoints",
            "Timeline",
            "Distributions",
        ] {
            assert!(page.contains(&format!("<h2>{part}</h2>")), "{part}");
        }
        assert!(page.contains("server_idle_close"));
        assert!(
            page.contains("<a href=\"#c-1\">1</a>"),
            "findings link to rows"
        );
        assert_eq!(page.matches("<g class=\"row").count(), 3);
        assert_eq!(
            page.matches("<g class=\"row flagged\"").count(),
            3,
            "the finding's connections are highlighted before any click"
        );
        assert!(
            !page.contains("class=\"density\""),
            "no strip when every row is drawn"
        );
        assert!(!page.contains("://"), "nothing fetched");
    }

    #[test]
    fn sixty_thousand_connections_stay_a_few_megabytes() {
        let m = model(60_000, ROW_BUDGET);
        let page = render(&m, &Header::default());
        assert_eq!(page.matches("<g class=\"row").count(), ROW_BUDGET);
        assert!(page.contains("class=\"density\""), "the rest in the strip");
        assert!(page.contains("60000 connections: all of them below"));
        assert!(page.len() < 3 << 20, "{} bytes", page.len());
    }
}
