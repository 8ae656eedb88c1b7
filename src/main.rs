//! The `connlab` command: parses the command line, sets the process up, and hands each
//! subcommand to its file in `cli/` (ripgrep's thin main: nothing is decided here).

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cli::exit::usage(&e),
    };
    cli::process::set_up(&cli.command);
    match cli.command {
        Command::Run(args) => cli::run::main(args),
        Command::Sweep(args) => cli::sweep::main(args),
        Command::Report(args) => cli::report::main(args),
        Command::Tui(args) => cli::tui::main(args),
        Command::Inspect(args) => cli::inspect::main(args),
        Command::List => cli::list::main(),
        Command::Show { lab } => cli::show::main(&lab),
        Command::Check { labs, set } => cli::check::main(&labs, &set),
        Command::Clean => cli::clean::main(),
        Command::Completions { shell } => cli::completions::main(shell),
        Command::Man => cli::man::main(),
        Command::Actor { job } => cli::actor::main(&job),
    }
}
