//! The command line: parsed once into typed commands (ripgrep's habit), with examples in the
//! help and documented exit codes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use connlab::lab::overrides::Override;

const EXAMPLES: &str = "\
Examples:
  connlab run keepalive-reuse               run an embedded lab, print its summary
  connlab run labs/pool-burst.toml          run a lab file (no root needed: see README)
  connlab run labs/ -j 2 --junit out.xml    run a folder of labs as a suite, JUnit for CI
  connlab run pool-burst --json             events as JSON lines, then {\"summary\": ...}
  connlab run short-vs-long --set link.delay_ms=20 --set client.requests=50
  connlab inspect pool-burst                the newest capture of pool-burst: counters,
                                            findings (cause, evidence, knob)
  connlab inspect /tmp/tcpdump.pcap --json
  connlab run read-timeout-as-idle --tui   watch it live in the terminal timeline
  connlab run pool-burst --report          also write captures/pool-burst-*.html
  connlab report /tmp/tcpdump.pcap -o svc.html  a picture of any capture, to share
  connlab sweep pool-burst --vary client.max_idle_per_host=1,2,5,10,25,50 -j 2
  connlab tui pool-burst                    scrub through its newest capture
  tcpdump -w - -i any port 80 | connlab inspect -    a capture read from stdin
  connlab list
  connlab show pool-burst > my-lab.toml     an embedded lab's file, to start your own from
  connlab check my-lab.toml                 validate a lab file without running it
  sudo connlab clean                        remove what killed runs left behind
  connlab completions bash                  completion script (bash, zsh, fish, ...)
  connlab man                               the man page

Exit codes: 0 all expectations passed; 1 an expectation failed; 2 usage, lab file,
capture file or environment error; 3 lab skipped (an external program it runs is not
installed; never under CI); 130 interrupted (Ctrl-C, SIGTERM, SIGHUP). For several labs,
the first that applies of 130, 2, 1, 3, 0.";

/// A packet-level lab for TCP connection lifecycles: keep-alive, pools, FIN/RST, TIME_WAIT.
#[derive(Debug, Parser)]
#[command(name = "connlab", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run labs: build the network, run the actors, capture, analyse, check. Without root it
    /// runs in a user namespace of its own. Several labs or a folder run as a suite: one line
    /// per lab and a total (and --junit for CI).
    Run(RunArgs),
    /// Run a lab for every combination of knob values and chart the figures:
    /// writes sweep.csv, sweep.json and sweep.html. Ctrl-C keeps the finished points.
    Sweep(SweepArgs),
    /// Write a self-contained HTML report of a capture (pcap or pcapng, any tool's): summary,
    /// findings, every connection's timeline, distributions. Opens offline.
    Report(ReportArgs),
    /// Replay a capture (pcap or pcapng, any tool's) in the terminal timeline. Several files
    /// are read one after another as one capture (a ring buffer's files, say).
    Tui(TuiArgs),
    /// Analyse and diagnose captures (pcap or pcapng, from connlab, tcpdump or Wireshark,
    /// gzipped or not): counters, findings with evidence and knobs, endpoints,
    /// distributions. One summary per capture, or one for all with --merge.
    Inspect(InspectArgs),
    /// List the embedded labs with the question each answers.
    List,
    /// Print an embedded lab's file: a start for a lab of your own
    /// (`connlab show pool-burst > my-lab.toml`).
    Show {
        /// The embedded lab's name (see `connlab list`).
        #[arg(value_parser = LabArg, hide_possible_values = true)]
        lab: String,
    },
    /// Check lab files without running them: every error with its line and column, the
    /// `--set` overrides applied as `run` would. Exit 0 when all are valid, 2 otherwise.
    Check {
        /// Lab files, folders of them, or embedded labs' names.
        #[arg(required = true, value_name = "LAB", value_parser = LabArg, hide_possible_values = true)]
        labs: Vec<String>,
        /// Overrides to check with them, as `run --set`.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = SetArg, hide_possible_values = true)]
        set: Vec<Override>,
    },
    /// Remove namespaces (and processes in them) left by runs that were killed.
    Clean,
    /// Print a shell completion script: `connlab completions bash >
    /// ~/.local/share/bash-completion/completions/connlab`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `connlab man > ~/.local/share/man/man1/connlab.1`.
    Man,
    /// Internal: a raw TCP worker process, started by `run` inside a namespace.
    #[command(hide = true)]
    Actor {
        /// Its job, as JSON.
        job: String,
    },
}

