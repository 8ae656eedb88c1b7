//! `connlab actor` (hidden): a raw TCP worker process, which `run` starts inside a namespace.

use std::process::ExitCode;

use super::exit::fail;

/// Does the worker's `job` (JSON).
pub fn main(job: &str) -> ExitCode {
    match connlab::actors::worker::run_child(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
