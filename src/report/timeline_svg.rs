//! The timeline as SVG: one row per connection kept in full on a shared time axis, states as
//! coloured runs sampled per pixel column (as the terminal samples per character column),
//! marks chosen per column by the model's priority, a hover title on everything, and a density
//! strip of all connections per state when there are more than the rows drawn.

use std::fmt::Write as _;

use connlab_core::analyze::Side;
use connlab_core::timeline::{ConnState, MarkKind, Row, TimelineModel, COUNTED};
use connlab_core::words::plural;

use super::html::esc;

/// Width of the row labels, px.
const LABEL: f64 = 240.0;
/// Width of the time axis, px (one state sample per px).
const PLOT: usize = 940;
const AXIS_H: f64 = 22.0;
/// Room one mark's glyph takes, px: marks closer than this are set apart, not overprinted.
const MARK_W: f64 = 8.0;
/// How far a mark may be moved right to clear the one before it, px.
const MARK_SHIFT_MAX: f64 = 3.0 * MARK_W;
/// Marks drawn per row at most (the most important first): a row with thousands of requests
/// must not make the file huge.
const MARKS_PER_ROW: usize = 200;
const DENSITY_H: f64 = 120.0;

/// The time window drawn: from the first frame to the last (at least a millisecond).
struct Axis {
    start: u64,
    span: u64,
}

impl Axis {
    /// From the first frame to the last, plus a tenth so the states the capture ends in
    /// (TIME_WAIT, half-closed) show.
    fn of(model: &TimelineModel) -> Axis {
        let start = model.start_ns.unwrap_or(0);
        let span = model.end_ns.saturating_sub(start).max(1_000_000);
        Axis {
            start,
            span: span + span / 10,
        }
    }

    fn x(&self, t: u64) -> f64 {
        LABEL + t.saturating_sub(self.start) as f64 * PLOT as f64 / self.span as f64
    }

    fn column(&self, t: u64) -> usize {
        ((t.saturating_sub(self.start) as u128 * PLOT as u128 / self.span as u128) as usize)
            .min(PLOT - 1)
    }

    fn t(&self, column: f64) -> u64 {
        self.start + (column * self.span as f64 / PLOT as f64) as u64
    }
}

/// `+1.25 s`, `+340 ms`, `+12 µs` since the start (`0` at the start).
fn offset(ns: u64) -> String {
    let (v, unit) = if ns >= 1_000_000_000 {
        (ns as f64 / 1e9, "s")
    } else if ns >= 1_000_000 {
        (ns as f64 / 1e6, "ms")
    } else if ns > 0 {
        (ns as f64 / 1e3, "µs")
    } else {
        return "0".to_owned();
    };
    format!(
        "+{} {unit}",
        super::charts::trim_number((v * 1000.0).round() / 1000.0)
    )
}

fn state_class(s: ConnState) -> Option<&'static str> {
    match s {
        ConnState::Handshake => Some("handshake"),
        ConnState::Active => Some("active"),
        ConnState::Idle => Some("idle"),
        ConnState::WebSocket => Some("websocket"),
        ConnState::HalfClosed => Some("half_closed"),
        ConnState::TimeWait => Some("time_wait"),
        ConnState::Closed => None,
    }
}

/// Glyph, CSS class and words of a mark (the terminal's glyphs).
fn mark_look(kind: MarkKind) -> (&'static str, &'static str, String) {
    match kind {
        MarkKind::Request => ("●", "request", "first request".into()),
        MarkKind::Reused => ("○", "reused", "request on the reused connection".into()),
        MarkKind::Fin { by, first } => {
            let glyph = if by == Side::Client { "C" } else { "S" };
            let which = if first { "first" } else { "second" };
            (glyph, "fin", format!("FIN from {by} ({which})"))
        }
        MarkKind::Rst { by } => ("×", "rst", format!("RST from {by}")),
        MarkKind::MiddleboxRst => ("M", "rst", "RST forged by a middlebox".into()),
        MarkKind::Probe => ("k", "probe", "keepalive probe".into()),
        MarkKind::Retransmit => ("r", "retransmit", "retransmission".into()),
        MarkKind::Dropped => ("!", "dropped", "frame dropped by the link".into()),
        MarkKind::WsMessage => ("m", "ws", "WebSocket message".into()),
        MarkKind::WsPing => ("p", "probe", "WebSocket ping".into()),
        MarkKind::WsPong => ("q", "probe", "WebSocket pong".into()),
        MarkKind::WsClose => ("□", "fin", "WebSocket close frame".into()),
        MarkKind::H2Ping => ("P", "probe", "HTTP/2 PING or its ACK".into()),
        MarkKind::H2GoAway => ("G", "fin", "HTTP/2 GOAWAY".into()),
        MarkKind::H2Reset => ("x", "retransmit", "HTTP/2 RST_STREAM".into()),
        MarkKind::Goodbye => (
            "□",
            "fin",
            "the client's goodbye (Terminate, COM_QUIT)".into(),
        ),
    }
}