/// `connlab run`'s arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Embedded labs' names (see `connlab list`), lab files, or folders of lab files.
    #[arg(required = true, value_name = "LAB", value_parser = LabArg, hide_possible_values = true)]
    pub labs: Vec<String>,
    /// Folder for the .pcapng and .events.jsonl files.
    #[arg(long, default_value = "captures")]
    pub out: PathBuf,
    /// Print events as JSON lines, then one line {"summary": {...}}.
    #[arg(long)]
    pub json: bool,
    /// Print only the one line {"summary": {...}} (the events stay in the events file;
    /// for labs with millions of them).
    #[arg(long, conflicts_with = "json")]
    pub json_summary: bool,
    /// Override any field of the lab, e.g. --set client.requests=500 --set
    /// link.delay_ms=20 (repeatable; unknown keys are errors that list the valid ones).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = SetArg, hide_possible_values = true)]
    pub set: Vec<Override>,
    /// Watch the lab live in the terminal timeline (q stops it and cleans up).
    #[arg(long, conflicts_with_all = ["json", "json_summary"])]
    pub tui: bool,
    /// Also write a self-contained HTML report beside the capture.
    #[arg(long)]
    pub report: bool,
    /// Labs run at once when several are given (each in its own namespaces).
    #[arg(short = 'j', long = "jobs", default_value_t = 1, value_parser = at_least_one::<u64>)]
    pub jobs: u64,
    /// Write a JUnit XML report: one test case per lab, one failure per failed
    /// expectation, the capture as an attachment line.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `connlab sweep`'s arguments.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// An embedded lab's name or the path of a lab file.
    #[arg(value_parser = LabArg, hide_possible_values = true)]
    pub lab: String,
    /// A knob and its values, e.g. --vary client.max_idle_per_host=1,2,5,10,25,50
    /// (repeatable; every combination runs).
    #[arg(long = "vary", value_name = "KEY=V1,V2,...", required = true)]
    pub vary: Vec<connlab::sweep::Vary>,
    /// Runs per point; the table shows their median.
    #[arg(long, default_value_t = 1, value_parser = at_least_one::<u32>)]
    pub repeat: u32,
    /// Points run at once (each in its own namespaces).
    #[arg(short = 'j', long = "jobs", default_value_t = 1, value_parser = at_least_one::<u64>)]
    pub jobs: u64,
    /// Another summary key to show, e.g. findings.pool_overflow.kept_idle (repeatable).
    #[arg(long = "metric", value_name = "KEY")]
    pub metric: Vec<String>,
    /// Folder for the sweep's folder (its points' captures and the three files).
    #[arg(long, default_value = "captures")]
    pub out: PathBuf,
}

/// `connlab report`'s arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Capture files (pcap, pcapng, gzipped or not; `-` for stdin), or a lab's name for
    /// the newest capture its runs left in captures/. One page per capture.
    #[arg(required = true, value_name = "CAPTURE")]
    pub files: Vec<String>,
    /// The HTML file to write (default: the capture's name with .html; needed for stdin;
    /// only with one capture).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// TLS secrets (an SSLKEYLOGFILE, NSS key log format) to decrypt with.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
}

/// `connlab tui`'s arguments.
#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Capture files (`-` for stdin), or a lab's name for its newest capture.
    #[arg(required = true, value_name = "CAPTURE")]
    pub files: Vec<String>,
    /// TLS secrets (an SSLKEYLOGFILE, NSS key log format) to decrypt with.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
}

/// `connlab inspect`'s arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Capture files (`-` for stdin), or a lab's name for the newest capture its runs
    /// left in captures/ (`connlab inspect pool-burst`).
    #[arg(required = true, value_name = "CAPTURE")]
    pub files: Vec<String>,
    /// Read the captures one after another as one (as `mergecap -a` joins them: a ring
    /// buffer's files), with one summary.
    #[arg(long)]
    pub merge: bool,
    /// Print events as JSON lines, then one line {"summary": {...}}.
    #[arg(long)]
    pub json: bool,
    /// TLS secrets to decrypt with: an SSLKEYLOGFILE (NSS key log format, as curl,
    /// Firefox, Python, Node and Go write it). A pcapng's own Decryption Secrets Blocks
    /// are read without it.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    /// Also write Zeek's conn.log: a row per TCP connection (Zeek's columns, conn_state and
    /// history, then requests, reuse, who closed, TIME_WAIT and findings). JSON lines when
    /// FILE ends in .json, else Zeek's TSV. One capture, or several with --merge.
    #[arg(long, value_name = "FILE")]
    pub conn_log: Option<PathBuf>,
}

/// A count that must be 1 or more (`-j`, `--repeat`), refused in words rather than as a range
/// of integers up to 2^64.
fn at_least_one<T: std::str::FromStr + PartialEq + From<u8>>(s: &str) -> Result<T, String> {
    match s.trim().parse::<T>() {
        Ok(n) if n != T::from(0) => Ok(n),
        Ok(_) => Err("must be at least 1".to_owned()),
        Err(_) => Err(format!("{s:?} is not a whole number (1 or more)")),
    }
}

/// A lab argument: any name or path, with the embedded labs' names offered to shell
/// completion (its possible values only complete; a file or a folder is as welcome).
#[derive(Debug, Clone, Copy)]
struct LabArg;

impl clap::builder::TypedValueParser for LabArg {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        Ok(value.to_string_lossy().into_owned())
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let names = connlab::lab::catalog::EMBEDDED
            .iter()
            .map(|(name, _)| *name);
        Some(Box::new(names.map(clap::builder::PossibleValue::new)))
    }
}

/// A `--set KEY=VALUE`, with every field of the lab format offered to shell completion as
/// `KEY=`.
#[derive(Debug, Clone, Copy)]
struct SetArg;

impl clap::builder::TypedValueParser for SetArg {
    type Value = Override;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Override, clap::Error> {
        value.to_string_lossy().parse().map_err(|e: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, e).with_cmd(cmd)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let keys = connlab::lab::keys::all()
            .into_iter()
            .map(|k| format!("{k}="));
        Some(Box::new(keys.map(clap::builder::PossibleValue::new)))
    }
}
