//! Printing for commands that keep SIGPIPE ignored (see `process`).

/// Prints `text` on stdout; a reader that went away (`| head`) is not an error for commands
/// that run labs (they keep SIGPIPE ignored, for their sockets' sake).
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
