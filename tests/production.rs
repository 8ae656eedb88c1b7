//! The production failure labs: a middlebox that forgets idle flows (reset or drop), the fixes
//! (keepalive, a shorter pool timeout), a graceful shutdown during traffic, a per-connection
//! request limit, and a dead peer with and without TCP_USER_TIMEOUT. Each runs for real and
//! passes its expectations; the events and the capture say what expectations cannot. A Go
//! net/http client must tell the same story as the built-in one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::harness::Need;
use common::*;
use serde_json::Value;

fn run_checked(lab: &str) -> LabRun {
    let run = run_lab(lab, &out_dir(lab));
    assert_expectations_pass(&run);
    run
}

fn count(run: &LabRun, pred: impl Fn(&Value) -> bool) -> usize {
    run.events.iter().filter(|e| pred(e)).count()
}

/// Frames of the run's capture whose packet comment contains `text` (tshark reads connlab's
/// pcapng comments as Wireshark shows them).
fn commented(run: &LabRun, text: &str) -> usize {
    let capture = run.summary["capture"].as_str().expect("capture");
    let out = Command::new("tshark")
        .args(["-r", capture, "-Y"])
        .arg(format!("frame.comment contains \"{text}\""))
        .output()
        .expect("tshark");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn a_forgotten_idle_connection_is_reset_and_the_get_retried() {
    let run = run_checked("middlebox-idle-reset");
    let retries = count(&run, |e| e["kind"] == "error" && e["class"] == "retry");
    assert_eq!(retries, 1, "the client retried the GET once");
    let middlebox_rst = count(&run, |e| e["kind"] == "rst" && e["by"] == "middlebox");
    assert_eq!(middlebox_rst, 1, "the event names the middlebox");
    assert_eq!(commented(&run, "middlebox RST"), 1);
    assert_eq!(commented(&run, "middlebox forgot flow"), 1);
    // The report tells the middlebox's reset apart; in the timeline its drop of the request
    // (the same instant) is the mark that wins.
    let capture = PathBuf::from(run.summary["capture"].as_str().expect("capture"));
    let html = capture.with_extension("html");
    let done = connlab()
        .arg("report")
        .arg(&capture)
        .arg("-o")
        .arg(&html)
        .output();
    assert!(done.expect("report").status.success());
    let page = std::fs::read_to_string(&html).expect("report");
    assert!(
        page.contains("RSTs forged by a middlebox on the path: <b>1</b>"),
        "summary"
    );
    assert!(
        page.contains("conn 1: frame dropped by the link"),
        "timeline mark"
    );
}

fn a_forgotten_idle_connection_fails_a_post() {
    let run = run_checked("middlebox-idle-reset-post");
    assert_eq!(
        count(&run, |e| e["kind"] == "error" && e["class"] == "retry"),
        0,
        "a POST is never retried"
    );
    let posts = count(&run, |e| {
        e["kind"] == "request" && e["method"] == "POST" && e.get("conn").is_some()
    });
    assert_eq!(posts, 1, "the POST crossed the wire once");
}

fn a_blackholed_connection_retransmits_until_the_request_timeout() {
    let run = run_checked("middlebox-idle-blackhole");
    let timeouts = count(&run, |e| {
        e["kind"] == "error" && e["class"] == "request_timeout"
    });
    assert_eq!(timeouts, 1, "the client gave up on its own");
    // Backoff: the gaps between the retransmissions of the request grow.
    let times: Vec<u64> = run
        .events
        .iter()
        .filter(|e| e["kind"] == "retransmit" && e["by"] == "client" && e["len"].as_u64() > Some(0))
        .map(|e| e["t_ns"].as_u64().expect("t"))
        .collect();
    assert!(times.len() >= 3, "{times:?}");
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "exponential backoff: {gaps:?}"
    );
    assert_eq!(commented(&run, "middlebox RST"), 0, "dropped, never reset");
}

fn keepalive_probes_keep_the_flow_alive() {
    run_checked("middlebox-keepalive-fix");
}

fn a_shorter_pool_timeout_closes_before_the_middlebox_forgets() {
    let run = run_checked("middlebox-pool-timeout-fix");
    let idle_closes = count(&run, |e| {
        e["actor"] == "client" && e["kind"] == "close" && e["reason"] == "idle_timeout"
    });
    assert_eq!(
        idle_closes, 2,
        "the pool closed each idle connection itself"
    );
}

