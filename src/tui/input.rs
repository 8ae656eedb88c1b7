//! Keys to intents, and intents to view changes: pure, so the bindings are tested without a
//! terminal (the tokio-console habit).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use connlab_core::analyze::Side;
use connlab_core::timeline::{ConnState, MarkKind, Row, TimelineModel};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Leave (a live lab is stopped and cleaned up).
    Quit,
    /// Toggle following the newest time.
    PauseFollow,
    /// Move the time window left (earlier) or right.
    Pan(i64),
    /// Zoom in (true) or out.
    Zoom(bool),
    /// Move the selection up (negative) or down; in the detail view, scroll it.
    Select(i64),
    /// Open or close the detail view of the selected connection.
    Detail,
    /// Close the detail view, the help or the filter prompt.
    Back,
    /// Start typing a filter.
    StartFilter,
    /// A character typed into the filter.
    FilterChar(char),
    /// Backspace in the filter.
    FilterBackspace,
    /// Apply the typed filter.
    FilterApply,
    /// Scroll the event log back (older) or forward; forward past the end follows again.
    Log(i64),
    /// Show or hide the help.
    Help,
    /// Show or hide the findings.
    Findings,
    /// Nothing.
    None,
}

/// Turns a key into an intent; `typing` is true while the filter prompt is open.
pub fn intent(key: KeyEvent, typing: bool) -> Intent {
    if typing {
        return match key.code {
            KeyCode::Enter => Intent::FilterApply,
            KeyCode::Esc => Intent::Back,
            KeyCode::Backspace => Intent::FilterBackspace,
            KeyCode::Char(c) => Intent::FilterChar(c),
            _ => Intent::None,
        };
    }
    match key.code {
        KeyCode::Char('q') => Intent::Quit,
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Intent::Quit,
        KeyCode::Char(' ') => Intent::PauseFollow,
        KeyCode::Left | KeyCode::Char('<') | KeyCode::Char(',') => Intent::Pan(-1),
        KeyCode::Right | KeyCode::Char('>') | KeyCode::Char('.') => Intent::Pan(1),
        KeyCode::Char('+') | KeyCode::Char('=') => Intent::Zoom(true),
        KeyCode::Char('-') => Intent::Zoom(false),
        KeyCode::Up => Intent::Select(-1),
        KeyCode::Down => Intent::Select(1),
        KeyCode::PageUp => Intent::Select(-20),
        KeyCode::PageDown => Intent::Select(20),
        KeyCode::Enter => Intent::Detail,
        KeyCode::Esc => Intent::Back,
        KeyCode::Char('/') => Intent::StartFilter,
        KeyCode::Char('?') => Intent::Help,
        KeyCode::Char('f') => Intent::Findings,
        KeyCode::Char('[') => Intent::Log(-5),
        KeyCode::Char(']') => Intent::Log(5),
        _ => Intent::None,
    }
}

/// How the model is being looked at.
#[derive(Debug, Clone)]
pub struct ViewState {
    /// The right edge follows the newest time.
    pub follow: bool,
    /// Right edge of the time window when not following, ns.
    pub cursor_ns: u64,
    /// Time per column, ns.
    pub ns_per_col: u64,
    /// Index of the selected row among the visible (filtered) rows.
    pub selected: usize,
    /// The applied filter.
    pub filter: Option<String>,
    /// The filter being typed.
    pub typing: Option<String>,
    /// The help overlay is shown.
    pub help: bool,
    /// The findings overlay is shown.
    pub findings: bool,
    /// The detail view is shown.
    pub detail: bool,
    /// Colours are used (NO_COLOR unset).
    pub colors: bool,
    /// How many lines the event log is scrolled back from the newest (0: following).
    pub log_back: usize,
    /// How many lines the detail view is scrolled back from its newest (0: the end).
    pub detail_back: usize,
}

impl ViewState {
    /// The initial view: following, 10 ms per column.
    pub fn new(colors: bool) -> Self {
        ViewState {
            follow: true,
            cursor_ns: 0,
            ns_per_col: 10_000_000,
            selected: 0,
            filter: None,
            typing: None,
            help: false,
            findings: false,
            detail: false,
            colors,
            log_back: 0,
            detail_back: 0,
        }
    }

    /// Zooms so that the whole of `model` fits `cols` columns of timeline (a replay, or a
    /// live run once it ended).
    pub fn fit(&mut self, model: &TimelineModel, cols: u64) {
        let span = model.end_ns.saturating_sub(model.start_ns.unwrap_or(0));
        self.ns_per_col = span.div_ceil(cols.max(1)).max(1_000);
        self.follow = false;
        self.cursor_ns = model.end_ns;
    }

