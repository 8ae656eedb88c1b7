//! The diagnosis names the knobs of the stack in the capture, and no other stack's: real
//! programs from Debian's packages (Node.js, Python requests, nginx) on hosts made here,
//! recorded by tcpdump, each capture asserting the stack identified, the finding, its figure
//! and the first knob.

mod common;

use common::harness::Need;
use common::hosts::{Hosts, SERVER_IP};
use common::real::{captured, finding, go_program, kinds, only_knobs_of};
use common::*;
use serde_json::Value;

/// The endpoint row of the summary's first endpoint.
fn endpoint(s: &Value) -> &Value {
    &s["endpoints"][0]
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

/// Three Python clients (http.client: no User-Agent) on the client host, each sending one
/// request to `port` and keeping its connection idle `idle_s` seconds.
fn three_idle_clients(hosts: &Hosts, port: u16, idle_s: u32) -> std::process::Command {
    let script = format!(
        "import http.client, threading, time\n\
         def one(i):\n\
         \x20   c = http.client.HTTPConnection('{SERVER_IP}', {port})\n\
         \x20   c.request('GET', '/%d' % i)\n\
         \x20   r = c.getresponse(); r.read()\n\
         \x20   time.sleep({idle_s})\n\
         \x20   c.close()\n\
         ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]\n\
         [t.start() for t in ts]; [t.join() for t in ts]\n"
    );
    let mut client = Hosts::command(&hosts.client, "/usr/bin/python3");
    client.args(["-c", &script]);
    client
}

/// Starts a Node.js http server with its defaults in namespace `ns`, on `addr`:`port`.
fn node_server(hosts: &mut Hosts, ns: &str, addr: &str, port: u16) {
    let server =
        format!("require('http').createServer((q, r) => r.end('ok')).listen({port}, '{addr}')");
    let mut node = Hosts::command(ns, "node");
    node.args(["-e", &server]);
    hosts.spawn(node);
    Hosts::wait_listening_in(ns, port);
}

/// Node.js's http server with its defaults answers with `Keep-Alive: timeout=5` and no
/// `Server` header, and closes a connection idle for 5 s (keepAliveTimeout, plus the 1 s
/// buffer of recent Node). Three clients idle 7 s each.
fn a_node_server_with_defaults_closes_idle_connections_after_5_s() {
    let mut hosts = Hosts::new();
    let ns = hosts.server.clone();
    node_server(&mut hosts, &ns, SERVER_IP, 8080);
    let client = three_idle_clients(&hosts, 8080, 7);
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
    let statement = idle["statement"].as_str().unwrap_or_default();
    assert!(
        statement.contains("Node.js's server.keepAliveTimeout default of 5 s"),
        "the statement names the default that explains the figure: {statement}"
    );
    only_knobs_of(&s, &["Go ", "nginx", "gorilla"]);
    assert!(
        !kinds(&s).contains(&"single_request_connections".to_owned()),
        "the server closed them, the client did not leave them: {:#}",
        s["findings"]
    );
}

/// haproxy (`timeout http-keep-alive 2s`) in front of a Node.js server with its defaults:
/// the responses carry Node's `Keep-Alive: timeout=5`, the closes come after 2 s. The close is
/// the proxy's: its knob first, Node's keepAliveTimeout no cause.
fn haproxy_in_front_of_node_closes_sooner_than_the_header_says() {
    let mut hosts = Hosts::new();
    let ns = hosts.server.clone();
    node_server(&mut hosts, &ns, "127.0.0.1", 9000);
    let prefix = out_dir("haproxy-node");
    let cfg = prefix.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 256\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n\
             \x20 timeout server 30s\n  timeout http-keep-alive 2s\n\
             frontend lab\n  bind {SERVER_IP}:8080\n  default_backend node\n\
             backend node\n  server n1 127.0.0.1:9000\n"
        ),
    )
    .expect("haproxy.cfg");
    let mut haproxy = Hosts::command(&ns, "haproxy");
    haproxy.arg("-db").arg("-f").arg(&cfg);
    hosts.spawn(haproxy);
    hosts.wait_listening(8080);
    let client = three_idle_clients(&hosts, 8080, 4);
    let s = captured(&mut hosts, "haproxy-node", client);
    assert_eq!(
        endpoint(&s)["server_stack"]["stack"],
        "node",
        "the header it passed on"
    );
    let idle = finding(&s, "server_idle_close");
    let after = idle["after_ms"].as_f64().expect("after_ms");
    assert!((1_900.0..=2_600.0).contains(&after), "{idle:#}");
    assert_eq!(idle["connections"], 3);
    let first = idle["knobs"][0].as_str().unwrap_or_default();
    assert!(
        first.contains("HAProxy timeout http-keep-alive"),
        "{idle:#}"
    );
    let mismatch = finding(&s, "keepalive_header_mismatch");
    assert_eq!(mismatch["advertised_s"], 5, "{mismatch:#}");
    only_knobs_of(&s, &["Go ", "Node", "gorilla"]);
    assert!(
        !kinds(&s).contains(&"single_request_connections".to_owned()),
        "{:#}",
        s["findings"]
    );
}

