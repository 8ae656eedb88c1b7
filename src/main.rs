//! The `connlab` command: parses the command line and hands over to the library.

mod cli;
mod man_page;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use connlab::capture::reader::ReadError;
use connlab::lab::runner::{RunError, RunOptions};
use connlab::lab::waiting::Interrupted;
use connlab::{inspect, lab, net, summary_text};

/// Exit code for an expectation that failed.
const EXIT_FAILED: u8 = 1;
/// Exit code for usage, lab file, capture file or environment errors.
const EXIT_ERROR: u8 = 2;
/// Exit code for a lab skipped because an external program it runs is not installed.
const EXIT_SKIPPED: u8 = 3;
/// Exit code after SIGINT or SIGTERM.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if !matches!(
        cli.command,
        Command::Run { .. } | Command::Sweep { .. } | Command::Actor { .. }
    ) {
        // Commands that only print end quietly when their reader goes away (`inspect --json
        // | head`), as other command-line tools do. Not the ones that hold sockets: a write
        // to a closed connection must stay an error, not a signal.
        // SAFETY: restoring the default action of one signal, before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Run {
            labs,
            out,
            json,
            json_summary,
            set,
            tui,
            report,
            jobs,
            junit,
        } => {
            use std::io::IsTerminal;
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
                return run_suite(&labs, &opts, junit.as_deref(), json || json_summary);
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
        Command::Tui { files, keylog } => {
            match captures(&files).and_then(|f| Ok((f, read_keylog(keylog.as_deref())?))) {
                Ok((files, keys)) => replay(&files, keys.as_deref()),
                Err(e) => fail(&e),
            }
        }
        Command::Report { files, out, keylog } => {
            match captures(&files).and_then(|f| Ok((f, read_keylog(keylog.as_deref())?))) {
                Ok((files, keys)) => reports(&files, out, keys),
                Err(e) => fail(&e),
            }
        }
        Command::Sweep {
            lab,
            vary,
            repeat,
            jobs,
            metric,
            out,
        } => sweep(connlab::sweep::Options {
            lab,
            vary,
            repeat,
            jobs: jobs as usize,
            metrics: metric,
            out,
        }),
        Command::Inspect {
            files,
            merge,
            json,
            keylog,
        } => match captures(&files).and_then(|f| Ok((f, read_keylog(keylog.as_deref())?))) {
            Ok((files, keys)) if merge => inspect(&files, json, keys.as_deref()),
            Ok((files, keys)) => files
                .iter()
                .enumerate()
                .map(|(i, file)| {
                    if i > 0 && !json {
                        println!();
                    }
                    inspect(std::slice::from_ref(file), json, keys.as_deref())
                })
                .fold(ExitCode::SUCCESS, worst),
            Err(e) => fail(&e),
        },
        Command::List => list(),
        Command::Show { lab } => show(&lab),
        Command::Check { labs, set } => check(&labs, &set),
        Command::Clean => clean(),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "connlab", &mut script);
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().write_all(&script);
            ExitCode::SUCCESS
        }
        Command::Man => man(),
        Command::Actor { job } => match connlab::actors::worker::run_child(&job) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
    }
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

