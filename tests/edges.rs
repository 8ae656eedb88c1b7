//! `connlab inspect` on the edge captures of tests/edges: frames real captures have that
//! connlab's own labs never make, built with scapy by tests/edges/make.py (rerun it to remake
//! them).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The `--json` summary of `connlab inspect` on tests/edges/`name`.
fn summary(name: &str) -> Value {
    let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/edges")
        .join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_connlab"))
        .arg("inspect")
        .arg(&capture)
        .arg("--json")
        .output()
        .expect("run connlab inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("{\"file\""))
        .map(str::to_owned)
        .expect("a summary line");
    serde_json::from_str::<Value>(&line).expect("JSON")["summary"].clone()
}

/// Extension headers (hop-by-hop, destination options, routing, an atomic fragment) and
/// fragments out of order: the exchange is read whole, both ways. Overlapping pieces are
/// dropped and counted, and a datagram missing its last piece is counted incomplete.
#[test]
fn ipv6_extension_headers_and_fragments_are_read() {
    let s = summary("ipv6-extensions-fragments.pcap");
    let a = &s;
    assert_eq!(a["connections"], 1, "{a}");
    assert_eq!(
        (&a["requests"], &a["responses"]),
        (&1.into(), &1.into()),
        "{a}"
    );
    assert_eq!(a["undecodable"], 0, "{a}");
    let f = &a["ip_fragments"];
    assert_eq!(
        (&f["reassembled"], &f["overlapping"], &f["incomplete"]),
        (&2.into(), &1.into(), &1.into()),
        "{a}"
    );
}
