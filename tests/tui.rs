//! The terminal timeline end to end, in tmux: a live lab shows its connections and counters,
//! q stops it and cleans up, the terminal comes back; a capture replays and q leaves.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A private tmux server for one test.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(test: &str, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("connlab-{test}-{}", std::process::id()),
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
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]).args(args);
        c
    }

    fn screen(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: &str, limit: Duration) -> String {
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

    fn keys(&self, keys: &str) {
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

#[test]
fn live_timeline_shows_the_lab_and_q_stops_it_cleanly() {
    if !can_run_labs() || !have_tool("tmux") {
        return;
    }
    let out = out_dir("tui-live");
    let bin = env!("CARGO_BIN_EXE_connlab");
    let tmux = Tmux::start(
        "live",
        &format!(
            "{bin} run read-timeout-as-idle --tui --out {}; echo EXITED $?; sleep 60",
            out.display()
        ),
    );
    let screen = tmux.wait_for("total 2", Duration::from_secs(20));
    assert!(screen.contains("read-timeout-as-idle"), "{screen}");
    assert!(screen.contains("[LIVE]"), "{screen}");
    assert!(
        screen.contains(">198.18.0.2:80"),
        "connection rows: {screen}"
    );
    assert!(
        screen.contains("FIN first 0/1") || screen.contains("FIN first 0/2"),
        "the server sends the first FINs: {screen}"
    );
    tmux.keys("q");
    let after = tmux.wait_for("EXITED", Duration::from_secs(20));
    assert!(
        after.contains("EXITED 130"),
        "quit mid-run is an interruption: {after}"
    );
    assert!(
        !after.contains("[LIVE]"),
        "the alternate screen is gone: {after}"
    );
    let leftovers: Vec<String> = connlab_namespaces()
        .into_iter()
        .filter(|n| {
            let pid = n.split('-').nth(1).unwrap_or("0");
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let kept = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "pcapng"));
    assert!(kept, "the capture is kept");
}

#[test]
fn replay_shows_a_capture_and_q_leaves() {
    if !can_run_labs() || !have_tool("tmux") {
        return;
    }
    let out = out_dir("tui-replay");
    let run = run_lab("pool-burst", &out);
    assert_expectations_pass(&run);
    let capture = run.summary["capture"].as_str().expect("capture").to_owned();
    let bin = env!("CARGO_BIN_EXE_connlab");
    let tmux = Tmux::start(
        "replay",
        &format!("{bin} tui {capture}; echo EXITED $?; sleep 60"),
    );
    let screen = tmux.wait_for("[FINISHED]", Duration::from_secs(10));
    assert!(screen.contains("total 50"), "{screen}");
    assert!(screen.contains("FIN first 48/0"), "{screen}");
    tmux.keys("/");
    tmux.keys("rst");
    tmux.keys("Enter");
    tmux.wait_for("no connection matches", Duration::from_secs(5));
    tmux.keys("q");
    let after = tmux.wait_for("EXITED", Duration::from_secs(10));
    assert!(after.contains("EXITED 0"), "{after}");
}