/// Apache httpd with its defaults names itself and closes connections idle for 5 s
/// (KeepAliveTimeout).
fn apache_with_defaults_closes_idle_connections_after_5_s() {
    let mut hosts = Hosts::new();
    let prefix = out_dir("apache-defaults");
    let www = prefix.join("www");
    std::fs::create_dir_all(&www).expect("docroot");
    std::fs::write(www.join("index.html"), "ok\n").expect("index");
    let modules = "/usr/lib/apache2/modules";
    let conf = prefix.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot {p}\nPidFile {p}/httpd.pid\nErrorLog {p}/error.log\n\
             Listen {SERVER_IP}:80\nServerName lab\nUser nobody\nGroup nogroup\n\
             LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
             LoadModule authz_core_module {modules}/mod_authz_core.so\n\
             LoadModule dir_module {modules}/mod_dir.so\n\
             DocumentRoot {w}\nDirectoryIndex index.html\n\
             <Directory {w}>\n  Require all granted\n</Directory>\n",
            p = prefix.display(),
            w = www.display()
        ),
    )
    .expect("httpd.conf");
    let ns = hosts.server.clone();
    let mut apache = Hosts::command(&ns, "apache2");
    apache.arg("-f").arg(&conf).arg("-DFOREGROUND");
    hosts.spawn(apache);
    hosts.wait_listening(80);
    let client = three_idle_clients(&hosts, 80, 7);
    let s = captured(&mut hosts, "apache-idle", client);
    let stack = &endpoint(&s)["server_stack"];
    assert_eq!(
        (stack["stack"].as_str(), stack["confidence"].as_str()),
        (Some("apache"), Some("high")),
        "{stack:#}"
    );
    let idle = finding(&s, "server_idle_close");
    let after = idle["after_ms"].as_f64().expect("after_ms");
    assert!((4_900.0..=5_400.0).contains(&after), "{idle:#}");
    let first = idle["knobs"][0].as_str().unwrap_or_default();
    assert!(first.contains("Apache KeepAliveTimeout"), "{idle:#}");
    let statement = idle["statement"].as_str().unwrap_or_default();
    assert!(
        statement.contains("Apache's KeepAliveTimeout default of 5 s"),
        "{statement}"
    );
    only_knobs_of(&s, &["Go ", "Node", "nginx", "gorilla"]);
}

