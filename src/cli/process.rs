//! The process's set-up: what happens to SIGPIPE, the handlers that stop a run cleanly, and
//! the open file limit a lab with many connections needs.

use connlab::lab::waiting::Interrupted;
use connlab::net;

use super::args::Command;
use super::exit::EXIT_INTERRUPTED;

/// Commands that only print end quietly when their reader goes away (`inspect --json |
/// head`), as other command-line tools do. Not the ones that hold sockets: a write to a closed
/// connection must stay an error, not a signal. Called before any thread starts.
pub fn set_up(command: &Command) {
    if !matches!(
        command,
        Command::Run(_) | Command::Sweep(_) | Command::Actor { .. }
    ) {
        // SAFETY: restoring the default action of one signal, before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

/// First SIGINT/SIGTERM/SIGHUP/SIGQUIT: finish the run early but cleanly (capture kept,
/// namespaces removed); SIGHUP matters when the terminal running a lab is closed. A second
/// one: remove the namespaces at once and exit.
pub fn install_signal_handlers() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if Interrupted::raise() {
                net::netns::delete_all_live();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    Ok(())
}

/// Both actors live in this process: a lab with many connections needs two descriptors per
/// connection. Root may raise the hard limit up to the kernel's nr_open.
pub fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let want = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(hard)
        .max(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, want, want).is_err() {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
