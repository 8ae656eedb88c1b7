//! Every lab of the catalogue runs for real and passes its expectations; a few also get checks
//! on the event stream that expectations cannot express.

mod common;

use common::harness::Need;
use common::*;

/// Labs covered here; the core labs have their own file (labs.rs).
const CATALOGUE: &[&str] = &[
    "pool-per-host",
    "body-unread-leak",
    "body-read-no-close",
    "body-close-unread",
    "pool-max-conns",
    "peer-close-detected",
    "keepalive-race",
    "keepalive-race-no-retry",
    "short-vs-long",
    "short-vs-long-keepalive",
    "write-timeout-includes-handler",
    "timeout-handler-503",
    "tcp-keepalive-dead-peer",
    "tcp-keepalive-off-half-open",
    "abortive-close-rst",
    "time-wait-port-exhaustion",
    "websocket-ping-pong",
    "rst-injection",
    "read-deadline-absolute",
    "read-deadline-per-read",
    "long-connections",
    "curl-keepalive",
    "curl-connection-close",
];
/// Labs tested in production.rs.
const PRODUCTION: &[&str] = &[
    "middlebox-idle-reset",
    "middlebox-idle-reset-post",
    "middlebox-idle-blackhole",
    "middlebox-keepalive-fix",
    "middlebox-pool-timeout-fix",
    "graceful-shutdown",
    "server-request-limit",
    "dead-peer-retransmit",
    "dead-peer-user-timeout",
];
const CORE: &[&str] = &[
    "keepalive-reuse",
    "pool-burst",
    "pool-burst-big-idle",
    "read-timeout-as-idle",
    "idle-timeout-fix",
];

fn run_checked(lab: &str) -> LabRun {
    let run = run_lab(lab, &out_dir(lab));
    assert_expectations_pass(&run);
    run
}

fn count(run: &LabRun, pred: impl Fn(&serde_json::Value) -> bool) -> usize {
    run.events.iter().filter(|e| pred(e)).count()
}

fn every_embedded_lab_has_an_integration_test() {
    let out = connlab().arg("list").output().expect("list");
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    for name in &listed {
        assert!(
            [CATALOGUE, CORE, PRODUCTION]
                .iter()
                .any(|set| set.contains(&name.as_str())),
            "lab {name} has no test"
        );
    }
    assert_eq!(
        listed.len(),
        CATALOGUE.len() + CORE.len() + PRODUCTION.len()
    );
}

macro_rules! lab_test {
    ($test:ident, $lab:expr) => {
        fn $test() {
            run_checked($lab);
        }
    };
}

lab_test!(pool_per_host, "pool-per-host");
lab_test!(body_read_no_close, "body-read-no-close");
lab_test!(body_close_unread, "body-close-unread");
lab_test!(short_vs_long, "short-vs-long");
lab_test!(short_vs_long_keepalive, "short-vs-long-keepalive");
lab_test!(timeout_handler_503, "timeout-handler-503");
lab_test!(tcp_keepalive_off_half_open, "tcp-keepalive-off-half-open");
lab_test!(time_wait_port_exhaustion, "time-wait-port-exhaustion");
lab_test!(curl_connection_close, "curl-connection-close");
lab_test!(read_deadline_absolute, "read-deadline-absolute");

fn websocket_refuses_post_and_answers_ping_with_pong() {
    let run = run_checked("websocket-ping-pong");
    let refused = count(&run, |e| {
        e["kind"] == "error" && e["class"] == "upgrade_refused"
    });
    assert_eq!(refused, 1);
    let statuses: Vec<u64> = run
        .events
        .iter()
        .filter(|e| e["kind"] == "response" && e.get("conn").is_some())
        .map(|e| u(e, "status"))
        .collect();
    assert_eq!(statuses, [405, 101], "refused POST, then the upgrade");
}
lab_test!(read_deadline_per_read, "read-deadline-per-read");

fn long_connections_report_memory_per_connection() {
    let run = run_checked("long-connections");
    let per_conn = u(&run.summary, "memory.server_process_bytes_per_connection");
    assert!(
        (1_000..1_000_000).contains(&per_conn),
        "server process bytes per connection: {per_conn}"
    );
    assert_eq!(u(&run.summary, "memory.connections"), 10_000);
}

fn rst_injection_is_seen_by_the_idle_client() {
    let run = run_checked("rst-injection");
    let resets = count(&run, |e| {
        e["actor"] == "client" && e["kind"] == "close" && e["reason"] == "peer_reset"
    });
    assert_eq!(resets, 1, "the pool dropped the reset connection");
}

fn curl_keepalive_reuses_and_keeps_curls_output() {
    let run = run_checked("curl-keepalive");
    let exec = &run.summary["exec"][0];
    assert_eq!(exec["side"], "client");
    assert_eq!(exec["exit_code"], 0);
    let stderr = exec["stderr"].as_str().expect("stderr path");
    assert!(std::path::Path::new(stderr).exists(), "{stderr}");
}

