//! `connlab list`: the embedded labs, each with the question it answers.

use std::process::ExitCode;

use connlab::lab;

use super::exit::fail;

/// Lists the embedded labs.
pub fn main() -> ExitCode {
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