    /// The right edge of the time window.
    pub fn right_edge(&self, model: &TimelineModel) -> u64 {
        if self.follow {
            model.end_ns
        } else {
            self.cursor_ns
        }
    }

    /// Applies an intent; returns false when the user wants to quit.
    pub fn update(&mut self, intent: Intent, model: &TimelineModel) -> bool {
        match intent {
            Intent::Quit => return false,
            Intent::PauseFollow => {
                self.cursor_ns = model.end_ns;
                self.follow = !self.follow;
            }
            Intent::Pan(dir) => {
                let edge = self.right_edge(model);
                let step = self.ns_per_col * 10;
                self.follow = false;
                self.cursor_ns = if dir < 0 {
                    edge.saturating_sub(step).max(model.start_ns.unwrap_or(0))
                } else {
                    (edge + step).min(model.end_ns)
                };
            }
            Intent::Zoom(zoom_in) => {
                self.ns_per_col = if zoom_in {
                    (self.ns_per_col / 2).max(1_000)
                } else {
                    (self.ns_per_col * 2).min(60_000_000_000)
                };
            }
            Intent::Select(by) if self.detail => {
                let rows = visible_rows(model, self.filter.as_deref());
                let lines = rows
                    .get(self.selected)
                    .map_or(0, |r| r.details.len() + r.frames.len());
                let max = lines.saturating_sub(1) as i64;
                self.detail_back = (self.detail_back as i64 - by).clamp(0, max) as usize;
            }
            Intent::Select(by) => {
                let n = visible_rows(model, self.filter.as_deref()).len();
                let max = n.saturating_sub(1) as i64;
                self.selected = (self.selected as i64 + by).clamp(0, max) as usize;
            }
            Intent::Detail => {
                self.detail = !self.detail;
                self.detail_back = 0;
            }
            Intent::Back => {
                self.detail = false;
                self.help = false;
                self.findings = false;
                self.typing = None;
            }
            Intent::StartFilter => self.typing = Some(String::new()),
            Intent::FilterChar(c) => {
                if let Some(t) = &mut self.typing {
                    t.push(c);
                }
            }
            Intent::FilterBackspace => {
                if let Some(t) = &mut self.typing {
                    t.pop();
                }
            }
            Intent::FilterApply => {
                let typed = self.typing.take().unwrap_or_default();
                self.filter = (!typed.trim().is_empty()).then(|| typed.trim().to_owned());
                self.selected = 0;
            }
            Intent::Help => self.help = !self.help,
            Intent::Findings => self.findings = !self.findings,
            Intent::Log(by) => {
                let max = model.log.len().saturating_sub(1) as i64;
                self.log_back = (self.log_back as i64 - by).clamp(0, max) as usize;
            }
            Intent::None => {}
        }
        true
    }
}

