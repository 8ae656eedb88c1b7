//! `connlab check`: lab files read and validated as `run` would, nothing run.

use std::process::ExitCode;

use connlab::lab;

use super::exit::fail;

/// Reads every lab (and the overrides) as `run` would, runs nothing.
pub fn main(labs: &[String], set: &[lab::overrides::Override]) -> ExitCode {
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
