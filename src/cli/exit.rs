//! The exit policy: which code each outcome leaves (documented in `--help`), and how an error
//! is said before leaving with it.

use std::process::ExitCode;

/// Exit code for an expectation that failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code for usage, lab file, capture file or environment errors.
pub const EXIT_ERROR: u8 = 2;
/// Exit code for a lab skipped because an external program it runs is not installed.
pub const EXIT_SKIPPED: u8 = 3;
/// Exit code after SIGINT or SIGTERM.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A command line clap refused (2), or `--help` and `--version`, which clap prints (0).
pub fn usage(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

/// The exit code of several captures: an error (2) wins over success.
pub fn worst(a: ExitCode, b: ExitCode) -> ExitCode {
    if a == ExitCode::SUCCESS {
        b
    } else {
        a
    }
}

/// Says `e` and its causes on stderr; usage or environment error (2).
pub fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("connlab: {e:#}");
    ExitCode::from(EXIT_ERROR)
}