/// The rows that pass `filter`, in order: an event kind (`rst`, `reused`, `fin`,
/// `time_wait`, `probe`, `retransmit`, `dropped`, `request`, `websocket`, `ping`) or a port
/// number.
pub fn visible_rows<'a>(model: &'a TimelineModel, filter: Option<&str>) -> Vec<&'a Row> {
    let Some(f) = filter else {
        return model.rows.values().collect();
    };
    let test: Box<dyn Fn(&Row) -> bool> = match f {
        // Whoever sent it: a kind's bit ignores the sender.
        "rst" => {
            Box::new(|r| r.has(MarkKind::Rst { by: Side::Client }) || r.has(MarkKind::MiddleboxRst))
        }
        "middlebox" => Box::new(|r| r.has(MarkKind::MiddleboxRst)),
        "reused" | "reuse" => Box::new(|r| r.has(MarkKind::Reused)),
        "fin" => Box::new(|r| {
            r.has(MarkKind::Fin {
                by: Side::Client,
                first: true,
            })
        }),
        "time_wait" | "tw" => Box::new(|r| r.had_time_wait()),
        "probe" | "keepalive" => Box::new(|r| r.has(MarkKind::Probe)),
        "retransmit" => Box::new(|r| r.has(MarkKind::Retransmit)),
        "dropped" | "drop" => Box::new(|r| r.has(MarkKind::Dropped)),
        "request" => Box::new(|r| r.requests > 0),
        "websocket" | "ws" => {
            Box::new(|r| r.states.iter().any(|(_, s)| *s == ConnState::WebSocket))
        }
        "ping" | "pong" => Box::new(|r| {
            r.has(MarkKind::WsPing) || r.has(MarkKind::WsPong) || r.has(MarkKind::H2Ping)
        }),
        "http2" | "h2" => Box::new(|r| r.is_http2()),
        "goaway" => Box::new(|r| r.has(MarkKind::H2GoAway)),
        other => match other.parse::<u16>() {
            Ok(port) => Box::new(move |r| r.client.port() == port || r.server.port() == port),
            Err(_) => Box::new(|_| false),
        },
    };
    model.rows.values().filter(|r| test(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use connlab_core::analyze::EventKind;
    use connlab_core::testframes::{ev, req};
    use ratatui::crossterm::event::KeyEventKind;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Press,
            state: ratatui::crossterm::event::KeyEventState::NONE,
        }
    }

    fn model() -> TimelineModel {
        let mut m = TimelineModel::new("t", "");
        m.apply_event(&ev(1, 0, EventKind::Syn));
        m.apply_event(&ev(1, 1, req(1, false)));
        m.apply_event(&ev(2, 2, EventKind::Syn));
        m.apply_event(&ev(
            2,
            3,
            EventKind::Rst {
                by: connlab_core::analyze::RstSender::Server,
                idle_ns: None,
            },
        ));
        m.apply_event(&ev(3, 4, EventKind::Syn));
        m
    }

    #[test]
    fn keys_map_to_intents() {
        assert_eq!(intent(key(KeyCode::Char('q')), false), Intent::Quit);
        assert_eq!(
            intent(key(KeyCode::Char('q')), true),
            Intent::FilterChar('q')
        );
        assert_eq!(intent(key(KeyCode::Char('+')), false), Intent::Zoom(true));
        assert_eq!(intent(key(KeyCode::Enter), false), Intent::Detail);
        // The footer says `</>`: those keys pan too.
        assert_eq!(intent(key(KeyCode::Char('<')), false), Intent::Pan(-1));
        assert_eq!(intent(key(KeyCode::Char('>')), false), Intent::Pan(1));
    }

    #[test]
    fn a_finished_run_fits_the_window() {
        let mut m = model();
        m.end_ns = 8_000_000_000;
        let mut v = ViewState::new(true);
        v.fit(&m, 80);
        assert_eq!(v.ns_per_col, 100_000_000, "8 s over 80 columns");
        assert!(!v.follow);
        assert_eq!(v.cursor_ns, m.end_ns);
    }

    #[test]
    fn in_the_detail_view_up_and_down_scroll_it() {
        let mut m = model();
        for i in 2..40 {
            m.apply_event(&ev(1, 10 + i, req(i as u32, true)));
        }
        let mut v = ViewState::new(true);
        v.update(Intent::Detail, &m);
        v.update(Intent::Select(-5), &m);
        assert_eq!((v.detail_back, v.selected), (5, 0), "scrolled, same row");
        v.update(Intent::Select(-1000), &m);
        let lines = m.rows[&1].details.len() + m.rows[&1].frames.len();
        assert_eq!(v.detail_back, lines - 1, "at most to the first line");
        v.update(Intent::Select(1000), &m);
        assert_eq!(v.detail_back, 0);
        v.update(Intent::Select(-3), &m);
        v.update(Intent::Detail, &m);
        v.update(Intent::Detail, &m);
        assert_eq!(v.detail_back, 0, "a detail view opens at its end");
    }

    #[test]
    fn zoom_pan_and_select_change_the_view() {
        let m = model();
        let mut v = ViewState::new(true);
        v.update(Intent::Zoom(true), &m);
        assert_eq!(v.ns_per_col, 5_000_000);
        v.update(Intent::Pan(-1), &m);
        assert!(!v.follow, "panning stops following");
        v.update(Intent::Select(1), &m);
        v.update(Intent::Select(10), &m);
        assert_eq!(v.selected, 2, "selection stops at the last row");
        v.update(Intent::Log(-5), &m);
        assert_eq!(
            v.log_back, 4,
            "the log scrolls back at most to its first line"
        );
        v.update(Intent::Log(5), &m);
        assert_eq!(v.log_back, 0, "and forward to following again");
        assert!(!v.update(Intent::Quit, &m));
    }

    #[test]
    fn filter_by_rst_keeps_only_the_reset_row() {
        let m = model();
        let mut v = ViewState::new(true);
        for i in [
            Intent::StartFilter,
            Intent::FilterChar('r'),
            Intent::FilterChar('s'),
            Intent::FilterChar('t'),
            Intent::FilterApply,
        ] {
            v.update(i, &m);
        }
        assert_eq!(v.filter.as_deref(), Some("rst"));
        let rows = visible_rows(&m, v.filter.as_deref());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, 2);
        assert_eq!(visible_rows(&m, Some("40001")).len(), 1, "by port");
    }
}
