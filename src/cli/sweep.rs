//! `connlab sweep`: a lab run for every combination of knob values, its figures charted.

use std::process::ExitCode;

use connlab::lab::waiting::Interrupted;
use connlab::sweep::table::Outcome;

use super::args::SweepArgs;
use super::exit::{fail, EXIT_ERROR, EXIT_FAILED, EXIT_INTERRUPTED};
use super::inputs::out_is_a_folder;
use super::process::install_signal_handlers;
use super::say::say;

/// Runs the sweep `args` ask for; its table, and where its files went.
pub fn main(args: SweepArgs) -> ExitCode {
    let opts = connlab::sweep::Options {
        lab: args.lab,
        vary: args.vary,
        repeat: args.repeat,
        jobs: args.jobs as usize,
        metrics: args.metric,
        out: args.out,
    };
    if let Err(e) = out_is_a_folder(&opts.out) {
        return fail(&e);
    }
    if let Err(e) = connlab::lab::catalog::resolve(&opts.lab)
        .and_then(|lab| connlab::sweep::plan::points(&lab, &opts.vary).map(|_| ()))
        .and_then(|()| {
            opts.metrics.iter().try_for_each(|m| {
                connlab::lab::expect::known_key(m).map_err(|e| anyhow::anyhow!("--metric {e}"))
            })
        })
    {
        return fail(&e);
    }
    if let Err(e) = install_signal_handlers() {
        return fail(&e);
    }
    let result = match connlab::sweep::sweep(&opts, &Interrupted::now) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    say(&connlab::sweep::table::text(&result.rows));
    let interrupted = result
        .rows
        .iter()
        .filter(|r| r.outcome == Outcome::Interrupted)
        .count();
    let cut_short = if interrupted > 0 {
        format!(" ({interrupted} interrupted)")
    } else {
        String::new()
    };
    say(&format!(
        "\n{} of {} points ran{cut_short}; files: {}/sweep.{{csv,json,html}}\n",
        result.rows.len() - interrupted,
        result.planned,
        result.folder.display()
    ));
    if Interrupted::now() {
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    // 1 when a point failed its expectations; 2 when one could not run (or was skipped).
    match result.worst() {
        Some(Outcome::Pass) => ExitCode::SUCCESS,
        Some(Outcome::Failed) => ExitCode::from(EXIT_FAILED),
        _ => ExitCode::from(EXIT_ERROR),
    }
}
