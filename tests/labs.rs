//! Runs every core lab for real (root, network namespaces) and checks its expectations, plus
//! what the summary must say beyond them.

mod common;

use common::harness::Need;
use common::*;

fn run_checked(lab: &str) -> LabRun {
    let out = out_dir(lab);
    let run = run_lab(lab, &out);
    assert_expectations_pass(&run);
    run
}

fn keepalive_reuse_uses_one_connection_for_100_requests() {
    let run = run_checked("keepalive-reuse");
    let s = &run.summary;
    assert_eq!(u(s, "connections"), 1);
    assert_eq!(u(s, "requests"), 100);
    assert_eq!(u(s, "reused"), 99);
    let reused: Vec<_> = run
        .events
        .iter()
        .filter(|e| e["kind"] == "request" && e["reused"] == true)
        .collect();
    assert_eq!(reused.len(), 99, "one reused request event per reuse");
    assert!(
        run.events
            .iter()
            .any(|e| e["kind"] == "got_conn" && e["reused"] == true),
        "the client's trace says it reused the connection too"
    );
    // Every field a summary has can be expected, and every field an expectation may name is
    // one a summary has (or has in other labs: the actors' and the middlebox's own).
    let fields: Vec<&str> = s
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let known = connlab::lab::expect::SUMMARY_FIELDS;
    for field in &fields {
        assert!(
            known.contains(field),
            "`{field}` missing from SUMMARY_FIELDS"
        );
    }
    let elsewhere = ["middlebox", "report", "scale", "unavailable"];
    for field in known {
        assert!(
            fields.contains(field) || elsewhere.contains(field),
            "SUMMARY_FIELDS names `{field}`, which no summary has"
        );
    }
    for field in [
        "fin_first_by.client",
        "rst_by.server",
        "time_wait.client",
        "keepalive_probes",
        "retransmits",
        "dropped",
        "kernel_time_wait.server",
    ] {
        u(s, field);
    }
}

fn pool_burst_dials_per_request_and_the_client_holds_the_time_waits() {
    let run = run_checked("pool-burst");
    let s = &run.summary;
    assert_eq!(u(s, "connections"), 50);
    assert_eq!(u(s, "fin_first_by.client"), 48);
    assert_eq!(
        u(s, "kernel_time_wait.client"),
        48,
        "the kernel agrees with the wire"
    );
    let closes = run
        .events
        .iter()
        .filter(|e| e["kind"] == "close" && e["reason"] == "idle_pool_full")
        .count();
    assert_eq!(closes, 48, "the client says why it closed them");
}

fn pool_burst_big_idle_second_burst_dials_none() {
    let run = run_checked("pool-burst-big-idle");
    assert_eq!(u(&run.summary, "connections"), 50);
    assert_eq!(u(&run.summary, "reused"), 50);
}

fn read_timeout_closes_idle_connections_from_the_server() {
    let run = run_checked("read-timeout-as-idle");
    let s = &run.summary;
    assert_eq!(u(s, "connections"), 4);
    assert_eq!(u(s, "time_wait.server"), 4);
    assert_eq!(u(s, "kernel_time_wait.server"), 4);
    // The client closed each idle connection as soon as the server's FIN arrived.
    let peer_closed = run
        .events
        .iter()
        .filter(|e| e["actor"] == "client" && e["kind"] == "close" && e["reason"] == "peer_closed")
        .count();
    assert_eq!(peer_closed, 4, "the client saw each of the 4 FINs");
}

fn idle_timeout_keeps_one_connection() {
    let run = run_checked("idle-timeout-fix");
    assert_eq!(u(&run.summary, "connections"), 1);
    assert_eq!(u(&run.summary, "reused"), 3);
}

fn namespaces_are_gone_after_runs() {
    let out = out_dir("ns-gone");
    let child = connlab()
        .args(["run", "keepalive-reuse", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert!(
        child.status.success(),
        "{}",
        String::from_utf8_lossy(&child.stderr)
    );
    // The child pid is gone; no namespace may carry it. (The run prints nothing about ns.)
    let text = String::from_utf8_lossy(&child.stdout);
    assert!(text.contains("PASS connections"), "{text}");
    let left = leftovers();
    assert!(left.is_empty(), "namespaces of dead runs: {left:?}");
}

fn a_lossy_jittery_link_shows_retransmits_but_counts_each_request_once() {
    let out = out_dir("lossy");
    let output = connlab()
        .args([
            "run",
            "keepalive-reuse",
            "--json",
            "--set",
            "link.loss_pct=10",
            "--set",
            "link.delay_ms=2",
            "--set",
            "link.jitter_ms=3",
            "--set",
            "link.seed=11",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run");
    let run = parse_json_output(&output);
    assert_expectations_pass(&run);
    let s = &run.summary;
    assert!(u(s, "link_dropped") > 0, "the link dropped frames: {s:#}");
    assert!(
        u(s, "retransmits") > 0,
        "the kernel retransmitted them: {s:#}"
    );
    assert_eq!(
        u(s, "requests"),
        100,
        "a retransmitted request is not a new one"
    );
    assert_eq!(u(s, "client.ok"), 100);
    let retransmit_events = run
        .events
        .iter()
        .filter(|e| e["kind"] == "retransmit")
        .count() as u64;
    assert_eq!(retransmit_events, u(s, "retransmits"));
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        keepalive_reuse_uses_one_connection_for_100_requests[Need::Labs],
        pool_burst_dials_per_request_and_the_client_holds_the_time_waits[Need::Labs],
        pool_burst_big_idle_second_burst_dials_none[Need::Labs],
        read_timeout_closes_idle_connections_from_the_server[Need::Labs],
        idle_timeout_keeps_one_connection[Need::Labs],
        namespaces_are_gone_after_runs[Need::Root],
        a_lossy_jittery_link_shows_retransmits_but_counts_each_request_once[Need::Labs],
    ])
}