fn graceful_shutdown_finishes_busy_requests_and_closes_idle_ones() {
    let run = run_checked("graceful-shutdown");
    let shutdowns = count(&run, |e| e["kind"] == "close" && e["reason"] == "shutdown");
    assert!(
        shutdowns >= 3,
        "two after their reply, one idle: {shutdowns}"
    );
    let retries = count(&run, |e| e["kind"] == "error" && e["class"] == "retry");
    assert_eq!(retries, 1, "the GET that crossed the close was retried");
    let refused = count(&run, |e| e["kind"] == "dial_error");
    assert_eq!(refused, 1, "the retry found no listener");

    // The same lab with a POST in that place: no retry, one connection fewer.
    let out = out_dir("graceful-shutdown-post");
    let output = connlab()
        .args([
            "run",
            "graceful-shutdown",
            "--json",
            "--set",
            "client.post_every=6",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run");
    let post = parse_json_output(&output);
    assert_eq!(u(&post.summary, "client.failed"), 1);
    assert_eq!(u(&post.summary, "connections"), 3);
    assert_eq!(
        count(&post, |e| e["kind"] == "error" && e["class"] == "retry"),
        0
    );
}

fn a_request_limit_makes_the_client_redial() {
    let run = run_checked("server-request-limit");
    let limits = count(&run, |e| {
        e["kind"] == "close" && e["reason"] == "request_limit"
    });
    assert_eq!(limits, 10);
}

fn a_dead_peer_hangs_until_tcp_retries2() {
    let run = run_checked("dead-peer-retransmit");
    assert!(
        u(&run.summary, "link_dropped") >= 4,
        "the request and its retransmissions went into the partition"
    );
}

fn tcp_user_timeout_bounds_it() {
    run_checked("dead-peer-user-timeout");
}

/// Runs a lab file of tests/go/labs with the Go client; returns its summary and the Go
/// client's own report.
fn go_lab(name: &str) -> (Value, Value) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let client = dir.join("go-client-for-labs");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&client)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/client.go"))
        .env("GOCACHE", dir.join("go-cache"))
        .env("GO111MODULE", "off")
        .status()
        .expect("go build");
    assert!(status.success());
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/go/labs/{name}.toml"));
    let out = out_dir(&format!("go-{name}"));
    let output = connlab()
        .args(["run"])
        .arg(&lab)
        .args(["--json", "--out"])
        .arg(&out)
        .env("CONNLAB_GO_CLIENT", &client)
        .output()
        .expect("run");
    let run = parse_json_output(&output);
    assert_expectations_pass(&run);
    let stdout = run.summary["exec"][0]["stdout"]
        .as_str()
        .expect("stdout file");
    let report: Value = serde_json::from_str(
        std::fs::read_to_string(stdout)
            .expect("the Go client's report")
            .trim(),
    )
    .expect("JSON");
    (run.summary, report)
}

/// The built-in client's figures for the same lab.
fn builtin(name: &str) -> Value {
    run_checked(name).summary
}

fn go_agrees_on_the_reset_get() {
    let ((go, report), ours) = (
        go_lab("middlebox-idle-reset"),
        builtin("middlebox-idle-reset"),
    );
    for key in ["connections", "requests", "rst_by.middlebox"] {
        assert_eq!(u(&go, key), u(&ours, key), "{key}");
    }
    assert_eq!(
        (report["ok"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        report["dialed"].as_u64(),
        Some(u(&ours, "client.dialed")),
        "Go redialed too"
    );
}

fn go_agrees_on_the_reset_post() {
    let ((go, report), ours) = (
        go_lab("middlebox-idle-reset-post"),
        builtin("middlebox-idle-reset-post"),
    );
    for key in ["connections", "requests", "rst_by.middlebox"] {
        assert_eq!(u(&go, key), u(&ours, key), "{key}");
    }
    assert_eq!(
        (report["ok"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(1))
    );
}

fn go_agrees_on_the_request_limit() {
    let ((go, report), ours) = (
        go_lab("server-request-limit"),
        builtin("server-request-limit"),
    );
    for key in ["connections", "requests", "fin_first_by.server"] {
        assert_eq!(u(&go, key), u(&ours, key), "{key}");
    }
    assert_eq!(
        (report["ok"].as_u64(), report["failed"].as_u64()),
        (Some(1000), Some(0))
    );
    assert_eq!(report["dialed"].as_u64(), Some(10));
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        a_forgotten_idle_connection_is_reset_and_the_get_retried [Need::Labs, Need::Tool("tshark")],
        a_forgotten_idle_connection_fails_a_post [Need::Labs],
        a_blackholed_connection_retransmits_until_the_request_timeout [Need::Labs, Need::Tool("tshark")],
        keepalive_probes_keep_the_flow_alive [Need::Labs],
        a_shorter_pool_timeout_closes_before_the_middlebox_forgets [Need::Labs],
        graceful_shutdown_finishes_busy_requests_and_closes_idle_ones [Need::Labs],
        a_request_limit_makes_the_client_redial [Need::Labs],
        a_dead_peer_hangs_until_tcp_retries2 [Need::Labs],
        tcp_user_timeout_bounds_it [Need::Labs],
        go_agrees_on_the_reset_get [Need::Labs, Need::Tool("go")],
        go_agrees_on_the_reset_post [Need::Labs, Need::Tool("go")],
        go_agrees_on_the_request_limit [Need::Labs, Need::Tool("go")],
    ])
}
