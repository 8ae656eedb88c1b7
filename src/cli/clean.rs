//! `connlab clean`: what killed runs left behind (namespaces, and processes in them), removed.

use std::process::ExitCode;

use connlab::net;

use super::exit::fail;

/// Removes what root's killed runs left; runs without root leave nothing.
pub fn main() -> ExitCode {
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
