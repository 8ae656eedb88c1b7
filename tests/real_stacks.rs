//! The diagnosis names the knobs of the stack in the capture, and no other stack's: real
//! programs from Debian's packages (Node.js, Python requests, nginx) on hosts made here,
//! recorded by tcpdump, each capture asserting the stack identified, the finding, its figure
//! and the first knob.

mod common;

use common::harness::Need;
use common::hosts::{Hosts, SERVER_IP};
use common::real::{captured, finding, go_program, kinds};
use common::*;
use serde_json::Value;

/// The endpoint row of the summary's first endpoint.
fn endpoint(s: &Value) -> &Value {
    &s["endpoints"][0]
}

/// No finding names a knob of a stack the capture does not hold.
fn only_knobs_of(s: &Value, foreign: &[&str]) {
    for f in s["findings"].as_array().into_iter().flatten() {
        for knob in f["knobs"].as_array().into_iter().flatten() {
            let knob = knob.as_str().unwrap_or_default();
            for word in foreign {
                assert!(!knob.contains(word), "{} names {word}: {knob}", f["kind"]);
            }
        }
    }
}

/// Twenty requests: with one client `shared`, one connection reused 19 times and nothing
/// found; with one per request, twenty connections and `kind` with `first_knob` first, and
/// no Go knob.
fn shared_or_one_per_request(s: &Value, shared: bool, kind: &str, first_knob: &str) {
    if shared {
        assert_eq!(
            (s["connections"].as_u64(), s["reused"].as_u64()),
            (Some(1), Some(19))
        );
        assert!(kinds(s).is_empty(), "{:#}", s["findings"]);
    } else {
        assert_eq!(s["connections"], 20);
        let f = finding(s, kind);
        let first = f["knobs"][0].as_str().unwrap_or_default();
        assert!(first.contains(first_knob), "{f:#}");
        only_knobs_of(s, &["Go ", "Go:", "gorilla"]);
    }
}

/// Node.js's http server with its defaults answers with `Keep-Alive: timeout=5` and no
/// `Server` header, and closes a connection idle for 5 s (keepAliveTimeout). Three Python
/// clients (http.client: no User-Agent) idle 7 s each.
fn a_node_server_with_defaults_closes_idle_connections_after_5_s() {
    let mut hosts = Hosts::new();
    let server =
        format!("require('http').createServer((q, r) => r.end('ok')).listen(8080, '{SERVER_IP}')");
    let mut node = Hosts::command(&hosts.server, "node");
    node.args(["-e", &server]);
    hosts.spawn(node);
    hosts.wait_listening(8080);
    let script = format!(
        "import http.client, threading, time\n\
         def one(i):\n\
         \x20   c = http.client.HTTPConnection('{SERVER_IP}', 8080)\n\
         \x20   c.request('GET', '/%d' % i)\n\
         \x20   r = c.getresponse(); r.read()\n\
         \x20   time.sleep(7)\n\
         \x20   c.close()\n\
         ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]\n\
         [t.start() for t in ts]; [t.join() for t in ts]\n"
    );
    let mut client = Hosts::command(&hosts.client, "/usr/bin/python3");
    client.args(["-c", &script]);
    let s = captured(&mut hosts, "node-idle", client);
    let stack = &endpoint(&s)["server_stack"];
    assert_eq!(stack["stack"], "node", "{:#}", endpoint(&s));
    assert_eq!(
        stack["confidence"], "medium",
        "a default's shape, not a name"
    );
    let idle = finding(&s, "server_idle_close");
    let after = idle["after_ms"].as_f64().expect("after_ms");
    assert!((4_800.0..=6_500.0).contains(&after), "{idle:#}");
    assert_eq!(idle["connections"], 3);
    let first = idle["knobs"][0].as_str().unwrap_or_default();
    assert!(first.contains("keepAliveTimeout"), "{idle:#}");
    only_knobs_of(&s, &["Go ", "nginx", "gorilla"]);
    assert!(
        !kinds(&s).contains(&"single_request_connections".to_owned()),
        "the server closed them, the client did not leave them: {:#}",
        s["findings"]
    );
}