fn a_missing_external_program_skips_the_lab_outside_ci_and_fails_under_ci() {
    let dir = out_dir("missing-program");
    let lab = dir.join("missing.toml");
    std::fs::write(
        &lab,
        "question = \"q?\"\n[server]\n[exec_client]\ncommand = [\"connlab-no-such-program\"]\n[expect]\nconnections = 0\n",
    )
    .expect("write lab");
    let skipped = connlab()
        .args(["run"])
        .arg(&lab)
        .arg("--out")
        .arg(&dir)
        .env_remove("CI")
        .output()
        .expect("run");
    assert_eq!(
        skipped.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&skipped.stderr)
    );
    assert!(String::from_utf8_lossy(&skipped.stderr).contains("skipped"));
    let failed = connlab()
        .args(["run"])
        .arg(&lab)
        .arg("--out")
        .arg(&dir)
        .env("CI", "true")
        .output()
        .expect("run");
    assert_eq!(failed.status.code(), Some(2));
}

fn body_unread_leak_keeps_every_connection_established() {
    let run = run_checked("body-unread-leak");
    assert_eq!(u(&run.summary, "kernel_states.server.ESTABLISHED"), 10);
}

fn pool_max_conns_makes_requests_wait() {
    let run = run_checked("pool-max-conns");
    let waited = count(&run, |e| {
        e["kind"] == "got_conn" && e["wait_ns"].as_u64().unwrap_or(0) > 1_000_000
    });
    assert!(
        waited >= 40,
        "requests that waited for a connection: {waited}"
    );
}

fn peer_close_is_detected_while_idle() {
    let run = run_checked("peer-close-detected");
    let closes = count(&run, |e| {
        e["actor"] == "client" && e["kind"] == "close" && e["reason"] == "peer_closed"
    });
    assert_eq!(
        closes, 3,
        "the idle client closed each connection on the server's FIN"
    );
    // The client's FIN follows the server's within a few ms: nothing was in flight.
    let fins: Vec<(u64, String, u64)> = run
        .events
        .iter()
        .filter(|e| e["kind"] == "fin")
        .map(|e| {
            (
                u(e, "conn"),
                e["by"].as_str().unwrap_or("").to_owned(),
                u(e, "t_ns"),
            )
        })
        .collect();
    for pair in fins.chunks(2) {
        let [(c1, by1, t1), (c2, by2, t2)] = pair else {
            continue;
        };
        assert_eq!((c1, by1.as_str(), by2.as_str()), (c2, "server", "client"));
        assert!(t2 - t1 < 100_000_000, "client reacted in {} ns", t2 - t1);
    }
}

fn keepalive_race_resets_and_the_client_retries() {
    let run = run_checked("keepalive-race");
    let retries = count(&run, |e| e["kind"] == "error" && e["class"] == "retry");
    assert!(retries >= 3, "retries: {retries}");
}

fn keepalive_race_without_retry_fails_requests() {
    let run = run_checked("keepalive-race-no-retry");
    let eofs = count(&run, |e| e["kind"] == "error" && e["class"] == "eof");
    assert!(eofs >= 2, "EOF errors: {eofs}");
}

fn write_timeout_closes_before_the_response() {
    let run = run_checked("write-timeout-includes-handler");
    assert_eq!(
        count(&run, |e| e["kind"] == "timeout" && e["timer"] == "write"),
        3,
        "one write timeout per request"
    );
}

fn tcp_keepalive_probes_find_the_dead_peer() {
    let run = run_checked("tcp-keepalive-dead-peer");
    assert!(
        u(&run.summary, "link_dropped") >= 4,
        "probes and RST were dropped by the partition"
    );
}

fn abortive_close_leaves_no_time_wait() {
    let run = run_checked("abortive-close-rst");
    let resets = count(&run, |e| {
        e["actor"] == "client" && e["kind"] == "close" && e["reason"] == "peer_reset"
    });
    assert!(resets >= 2, "the client saw the resets: {resets}");
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        every_embedded_lab_has_an_integration_test [],
        websocket_refuses_post_and_answers_ping_with_pong [Need::Labs],
        long_connections_report_memory_per_connection [Need::Labs],
        rst_injection_is_seen_by_the_idle_client [Need::Labs],
        curl_keepalive_reuses_and_keeps_curls_output [Need::Labs, Need::Tool("curl")],
        a_missing_external_program_skips_the_lab_outside_ci_and_fails_under_ci [Need::Labs],
        body_unread_leak_keeps_every_connection_established [Need::Labs],
        pool_max_conns_makes_requests_wait [Need::Labs],
        peer_close_is_detected_while_idle [Need::Labs],
        keepalive_race_resets_and_the_client_retries [Need::Labs],
        keepalive_race_without_retry_fails_requests [Need::Labs],
        write_timeout_closes_before_the_response [Need::Labs],
        tcp_keepalive_probes_find_the_dead_peer [Need::Labs],
        abortive_close_leaves_no_time_wait [Need::Labs],
        pool_per_host [Need::Labs],
        body_read_no_close [Need::Labs],
        body_close_unread [Need::Labs],
        short_vs_long [Need::Labs],
        short_vs_long_keepalive [Need::Labs],
        timeout_handler_503 [Need::Labs],
        tcp_keepalive_off_half_open [Need::Labs],
        time_wait_port_exhaustion [Need::Labs],
        curl_connection_close [Need::Labs, Need::Tool("curl")],
        read_deadline_absolute [Need::Labs],
        read_deadline_per_read [Need::Labs],
    ])
}
