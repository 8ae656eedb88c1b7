//! Diagnosis of captures connlab did not make: real programs (nginx, ab, curl, Go net/http)
//! talk between two namespaces made here with iproute2, tcpdump records a classic pcap on the
//! client host, and `connlab inspect` must name the cause and measure it.

mod common;

use std::process::Command;

use common::harness::Need;
use common::hosts::{Hosts, SERVER_IP};
use common::real::{
    captured, captured_first_bytes, finding, first_knob, go_program, kinds, only_knobs_of,
};
use common::*;
use serde_json::Value;

/// Starts nginx on the server host with `directives` inside its `server` block.
fn nginx(hosts: &mut Hosts, name: &str, directives: &str) {
    let prefix = out_dir(&format!("{name}-nginx"));
    hosts.nginx(
        &prefix,
        &format!("listen {SERVER_IP}:80;\n    {directives}"),
        80,
    );
}

fn go_server(hosts: &mut Hosts, args: &[&str]) {
    let server = go_program("server");
    let mut cmd = Hosts::command(&hosts.server, server.to_str().expect("path"));
    cmd.arg("-addr").arg(format!("{SERVER_IP}:80")).args(args);
    hosts.spawn(cmd);
    hosts.wait_listening(80);
}

fn go_client(hosts: &Hosts, args: &[&str]) -> Command {
    let client = go_program("client");
    let mut cmd = Hosts::command(&hosts.client, client.to_str().expect("path"));
    cmd.arg("-url")
        .arg(format!("http://{SERVER_IP}/"))
        .args(args);
    cmd
}

fn after_ms(f: &Value) -> f64 {
    f["after_ms"].as_f64().expect("after_ms")
}

fn go_server_with_a_one_second_read_timeout() {
    let mut hosts = Hosts::new();
    go_server(&mut hosts, &["-read-timeout", "1s"]);
    let client = go_client(&hosts, &["-n", "4", "-gap", "1500ms", "-linger", "1500ms"]);
    let s = captured(&mut hosts, "go-read-timeout", client);
    assert_eq!(kinds(&s), ["server_idle_close"], "{:#}", s["findings"]);
    let f = finding(&s, "server_idle_close");
    assert_eq!(f["connections"], 4);
    let after = after_ms(f);
    assert!((950.0..=1050.0).contains(&after), "after_ms {after}");
    // A Go client, a server that names nothing (Go's sends no Server header): Go's knobs.
    assert!(first_knob(&s, "server_idle_close").starts_with("Go http.Server.IdleTimeout"));
    only_knobs_of(&s, &["nginx", "Node", "Python", "Java", "Apache"]);
}

fn nginx_with_a_short_keepalive_timeout() {
    let mut hosts = Hosts::new();
    nginx(&mut hosts, "nginx-timeout", "keepalive_timeout 1s;");
    let client = go_client(&hosts, &["-n", "4", "-gap", "1500ms", "-linger", "1500ms"]);
    let s = captured(&mut hosts, "nginx-keepalive-timeout", client);
    let f = finding(&s, "server_idle_close");
    assert_eq!(f["connections"], 4, "{f:#}");
    let after = after_ms(f);
    assert!((950.0..=1050.0).contains(&after), "after_ms {after}");
    // nginx's knob first; the Go client's own idle timeout may follow, Go's server never.
    assert_eq!(
        first_knob(&s, "server_idle_close"),
        "nginx keepalive_timeout"
    );
    only_knobs_of(&s, &["http.Server", "Node", "Python", "Java", "Apache"]);
}

fn nginx_default_request_limit_under_ab_keep_alive() {
    let mut hosts = Hosts::new();
    nginx(&mut hosts, "nginx-limit", "");
    let mut ab = Hosts::command(&hosts.client, "ab");
    ab.args(["-q", "-k", "-n", "100000", "-c", "10"])
        .arg(format!("http://{SERVER_IP}/"));
    let s = captured(&mut hosts, "nginx-ab-keepalive", ab);
    assert_eq!(s["requests"], 100_000, "every request on the wire");
    let f = finding(&s, "server_request_limit");
    assert_eq!(
        f["requests"], 1000,
        "nginx keepalive_requests default: {f:#}"
    );
    assert!(f["connections"].as_u64().unwrap_or(0) >= 90, "{f:#}");
    assert!(!kinds(&s).contains(&"keepalive_off".to_owned()));
    assert!(first_knob(&s, "server_request_limit").starts_with("nginx keepalive_requests"));
    only_knobs_of(&s, &["Go ", "Node", "Python", "Java", "Apache "]);
}

fn ab_without_keep_alive_speaks_http10() {
    let mut hosts = Hosts::new();
    nginx(&mut hosts, "nginx-ab", "");
    let mut ab = Hosts::command(&hosts.client, "ab");
    ab.args(["-q", "-n", "300", "-c", "3"])
        .arg(format!("http://{SERVER_IP}/"));
    let s = captured(&mut hosts, "nginx-ab-close", ab);
    // ab may open one spare connection that carries nothing.
    assert_eq!(s["requests"], 300);
    assert!((300..=303).contains(&s["connections"].as_u64().unwrap_or(0)));
    let f = finding(&s, "keepalive_off");
    assert_eq!(f["side"], "client");
    assert_eq!(f["via"], "http10_without_keepalive");
    assert_eq!(f["connections"], 300);
    assert_eq!(kinds(&s), ["keepalive_off"], "{:#}", s["findings"]);
    // ab's own knob, and no server's: nginx kept alive, ab asked it not to.
    assert!(first_knob(&s, "keepalive_off").contains("ab -k"));
    only_knobs_of(&s, &["Go ", "nginx", "Node", "Python", "Java"]);
}

