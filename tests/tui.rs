//! The terminal timeline end to end, in tmux: a live lab shows its connections and counters,
//! q stops it and cleans up, the terminal comes back; a capture replays and q leaves.

mod common;

use std::time::Duration;

use common::harness::Need;
use common::tmux::Tmux;
use common::*;

fn live_timeline_shows_the_lab_and_q_stops_it_cleanly() {
    live_timeline(None);
}

/// The same as an ordinary user: connlab runs rootless, in its own user namespace.
fn live_timeline_without_root() {
    live_timeline(Some(&unprivileged::user()));
    assert!(
        unprivileged::nothing_left(),
        "left running: {:?}",
        unprivileged::processes()
    );
}

fn live_timeline(user: Option<&str>) {
    let (out, bin) = match user {
        None => (
            out_dir("tui-live"),
            env!("CARGO_BIN_EXE_connlab").to_owned(),
        ),
        Some(_) => (
            unprivileged::out_dir("tui-live"),
            unprivileged::binary().display().to_string(),
        ),
    };
    let tmux = Tmux::start(
        if user.is_some() {
            "live-rootless"
        } else {
            "live"
        },
        user,
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
    let left = leftovers();
    assert!(left.is_empty(), "namespaces of dead runs: {left:?}");
    let kept = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "pcapng"));
    assert!(kept, "the capture is kept");
}

fn replay_shows_a_capture_and_q_leaves() {
    let out = out_dir("tui-replay");
    let run = run_lab("pool-burst", &out);
    assert_expectations_pass(&run);
    let capture = run.summary["capture"].as_str().expect("capture").to_owned();
    let bin = env!("CARGO_BIN_EXE_connlab");
    let tmux = Tmux::start(
        "replay",
        None,
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

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        live_timeline_shows_the_lab_and_q_stops_it_cleanly [Need::Labs, Need::Tool("tmux")],
        live_timeline_without_root [Need::Root, Need::Tool("tmux"), Need::Tool("runuser")],
        replay_shows_a_capture_and_q_leaves [Need::Labs, Need::Tool("tmux")],
    ])
}
