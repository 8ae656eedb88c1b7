//! Every lab of the catalogue runs for real and passes its expectations; a few also get checks
//! on the event stream that expectations cannot express.

mod common;

use common::harness::Need;
use common::junit;
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
/// Labs tested in websocket.rs.
const WEBSOCKET: &[&str] = &[
    "websocket-ping-pong",
    "websocket-idle-behind-middlebox",
    "websocket-ping-keeps-alive",
    "websocket-dead-peer",
    "websocket-close-without-handshake",
];
/// Labs tested in h2_labs.rs.
const HTTP2: &[&str] = &[
    "h2-many-streams",
    "h2-idle-goaway",
    "h2-stream-limit",
    "h2-ping-keeps-middlebox",
    "h2-hung-server-ping-timeout",
    "h2-dead-peer-no-ping",
    "grpc-too-many-pings",
    "grpc-max-connection-age",
];
/// Labs tested in tls_labs.rs.
const TLS: &[&str] = &[
    "tls-keepalive-reuse",
    "tls-short-connections",
    "tls-session-cache",
    "tls-resumption-refused",
    "tls-read-timeout-as-idle",
    "tls-pool-burst",
];
/// Labs tested in c500k.rs.
const SCALE: &[&str] = &["c500k"];
/// Labs of database and cache pools (real servers, and the built-in pool), tested in
/// databases.rs.
const DATABASES: &[&str] = &[
    "redis-idle-timeout",
    "pg-idle-session-timeout",
    "pg-idle-in-transaction",
    "pgbouncer-server-idle",
    "pg-stale-after-middlebox",
    "mysql-wait-timeout-gone-away",
    "mysql-stale-after-middlebox",
    "db-pool-burst",
    "pg-pool-burst",
    "pg-max-lifetime-fix",
    "mysql-pool-burst",
    "mysql-max-lifetime-fix",
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
            [CATALOGUE, CORE, PRODUCTION, SCALE, WEBSOCKET, HTTP2, TLS, DATABASES]
                .iter()
                .any(|set| set.contains(&name.as_str())),
            "lab {name} has no test"
        );
    }
    assert_eq!(
        listed.len(),
        CATALOGUE.len()
            + CORE.len()
            + PRODUCTION.len()
            + SCALE.len()
            + WEBSOCKET.len()
            + HTTP2.len()
            + TLS.len()
            + DATABASES.len()
    );
}

/// Labs whose expectations say all there is to check: they run together as one suite, the
/// way a team runs labs in CI, and its JUnit report is checked as a CI system reads it.
const PLAIN: &[&str] = &[
    "pool-per-host",
    "body-read-no-close",
    "body-close-unread",
    "short-vs-long",
    "short-vs-long-keepalive",
    "timeout-handler-503",
    "tcp-keepalive-off-half-open",
    "time-wait-port-exhaustion",
    "curl-connection-close",
    "read-deadline-absolute",
    "read-deadline-per-read",
];

fn plain_labs_pass_as_a_suite_with_a_valid_junit_report() {
    let out = out_dir("plain-suite");
    let junit = out.join("junit.xml");
    let run = connlab()
        .arg("run")
        .args(PLAIN)
        .args(["-j", "2", "--out"])
        .arg(&out)
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for lab in PLAIN {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("PASS ") && l.split_whitespace().nth(1) == Some(lab)),
            "a PASS line for {lab}: {stdout}"
        );
    }
    let total = format!("{} labs in ", PLAIN.len());
    let last = stdout.lines().rev().nth(1).unwrap_or("");
    assert!(
        last.starts_with(&total)
            && last.ends_with(&format!(
                ": {} passed, 0 failed, 0 errors, 0 skipped",
                PLAIN.len()
            )),
        "{stdout}"
    );
    let report = junit::read(&junit);
    assert_eq!(report["tests"], PLAIN.len());
    assert_eq!(
        (
            report["failures"].as_u64(),
            report["errors"].as_u64(),
            report["skipped"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    for lab in PLAIN {
        let case = junit::case(&report, lab);
        assert_eq!(case["results"], serde_json::json!([]), "{lab} passed");
        let capture = junit::attachment(case);
        assert!(capture.contains(lab), "{capture}");
    }
}

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
    assert_eq!(
        waited, 46,
        "every request beyond the 4 connections waited for one"
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
    assert_eq!(retries, 3, "one retry per raced request");
}

fn keepalive_race_without_retry_fails_requests() {
    let run = run_checked("keepalive-race-no-retry");
    let eofs = count(&run, |e| e["kind"] == "error" && e["class"] == "eof");
    assert_eq!(eofs, 2, "each raced request fails with EOF");
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
    // Every probe and the RST were lost in the partition (ARP may add frames of its own).
    let probes = u(&run.summary, "keepalive_probes");
    assert!(
        u(&run.summary, "link_dropped") > probes,
        "{probes} probes and the RST dropped: {:#}",
        run.summary
    );
}

fn abortive_close_leaves_no_time_wait() {
    let run = run_checked("abortive-close-rst");
    let resets = count(&run, |e| {
        e["actor"] == "client" && e["kind"] == "close" && e["reason"] == "peer_reset"
    });
    assert_eq!(resets, 3, "the client saw every reset");
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        every_embedded_lab_has_an_integration_test [],
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
        plain_labs_pass_as_a_suite_with_a_valid_junit_report [
            Need::Labs,
            Need::Tool("curl"),
            Need::Tool("xmllint"),
            Need::PythonModule("junitparser"),
        ],
    ])
}
