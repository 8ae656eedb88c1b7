//! Draws a [`TimelineModel`] as seen through a [`ViewState`] into a ratatui frame. Only the
//! rows and columns on screen are computed, so 10,000 connections cost what 40 do.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::input::{visible_rows, ViewState};
use connlab_core::analyze::Side;
use connlab_core::timeline::{ConnState, MarkKind, Row, TimelineModel};
use connlab_core::words::plural;

/// Width of the row labels: the timeline has the rest of the screen.
pub const LABEL: u16 = 33;
/// Columns from one time label to the next.
const LABEL_EVERY: u16 = 14;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, model: &TimelineModel, view: &ViewState) {
    let area = frame.area();
    let log_lines = if area.height >= 24 { 5 } else { 3 };
    let [header, axis, rows, log, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(log_lines + 1),
        Constraint::Length(1),
    ])
    .areas(area);
    let buf = frame.buffer_mut();
    draw_header(buf, header, model, view);
    let visible = visible_rows(model, view.filter.as_deref());
    if view.detail {
        draw_detail(
            buf,
            axis.union(rows),
            model,
            (visible.get(view.selected).copied(), view.detail_back),
        );
    } else {
        draw_axis(buf, axis, model, view);
        draw_rows(buf, rows, model, view, &visible);
    }
    draw_log(buf, log, model, view);
    draw_footer(buf, footer, view);
    if view.help {
        draw_help(frame, area);
    } else if view.findings {
        draw_findings(frame, area, model);
    }
}

fn style(view: &ViewState, color: Color) -> Style {
    if view.colors {
        Style::default().fg(color)
    } else {
        Style::default()
    }
}

fn draw_header(buf: &mut Buffer, area: Rect, model: &TimelineModel, view: &ViewState) {
    let s = &model.summary;
    let elapsed = model
        .start_ns
        .map(|start| model.end_ns.saturating_sub(start) as f64 / 1e9)
        .unwrap_or(0.0);
    let mode = if model.finished {
        "FINISHED"
    } else if view.follow {
        "LIVE"
    } else {
        "PAUSED"
    };
    let line1 = format!(
        " connlab  {}   t+{elapsed:.1} s   link: {}   [{mode}]",
        model.title, model.link
    );
    let kernel = model
        .kernel_time_wait
        .map(|k| format!("  kernel TIME_WAIT {}/{}", k.client, k.server))
        .unwrap_or_default();
    let line2 = format!(
        " open {}  total {}  reused {}  capture drops {}  link drops {}",
        model.open(),
        s.connections,
        s.reused,
        model.capture_drops,
        model.link_dropped
    );
    let line3 = format!(
        " client/server  FIN first {}/{}  RST {}  TIME_WAIT {}/{}{kernel}",
        s.fin_first_by.client,
        s.fin_first_by.server,
        crate::summary_text::rst_pair(s.rst_by),
        s.time_wait.client,
        s.time_wait.server,
    );
    let line4 = if model.findings.is_empty() {
        // A finished run found nothing: no "so far" to wait for.
        let when = if model.finished { "" } else { " so far" };
        format!(" findings: none{when}")
    } else {
        let listed: Vec<String> = model
            .findings
            .iter()
            .map(|f| format!("{} {}", f.kind, f.connections))
            .collect();
        format!(" findings: {}   (f: details)", listed.join(", "))
    };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    buf.set_stringn(area.x, area.y, &line1, area.width as usize, bold);
    for (i, line) in [line2, line3, line4].iter().enumerate() {
        if area.height > i as u16 + 1 {
            buf.set_stringn(
                area.x,
                area.y + 1 + i as u16,
                line,
                area.width as usize,
                Style::default(),
            );
        }
    }
}

/// Time of the left edge of the timeline.
fn left_edge(model: &TimelineModel, view: &ViewState, cols: u16) -> u64 {
    view.right_edge(model)
        .saturating_sub(view.ns_per_col * u64::from(cols))
}

