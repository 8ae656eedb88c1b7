//! WebSocket past the upgrade: the five WebSocket labs run for real, and captures connlab did
//! not make (Debian's python3-websockets and gorilla/websocket, on hosts made here, recorded by
//! tcpdump) must give the programs' own counts of messages, pings, pongs and close codes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::harness::Need;
use common::hosts::{Hosts, SERVER_IP};
use common::real::{captured, finding, go_program, kinds};
use common::*;
use serde_json::Value;

fn run_checked(lab: &str) -> LabRun {
    let run = run_lab(lab, &out_dir(lab));
    assert_expectations_pass(&run);
    run
}

/// The analyser events of `kind`, in order.
fn events<'a>(run: &'a LabRun, kind: &str) -> Vec<&'a Value> {
    run.events
        .iter()
        .filter(|e| e["kind"] == kind && e.get("conn").is_some())
        .collect()
}

fn ping_pong_lab_counts_frames_and_times_each_pong() {
    let run = run_checked("websocket-ping-pong");
    let statuses: Vec<u64> = events(&run, "response")
        .iter()
        .map(|e| u(e, "status"))
        .collect();
    assert_eq!(statuses, [405, 101], "refused POST, then the upgrade");
    let open = events(&run, "ws_open");
    assert_eq!(open.len(), 1);
    let first_message = events(&run, "ws_message")[0];
    assert!(
        u(first_message, "frame") > u(open[0], "frame"),
        "messages follow the 101"
    );
    // Every pong answered a ping, with a round trip well under the ping interval.
    for pong in events(&run, "ws_pong") {
        let rtt = u(pong, "rtt_ns");
        assert!(rtt < 100_000_000, "pong after {rtt} ns");
    }
    // The refused POST upgrade stayed HTTP: its 405 is a response, not a WebSocket.
    let refused = events(&run, "ws_upgrade_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["status"], 405);
}

fn a_middlebox_resets_idle_websockets_on_their_next_message() {
    let run = run_checked("websocket-idle-behind-middlebox");
    // Per connection: the RST comes right after the client's message that followed the idle.
    for rst in events(&run, "rst") {
        assert_eq!(rst["by"], "middlebox");
        let conn = u(rst, "conn");
        let last = run
            .events
            .iter()
            .rfind(|e| e["kind"] == "ws_message" && e.get("conn") == rst.get("conn"))
            .expect("a message before the reset");
        assert_eq!(last["by"], "client", "conn {conn}");
        let gap = u(rst, "t_ns") - u(last, "t_ns");
        assert!(
            gap < 100_000_000,
            "conn {conn}: RST {gap} ns after the message"
        );
    }
}

fn pings_keep_every_websocket_under_the_middlebox_timeout() {
    let run = run_checked("websocket-ping-keeps-alive");
    let max_idle = run.summary["distributions"]["websocket_idle_between_frames_ms"]["max"]
        .as_f64()
        .expect("max idle");
    assert!(
        max_idle < 5_000.0,
        "a gap of {max_idle} ms would have been forgotten"
    );
}

fn the_pong_wait_gives_up_on_a_dead_peer_in_seconds() {
    let run = run_checked("websocket-dead-peer");
    let last_pong = events(&run, "ws_pong")
        .last()
        .map(|e| u(e, "t_ns"))
        .expect("a pong before the cut");
    let reset = events(&run, "rst");
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0]["by"], "server");
    let waited = u(reset[0], "t_ns") - last_pong;
    assert!(
        (2_700_000_000..3_700_000_000).contains(&waited),
        "the server gave up {waited} ns after the last pong"
    );
}

fn a_client_closing_without_a_close_frame_is_an_abnormal_closure_for_the_server() {
    let run = run_checked("websocket-close-without-handshake");
    assert!(
        events(&run, "ws_close").is_empty(),
        "no close frame either way"
    );
    let server_saw = run
        .events
        .iter()
        .any(|e| e["actor"] == "server" && e["kind"] == "error" && e["message"] == "Abnormal");
    assert!(server_saw, "the server's library reported 1006");
}

/// Starts a program on the server host with its stdout piped (for its JSON account); returns
/// its process id.
fn start_server(hosts: &mut Hosts, mut cmd: Command) -> u32 {
    cmd.stdout(Stdio::piped());
    hosts.spawn(cmd).id()
}

/// The JSON account a program printed as its last line (it exits once its connection ends).
fn account(child: &mut Child) -> Value {
    let out = child.stdout.take().expect("piped stdout");
    let last = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.starts_with('{'))
        .last()
        .expect("the program's account");
    serde_json::from_str(&last).expect("JSON account")
}

fn python_ws(ns: &str, args: &[&str]) -> Command {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ws_peer.py");
    let mut cmd = Hosts::command(ns, "/usr/bin/python3");
    cmd.arg(script).args(args);
    cmd
}

/// The client's account, from its stdout.
fn client_account(out: &std::process::Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("a line")).expect("JSON account")
}

