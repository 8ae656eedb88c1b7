//! Interrupting a run leaves nothing behind: SIGINT, SIGTERM and SIGHUP mid-run end it cleanly (exit
//! 130, capture kept and readable), and `connlab clean` removes what a SIGKILLed run left.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::harness::Need;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn wait_for_namespaces(pid: u32, want: usize) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if namespaces_of(pid).len() == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn interrupt_mid_run(signal: Signal, test: &str) {
    let out = out_dir(test);
    let mut child = connlab()
        .args(["run", "read-timeout-as-idle", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    assert!(wait_for_namespaces(pid, 3), "the run built its namespaces");
    std::thread::sleep(Duration::from_millis(2000));
    kill(Pid::from_raw(pid as i32), signal).expect("signal");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "interrupted exit code");
    assert!(
        namespaces_of(pid).is_empty(),
        "left: {:?}",
        namespaces_of(pid)
    );
    let veths = std::process::Command::new("ip")
        .args(["-o", "link", "show", "type", "veth"])
        .output()
        .expect("ip link");
    assert!(
        String::from_utf8_lossy(&veths.stdout).trim().is_empty(),
        "no veth in the root namespace"
    );
    // What was captured before the signal is kept and readable.
    let capture = std::fs::read_dir(&out)
        .expect("out dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pcapng"))
        .expect("a capture file");
    let inspect = connlab()
        .arg("inspect")
        .arg(&capture)
        .arg("--json")
        .output()
        .expect("inspect");
    let run = parse_json_output(&inspect);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(u(&run.summary, "requests") >= 1, "{:#}", run.summary);
}

fn sigint_mid_run_leaves_no_namespace_and_keeps_the_capture() {
    interrupt_mid_run(Signal::SIGINT, "sigint");
}

fn sigterm_mid_run_leaves_no_namespace_and_keeps_the_capture() {
    interrupt_mid_run(Signal::SIGTERM, "sigterm");
}

fn clean_removes_what_a_killed_run_left() {
    let out = out_dir("sigkill");
    let mut child = connlab()
        .args(["run", "read-timeout-as-idle", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    assert!(wait_for_namespaces(pid, 3));
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
    child.wait().expect("wait");
    assert_eq!(namespaces_of(pid).len(), 3, "SIGKILL cannot clean up");
    let clean = connlab().arg("clean").output().expect("clean");
    assert!(clean.status.success());
    assert!(namespaces_of(pid).is_empty(), "clean removed them");
}

fn sighup_when_the_terminal_closes_leaves_no_namespace() {
    interrupt_mid_run(Signal::SIGHUP, "sighup");
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        sigint_mid_run_leaves_no_namespace_and_keeps_the_capture[Need::Root],
        sigterm_mid_run_leaves_no_namespace_and_keeps_the_capture[Need::Root],
        clean_removes_what_a_killed_run_left[Need::Root],
        sighup_when_the_terminal_closes_leaves_no_namespace[Need::Root],
    ])
}