fn draw_axis(buf: &mut Buffer, area: Rect, model: &TimelineModel, view: &ViewState) {
    let cols = area.width.saturating_sub(LABEL);
    let start = model.start_ns.unwrap_or(0);
    let left = left_edge(model, view, cols);
    let label = format!(" {:.3} ms/col", view.ns_per_col as f64 / 1e6);
    buf.set_stringn(area.x, area.y, &label, LABEL as usize, Style::default());
    let decimals = label_decimals(view.ns_per_col * u64::from(LABEL_EVERY));
    let mut c = 0;
    while c + LABEL_EVERY <= cols {
        let t = left + view.ns_per_col * u64::from(c);
        let text = format!("|+{:.*}s", decimals, t.saturating_sub(start) as f64 / 1e9);
        let room = usize::from(LABEL_EVERY - 1);
        buf.set_stringn(area.x + LABEL + c, area.y, &text, room, Style::default());
        c += LABEL_EVERY;
    }
}

/// Decimals of seconds that tell labels `spacing_ns` apart: one digit below the spacing's
/// first significant one (0.12 s apart: 2 decimals; 12 µs apart: 6).
fn label_decimals(spacing_ns: u64) -> usize {
    let spacing_s = spacing_ns.max(1) as f64 / 1e9;
    ((-spacing_s.log10()).ceil() as i64 + 1).clamp(1, 9) as usize
}

fn row_label(row: &Row) -> String {
    format!(
        "{:>5} {:>5}>{:<15}{:>3}r",
        row.id,
        row.client.port(),
        row.server.to_string(),
        row.requests
    )
}

fn state_glyph(state: ConnState) -> (char, Color) {
    match state {
        ConnState::Handshake => ('~', Color::Yellow),
        ConnState::Active => ('━', Color::Green),
        ConnState::Idle => ('─', Color::Blue),
        ConnState::WebSocket => ('═', Color::Cyan),
        ConnState::HalfClosed => ('┄', Color::Magenta),
        ConnState::TimeWait => ('░', Color::Red),
        ConnState::Closed => (' ', Color::Reset),
    }
}

/// Glyph of a mark (which one wins a shared column is the model's `MarkKind::priority`).
fn mark_glyph(kind: MarkKind) -> (char, Color) {
    match kind {
        MarkKind::Rst { .. } => ('×', Color::Red),
        MarkKind::MiddleboxRst => ('M', Color::Red),
        MarkKind::Fin {
            by: Side::Client, ..
        } => ('C', Color::Yellow),
        MarkKind::Fin {
            by: Side::Server, ..
        } => ('S', Color::Yellow),
        MarkKind::Dropped => ('!', Color::LightRed),
        MarkKind::Retransmit => ('r', Color::LightRed),
        MarkKind::Probe => ('k', Color::Magenta),
        MarkKind::Request => ('●', Color::White),
        MarkKind::Reused => ('○', Color::Cyan),
        MarkKind::WsMessage => ('m', Color::White),
        MarkKind::WsPing => ('p', Color::Magenta),
        MarkKind::WsPong => ('q', Color::Magenta),
        MarkKind::WsClose => ('□', Color::Yellow),
        MarkKind::H2Ping => ('P', Color::Magenta),
        MarkKind::H2GoAway => ('G', Color::Yellow),
        MarkKind::H2Reset => ('x', Color::LightRed),
        MarkKind::Goodbye => ('□', Color::Yellow),
    }
}