/// The legend of states and marks.
pub fn legend() -> String {
    let mut out = String::from("<p class=\"legend\">");
    for (class, words) in [
        ("handshake", "handshake"),
        ("active", "request (or HTTP/2 stream) in flight"),
        ("idle", "idle"),
        ("websocket", "WebSocket open"),
        ("half_closed", "half-closed"),
        ("time_wait", "TIME_WAIT"),
    ] {
        let _ = write!(
            out,
            "<span><svg class=\"sw\" width=\"14\" height=\"10\"><rect class=\"s-{class}\" \
             width=\"14\" height=\"10\"/></svg>{words}</span>"
        );
    }
    for (glyph, words) in [
        ("●", "first request"),
        ("○", "reused request"),
        ("C / S", "FIN from client / server"),
        ("×", "RST"),
        ("M", "RST from a middlebox"),
        ("k", "keepalive probe"),
        ("r", "retransmit"),
        ("!", "dropped by the link"),
        ("m", "WebSocket message"),
        ("p / q", "WebSocket ping / pong"),
        ("P", "HTTP/2 PING"),
        ("G", "HTTP/2 GOAWAY"),
        ("x", "HTTP/2 RST_STREAM"),
        (
            "□",
            "WebSocket close frame, or a goodbye (Terminate, COM_QUIT)",
        ),
    ] {
        let _ = write!(out, "<span><b>{}</b> {words}</span>", esc(glyph));
    }
    out.push_str("</p>");
    out
}

/// Row height, px: a few connections get room to read, thousands stay a page long.
fn row_height(rows: usize) -> f64 {
    match rows {
        0..=20 => 24.0,
        21..=100 => 18.0,
        _ => 14.0,
    }
}

/// The rows kept in full, as one SVG; the connections in `flagged` (a finding's evidence)
/// are highlighted from the start.
pub fn rows(model: &TimelineModel, flagged: &std::collections::BTreeSet<u64>) -> String {
    let axis = Axis::of(model);
    let row_h = row_height(model.rows.len());
    let height = AXIS_H + row_h * model.rows.len() as f64 + 4.0;
    let width = LABEL + PLOT as f64 + 8.0;
    let mut out = String::with_capacity(2_000 + model.rows.len() * 600);
    let _ = write!(
        out,
        "<svg class=\"timeline\" width=\"{width}\" height=\"{height}\" role=\"img\" \
         aria-label=\"connections over time\">"
    );
    ticks(&mut out, &axis, height);
    for (i, row) in model.rows.values().enumerate() {
        let flag = flagged.contains(&row.id);
        draw_row(
            &mut out,
            &axis,
            row,
            (AXIS_H + row_h * i as f64, row_h),
            flag,
        );
    }
    out.push_str("</svg>");
    out
}

fn ticks(out: &mut String, axis: &Axis, height: f64) {
    let step = nice_step(axis.span / 8);
    out.push_str("<g class=\"axis\">");
    let mut t = 0;
    while t <= axis.span {
        let x = axis.x(axis.start + t);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{AXIS_H}\" x2=\"{x:.1}\" y2=\"{height:.1}\"/>\
             <text x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{}</text>",
            offset(t)
        );
        t += step;
    }
    out.push_str("</g>");
}

/// 1, 2 or 5 times a power of ten, at least `rough`.
fn nice_step(rough: u64) -> u64 {
    let mut base = 1u64;
    loop {
        for m in [1, 2, 5] {
            if base * m >= rough.max(1) {
                return base * m;
            }
        }
        base *= 10;
    }
}

