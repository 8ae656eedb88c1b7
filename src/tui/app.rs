//! The terminal loop: owns the terminal (restored on quit, error and panic), applies whatever
//! the run sent since the last frame, redraws at most 20 times a second, and turns keys into
//! intents. The sender never waits: the channel is unbounded and drained in full each turn.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::Result;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};

use connlab_core::timeline::{TimelineInput, TimelineModel};

use super::input::{intent, ViewState};
use super::view;

/// How the screen was left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TuiExit {
    /// The user quit while the run was still going.
    QuitEarly,
    /// The user quit after the run ended (or a replay).
    Done,
}

/// How often a live screen recomputes its findings.
const FINDINGS_EVERY: Duration = Duration::from_secs(1);

/// Restores the terminal when dropped, whatever the exit path; ratatui's init also installs
/// a panic hook that restores it before the panic message is printed.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Refuses to start the screen where it cannot work: without a terminal on stdin (no keys to
/// read; ratatui's init would panic) or on stdout (it would draw escape codes into a file or a
/// pipe). Checked before a lab starts, so that nothing runs for a screen that cannot show.
pub fn terminal_ready() -> Result<()> {
    use std::io::IsTerminal;
    let missing: Vec<&str> = [
        ("stdin", std::io::stdin().is_terminal()),
        ("stdout", std::io::stdout().is_terminal()),
    ]
    .into_iter()
    .filter(|(_, tty)| !tty)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "the terminal timeline needs a terminal, and {} not one: run it in a terminal \
         (or tmux), or without it: `connlab run LAB` prints the summary, `connlab inspect \
         FILE` reads a capture, `connlab report FILE` draws it as a page",
        match missing.as_slice() {
            [one] => format!("{one} is"),
            _ => missing.join(" and ") + " are",
        }
    )
}

/// Runs the screen until the user quits or `stop()` turns true (a signal asked the run to end).
/// With `rx` the model grows live; without, it is a finished replay.
pub fn run(
    mut model: TimelineModel,
    rx: Option<Receiver<TimelineInput>>,
    stop: &dyn Fn() -> bool,
) -> Result<TuiExit> {
    let colors = std::env::var_os("NO_COLOR").is_none();
    let mut view = ViewState::new(colors);
    if rx.is_none() {
        model.finished = true;
        fit_to_window(&mut view, &model);
    }
    let mut terminal = ratatui::init();
    let _guard = TerminalGuard;
    let mut last_draw: Option<Instant> = None;
    let mut last_findings: Option<Instant> = None;
    let mut dirty = true;
    loop {
        if stop() {
            return Ok(TuiExit::QuitEarly);
        }
        if let Some(rx) = &rx {
            let was_finished = model.finished;
            loop {
                match rx.try_recv() {
                    Ok(input) => {
                        model.apply(input);
                        dirty = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        dirty |= !model.finished;
                        model.finished = true;
                        break;
                    }
                }
            }
            if !was_finished && model.finished && view.follow {
                // The run ended: show all of it, as a replay does.
                fit_to_window(&mut view, &model);
            }
        }
        // Findings look at the whole capture: about once a second, and when the run ends.
        if last_findings.is_none_or(|t| t.elapsed() >= FINDINGS_EVERY) || model.finished {
            model.refresh_findings();
            last_findings = Some(Instant::now());
        }
        if dirty && last_draw.is_none_or(|t| t.elapsed() >= Duration::from_millis(50)) {
            terminal.draw(|f| view::draw(f, &model, &view))?;
            last_draw = Some(Instant::now());
            dirty = false;
        }
        if event::poll(Duration::from_millis(50))? {
            if let TermEvent::Key(key) = event::read()? {
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                if !view.update(intent(key, view.typing.is_some()), &model) {
                    return Ok(if model.finished {
                        TuiExit::Done
                    } else {
                        TuiExit::QuitEarly
                    });
                }
                dirty = true;
            } else {
                dirty = true;
            }
        }
    }
}

/// Zooms so that the whole capture fits the screen's width.
fn fit_to_window(view: &mut ViewState, model: &TimelineModel) {
    let cols = ratatui::crossterm::terminal::size()
        .map(|(w, _)| u64::from(w.saturating_sub(view::LABEL).max(10)))
        .unwrap_or(80);
    view.fit(model, cols);
}
