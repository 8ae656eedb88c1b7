//! `connlab show`: an embedded lab's file, to start a lab of one's own from.

use std::process::ExitCode;

use connlab::lab;

use super::exit::fail;
use super::say::say;

/// Prints an embedded lab's file as it is embedded.
pub fn main(name: &str) -> ExitCode {
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
