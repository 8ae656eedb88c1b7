//! The HTTP/2 and gRPC labs run for real and pass their expectations; each also gets the checks
//! on the event stream that expectations cannot express (orderings, per-stream limits, what a
//! GOAWAY says and when it comes).

mod common;

use common::harness::Need;
use common::*;
use serde_json::Value;

fn run_checked(lab: &str) -> LabRun {
    let run = run_lab(lab, &out_dir(lab));
    assert_expectations_pass(&run);
    run
}

/// The analyser's http2 events of `h2` kind, in order.
fn h2<'a>(run: &'a LabRun, kind: &str) -> Vec<&'a Value> {
    run.events
        .iter()
        .filter(|e| e["kind"] == "http2" && e["h2"] == kind)
        .collect()
}

/// The analyser events of `kind` (TCP lifecycle), in order.
fn tcp<'a>(run: &'a LabRun, kind: &str) -> Vec<&'a Value> {
    run.events
        .iter()
        .filter(|e| e["kind"] == kind && e.get("conn").is_some())
        .collect()
}

fn many_streams_share_one_connection_never_above_the_servers_limit() {
    let run = run_checked("h2-many-streams");
    let opened = h2(&run, "stream_open");
    assert_eq!(opened.len(), 100);
    assert!(opened.iter().all(|s| u(s, "concurrent") <= 10));
    let ids: Vec<u64> = opened.iter().map(|s| u(s, "stream")).collect();
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "client streams rise");
    assert!(ids.iter().all(|id| id % 2 == 1), "client streams are odd");
    assert_eq!(h2(&run, "stream_end").len(), 100);
}

/// The same lab over TLS (`tls = true` on both actors, ALPN h2): the analyser decrypts with
/// the keys of the run and counts the same 100 streams on one connection, and tshark reading
/// the capture alone (its Decryption Secrets Block, no key option) sees the same 100 HEADERS
/// frames from the client.
fn many_streams_over_tls_decrypt_to_the_same_story() {
    let out = out_dir("h2-many-streams-tls");
    let output = connlab()
        .args(["run", "h2-many-streams", "--json", "--out"])
        .arg(&out)
        .args(["--set", "h2_server.tls=true", "--set", "h2_client.tls=true"])
        .output()
        .expect("run connlab");
    let run = parse_json_output(&output);
    assert_expectations_pass(&run);
    let s = &run.summary;
    assert_eq!(u(s, "http2.streams"), 100);
    assert_eq!(u(s, "http2.connections"), 1);
    assert_eq!(u(s, "tls.decrypted"), 1, "{:#}", s["tls"]);
    assert_eq!(u(s, "tls.alpn.h2"), 1, "{:#}", s["tls"]);
    assert_eq!(h2(&run, "stream_open").len(), 100);
    let capture = std::fs::read_dir(&out)
        .expect("out")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "pcapng"))
        .expect("a capture");
    let options = ["-d".to_owned(), "tcp.port==80,tls".to_owned()];
    let headers = common::real::tshark_h2_frames(&capture, &options, 1);
    assert_eq!(headers, 100, "tshark's HEADERS from the client, decrypted");
}

fn an_idle_connection_gets_a_goaway_and_the_next_calls_dial_again() {
    let run = run_checked("h2-idle-goaway");
    let goaways = h2(&run, "go_away");
    let prefaces = h2(&run, "preface");
    assert_eq!(prefaces.len(), 2);
    let first = &goaways[0];
    assert_eq!(first["by"], "server");
    assert_eq!(u(first, "conn"), u(prefaces[0], "conn"));
    // The second connection is opened after the first one's GOAWAY, not before.
    assert!(u(prefaces[1], "frame") > u(first, "frame"));
    // Streams opened on the first connection all ended before its GOAWAY.
    let ends_first: Vec<u64> = h2(&run, "stream_end")
        .iter()
        .filter(|e| u(e, "conn") == u(first, "conn"))
        .map(|e| u(e, "frame"))
        .collect();
    assert!(!ends_first.is_empty());
    assert!(ends_first.iter().all(|f| *f < u(first, "frame")));
}

fn streams_past_the_limit_are_refused_and_the_rest_succeed() {
    let run = run_checked("h2-stream-limit");
    let limit = h2(&run, "settings")
        .into_iter()
        .find(|s| s["by"] == "server" && s.get("max_concurrent_streams").is_some())
        .expect("the server's SETTINGS");
    assert_eq!(u(limit, "max_concurrent_streams"), 4);
    let resets = h2(&run, "reset");
    assert_eq!(resets.len(), 8);
    assert!(resets
        .iter()
        .all(|r| r["by"] == "server" && r["code"] == "REFUSED_STREAM"));
}

fn pings_through_the_middlebox_are_each_answered_quickly() {
    let run = run_checked("h2-ping-keeps-middlebox");
    let pings = h2(&run, "ping");
    let acks = h2(&run, "ping_ack");
    assert!(pings.len() >= 3);
    assert_eq!(pings.len(), acks.len(), "every ping answered");
    for ack in acks {
        assert!(u(ack, "rtt_ns") < 100_000_000, "ack after {ack}");
    }
    assert!(tcp(&run, "rst").is_empty());
}