fn draw_row(out: &mut String, axis: &Axis, row: &Row, (y, row_h): (f64, f64), flag: bool) {
    let class = if flag { "row flagged" } else { "row" };
    let text_y = y + row_h / 2.0 + 4.0;
    let _ = write!(
        out,
        "<g class=\"{class}\" id=\"c-{id}\"><title>conn {id}: {} → {}, {}{}</title>\
         <rect class=\"bg\" x=\"0\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{row_h}\"/>\
         <text x=\"4\" y=\"{text_y:.1}\">{id:>5} {}→{}</text>",
        row.client,
        row.server,
        plural(u64::from(row.requests), "request", "requests"),
        if flag {
            " (in a finding's evidence)"
        } else {
            ""
        },
        LABEL + PLOT as f64,
        row.client.port(),
        esc(&row.server.to_string()),
        id = row.id
    );
    // States, one sample per px column, drawn as runs.
    let mut run: Option<(usize, ConnState)> = None;
    let (bar_y, bar_h) = (y + 3.0, row_h - 6.0);
    let flush = |out: &mut String, from: usize, to: usize, s: ConnState| {
        if let Some(class) = state_class(s) {
            let _ = write!(
                out,
                "<rect class=\"s-{class}\" x=\"{:.1}\" y=\"{bar_y:.1}\" width=\"{}\" height=\"{bar_h}\"/>",
                LABEL + from as f64,
                to - from
            );
        }
    };
    for col in 0..PLOT {
        let state = row.state_at(axis.t(col as f64 + 0.5));
        match (run, state) {
            (Some((_, s)), Some(now)) if s == now => {}
            (prev, now) => {
                if let Some((from, s)) = prev {
                    flush(out, from, col, s);
                }
                run = now.map(|s| (col, s));
            }
        }
    }
    if let Some((from, s)) = run {
        flush(out, from, PLOT, s);
    }
    // Marks: per column the one that matters most, then the most important rows' worth.
    // Per pixel column the two most important marks of different kinds (a FIN from each
    // side 1 ms apart both show), then spread so that none overprints another.
    let mut best: Vec<[Option<Mark>; 2]> = vec![[None; 2]; PLOT];
    for &(t, kind, frame) in &row.marks {
        let mark = Mark { t, kind, frame };
        match &mut best[axis.column(t)] {
            [slot @ None, _] => *slot = Some(mark),
            [Some(first), second] if first.kind != kind => {
                let (hi, lo) = if kind.priority() > first.kind.priority() {
                    (mark, *first)
                } else {
                    (*first, mark)
                };
                *first = hi;
                if second.is_none_or(|s| lo.kind.priority() > s.kind.priority()) {
                    *second = Some(lo);
                }
            }
            _ => {}
        }
    }
    let mut marks: Vec<Mark> = best.into_iter().flatten().flatten().collect();
    marks.sort_by_key(|m| m.t);
    if marks.len() > MARKS_PER_ROW {
        marks.sort_by_key(|m| (std::cmp::Reverse(m.kind.priority()), m.t));
        marks.truncate(MARKS_PER_ROW);
        marks.sort_by_key(|m| m.t);
    }
    for (m, x) in spread(&marks, |t| axis.x(t)) {
        let (glyph, class, words) = mark_look(m.kind);
        let _ = write!(
            out,
            "<text class=\"m m-{class}\" x=\"{x:.1}\" y=\"{text_y:.1}\">{glyph}\
             <title>conn {}: {words} at {}, frame {}</title></text>",
            row.id,
            offset(m.t.saturating_sub(axis.start)),
            m.frame
        );
    }
    out.push_str("</g>");
}

/// Places marks (in time order) so that none overprints the one before: a mark closer than a
/// glyph's width to the previous is moved right (its title keeps its time); one that would
/// move too far yields to the more important of the two.
fn spread(marks: &[Mark], x_of: impl Fn(u64) -> f64) -> Vec<(Mark, f64)> {
    let mut placed: Vec<(Mark, f64)> = Vec::with_capacity(marks.len());
    for &m in marks {
        let x = x_of(m.t);
        let Some(&(last, last_x)) = placed.last() else {
            placed.push((m, x));
            continue;
        };
        let at = x.max(last_x + MARK_W);
        if at - x <= MARK_SHIFT_MAX {
            placed.push((m, at));
        } else if m.kind.priority() > last.kind.priority() {
            let end = placed.len() - 1;
            placed[end] = (m, x.max(last_x));
        }
    }
    placed
}

