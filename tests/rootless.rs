//! Labs without root: an ordinary user runs them (connlab enters a user namespace of its own)
//! and gets the same results as root; an interrupted or killed rootless run leaves nothing
//! running and no namespace behind. The tests run as root only to switch to that user.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::harness::Need;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// The figures that must not depend on who ran the lab.
const FIGURES: [&str; 12] = [
    "connections",
    "requests",
    "reused",
    "responses",
    "fin_first_by.client",
    "fin_first_by.server",
    "rst_by.client",
    "rst_by.server",
    "rst_by.middlebox",
    "time_wait.client",
    "time_wait.server",
    "kernel_time_wait.client",
];

/// Runs `lab` as root and as the unprivileged user; both pass, with the same figures.
fn same_as_root(lab: &str) -> (Value, Value) {
    let root = run_lab(lab, &out_dir(&format!("as-root-{lab}")));
    assert_expectations_pass(&root);
    let output = unprivileged::connlab()
        .args(["run", lab, "--json", "--out"])
        .arg(unprivileged::out_dir(lab))
        .output()
        .expect("run as the user");
    let user = parse_json_output(&output);
    assert_expectations_pass(&user);
    assert!(
        user.summary["privileges"]
            .as_str()
            .is_some_and(|p| p.starts_with("rootless")),
        "{}",
        user.summary["privileges"]
    );
    assert_eq!(root.summary["privileges"], "root");
    for key in FIGURES {
        assert_eq!(u(&user.summary, key), u(&root.summary, key), "{lab}: {key}");
    }
    assert!(
        unprivileged::nothing_left(),
        "{:?}",
        unprivileged::processes()
    );
    (root.summary, user.summary)
}

fn keepalive_reuse_without_root() {
    same_as_root("keepalive-reuse");
}

fn pool_burst_without_root() {
    let (root, user) = same_as_root("pool-burst");
    assert_eq!(u(&user, "client.dialed"), u(&root, "client.dialed"));
    assert_eq!(
        user["findings"][0]["kept_idle"], root["findings"][0]["kept_idle"],
        "the same diagnosis"
    );
}

fn rst_injection_without_root() {
    same_as_root("rst-injection");
}

fn an_external_program_runs_as_the_user() {
    let (_, user) = same_as_root("curl-keepalive");
    assert_eq!(user["exec"][0]["exit_code"], 0, "curl ran");
    let stdout = user["exec"][0]["stdout"].as_str().expect("stdout file");
    let meta = std::fs::metadata(stdout).expect("curl's output file");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        meta.uid(),
        unprivileged::uid(),
        "written as the user, not root"
    );
}

/// Starts a rootless run of `lab` in a process group of its own; returns it and its folder.
fn start(lab: &str, test: &str) -> (std::process::Child, std::path::PathBuf) {
    let out = unprivileged::out_dir(test);
    let child = unprivileged::connlab()
        .args(["run", lab, "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn");
    (child, out)
}

/// The pid of the user's process whose command line has all of `words`.
fn user_process(words: &[&str], limit: Duration) -> u32 {
    let start = Instant::now();
    loop {
        for pid in unprivileged::processes() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            if words.iter().all(|w| cmdline.contains(w)) {
                return pid;
            }
        }
        assert!(start.elapsed() < limit, "no process with {words:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigint_stops_a_rootless_run_cleanly() {
    let (mut child, out) = start("read-timeout-as-idle", "sigint");
    let run = user_process(
        &["connlab", "run", "read-timeout-as-idle"],
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_millis(2_000));
    kill(Pid::from_raw(run as i32), Signal::SIGINT).expect("SIGINT");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "interrupted");
    assert!(
        unprivileged::nothing_left(),
        "{:?}",
        unprivileged::processes()
    );
    let capture = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pcapng"))
        .expect("the capture is kept");
    let read = connlab()
        .arg("inspect")
        .arg(&capture)
        .output()
        .expect("inspect");
    assert!(read.status.success(), "and readable");
}

fn sigkill_of_a_rootless_run_leaves_nothing() {
    // long-connections runs its TCP server and client as processes of their own: they must
    // die too.
    let (mut child, _out) = start("long-connections", "sigkill");
    let server = user_process(
        &["actor", "\"job\":\"tcp_server\""],
        Duration::from_secs(20),
    );
    let run = user_process(
        &["connlab", "run", "long-connections"],
        Duration::from_secs(5),
    );
    kill(Pid::from_raw(run as i32), Signal::SIGKILL).expect("SIGKILL");
    let _ = child.wait();
    assert!(
        unprivileged::nothing_left(),
        "the server process {server} died with it: {:?}",
        unprivileged::processes()
    );
    let clean = unprivileged::connlab()
        .arg("clean")
        .output()
        .expect("clean");
    assert!(clean.status.success());
    assert!(String::from_utf8_lossy(&clean.stdout).contains("nothing to clean"));
    assert!(
        connlab_namespaces().is_empty(),
        "nothing was ever under /run/netns"
    );
}

/// PostgreSQL refuses uid 0, also as the root of a user namespace, and a rootless connlab
/// cannot switch to the lab's `user`: the lab is skipped with the reason (exit 3), outside CI;
/// nothing is left running.
fn a_postgres_lab_is_skipped_without_root() {
    let output = unprivileged::connlab()
        .args(["run", "pg-idle-session-timeout", "--out"])
        .arg(unprivileged::out_dir("pg-skipped"))
        .env_remove("CI")
        .output()
        .expect("run as the user");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refuses to run as root"), "{stderr}");
    assert!(
        unprivileged::nothing_left(),
        "{:?}",
        unprivileged::processes()
    );
}

fn main() -> std::process::ExitCode {
    let switch = [Need::Root, Need::Tool("runuser")];
    common::harness::run(vec![
        common::harness::case(
            "keepalive_reuse_without_root",
            &switch,
            keepalive_reuse_without_root,
        ),
        common::harness::case("pool_burst_without_root", &switch, pool_burst_without_root),
        common::harness::case(
            "rst_injection_without_root",
            &switch,
            rst_injection_without_root,
        ),
        common::harness::case(
            "an_external_program_runs_as_the_user",
            &[Need::Root, Need::Tool("runuser"), Need::Tool("curl")],
            an_external_program_runs_as_the_user,
        ),
        common::harness::case(
            "a_postgres_lab_is_skipped_without_root",
            &[
                Need::Root,
                Need::Tool("runuser"),
                Need::Tool("pg_ctlcluster"),
            ],
            a_postgres_lab_is_skipped_without_root,
        ),
        common::harness::case(
            "sigint_stops_a_rootless_run_cleanly",
            &switch,
            sigint_stops_a_rootless_run_cleanly,
        ),
        common::harness::case(
            "sigkill_of_a_rootless_run_leaves_nothing",
            &switch,
            sigkill_of_a_rootless_run_leaves_nothing,
        ),
    ])
}