/// nginx as a reverse proxy (on the client host, answering curl on loopback) in front of a
/// Node.js upstream, recorded between nginx and Node. Without upstream keepalive nginx sends
/// each request with HTTP/1.0 and `Connection: close` on a new connection: the proxy is named
/// (not curl, whose User-Agent it passes on) with nginx's upstream knob; with `keepalive 16`,
/// HTTP/1.1 and an empty Connection header, one connection carries the twenty.
fn nginx_as_a_reverse_proxy_with_and_without_upstream_keepalive() {
    for keepalive in [false, true] {
        let mut hosts = Hosts::new();
        let ns = hosts.server.clone();
        node_server(&mut hosts, &ns, SERVER_IP, 9000);
        let (pool, location) = if keepalive {
            (
                "keepalive 16;",
                "proxy_http_version 1.1; proxy_set_header Connection \"\";",
            )
        } else {
            ("", "")
        };
        let http = format!(
            "upstream node {{ server {SERVER_IP}:9000; {pool} }}\n  \
             server {{ listen 127.0.0.1:8080; location / {{ proxy_pass http://node; {location} }} }}"
        );
        let prefix = out_dir(&format!("nginx-proxy-{keepalive}"));
        let client_ns = hosts.client.clone();
        hosts.nginx_in(&client_ns, &prefix, &http, 8080);
        let mut curl = Hosts::command(&client_ns, "curl");
        curl.args(["-sf", "-o", "/dev/null", "http://127.0.0.1:8080/[1-20]"]);
        let s = captured(&mut hosts, &format!("nginx-proxy-{keepalive}"), curl);
        assert_eq!(s["requests"], 20, "{s:#}");
        if keepalive {
            assert_eq!(s["connections"], 1, "one upstream connection reused");
            assert!(kinds(&s).is_empty(), "{:#}", s["findings"]);
            continue;
        }
        assert_eq!(s["connections"], 20, "a connection per request");
        let ep = endpoint(&s);
        assert_eq!(ep["client_stack"]["stack"], "nginx", "{ep:#}");
        assert_eq!(
            kinds(&s),
            ["proxy_no_upstream_keepalive"],
            "{:#}",
            s["findings"]
        );
        let f = finding(&s, "proxy_no_upstream_keepalive");
        assert_eq!(f["connections"], 20);
        let first = f["knobs"][0].as_str().unwrap_or_default();
        assert!(first.contains("keepalive 16"), "{f:#}");
        only_knobs_of(&s, &["curl", "Go ", "ab -k", "Node"]);
    }
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

/// A capture that missed one of nginx's responses (tcpdump under load drops frames; here
/// editcap takes one out): the client's next ACK covers bytes no frame carried, so the hole is
/// named with its connection and side, and the whole capture has none.
fn a_capture_that_missed_a_segment_names_the_hole() {
    let mut hosts = Hosts::new();
    let prefix = out_dir("hole-nginx");
    hosts.nginx(&prefix, &format!("listen {SERVER_IP}:80;"), 80);
    let script = format!(
        "import requests\ns = requests.Session()\n\
         for i in range(10): s.get('http://{SERVER_IP}/%d' % i).raise_for_status()\n"
    );
    let mut client = Hosts::command(&hosts.client, "/usr/bin/python3");
    client.args(["-c", &script]);
    let whole = captured(&mut hosts, "hole", client);
    assert_eq!(
        whole["capture_gaps"]["holes"], 0,
        "{:#}",
        whole["capture_gaps"]
    );
    // Where `captured` wrote it (`out_dir` would empty the folder).
    let file = std::env::temp_dir()
        .join(format!("connlab-test-{}-hole", std::process::id()))
        .join("hole.pcap");
    let responses = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args([
            "-Y",
            "tcp.srcport == 80 && tcp.len > 0",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ])
        .output()
        .expect("tshark");
    let numbers = String::from_utf8_lossy(&responses.stdout).to_string();
    let fifth = numbers
        .lines()
        .nth(4)
        .expect("ten responses")
        .trim()
        .to_owned();
    let holed = file.with_file_name("holed.pcap");
    let status = std::process::Command::new("editcap")
        .arg(&file)
        .arg(&holed)
        .arg(&fifth)
        .status()
        .expect("editcap");
    assert!(status.success());
    let s = common::real::inspect(&holed);
    let gaps = &s["capture_gaps"];
    assert_eq!(
        (gaps["holes"].as_u64(), gaps["holed_connections"].as_u64()),
        (Some(1), Some(1)),
        "{gaps:#}"
    );
    let hole = &s["capture_holes"][0];
    assert_eq!(
        (hole["connection"].as_u64(), hole["side"].as_str()),
        (Some(1), Some("server")),
        "{hole:#}"
    );
    assert!(
        hole["bytes"].as_u64() > Some(100),
        "a response's bytes: {hole:#}"
    );
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
    // A Go client against nginx: their knobs, no other stack's, and never Go's server ones.
    only_knobs_of(&s, &["http.Server", "Node", "Python", "Java", "Apache"]);
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
        haproxy_in_front_of_node_closes_sooner_than_the_header_says[
            net[0],
            net[1],
            Need::Tool("node"),
            Need::Tool("haproxy")
        ],
        apache_with_defaults_closes_idle_connections_after_5_s[
            net[0],
            net[1],
            Need::Tool("apache2")
        ],
        nginx_as_a_reverse_proxy_with_and_without_upstream_keepalive[
            net[0],
            net[1],
            Need::Tool("node"),
            Need::Tool("nginx"),
            Need::Tool("curl")
        ],
        a_capture_that_missed_a_segment_names_the_hole[
            net[0],
            net[1],
            Need::Tool("nginx"),
            Need::Tool("editcap"),
            Need::Tool("tshark")
        ],
        a_go_client_that_leaks_bodies_and_exits_is_a_leak[
            net[0],
            net[1],
            Need::Tool("nginx"),
            Need::Tool("go")
        ],
    ])
}
