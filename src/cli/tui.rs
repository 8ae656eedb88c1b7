//! `connlab tui`: a capture replayed in the terminal timeline.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::TuiArgs;
use super::exit::{fail, EXIT_ERROR};
use super::inputs::captures_and_keylog;

/// Replays the captures `args` names, as one.
pub fn main(args: TuiArgs) -> ExitCode {
    match captures_and_keylog(&args.files, args.keylog.as_deref()) {
        Ok((files, keys)) => replay(&files, keys.as_deref()),
        Err(e) => fail(&e),
    }
}

/// Shows `files` read as one capture; an error reading them is said once the screen is gone.
fn replay(files: &[PathBuf], keylog: Option<&[u8]>) -> ExitCode {
    if let Err(e) = connlab::tui::app::terminal_ready() {
        return fail(&e);
    }
    let (model, error) = connlab::tui::replay::load(files, keylog);
    if let Some(e) = &error {
        if model.rows.is_empty() {
            eprintln!("connlab: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    if let Err(e) = connlab::tui::app::run(model, None, &|| false) {
        return fail(&e);
    }
    match error {
        Some(e) => {
            eprintln!("connlab: {e} (the timeline showed what was read before it)");
            ExitCode::from(EXIT_ERROR)
        }
        None => ExitCode::SUCCESS,
    }
}