/// The client pings after 3 s without a frame, the middlebox forgets after 2 s: the PING meets
/// its reset (or, dropping, is never acknowledged). The finding says the PINGs came too
/// slowly, and its knobs are the ping interval's, not "set ReadIdleTimeout" alone.
fn pings_slower_than_the_middlebox_forgets_are_named() {
    for (on_expired, words) in [
        ("rst", "reset 1 connection"),
        ("drop", "never acknowledged"),
    ] {
        let out = out_dir(&format!("h2-pings-too-slow-{on_expired}"));
        let output = connlab()
            .args(["run", "h2-ping-keeps-middlebox", "--json", "--out"])
            .arg(&out)
            .args(["--set", "h2_client.read_idle_timeout_ms=3000", "--set"])
            .arg(format!("link.middlebox.on_expired={on_expired}"))
            .output()
            .expect("run connlab");
        let run = parse_json_output(&output);
        let findings = run.summary["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let kinds: Vec<&str> = findings.iter().filter_map(|f| f["kind"].as_str()).collect();
        assert_eq!(kinds, ["h2_flow_forgotten"], "{on_expired}: {findings:#?}");
        let f = &findings[0];
        let statement = f["statement"].as_str().unwrap_or("");
        assert!(statement.contains(words), "{on_expired}: {statement}");
        let quiet = f["after_ms"].as_f64().unwrap_or(0.0);
        assert!((2_900.0..4_500.0).contains(&quiet), "{on_expired}: {quiet}");
        let knobs = f["knobs"].to_string();
        assert!(
            knobs.contains("below the middlebox's idle timeout"),
            "{knobs}"
        );
    }
}

fn a_hung_server_is_given_up_by_the_clients_ping_timeout() {
    let run = run_checked("h2-hung-server-ping-timeout");
    let ping = h2(&run, "ping")[0];
    assert_eq!(ping["by"], "client");
    assert!(h2(&run, "ping_ack").is_empty());
    let fin = tcp(&run, "fin")[0];
    assert_eq!(fin["by"], "client");
    assert!(
        u(fin, "frame") > u(ping, "frame"),
        "the close follows the ping"
    );
}

fn without_pings_a_dead_peer_is_found_only_by_retransmits() {
    let run = run_checked("h2-dead-peer-no-ping");
    assert!(h2(&run, "ping").is_empty());
    let retransmits = tcp(&run, "retransmit");
    assert!(retransmits.len() >= 3);
    assert!(retransmits.iter().all(|r| r["by"] == "client"));
}

fn grpc_pings_too_often_and_the_server_says_too_many_pings() {
    let run = run_checked("grpc-too-many-pings");
    let goaway = h2(&run, "go_away")
        .into_iter()
        .find(|g| g["code"] == "ENHANCE_YOUR_CALM")
        .expect("GOAWAY ENHANCE_YOUR_CALM");
    assert_eq!(goaway["debug"], "too_many_pings");
    let before = h2(&run, "ping")
        .iter()
        .filter(|p| u(p, "frame") < u(goaway, "frame"))
        .count();
    assert!(before >= 3, "strikes came first: {before} pings");
}

fn grpc_connections_are_drained_at_their_max_age() {
    let run = run_checked("grpc-max-connection-age");
    // gRPC drains in two steps: a GOAWAY that still admits every stream (last stream
    // 2^31-1, "max_age"), then one naming the last stream it will finish.
    let from_server: Vec<&Value> = h2(&run, "go_away")
        .into_iter()
        .filter(|g| g["by"] == "server")
        .collect();
    let drains: Vec<&&Value> = from_server
        .iter()
        .filter(|g| g["debug"] == "max_age")
        .collect();
    assert!(drains.len() >= 3);
    for drain in drains {
        assert_eq!(u(drain, "last_stream"), (1 << 31) - 1);
        let last = from_server
            .iter()
            .find(|g| u(g, "conn") == u(drain, "conn") && u(g, "frame") > u(drain, "frame"))
            .expect("the final GOAWAY");
        assert!(u(last, "last_stream") < 1 << 31);
    }
    // Every call succeeded although connections were drained under it.
    let statuses: Vec<&Value> = h2(&run, "stream_end")
        .into_iter()
        .filter(|e| e.get("grpc_status").is_some())
        .collect();
    assert_eq!(statuses.len(), 20);
    assert!(statuses.iter().all(|e| e["grpc_status"] == 0));
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        many_streams_share_one_connection_never_above_the_servers_limit[Need::Labs],
        many_streams_over_tls_decrypt_to_the_same_story[Need::Labs, Need::Tool("tshark")],
        an_idle_connection_gets_a_goaway_and_the_next_calls_dial_again[Need::Labs],
        streams_past_the_limit_are_refused_and_the_rest_succeed[Need::Labs],
        pings_through_the_middlebox_are_each_answered_quickly[Need::Labs],
        pings_slower_than_the_middlebox_forgets_are_named[Need::Labs],
        a_hung_server_is_given_up_by_the_clients_ping_timeout[Need::Labs],
        without_pings_a_dead_peer_is_found_only_by_retransmits[Need::Labs],
        grpc_pings_too_often_and_the_server_says_too_many_pings[Need::Labs],
        grpc_connections_are_drained_at_their_max_age[Need::Labs],
    ])
}
