//! The TLS labs run for real and pass their expectations; each also gets the checks that
//! expectations cannot express: the handshake's order and what it offered, the keys in the
//! capture (Wireshark's tshark and `connlab inspect` read it decrypted with no key log of
//! their own, and without the keys only the handshakes are seen), where idle time is
//! measured from.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::harness::Need;
use common::*;
use serde_json::Value;

fn run_checked(lab: &str) -> LabRun {
    let run = run_lab(lab, &out_dir(lab));
    assert_expectations_pass(&run);
    run
}

/// The analyser's tls events of `tls` kind, in order.
fn tls<'a>(run: &'a LabRun, kind: &str) -> Vec<&'a Value> {
    run.events
        .iter()
        .filter(|e| e["kind"] == "tls" && e["tls"] == kind)
        .collect()
}

fn capture(run: &LabRun) -> PathBuf {
    PathBuf::from(run.summary["capture"].as_str().expect("capture path"))
}

fn one_handshake_then_every_request_inside_it_and_tshark_reads_them_decrypted() {
    let run = run_checked("tls-keepalive-reuse");
    let hellos = tls(&run, "client_hello");
    assert_eq!(hellos.len(), 1);
    assert_eq!(hellos[0]["sni"], "connlab.lab");
    assert_eq!(hellos[0]["offers_resumption"], false);
    let done = tls(&run, "handshake_done");
    assert_eq!(done.len(), 1);
    // A handshake over a 5 ms link takes a round trip at least (10 ms), and the first request
    // comes after it.
    assert!(u(done[0], "handshake_ns") >= 10_000_000, "{}", done[0]);
    let first_request = run
        .events
        .iter()
        .find(|e| e["kind"] == "request" && e.get("frame").is_some())
        .expect("the analyser's first request");
    assert!(u(first_request, "frame") >= u(done[0], "frame"));

    // The capture carries the keys: tshark decrypts it with no key log file given.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(capture(&run))
        .args([
            "-Y",
            "http.request",
            "-T",
            "fields",
            "-e",
            "http.request.uri",
        ])
        .output()
        .expect("tshark runs");
    let uris = String::from_utf8_lossy(&out.stdout);
    assert_eq!(uris.lines().count(), 50, "tshark saw: {uris}");
}

fn without_the_keys_only_the_handshakes_are_seen() {
    let run = run_checked("tls-short-connections");
    let original = capture(&run);
    // editcap writes the packets again without the Decryption Secrets Block.
    let stripped = original.with_extension("nokeys.pcapng");
    let status = Command::new("editcap")
        .args(["--discard-all-secrets"])
        .arg(&original)
        .arg(&stripped)
        .status()
        .expect("editcap runs");
    assert!(status.success());
    let read = |path: &PathBuf| -> Value {
        let out = connlab()
            .arg("inspect")
            .arg(path)
            .arg("--json")
            .output()
            .expect("inspect");
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().expect("a summary line");
        serde_json::from_str::<Value>(last).expect("json")["summary"].clone()
    };
    let with_keys = read(&original);
    let without = read(&stripped);
    assert_eq!(with_keys["requests"], 50);
    assert_eq!(with_keys["tls"]["decrypted"], 50);
    assert_eq!(without["requests"], 0, "nothing of HTTP without keys");
    assert_eq!(without["tls"]["undecrypted"], 50);
    // The same connections, handshakes and diagnosis of the handshakes, keys or not.
    for field in ["connections", "fin_first_by"] {
        assert_eq!(with_keys[field], without[field], "{field}");
    }
    assert_eq!(without["tls"]["full_handshakes"], 50);
    let kinds = |s: &Value| -> Vec<String> {
        s["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(kinds(&without).contains(&"tls_no_resumption".to_owned()));
    assert!(kinds(&without).contains(&"tls_handshake_share".to_owned()));
    let _ = std::fs::remove_file(stripped);
}

fn a_session_cache_resumes_every_reconnection() {
    let run = run_checked("tls-session-cache");
    let hellos = tls(&run, "client_hello");
    assert_eq!(hellos.len(), 20);
    assert_eq!(hellos[0]["offers_resumption"], false, "nothing cached yet");
    assert!(hellos[1..].iter().all(|h| h["offers_resumption"] == true));
    let servers = tls(&run, "server_hello");
    assert_eq!(servers[0]["resumed"], false);
    assert!(servers[1..].iter().all(|h| h["resumed"] == true));
}

fn offers_refused_by_the_server_are_blamed_on_the_server() {
    let run = run_checked("tls-resumption-refused");
    let hellos = tls(&run, "client_hello");
    assert_eq!(hellos.len(), 10);
    assert!(hellos[1..].iter().all(|h| h["offers_resumption"] == true));
    assert!(tls(&run, "server_hello")
        .iter()
        .all(|h| h["resumed"] == false));
}

fn an_idle_close_behind_close_notify_is_timed_from_the_last_response() {
    let run = run_checked("tls-read-timeout-as-idle");
    // Each connection: the server's close_notify, then its FIN, about 1 s after the response.
    let alerts = tls(&run, "alert");
    assert_eq!(alerts.iter().filter(|a| a["by"] == "server").count(), 4);
    let fins: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["kind"] == "fin" && e["by"] == "server")
        .collect();
    assert_eq!(fins.len(), 4);
    for fin in fins {
        let idle = u(fin, "idle_ns");
        assert!(
            (950_000_000..1_100_000_000).contains(&idle),
            "idle before the server's FIN: {idle} ns ({fin})"
        );
    }
    assert!(
        !run.summary["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["kind"] == "abortive_close"),
        "the RSTs answering the client's close_notify are no SO_LINGER"
    );
}

fn a_burst_beyond_the_idle_pool_pays_full_handshakes_and_no_false_cause() {
    let run = run_checked("tls-pool-burst");
    let hellos = tls(&run, "client_hello");
    assert_eq!(hellos.len(), 56);
    assert!(hellos.iter().all(|h| h["offers_resumption"] == false));
    // The server's close_notify after the client closed draws RSTs from the client's closed
    // sockets: neither unread bodies nor SO_LINGER.
    assert!(u(&run.summary, "rst_by.client") >= 50);
    let kinds: Vec<&str> = run.summary["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    for wrong in [
        "unread_body_reset",
        "abortive_close",
        "close_with_unread_data",
    ] {
        assert!(!kinds.contains(&wrong), "{kinds:?}");
    }
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        one_handshake_then_every_request_inside_it_and_tshark_reads_them_decrypted[Need::Labs, Need::Tool("tshark")],
        without_the_keys_only_the_handshakes_are_seen[Need::Labs, Need::Tool("editcap")],
        a_session_cache_resumes_every_reconnection[Need::Labs],
        offers_refused_by_the_server_are_blamed_on_the_server[Need::Labs],
        an_idle_close_behind_close_notify_is_timed_from_the_last_response[Need::Labs],
        a_burst_beyond_the_idle_pool_pays_full_handshakes_and_no_false_cause[Need::Labs],
    ])
}