fn draw_rows(
    buf: &mut Buffer,
    area: Rect,
    model: &TimelineModel,
    view: &ViewState,
    visible: &[&Row],
) {
    let height = area.height as usize;
    let first = view.selected.saturating_sub(height.saturating_sub(1));
    let cols = area.width.saturating_sub(LABEL);
    let left = left_edge(model, view, cols);
    let npc = view.ns_per_col.max(1);
    for (line, row) in visible.iter().skip(first).take(height).enumerate() {
        let y = area.y + line as u16;
        let mut label_style = Style::default();
        if first + line == view.selected {
            label_style = label_style.add_modifier(Modifier::REVERSED);
        }
        buf.set_stringn(area.x, y, row_label(row), LABEL as usize - 1, label_style);
        for c in 0..cols {
            let t = left + npc * u64::from(c + 1);
            if let Some(state) = row.state_at(t) {
                let (ch, color) = state_glyph(state);
                if let Some(cell) = buf.cell_mut((area.x + LABEL + c, y)) {
                    cell.set_char(ch).set_style(style(view, color));
                }
            }
        }
        let from = row.marks.partition_point(|(t, _, _)| *t < left);
        let mut best: Vec<u8> = vec![0; cols as usize];
        for &(t, kind, _) in row.marks[from..]
            .iter()
            .take_while(|(t, _, _)| *t <= left + npc * u64::from(cols))
        {
            let c = ((t - left) / npc).min(u64::from(cols.saturating_sub(1))) as u16;
            let (ch, color) = mark_glyph(kind);
            let prio = kind.priority();
            // Strictly greater: among equals the earliest mark of the column stays.
            if prio > best[c as usize] {
                best[c as usize] = prio;
                if let Some(cell) = buf.cell_mut((area.x + LABEL + c, y)) {
                    cell.set_char(ch)
                        .set_style(style(view, color).add_modifier(Modifier::BOLD));
                }
            }
        }
    }
    if visible.is_empty() {
        let text = match &view.filter {
            Some(f) => format!(" no connection matches the filter {f:?} (Esc, / to change)"),
            None => " waiting for the first connection...".to_owned(),
        };
        buf.set_stringn(area.x, area.y, text, area.width as usize, Style::default());
    }
}

/// The selected connection's events and frames in time order, scrolled `back` lines from
/// the newest; frames carry their capture numbers, as Wireshark shows them.
fn draw_detail(
    buf: &mut Buffer,
    area: Rect,
    model: &TimelineModel,
    (row, back): (Option<&Row>, usize),
) {
    let Some(row) = row else {
        buf.set_stringn(
            area.x,
            area.y,
            " no connection selected (Esc)",
            area.width as usize,
            Style::default(),
        );
        return;
    };
    let start = model.start_ns.unwrap_or(0);
    // Events and frames merged in time order.
    let mut lines: Vec<(u64, String)> = row.details.clone();
    lines.extend(row.frames.iter().map(|(t, f)| (*t, f.describe())));
    lines.sort_by_key(|(t, _)| *t);
    let room = area.height.saturating_sub(1) as usize;
    let end = lines.len().saturating_sub(back).max(room.min(lines.len()));
    let skip = end.saturating_sub(room);
    let title = format!(
        " conn {}: {} -> {}, {}  lines {}-{} of {}  (up/down scroll, Esc back)",
        row.id,
        row.client,
        row.server,
        plural(u64::from(row.requests), "request", "requests"),
        (skip + 1).min(end),
        end,
        lines.len()
    );
    buf.set_stringn(
        area.x,
        area.y,
        title,
        area.width as usize,
        Style::default().add_modifier(Modifier::BOLD),
    );
    for (line, (t, text)) in lines[skip..end].iter().enumerate() {
        let text = format!(" +{:>10.6} s  {text}", t.saturating_sub(start) as f64 / 1e9);
        buf.set_stringn(
            area.x,
            area.y + 1 + line as u16,
            text,
            area.width as usize,
            Style::default(),
        );
    }
}

fn draw_log(buf: &mut Buffer, area: Rect, model: &TimelineModel, view: &ViewState) {
    let rule = "─".repeat(area.width as usize);
    buf.set_stringn(
        area.x,
        area.y,
        rule,
        area.width as usize,
        style(view, Color::DarkGray),
    );
    let title = if view.log_back > 0 {
        format!(" events ({} back, ] to follow) ", view.log_back)
    } else {
        " events ".to_owned()
    };
    buf.set_stringn(
        area.x + 1,
        area.y,
        &title,
        title.chars().count(),
        Style::default(),
    );
    let room = area.height.saturating_sub(1) as usize;
    let skip = model.log.len().saturating_sub(room + view.log_back);
    for (line, text) in model.log.iter().skip(skip).take(room).enumerate() {
        buf.set_stringn(
            area.x + 1,
            area.y + 1 + line as u16,
            text,
            area.width as usize - 1,
            Style::default(),
        );
    }
}