/// curl in the client namespace fetching the server's page three times in one run (it may
/// reuse its connection), with `extra` arguments.
fn curl_three_times(client_ns: &str, extra: &[&str]) -> Command {
    let url = format!("http://{SERVER_IP}/");
    let mut curl = Hosts::command(client_ns, "curl");
    curl.args([
        "-sS",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
    ])
    .args(extra)
    .args([&url, &url, &url]);
    curl
}

fn curl_reuses_one_connection_and_connection_close_turns_it_off() {
    let mut hosts = Hosts::new();
    nginx(&mut hosts, "nginx-curl", "");
    let reuse = curl_three_times(&hosts.client, &[]);
    let s = captured(&mut hosts, "curl-reuse", reuse);
    assert_eq!(
        (s["connections"].as_u64(), s["reused"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(kinds(&s), Vec::<String>::new(), "nothing wrong");
    let close = curl_three_times(&hosts.client, &["-H", "Connection: close"]);
    let s = captured(&mut hosts, "curl-close", close);
    let f = finding(&s, "keepalive_off");
    assert_eq!(
        (f["side"].as_str(), f["connections"].as_u64()),
        (Some("client"), Some(3))
    );
    assert_eq!(f["via"], "connection_close_header");
    // curl's knob, never nginx's as a proxy (nginx is the server here).
    assert!(first_knob(&s, "keepalive_off").starts_with("curl"));
    only_knobs_of(&s, &["Go ", "nginx", "Node", "Python", "Java"]);
}

fn go_client_default_pool_after_a_burst_of_50() {
    let mut hosts = Hosts::new();
    go_server(&mut hosts, &["-handler-delay", "200ms"]);
    let client = go_client(&hosts, &["-n", "50", "-c", "50", "-linger", "2s"]);
    let s = captured(&mut hosts, "go-pool-burst", client);
    assert_eq!(s["connections"], 50);
    let f = finding(&s, "pool_overflow");
    assert_eq!(f["kept_idle"], 2, "Go's MaxIdleConnsPerHost default: {f:#}");
    assert_eq!(f["connections"], 48);
    assert_eq!(f["bursts"], 1);
    // 48 closed by the pool at the burst, the 2 it kept when the program exits.
    assert_eq!(s["time_wait"]["client"], 50);
}

fn curl_to_a_port_nothing_listens_on_is_refused() {
    let mut hosts = Hosts::new();
    // No server: each SYN is answered by the server host's kernel with an RST.
    let mut curls = Hosts::command(&hosts.client, "sh");
    curls.arg("-c").arg(format!(
        "for i in 1 2 3; do curl -sS -o /dev/null http://{SERVER_IP}:8080/ 2>/dev/null; done; true"
    ));
    let s = captured(&mut hosts, "curl-refused", curls);
    assert_eq!(kinds(&s), ["connection_refused"], "{:#}", s["findings"]);
    let f = finding(&s, "connection_refused");
    assert_eq!(f["connections"], 3, "{f:#}");
    assert_eq!(s["rst_by"]["server"], 3);
}

fn a_capture_with_a_snap_length_is_read_whole() {
    let mut hosts = Hosts::new();
    nginx(&mut hosts, "nginx-snaplen", "");
    let curl = curl_three_times(&hosts.client, &[]);
    // 80 bytes: the headers (66 with TCP timestamps) and the first bytes of each message.
    let s = captured_first_bytes(&mut hosts, "curl-snaplen", curl, 80);
    assert_eq!(
        (
            s["connections"].as_u64(),
            s["requests"].as_u64(),
            s["reused"].as_u64()
        ),
        (Some(1), Some(3), Some(2)),
        "{s:#}"
    );
    assert!(s["cut_segments"].as_u64().unwrap_or(0) >= 6, "{s:#}");
    assert_eq!(s["undecodable"], 0);
    assert_eq!(kinds(&s), Vec::<String>::new(), "nothing wrong");
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        go_server_with_a_one_second_read_timeout [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("go")],
        nginx_with_a_short_keepalive_timeout [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("nginx"), Need::Tool("go")],
        nginx_default_request_limit_under_ab_keep_alive [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("nginx"), Need::Tool("ab")],
        ab_without_keep_alive_speaks_http10 [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("nginx"), Need::Tool("ab")],
        curl_reuses_one_connection_and_connection_close_turns_it_off [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("nginx"), Need::Tool("curl")],
        go_client_default_pool_after_a_burst_of_50 [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("go")],
        curl_to_a_port_nothing_listens_on_is_refused [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("curl")],
        a_capture_with_a_snap_length_is_read_whole [Need::Root, Need::Tool("tcpdump"), Need::Tool("ss"), Need::Tool("nginx"), Need::Tool("curl")],
    ])
}