/// A mark to draw: when, what, and the frame that made it (Wireshark's number).
#[derive(Debug, Clone, Copy)]
struct Mark {
    t: u64,
    kind: MarkKind,
    frame: u64,
}

/// All connections per state over time, stacked, as one SVG.
pub fn density(model: &TimelineModel) -> String {
    let axis = Axis::of(model);
    let counts = model.density.counts(model.end_ns);
    let max = counts
        .iter()
        .map(|(_, c)| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = LABEL + PLOT as f64 + 8.0;
    let height = AXIS_H + DENSITY_H + 6.0;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"density\" width=\"{width}\" height=\"{height}\" role=\"img\" \
         aria-label=\"open connections per state over time\">\
         <text x=\"4\" y=\"{:.1}\">open connections</text>\
         <text x=\"4\" y=\"{:.1}\">(max {max})</text>",
        AXIS_H + 14.0,
        AXIS_H + 28.0
    );
    ticks(&mut out, &axis, height - 6.0);
    let bucket = model.density.bucket_ns();
    for (t, c) in &counts {
        let (x0, x1) = (axis.x(*t), axis.x(t + bucket).max(axis.x(*t) + 1.0));
        let mut y = AXIS_H + DENSITY_H;
        let title: Vec<String> = COUNTED
            .iter()
            .zip(c)
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{n} {}", state_class(*s).unwrap_or("")))
            .collect();
        if title.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<g><title>{}: {}</title>",
            offset(t.saturating_sub(axis.start)),
            title.join(", ")
        );
        for (s, n) in COUNTED.iter().zip(c) {
            if *n == 0 {
                continue;
            }
            let h = *n as f64 / max as f64 * DENSITY_H;
            y -= h;
            let _ = write!(
                out,
                "<rect class=\"s-{}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\"/>",
                state_class(*s).unwrap_or(""),
                (x1 - x0).min(PLOT as f64)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use connlab_core::analyze::EventKind;
    use connlab_core::testframes::{ev, fin, req, resp};

    fn model() -> TimelineModel {
        let mut m = TimelineModel::new("t", "transparent");
        for c in 1..=3u64 {
            m.apply_event(&ev(c, c, EventKind::Syn));
            m.apply_event(&ev(c, 10, req(1, false)));
            m.apply_event(&ev(c, 20, resp(1)));
        }
        m.apply_event(&ev(3, 21, fin(Side::Client, None)));
        m.apply_event(&ev(3, 21, fin(Side::Server, None)));
        m.apply_event(&ev(1, 100, req(2, true)));
        m.finish();
        m
    }

    #[test]
    fn one_group_per_row_with_states_and_marks() {
        let svg = rows(&model(), &[3].into());
        assert_eq!(svg.matches("<g class=\"row").count(), 3);
        assert_eq!(svg.matches("<g class=\"row flagged\"").count(), 1);
        assert!(svg.contains("id=\"c-3\""), "rows are link targets");
        assert!(svg.contains("s-active") && svg.contains("s-idle"));
        // Both FINs of the same moment show, the second set apart from the first.
        assert!(svg.contains("FIN from client (first)"), "{svg}");
        assert!(svg.contains("FIN from server (second)"), "{svg}");
        let x_of = |words: &str| -> f64 {
            let at = svg.find(words).expect("the mark");
            let open = svg[..at].rfind("x=\"").expect("its x") + 3;
            svg[open..open + svg[open..].find('"').expect("end")]
                .parse()
                .expect("a number")
        };
        assert!(
            x_of("FIN from server (second)") - x_of("FIN from client (first)") >= MARK_W,
            "no overprint"
        );
        assert!(svg.contains(", frame "), "titles give the frame: {svg}");
        // The capture starts with the first SYN, at 1 ms.
        assert!(
            svg.contains("request on the reused connection at +99 ms"),
            "{svg}"
        );
    }

    #[test]
    fn the_density_strip_counts_every_connection() {
        let svg = density(&model());
        assert!(
            svg.contains("3 handshake") || svg.contains("2 handshake"),
            "{svg}"
        );
        assert!(svg.contains("s-half_closed"), "{svg}");
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(3), 5);
        assert_eq!(nice_step(130_000_000), 200_000_000);
        assert_eq!(offset(1_500_000_000), "+1.5 s");
        assert_eq!(offset(0), "0");
        assert_eq!(offset(202_731_456), "+202.731 ms");
    }
}