fn draw_footer(buf: &mut Buffer, area: Rect, view: &ViewState) {
    let text = match (&view.typing, &view.filter) {
        (Some(t), _) => format!(" filter: {t}_   (Enter apply, Esc cancel)"),
        (None, Some(f)) => format!(" filter {f:?} | q quit  space follow  </> pan  +/- zoom  up/down select  Enter detail  / filter  ? help"),
        (None, None) if view.detail => " up/down PgUp/PgDn scroll  Esc back  q quit".to_owned(),
        (None, None) => " q quit  space pause/follow  </> pan  +/- zoom  up/down select  Enter detail  / filter  ? help".to_owned(),
    };
    buf.set_stringn(
        area.x,
        area.y,
        text,
        area.width as usize,
        Style::default().add_modifier(Modifier::REVERSED),
    );
}

fn draw_findings(frame: &mut Frame, area: Rect, model: &TimelineModel) {
    let text = if model.findings.is_empty() {
        "Nothing wrong found so far.".to_owned()
    } else {
        model
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{}: {}\n  frames {:?}\n  knobs: {}",
                    f.kind,
                    f.statement,
                    f.evidence.frames,
                    f.knobs.join("; ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    draw_popup(
        frame,
        area,
        (100, area.height),
        text,
        " findings (f or Esc to close) ",
    );
}

const HELP: &str = "\
Keys: q quit (a live lab is stopped and cleaned up) | space pause/follow | left/right or < > \
pan | +/- zoom | up/down select | Enter detail (events and numbered frames; up/down and \
PgUp/PgDn scroll it) | / filter | [ ] scroll the event log | f findings | ? help | Esc back

States: ~ handshake  ━ active (request or HTTP/2 stream in flight)  ─ idle  ═ WebSocket  \
┄ half-closed  ░ TIME_WAIT  (blank) closed
Marks: ● request  ○ reused request (HTTP/2: another stream)  C FIN from client  S FIN from \
server  × RST  M RST from a middlebox  k keepalive probe  r retransmit  ! frame dropped by the \
link  m WebSocket message  p ping  q pong  □ close frame or goodbye  P HTTP/2 PING  G GOAWAY  x RST_STREAM

Filter: rst, reused, fin, time_wait, probe, retransmit, dropped, request, websocket, ping, \
http2, goaway, or a port number.
Counters are for everything seen so far (the whole file when replaying).";

fn draw_help(frame: &mut Frame, area: Rect) {
    draw_popup(
        frame,
        area,
        (90, 16),
        HELP.to_owned(),
        " help (? or Esc to close) ",
    );
}

/// A bordered, wrapped text centred over `area`, at most `max` (width, height) and always a
/// margin inside the screen.
fn draw_popup(frame: &mut Frame, area: Rect, max: (u16, u16), text: String, title: &str) {
    let width = area.width.saturating_sub(4).min(max.0);
    let height = area.height.saturating_sub(2).min(max.1);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(title)),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use connlab_core::analyze::{EventKind, TimeWaitHolder};
    use connlab_core::testframes::{ev, fin, req, resp};
    use connlab_core::timeline::FrameInfo;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// Renders `model` at `w`x`h` with the view following the newest time at 1 ms/col.
    fn screen(model: &TimelineModel, w: u16, h: u16, colors: bool) -> (String, Buffer) {
        let mut view = ViewState::new(colors);
        view.ns_per_col = 1_000_000;
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        term.draw(|f| draw(f, model, &view)).expect("draw");
        let buf = term.backend().buffer().clone();
        let text = (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        (text, buf)
    }

    fn row_line(text: &str, id: u64) -> &str {
        let label = format!("{id:>5} ");
        text.lines()
            .find(|l| l.starts_with(&label))
            .unwrap_or_else(|| panic!("no row {id} in\n{text}"))
    }

    #[test]
    fn reuse_shows_one_row_with_first_and_reused_requests() {
        let mut m = TimelineModel::new("keepalive-reuse", "transparent");
        m.apply_event(&ev(1, 0, EventKind::Syn));
        m.apply_event(&ev(1, 1, EventKind::Established { handshake_ns: 1 }));
        for (i, t) in [(1, 2), (2, 20), (3, 40)] {
            m.apply_event(&ev(1, t, req(i, i > 1)));
            m.apply_event(&ev(1, t + 1, resp(i)));
        }
        let (text, _) = screen(&m, 80, 24, true);
        assert!(text.contains("keepalive-reuse"), "{text}");
        assert!(text.contains("total 1  reused 2"), "{text}");
        let row = row_line(&text, 1);
        assert!(row.contains("3r"), "{row}");
        assert_eq!(row.matches('●').count(), 1, "{row}");
        assert_eq!(row.matches('○').count(), 2, "{row}");
        assert!(row.contains('─'), "idle between requests: {row}");
    }

    #[test]
    fn pool_burst_shows_client_fins_and_time_wait() {
        let mut m = TimelineModel::new("pool-burst", "transparent");
        for c in 1..=6 {
            m.apply_event(&ev(c, c, EventKind::Syn));
            m.apply_event(&ev(c, 10, req(1, false)));
            m.apply_event(&ev(c, 20, resp(1)));
        }
        for c in 3..=6 {
            m.apply_event(&ev(c, 21, fin(Side::Client, None)));
            m.apply_event(&ev(c, 22, fin(Side::Server, None)));
            m.apply_event(&ev(
                c,
                22,
                EventKind::TimeWait {
                    holder: TimeWaitHolder::Client,
                },
            ));
        }
        m.apply_event(&ev(6, 60, EventKind::Syn)); // keeps the clock moving
        let (text, _) = screen(&m, 100, 30, true);
        assert!(text.contains("total 6"), "{text}");
        assert!(text.contains("FIN first 4/0"), "{text}");
        assert!(text.contains("TIME_WAIT 4/0"), "{text}");
        for c in 3..=5 {
            let row = row_line(&text, c);
            assert!(row.contains('C') && row.contains('░'), "row {c}: {row}");
        }
        let open_row = row_line(&text, 1);
        assert!(
            !open_row.contains('░') && !open_row.contains('C'),
            "{open_row}"
        );
    }

    #[test]
    fn the_first_fin_wins_a_shared_column_and_a_drop_wins_everything() {
        let mut m = TimelineModel::new("pool-burst", "transparent");
        for c in 1..=2 {
            m.apply_event(&ev(c, 0, EventKind::Syn));
            m.apply_event(&ev(c, 10, req(1, false)));
            m.apply_event(&ev(c, 20, resp(1)));
        }
        // The client closes; the server's FIN follows a fraction of a millisecond later,
        // in the same 1 ms column.
        let t = 21_000_000;
        for (at, by) in [(t, Side::Client), (t + 300_000, Side::Server)] {
            let mut e = ev(1, 0, fin(by, None));
            e.t_ns = at;
            m.apply_event(&e);
        }
        // Connection 2: an RST and a dropped frame in one column.
        let mut rst = ev(
            2,
            0,
            EventKind::Rst {
                by: connlab_core::analyze::RstSender::Client,
                idle_ns: None,
            },
        );
        rst.t_ns = t;
        m.apply_event(&rst);
        let lost = FrameInfo {
            src: m.rows[&2].client,
            dst: m.rows[&2].server,
            flags: connlab_core::analyze::TcpFlags::from_bits(0x10),
            seq: 1,
            len: 10,
            number: 0,
        };
        m.apply_frame(t + 200_000, Some(lost), true);
        m.apply_event(&ev(3, 40, EventKind::Syn)); // keeps the clock moving
        let (text, _) = screen(&m, 80, 24, false);
        let row = row_line(&text, 1);
        assert!(row.contains('C') && !row.contains('S'), "{row}");
        let row = row_line(&text, 2);
        assert!(row.contains('!') && !row.contains('×'), "{row}");
    }

    #[test]
    fn server_fin_rst_and_dropped_frames_have_their_marks() {
        let mut m = TimelineModel::new("marks", "loss 5 %");
        m.apply_event(&ev(1, 0, EventKind::Syn));
        m.apply_event(&ev(1, 5, fin(Side::Server, None)));
        m.apply_event(&ev(2, 6, EventKind::Syn));
        m.apply_event(&ev(
            2,
            10,
            EventKind::Rst {
                by: connlab_core::analyze::RstSender::Client,
                idle_ns: None,
            },
        ));
        m.apply_event(&ev(3, 11, EventKind::Syn));
        let lost = FrameInfo {
            src: m.rows[&3].client,
            dst: m.rows[&3].server,
            flags: connlab_core::analyze::TcpFlags::from_bits(0x10),
            seq: 1,
            len: 10,
            number: 0,
        };
        m.apply_frame(15_000_000, Some(lost), true);
        m.apply_frame(30_000_000, None, false);
        let (text, _) = screen(&m, 80, 24, true);
        assert!(row_line(&text, 1).contains('S'), "{text}");
        assert!(
            row_line(&text, 1).contains('┄'),
            "half-closed after the FIN: {text}"
        );
        assert!(row_line(&text, 2).contains('×'), "{text}");
        assert!(row_line(&text, 3).contains('!'), "{text}");
        assert!(text.contains("link drops 1"), "{text}");
        assert!(text.contains("RST 1/0"), "{text}");
    }

    #[test]
    fn findings_show_in_the_header_and_in_their_overlay() {
        let mut m = TimelineModel::new("read-timeout-as-idle", "transparent");
        let (text, _) = screen(&m, 100, 30, false);
        assert!(text.contains("findings: none so far"), "{text}");
        m.finished = true;
        let (text, _) = screen(&m, 100, 30, false);
        assert!(
            text.contains("findings: none ") && !text.contains("so far"),
            "{text}"
        );
        m.finished = false;
        for c in 1..=3u64 {
            let t = c * 2_000;
            m.apply_event(&ev(c, t, EventKind::Syn));
            m.apply_event(&ev(c, t + 1, req(1, false)));
            m.apply_event(&ev(c, t + 2, resp(1)));
            let fin = EventKind::Fin {
                by: Side::Server,
                idle_ns: Some(1_000_000_000),
            };
            m.apply_event(&ev(c, t + 1_002, fin));
        }
        m.refresh_findings();
        let (text, _) = screen(&m, 100, 30, false);
        assert!(
            text.contains("findings: server_idle_close 3   (f: details)"),
            "{text}"
        );
        let mut view = ViewState::new(false);
        view.findings = true;
        let mut term = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
        term.draw(|f| draw(f, &m, &view)).expect("draw");
        let buf = term.backend().buffer();
        let shown: String = (0..30)
            .map(|y| (0..100).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
            .collect();
        assert!(
            shown.contains("closes connections that sit idle"),
            "{shown}"
        );
        assert!(shown.contains("IdleTimeout"), "{shown}");
    }

    #[test]
    fn fits_80_by_24_and_no_color_means_no_colour() {
        let mut m = TimelineModel::new("t", "transparent");
        for c in 1..=40 {
            m.apply_event(&ev(c, c, EventKind::Syn));
        }
        let (text, plain) = screen(&m, 80, 24, false);
        assert_eq!(text.lines().count(), 24);
        assert!(text.contains("q quit"), "footer visible: {text}");
        let coloured = (0..24)
            .flat_map(|y| (0..80).map(move |x| (x, y)))
            .filter(|&(x, y)| plain[(x, y)].fg != Color::Reset || plain[(x, y)].bg != Color::Reset)
            .count();
        assert_eq!(coloured, 0, "NO_COLOR: no colours at all");
        let (_, colour) = screen(&m, 80, 24, true);
        let any = (0..24)
            .flat_map(|y| (0..80).map(move |x| (x, y)))
            .any(|(x, y)| colour[(x, y)].fg != Color::Reset);
        assert!(any, "colours when allowed");
    }

    #[test]
    fn time_labels_tell_each_other_apart_at_any_zoom() {
        let mut m = TimelineModel::new("t", "");
        m.apply_event(&ev(1, 0, EventKind::Syn));
        m.apply_event(&ev(1, 50_000_000, req(1, false)));
        for ns_per_col in [10_000_000, 100_000, 1_000] {
            let mut view = ViewState::new(false);
            view.ns_per_col = ns_per_col;
            view.follow = false;
            view.cursor_ns = 50_000_000;
            let mut term = Terminal::new(TestBackend::new(120, 24)).expect("terminal");
            term.draw(|f| draw(f, &m, &view)).expect("draw");
            let buf = term.backend().buffer();
            let axis: String = (0..120).map(|x| buf[(x, 4)].symbol().to_owned()).collect();
            let labels: Vec<&str> = axis.split('|').skip(1).map(str::trim).collect();
            assert!(labels.len() >= 5, "{axis}");
            let mut unique = labels.clone();
            unique.dedup();
            assert_eq!(unique.len(), labels.len(), "{ns_per_col} ns/col: {axis}");
        }
    }

    #[test]
    fn detail_view_numbers_frames_and_scrolls() {
        let mut m = TimelineModel::new("t", "");
        m.apply_event(&ev(1, 0, EventKind::Syn));
        let (client, server) = (m.rows[&1].client, m.rows[&1].server);
        m.apply_frame(0, None, false);
        for i in 0..60u32 {
            let frame = FrameInfo {
                src: client,
                dst: server,
                flags: connlab_core::analyze::TcpFlags::from_bits(0x10),
                seq: i,
                len: 0,
                number: 0,
            };
            m.apply_frame(u64::from(i) * 1_000, Some(frame), false);
        }
        let shown = |back: usize| {
            let mut view = ViewState::new(false);
            view.detail = true;
            view.detail_back = back;
            let mut term = Terminal::new(TestBackend::new(100, 24)).expect("terminal");
            term.draw(|f| draw(f, &m, &view)).expect("draw");
            let buf = term.backend().buffer();
            (0..24)
                .map(|y| {
                    (0..100)
                        .map(|x| buf[(x, y)].symbol().to_owned())
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let end = shown(0);
        assert!(end.contains("frame 61: 40001 > 80 [A] seq 59"), "{end}");
        assert!(end.contains("of 61"), "{end}");
        let top = shown(1000);
        assert!(top.contains("frame 2: 40001 > 80 [A] seq 0"), "{top}");
        assert!(!top.contains("frame 61:"), "{top}");
    }

    #[test]
    fn detail_view_lists_the_selected_connection_events() {
        let mut m = TimelineModel::new("t", "");
        m.apply_event(&ev(1, 0, EventKind::Syn));
        m.apply_event(&ev(1, 2, req(1, false)));
        let syn = FrameInfo {
            src: m.rows[&1].client,
            dst: m.rows[&1].server,
            flags: connlab_core::analyze::TcpFlags::from_bits(0x02),
            seq: 7,
            len: 0,
            number: 0,
        };
        m.apply_frame(0, Some(syn), false);
        let mut view = ViewState::new(false);
        view.detail = true;
        let mut term = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
        term.draw(|f| draw(f, &m, &view)).expect("draw");
        let buf = term.backend().buffer();
        let text: String = (0..24)
            .map(|y| {
                (0..80)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
                    + "\n"
            })
            .collect();
        assert!(
            text.contains("conn 1: 198.18.0.1:40001 -> 198.18.0.2:80"),
            "{text}"
        );
        assert!(
            text.contains("+  0.002000 s  conn 1: request 1 GET /"),
            "{text}"
        );
    }
}