/// Python requests against nginx: `requests.get` twenty times opens a connection per call
/// (`single_request_connections`, knob: a Session); one Session reuses one connection.
fn python_requests_with_and_without_a_session() {
    for session in [false, true] {
        let mut hosts = Hosts::new();
        let prefix = out_dir(&format!("requests-nginx-{session}"));
        hosts.nginx(&prefix, &format!("listen {SERVER_IP}:80;"), 80);
        let call = if session {
            "s = requests.Session()\nfor i in range(20): s.get(url % i).raise_for_status()\n"
        } else {
            "for i in range(20): requests.get(url % i).raise_for_status()\n"
        };
        let script = format!("import requests\nurl = 'http://{SERVER_IP}/%d'\n{call}");
        let mut client = Hosts::command(&hosts.client, "/usr/bin/python3");
        client.args(["-c", &script]);
        let s = captured(&mut hosts, &format!("requests-{session}"), client);
        let ep = endpoint(&s);
        assert_eq!(ep["client_stack"]["stack"], "python-requests", "{ep:#}");
        assert_eq!(ep["server_stack"]["stack"], "nginx", "{ep:#}");
        shared_or_one_per_request(
            &s,
            session,
            "single_request_connections",
            "requests.Session()",
        );
    }
}

/// A Go client that never closes its response bodies dials a connection per request, each
/// left open, and its exit closes all twenty at one instant: a leak, not an idle timeout.
fn a_go_client_that_leaks_bodies_and_exits_is_a_leak() {
    let mut hosts = Hosts::new();
    let prefix = out_dir("go-leak-nginx");
    hosts.nginx(&prefix, &format!("listen {SERVER_IP}:80;"), 80);
    let mut client = Hosts::command(&hosts.client, &go_program("client").display().to_string());
    client.args([
        "-url",
        &format!("http://{SERVER_IP}/"),
        "-n",
        "20",
        "-gap",
        "20ms",
        "-leak-bodies",
        "-linger",
        "500ms",
    ]);
    let s = captured(&mut hosts, "go-leak", client);
    assert_eq!(s["connections"], 20, "a connection per request");
    assert_eq!(endpoint(&s)["client_stack"]["stack"], "go");
    let leak = finding(&s, "connection_leak");
    assert!(leak["connections"].as_u64() >= Some(18), "{leak:#}");
    let first = leak["knobs"][0].as_str().unwrap_or_default();
    assert!(first.contains("resp.Body"), "{leak:#}");
    for wrong in [
        "client_idle_close",
        "bulk_close",
        "single_request_connections",
    ] {
        assert!(
            !kinds(&s).contains(&wrong.to_owned()),
            "{wrong} is a false cause: {:#}",
            s["findings"]
        );
    }
}

/// The JDK's HttpClient against nginx: one client shared reuses one connection; a client
/// built per request leaves each connection open in the client it abandoned.
fn java_http_client_shared_and_one_per_request() {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/Client.java");
    for shared in [true, false] {
        let mut hosts = Hosts::new();
        let prefix = out_dir(&format!("java-nginx-{shared}"));
        hosts.nginx(&prefix, &format!("listen {SERVER_IP}:80;"), 80);
        let mut client = Hosts::command(&hosts.client, "java");
        client
            .arg(&source)
            .arg(format!("http://{SERVER_IP}/"))
            .arg("20")
            .arg(if shared { "shared" } else { "each" });
        let s = captured(&mut hosts, &format!("java-{shared}"), client);
        assert_eq!(endpoint(&s)["client_stack"]["stack"], "java-http-client");
        shared_or_one_per_request(&s, shared, "connection_leak", "one HttpClient shared");
    }
}

fn main() -> std::process::ExitCode {
    let net = [Need::Root, Need::Tool("tcpdump")];
    common::harness::run(cases![
        a_node_server_with_defaults_closes_idle_connections_after_5_s[
            net[0],
            net[1],
            Need::Tool("node")
        ],
        python_requests_with_and_without_a_session[net[0], net[1], Need::Tool("nginx")],
        java_http_client_shared_and_one_per_request[
            net[0],
            net[1],
            Need::Tool("nginx"),
            Need::Tool("java")
        ],
        a_go_client_that_leaks_bodies_and_exits_is_a_leak[
            net[0],
            net[1],
            Need::Tool("nginx"),
            Need::Tool("go")
        ],
    ])
}
