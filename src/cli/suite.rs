//! `connlab run` with several labs or a folder: a suite, each lab its own `connlab run`.

use std::path::Path;
use std::process::ExitCode;

use connlab::child_run::Outcome;
use connlab::lab::waiting::Interrupted;
use connlab::suite;
use connlab_core::words::plural;

use super::exit::{fail, EXIT_ERROR, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_SKIPPED};
use super::process::install_signal_handlers;
use super::say::say;

/// Several labs: each runs as its own `connlab run`, one line each as they end, then a total
/// and the JUnit file. Exit code: 130 interrupted, else 2 if one could not run, else 1 if an
/// expectation failed, else 3 if one was skipped, else 0.
pub fn run(args: &[String], opts: &suite::Options, junit: Option<&Path>, json: bool) -> ExitCode {
    let labs = match suite::plan::labs(args, &opts.set) {
        Ok(labs) => labs,
        Err(e) => return fail(&e),
    };
    // Where the JUnit report goes is tried before any lab runs, not after the last.
    if let Some(path) = junit {
        if let Err(e) = std::fs::File::create(path) {
            return fail(&anyhow::anyhow!(
                "--junit {}: {e}; nothing ran",
                path.display()
            ));
        }
    }
    if let Err(e) = install_signal_handlers() {
        return fail(&e);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(&anyhow::anyhow!("finding the connlab executable: {e}")),
    };
    let width = labs.iter().map(|l| l.name.len()).max().unwrap_or(0);
    if !json {
        say(&format!(
            "running {}, {} at a time; files in {}\n",
            plural(labs.len() as u64, "lab", "labs"),
            opts.jobs.min(labs.len()),
            opts.out.display()
        ));
    }
    let result = suite::run(&labs, opts, &exe, &Interrupted::now, &|run| {
        if json {
            let line = serde_json::json!({
                "lab": run.lab.name,
                "outcome": run.outcome(),
                "elapsed_s": run.child.as_ref().map(|c| c.elapsed.as_secs_f64()),
                "summary": run.summary(),
                "error": run.child.as_ref().and_then(|c| c.error.clone()),
            });
            say(&format!("{line}\n"));
        } else {
            say(&suite::line(run, width));
        }
    });
    let total = suite::total(&result);
    if json {
        say(&format!("{}\n", serde_json::json!({ "total": total })));
    } else {
        say(&format!("{total}\n"));
    }
    if let Some(path) = junit {
        if let Err(e) = std::fs::write(path, suite::junit::render(&result)) {
            return fail(&anyhow::anyhow!("writing {}: {e}", path.display()));
        }
        if !json {
            say(&format!("junit: {}\n", path.display()));
        }
    }
    let any = |o| result.count(o) > 0;
    if Interrupted::now() || any(Outcome::Interrupted) {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if any(Outcome::Error) {
        ExitCode::from(EXIT_ERROR)
    } else if any(Outcome::Failed) {
        ExitCode::from(EXIT_FAILED)
    } else if any(Outcome::Skipped) {
        ExitCode::from(EXIT_SKIPPED)
    } else {
        ExitCode::SUCCESS
    }
}
