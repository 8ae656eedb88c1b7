//! The command's parts, each in a file of its own: the arguments, the exit policy, the
//! process's set-up, what several subcommands read alike, and one file per subcommand, which
//! `main.rs` dispatches to.

pub mod args;
pub mod exit;
pub mod process;

mod conn_log;
mod inputs;
mod say;

pub mod actor;
pub mod check;
pub mod clean;
pub mod completions;
pub mod inspect;
pub mod list;
pub mod man;
pub mod report;
pub mod run;
pub mod show;
pub mod suite;
pub mod sweep;
pub mod tui;
