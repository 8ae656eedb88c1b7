//! `connlab completions`: a shell's completion script, from the same definition as `--help`.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use super::args::Cli;

/// Prints `shell`'s completion script.
pub fn main(shell: clap_complete::Shell) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "connlab", &mut script);
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().write_all(&script);
    ExitCode::SUCCESS
}
