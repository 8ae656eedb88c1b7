//! `connlab run`: one lab, with its summary (or watched in the terminal timeline); several
//! labs or a folder go to the suite (`suite`).

use std::io::IsTerminal;
use std::process::ExitCode;

use connlab::lab;
use connlab::lab::runner::{RunError, RunOptions};
use connlab::lab::waiting::Interrupted;
use connlab::net;

use super::args::RunArgs;
use super::exit::{fail, EXIT_ERROR, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_SKIPPED};
use super::inputs::out_is_a_folder;
use super::process::{install_signal_handlers, raise_open_file_limit};
use super::suite;

/// Runs the labs `args` name: one lab here, several as a suite.
pub fn main(args: RunArgs) -> ExitCode {
    let RunArgs {
        labs,
        out,
        json,
        json_summary,
        set,
        tui,
        report,
        jobs,
        junit,
    } = args;
    if let Err(e) = out_is_a_folder(&out) {
        return fail(&e);
    }
    let one_lab = labs.len() == 1 && !std::path::Path::new(&labs[0]).is_dir();
    if !one_lab || junit.is_some() {
        if tui {
            return fail(&anyhow::anyhow!(
                "--tui watches one lab; give one lab, or leave --tui out to run a suite"
            ));
        }
        let opts = connlab::suite::Options {
            set,
            jobs: jobs as usize,
            out,
            report,
        };
        return suite::run(&labs, &opts, junit.as_deref(), json || json_summary);
    }
    if tui {
        if let Err(e) = connlab::tui::app::terminal_ready() {
            return fail(&e);
        }
    }
    let lab = &labs[0];
    let progress = !json
        && !json_summary
        && std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal();
    run(
        lab,
        &set,
        tui,
        json || json_summary,
        RunOptions {
            out_dir: out,
            json,
            progress,
            tui: None,
            report,
        },
    )
}

/// Runs one lab; `json_summary` prints the summary as one JSON line instead of the table.
fn run(
    name: &str,
    set: &[lab::overrides::Override],
    tui: bool,
    json_summary: bool,
    opts: RunOptions,
) -> ExitCode {
    let lab = match lab::catalog::resolve(name).and_then(|lab| lab::overrides::apply(&lab, set)) {
        Ok(lab) => lab,
        Err(e) => return fail(&e),
    };
    // Without root: become root of a user namespace of our own. While the process has one
    // thread: the signal handler's thread comes next.
    if let Err(e) = net::userns::enter() {
        return fail(&e);
    }
    if let Err(e) = install_signal_handlers() {
        return fail(&e);
    }
    raise_open_file_limit();
    let result = if tui {
        run_with_tui(&lab, opts.clone())
    } else {
        lab::runner::run(&lab, &opts)
    };
    let report = match result {
        Ok(report) => report,
        Err(RunError::Skipped(reason)) => {
            eprintln!("connlab: lab {} skipped: {reason}", lab.name);
            return ExitCode::from(EXIT_SKIPPED);
        }
        Err(RunError::Failed(e)) => {
            eprintln!("connlab: {e:#}");
            return ExitCode::from(if Interrupted::now() {
                EXIT_INTERRUPTED
            } else {
                EXIT_ERROR
            });
        }
    };
    // A closed stdout (`| head`) loses the summary but is no reason to fail the run.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = if json_summary {
        writeln!(out, "{}", report.json_line())
    } else {
        write!(out, "{}", report.render_text(&lab))
    };
    if report.summary.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// Runs the lab on a thread while the terminal timeline shows it; quitting the screen early
/// stops the lab through its normal teardown. The summary is printed after the terminal is
/// restored.
fn run_with_tui(
    lab: &lab::file::Lab,
    mut opts: RunOptions,
) -> Result<lab::report::RunReport, RunError> {
    let (tx, rx) = std::sync::mpsc::channel();
    opts.tui = Some(tx);
    opts.progress = false;
    let model = connlab_core::timeline::TimelineModel::new(&lab.name, &lab.spec.link.describe());
    let runner_lab = lab.clone();
    let worker = std::thread::spawn(move || lab::runner::run(&runner_lab, &opts));
    let shown = connlab::tui::app::run(model, Some(rx), &Interrupted::now);
    if !matches!(shown, Ok(connlab::tui::app::TuiExit::Done)) {
        Interrupted::raise();
    }
    let result = worker
        .join()
        .unwrap_or_else(|_| Err(RunError::Failed(anyhow::anyhow!("the lab thread panicked"))));
    if let Err(e) = shown {
        eprintln!("connlab: the terminal timeline failed: {e:#}");
    }
    result
}
