//! HTTP/2 and gRPC on captures connlab did not make: nginx with http2 (cleartext, prior
//! knowledge) answering curl and nghttp, and Debian's python3-grpcio client and server with keepalive
//! and age options, on hosts made here, recorded by tcpdump. `connlab inspect` must count what
//! the programs say they did, and agree with tshark's reading of the same file.

mod common;

use std::process::Command;

use common::harness::Need;
use common::hosts::{Hosts, SERVER_IP};
use common::real::{finding, inspect, kinds, tshark_h2_frames};
use common::*;
use serde_json::Value;

/// nginx speaking HTTP/2 in clear (prior knowledge) on port 80 of the server host.
fn nginx_h2c(hosts: &mut Hosts, name: &str) {
    let prefix = out_dir(&format!("{name}-nginx"));
    hosts.nginx(&prefix, &format!("listen {SERVER_IP}:80 http2;"), 80);
}

/// Runs `client` while tcpdump records; returns the capture file and the client's output
/// (stdout, then stderr).
fn record(hosts: &mut Hosts, name: &str, mut client: Command) -> (std::path::PathBuf, String) {
    let file = out_dir(name).join(format!("{name}.pcap"));
    let tcpdump = hosts.capture(&file);
    let out = client.output().expect("run the client");
    assert!(
        out.status.success(),
        "client failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    hosts.stop_capture(tcpdump);
    let said = [out.stdout, out.stderr].concat();
    (file, String::from_utf8_lossy(&said).into_owned())
}

/// How many HTTP/2 frames of `frame_type` tshark sees from the client host, decoding `port`
/// as HTTP/2.
fn tshark_frames(file: &std::path::Path, frame_type: u8, port: u16) -> usize {
    let options = ["-d".to_owned(), format!("tcp.port=={port},http2")];
    tshark_h2_frames(file, &options, frame_type)
}

fn nginx_with_curl_and_nghttp_give_exact_stream_counts() {
    let mut hosts = Hosts::new();
    nginx_h2c(&mut hosts, "nginx-h2c");
    let url = format!("http://{SERVER_IP}/");
    // curl: one request per run (curl 7.88 fails to reuse a prior-knowledge connection, its
    // error 16), twice; then nghttp, the nghttp2 reference client: three requests multiplexed
    // on one connection. Each prints its own account.
    let script = format!(
        "for i in 1 2; do curl -s -o /dev/null --http2-prior-knowledge \
         -w '%{{http_version}} %{{num_connects}}\\n' {url} || exit 1; done; \
         nghttp -n --stat {url} {url}a {url}b"
    );
    let mut clients = Hosts::command(&hosts.client, "sh");
    clients.args(["-c", &script]);
    let (file, out) = record(&mut hosts, "nginx-h2-clients", clients);
    let curl: Vec<&str> = out.lines().filter(|l| l.starts_with("2 ")).collect();
    assert_eq!(curl, ["2 1", "2 1"], "curl's account: {out}");
    let nghttp_streams = out
        .lines()
        .filter(|l| l.split_whitespace().nth(4) == Some("200"))
        .count();
    assert_eq!(nghttp_streams, 3, "nghttp's account: {out}");
    let s = inspect(&file);
    let h2 = &s["http2"];
    assert_eq!(h2["connections"], 3, "{h2:#}");
    assert_eq!(h2["streams"], 2 + nghttp_streams as u64, "{h2:#}");
    assert_eq!(h2["streams_per_connection"]["max"], 3, "{h2:#}");
    assert_eq!(h2["protocol_errors"], 0);
    assert_eq!(h2["hpack_lost"], 0);
    // tshark's second opinion: the clients' HEADERS frames, one per stream.
    assert_eq!(tshark_frames(&file, 1, 80), 5);
    assert_eq!(kinds(&s), Vec::<String>::new(), "{:#}", s["findings"]);
}

fn python_grpc(ns: &str, args: &[&str]) -> Command {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/grpc_peer.py");
    let mut cmd = Hosts::command(ns, "/usr/bin/python3");
    cmd.arg(script).args(args);
    cmd
}

/// The python3-grpcio server, answering each call after `delay_s`.
fn grpc_server(hosts: &mut Hosts, delay_s: &str, options: &[&str]) {
    let addr = format!("{SERVER_IP}:50051");
    let mut args = vec!["server", &addr, delay_s];
    args.extend_from_slice(options);
    let server = python_grpc(&hosts.server, &args);
    hosts.spawn(server);
    hosts.wait_listening(50051);
}

/// The client's account of its calls.
fn account(out: &str) -> Value {
    let last = out.lines().rfind(|l| l.starts_with('{'));
    serde_json::from_str(last.expect("the client's account")).expect("JSON")
}

fn python_grpcio_pinging_too_often_gets_too_many_pings() {
    let mut hosts = Hosts::new();
    // A call that takes 5 s; the client pings every 100 ms (grpc-core sends one a second at
    // most) against the server's default policy of one per 5 minutes.
    grpc_server(&mut hosts, "5", &[]);
    let addr = format!("{SERVER_IP}:50051");
    let mut client = python_grpc(
        &hosts.client,
        &[
            "client",
            &addr,
            "1",
            "0",
            "0",
            "grpc.keepalive_time_ms=100",
            "grpc.http2.max_pings_without_data=0",
        ],
    );
    client.env("GRPC_VERBOSITY", "error");
    let (file, out) = record(&mut hosts, "grpcio-pings", client);
    // The client's own word: the GOAWAY, and its call failed UNAVAILABLE.
    assert!(
        out.contains("ENHANCE_YOUR_CALM") && out.contains("too_many_pings"),
        "{out}"
    );
    let calls = account(&out);
    assert_eq!(calls["codes"]["UNAVAILABLE"], 1, "{calls}");
    let s = inspect(&file);
    let h2 = &s["http2"];
    assert_eq!(h2["streams"], calls["calls"], "{h2:#}");
    assert_eq!(h2["goaways"]["server"]["ENHANCE_YOUR_CALM"], 1, "{h2:#}");
    // The call failed: no grpc-status 0 on the wire; what trailers came are the failure's
    // (grpc-core ends the stream with 14, UNAVAILABLE, as the client reports).
    let statuses = h2["grpc_status"].as_object().cloned().unwrap_or_default();
    assert!(statuses.keys().all(|code| code == "14"), "{h2:#}");
    assert!(
        statuses.values().filter_map(Value::as_u64).sum::<u64>() <= 1,
        "{h2:#}"
    );
    // tshark counts the client's PING frames (its PINGs and its ACKs) as connlab does.
    let pings = h2["pings"]["client"].as_u64().unwrap_or(0);
    let acks = h2["ping_acks"]["client"].as_u64().unwrap_or(0);
    assert!(pings >= 3, "{h2:#}");
    assert_eq!(
        tshark_frames(&file, 6, 50051) as u64,
        pings + acks,
        "tshark: the client's PING frames"
    );
    let f = finding(&s, "grpc_too_many_pings");
    let interval = f["ping_interval_ms"].as_f64().expect("interval");
    assert!((900.0..=1_100.0).contains(&interval), "{f:#}");
}

fn python_grpcio_max_connection_age_is_found() {
    let mut hosts = Hosts::new();
    grpc_server(
        &mut hosts,
        "0",
        &[
            "grpc.max_connection_age_ms=1000",
            "grpc.max_connection_age_grace_ms=500",
        ],
    );
    let addr = format!("{SERVER_IP}:50051");
    let client = python_grpc(&hosts.client, &["client", &addr, "25", "0.2", "0"]);
    let (file, out) = record(&mut hosts, "grpcio-age", client);
    let calls = account(&out);
    let s = inspect(&file);
    let h2 = &s["http2"];
    assert_eq!(h2["streams"], calls["calls"], "{h2:#}");
    assert_eq!(calls["ok"], calls["calls"], "{calls}");
    // Every call the client saw succeed ended with grpc-status 0 on the wire, and nothing else.
    assert_eq!(h2["grpc_status"]["0"], calls["ok"], "{h2:#}");
    assert_eq!(h2["grpc_status"].as_object().map(|m| m.len()), Some(1));
    assert!(h2["connections"].as_u64() >= Some(2), "{h2:#}");
    let f = finding(&s, "max_connection_age");
    let age = f["age_ms"].as_f64().expect("age");
    assert!((700.0..=1_500.0).contains(&age), "{f:#}");
}

fn main() -> std::process::ExitCode {
    let net = [Need::Root, Need::Tool("tcpdump"), Need::Tool("tshark")];
    common::harness::run(cases![
        nginx_with_curl_and_nghttp_give_exact_stream_counts[
            net[0],
            net[1],
            net[2],
            Need::Tool("nginx"),
            Need::Tool("curl"),
            Need::Tool("nghttp")
        ],
        python_grpcio_pinging_too_often_gets_too_many_pings[
            net[0],
            net[1],
            net[2],
            Need::PythonModule("grpc")
        ],
        python_grpcio_max_connection_age_is_found[
            net[0],
            net[1],
            net[2],
            Need::PythonModule("grpc")
        ],
    ])
}