fn python_websockets_counts_match_the_capture_exactly() {
    let mut hosts = Hosts::new();
    let server = python_ws(&hosts.server, &["server", SERVER_IP, "8765"]);
    let server_pid = start_server(&mut hosts, server);
    hosts.wait_listening(8765);
    let url = format!("ws://{SERVER_IP}:8765/");
    let file = out_dir("py-ws").join("py-ws.pcap");
    let tcpdump = hosts.capture(&file);
    let out = python_ws(&hosts.client, &["client", &url, "12", "4", "frame"])
        .output()
        .expect("client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = client_account(&out);
    let server = account(hosts.child(server_pid));
    std::thread::sleep(std::time::Duration::from_millis(300));
    hosts.stop_capture(tcpdump);
    let s = common::real::inspect(&file);
    let ws = &s["websocket"];
    assert_eq!(ws["connections"], 1, "{ws:#}");
    assert_eq!(ws["messages"]["client"], client["messages_sent"]);
    assert_eq!(ws["messages"]["server"], server["messages_sent"]);
    assert_eq!(ws["pings"]["client"], client["pings_sent"]);
    assert_eq!(ws["pongs"]["server"], client["pongs_received"]);
    assert_eq!(ws["unanswered_pings"], 0);
    assert_eq!(client["close_code"], 1000);
    assert_eq!(server["close_code"], 1000);
    assert_eq!(ws["close_codes"], serde_json::json!({"1000": 2}), "{ws:#}");
    assert_eq!(
        ws["close_frames"],
        serde_json::json!({"client": 1, "server": 1})
    );
    // python3-websockets compresses (permessage-deflate): RSV1 is allowed, no error.
    assert_eq!(ws["protocol_errors"], 0, "{ws:#}");
    assert_eq!(
        kinds(&s),
        Vec::<String>::new(),
        "nothing wrong: {:#}",
        s["findings"]
    );
}

fn python_websockets_client_dropping_its_socket_is_found() {
    let mut hosts = Hosts::new();
    let server = python_ws(&hosts.server, &["server", SERVER_IP, "8765"]);
    let server_pid = start_server(&mut hosts, server);
    hosts.wait_listening(8765);
    let url = format!("ws://{SERVER_IP}:8765/");
    let client = python_ws(&hosts.client, &["client", &url, "3", "0", "abort"]);
    let s = captured(&mut hosts, "py-ws-abort", client);
    let server = account(hosts.child(server_pid));
    assert_eq!(
        server["close_code"], 1006,
        "the server's library saw an abnormal closure"
    );
    assert_eq!(s["websocket"]["closed_without_close_frame"], 1);
    assert_eq!(s["websocket"]["messages"]["client"], 3);
    let f = finding(&s, "ws_closed_without_handshake");
    assert_eq!(f["by"], "client", "{f:#}");
    // Both ends name themselves (`Python/3.x websockets/y`): the library's own knob comes
    // first, and no Go (gorilla) knob is named for a capture without Go.
    let endpoint = &s["endpoints"][0];
    assert_eq!(endpoint["client_stack"]["stack"], "python-websockets");
    assert_eq!(endpoint["server_stack"]["stack"], "python-websockets");
    let knobs: Vec<&str> = f["knobs"]
        .as_array()
        .expect("knobs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(knobs[0].starts_with("Python websockets"), "{knobs:?}");
    assert!(!knobs.iter().any(|k| k.contains("gorilla")), "{knobs:?}");
}

fn gorilla_pings_and_pongs_match_the_capture_exactly() {
    let mut hosts = Hosts::new();
    let gorilla = go_program("ws_gorilla_server");
    let mut cmd = Hosts::command(&hosts.server, gorilla.to_str().expect("path"));
    cmd.args([&format!("{SERVER_IP}:8080"), "10"]);
    let server_pid = start_server(&mut hosts, cmd);
    hosts.wait_listening(8080);
    let url = format!("ws://{SERVER_IP}:8080/ws");
    // 10 messages over about 1.5 s: gorilla pings every 200 ms meanwhile.
    let mut client = python_ws(&hosts.client, &["client", &url, "10", "0", "frame"]);
    client.env("WS_PEER_PAUSE_MS", "150");
    let s = captured(&mut hosts, "gorilla-ws", client);
    let server = account(hosts.child(server_pid));
    let ws = &s["websocket"];
    let pings = server["pings_sent"].as_u64().expect("pings");
    assert!(pings >= 5, "gorilla pinged {pings} times");
    assert_eq!(ws["pings"]["server"], pings, "{ws:#}");
    assert_eq!(ws["pongs"]["client"], server["pongs_received"], "{ws:#}");
    assert_eq!(ws["messages"]["client"], server["messages_received"]);
    assert_eq!(ws["messages"]["server"], server["messages_sent"]);
    assert_eq!(server["close_code"], 1000);
    assert_eq!(ws["close_codes"]["1000"], 2, "{ws:#}");
    assert_eq!(
        (
            ws["unanswered_pings"].as_u64(),
            ws["protocol_errors"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(
        kinds(&s),
        Vec::<String>::new(),
        "nothing wrong: {:#}",
        s["findings"]
    );
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        ping_pong_lab_counts_frames_and_times_each_pong [Need::Labs],
        a_middlebox_resets_idle_websockets_on_their_next_message [Need::Labs],
        pings_keep_every_websocket_under_the_middlebox_timeout [Need::Labs],
        the_pong_wait_gives_up_on_a_dead_peer_in_seconds [Need::Labs],
        a_client_closing_without_a_close_frame_is_an_abnormal_closure_for_the_server [Need::Labs],
        python_websockets_counts_match_the_capture_exactly [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::PythonModule("websockets")],
        python_websockets_client_dropping_its_socket_is_found [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::PythonModule("websockets")],
        gorilla_pings_and_pongs_match_the_capture_exactly [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("go"), Need::PythonModule("websockets")],
    ])
}
