//! Driving a terminal program in tmux, as a person at a terminal would.

use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server for one test, run as `user` when given (through runuser).
pub struct Tmux {
    socket: String,
    user: Option<String>,
}

impl Tmux {
    /// Starts a 120x32 session running `command`.
    pub fn start(test: &str, user: Option<&str>, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("connlab-{test}-{}", std::process::id()),
            user: user.map(str::to_owned),
        };
        let st = tmux
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "120",
                "-y",
                "32",
                command,
            ])
            .status()
            .expect("tmux");
        assert!(st.success(), "tmux new-session");
        tmux
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                // A system user's login shell may be nologin: tmux needs a real one.
                c.args(["-u", user, "--", "env", "SHELL=/bin/sh", "tmux"]);
                c
            }
            None => Command::new("tmux"),
        };
        c.args(["-L", &self.socket]).args(args);
        c
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `what`; returns the screen.
    pub fn wait_for(&self, what: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "waited for {what:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `keys`.
    pub fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "t", keys])
            .status()
            .expect("send-keys");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}