/// Several labs: each runs as its own `connlab run`, one line each as they end, then a total
/// and the JUnit file. Exit code: 130 interrupted, else 2 if one could not run, else 1 if an
/// expectation failed, else 3 if one was skipped, else 0.
fn run_suite(
    args: &[String],
    opts: &connlab::suite::Options,
    junit: Option<&std::path::Path>,
    json: bool,
) -> ExitCode {
    use connlab::child_run::Outcome;
    use connlab::suite;
    let labs = match suite::plan::labs(args, &opts.set) {
        Ok(labs) => labs,
        Err(e) => return fail(&e),
    };
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
            "running {} labs, {} at a time; files in {}\n",
            labs.len(),
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

/// First SIGINT/SIGTERM/SIGHUP/SIGQUIT: finish the run early but cleanly (capture kept,
/// namespaces removed); SIGHUP matters when the terminal running a lab is closed. A second
/// one: remove the namespaces at once and exit.
fn install_signal_handlers() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if Interrupted::raise() {
                net::netns::delete_all_live();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    Ok(())
}

/// Both actors live in this process: a lab with many connections needs two descriptors per
/// connection. Root may raise the hard limit up to the kernel's nr_open.
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let want = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(hard)
        .max(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, want, want).is_err() {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Reads a TLS key log given on the command line; says so when it holds no secret connlab
/// reads (a wrong file, most likely).
fn read_keylog(path: Option<&std::path::Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read the key log {}: {e}", path.display()))?;
    let mut keys = connlab_core::analyze::KeyLog::default();
    keys.add_text(&text);
    if keys.is_empty() {
        eprintln!(
            "connlab: {} holds no TLS secrets ({} lines not understood): expected NSS key log \
             lines such as `CLIENT_RANDOM <random> <secret>` or `CLIENT_TRAFFIC_SECRET_0 ...`, \
             as SSLKEYLOGFILE makes curl, Firefox, Python and Node write them",
            path.display(),
            keys.unread()
        );
    }
    Ok(Some(text))
}

/// `--out` names a folder (made when missing): a file there is refused before anything runs.
fn out_is_a_folder(out: &std::path::Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        anyhow::bail!(
            "--out {} is a file: --out names the folder the captures go into (it is made if \
             missing); give a folder",
            out.display()
        );
    }
    Ok(())
}

/// The captures the command line names (files, `-`, or labs' names for their newest).
fn captures(args: &[String]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let stdin = args
        .iter()
        .filter(|a| *a == connlab::capture::reader::STDIN);
    if stdin.count() > 1 {
        anyhow::bail!("`-` (stdin) can be read once: give it once");
    }
    args.iter()
        .map(|a| connlab::capture::files::resolve(a, std::path::Path::new("captures")))
        .collect()
}

/// The exit code of several captures: an error (2) wins over success.
fn worst(a: ExitCode, b: ExitCode) -> ExitCode {
    if a == ExitCode::SUCCESS {
        b
    } else {
        a
    }
}

/// Inspects `files` as one capture and prints its summary.
fn inspect(files: &[std::path::PathBuf], json: bool, keylog: Option<&[u8]>) -> ExitCode {
    let inspection = inspect::inspect(files, keylog, |event| {
        if json {
            println!("{}", serde_json::to_string(event).unwrap_or_default());
        }
    });
    // A file that could not be opened or is no capture has nothing to summarise.
    let unread = inspection.summary.packets == 0
        && matches!(
            inspection.error,
            Some(ReadError::Io { .. } | ReadError::Empty { .. } | ReadError::NotACapture { .. })
        );
    if !unread {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        print_inspection(&names.join(" + "), &inspection, json);
    }
    match inspection.error {
        None => ExitCode::SUCCESS,
        Some(e) if unread => {
            eprintln!("connlab: {e}");
            ExitCode::from(EXIT_ERROR)
        }
        Some(e) => {
            eprintln!("connlab: {e} (the summary above covers what was read before it)");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Prints what `connlab inspect` found: the summary line (JSON), or the tables and findings.
fn print_inspection(name: &str, inspection: &inspect::Inspection, json: bool) {
    if json {
        let mut line = serde_json::json!({ "file": name, "summary": inspection.summary });
        if let Some(e) = &inspection.error {
            line["error"] = serde_json::Value::String(e.to_string());
        }
        println!("{line}");
    } else {
        let s = &inspection.summary;
        println!("{name}");
        print!("{}", summary_text::analysis_table(&s.analysis, None));
        println!("packets {}   recorded drops {}", s.packets, s.dropped);
        if s.unsupported_link > 0 {
            println!(
                "skipped {} packets on link types connlab does not decode",
                s.unsupported_link
            );
        }
        if s.analysis.tcp_segments == 0 {
            println!("no TCP in this capture: nothing to diagnose");
        } else {
            let understood = s.analysis.requests + s.analysis.responses + s.analysis.http2.streams;
            if understood == 0 && s.analysis.websocket.connections == 0 {
                let why = if s.analysis.tls.connections > 0 {
                    "TLS without keys: give them with --keylog"
                } else if s.analysis.cut_segments > 0 {
                    "the snap length cut it, or another protocol"
                } else {
                    "another protocol?"
                };
                println!(
                    "no HTTP/1.x or HTTP/2 seen ({why}): findings about requests cannot apply; \
                     idle closes, resets, refusals, dead peers and SYN retransmits still can"
                );
            }
            print!(
                "{}",
                summary_text::diagnosis_text(&s.diagnosis, s.analysis.connections)
            );
        }
    }
}

fn sweep(opts: connlab::sweep::Options) -> ExitCode {
    use connlab::sweep::table::Outcome;
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

/// One page per capture: `out` names it when there is one capture.
fn reports(
    files: &[std::path::PathBuf],
    out: Option<std::path::PathBuf>,
    keylog: Option<Vec<u8>>,
) -> ExitCode {
    if out.is_some() && files.len() > 1 {
        return fail(&anyhow::anyhow!(
            "-o names one page, and {} captures make {} pages: leave -o out (each page goes \
             beside its capture), or give one capture",
            files.len(),
            files.len()
        ));
    }
    let stdin = std::path::Path::new(connlab::capture::reader::STDIN);
    if out.is_none() && files.iter().any(|f| f == stdin) {
        return fail(&anyhow::anyhow!(
            "a capture read from stdin has no name to put the page beside: name the page with \
             -o FILE.html"
        ));
    }
    files.iter().fold(ExitCode::SUCCESS, |code, file| {
        let out = out.clone().unwrap_or_else(|| file.with_extension("html"));
        worst(code, report(file, out, keylog.clone()))
    })
}

fn report(file: &std::path::Path, out: std::path::PathBuf, keylog: Option<Vec<u8>>) -> ExitCode {
    let header = connlab::report::Header {
        title: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        keylog,
        lab_story: Some(lab_story),
        ..Default::default()
    };
    match connlab::report::write(file, &out, &header) {
        Ok(written) => {
            println!(
                "{}: {} connections, {} drawn in full, {} KiB",
                out.display(),
                written.connections,
                written.rows,
                written.bytes / 1024
            );
            match written.error {
                None => ExitCode::SUCCESS,
                Some(e) => {
                    eprintln!("connlab: {e} (the report covers what was read before it)");
                    ExitCode::from(EXIT_ERROR)
                }
            }
        }
        Err(e) => fail(&e),
    }
}

/// An embedded lab's question and story, by its name.
fn lab_story(name: &str) -> Option<(String, String)> {
    lab::catalog::EMBEDDED.iter().find(|(n, _)| *n == name)?;
    let lab = lab::catalog::resolve(name).ok()?;
    Some((lab.spec.question, lab.spec.about))
}

fn replay(files: &[std::path::PathBuf], keylog: Option<&[u8]>) -> ExitCode {
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

fn list() -> ExitCode {
    match lab::catalog::all() {
        Ok(labs) => {
            let width = labs.iter().map(|l| l.name.len()).max().unwrap_or(0);
            for lab in labs {
                println!("{:<width$}  {}", lab.name, lab.spec.question);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Prints an embedded lab's file as it is embedded.
fn show(name: &str) -> ExitCode {
    match lab::catalog::EMBEDDED.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => {
            say(text);
            ExitCode::SUCCESS
        }
        None => match lab::catalog::resolve(name) {
            // A file: it is already on disk, to read as it is.
            Ok(_) => fail(&anyhow::anyhow!(
                "{name} is a lab file, not an embedded lab: read it as it is"
            )),
            Err(e) => fail(&e),
        },
    }
}

/// Reads every lab (and the overrides) as `run` would, runs nothing.
fn check(labs: &[String], set: &[lab::overrides::Override]) -> ExitCode {
    match connlab::suite::plan::labs(labs, set) {
        Ok(found) => {
            for lab in &found {
                println!("ok  {}  ({})", lab.name, lab.source);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn clean() -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        println!(
            "nothing to clean: runs without root keep their namespaces in their own user \
             namespace, and they end with the run (run clean as root for what root runs left)"
        );
        return ExitCode::SUCCESS;
    }
    match net::clean::clean() {
        Ok(cleaned) => {
            for ns in &cleaned.namespaces {
                println!("removed namespace {ns}");
            }
            for pid in &cleaned.processes {
                println!("killed process {pid}");
            }
            if cleaned.namespaces.is_empty() {
                println!("nothing to clean");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Prints the man page (roff).
fn man() -> ExitCode {
    use std::io::Write;
    match man_page::render().and_then(|page| std::io::stdout().write_all(&page)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&anyhow::anyhow!("writing the man page: {e}")),
    }
}

/// Prints `text` on stdout; a reader that went away (`| head`) is not an error for commands
/// that run labs (they keep SIGPIPE ignored, for their sockets' sake).
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("connlab: {e:#}");
    ExitCode::from(EXIT_ERROR)
}
