//! Helpers of the tests on captures connlab did not make: real programs from the
//! distribution's packages, built or started on hosts made by the test, recorded by tcpdump and
//! read by `connlab inspect`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::hosts::Hosts;
use super::{connlab, out_dir, parse_json_output};

/// Builds one of the Go programs under tests/go (stdlib only, no network needed).
pub fn go_program(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = dir.join(format!("go-{name}"));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/go/{name}.go"));
    let status = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .env("GOCACHE", dir.join("go-cache"))
        // Debian's Go libraries (golang-*-dev) live in /usr/share/gocode: no network needed.
        .env(
            "GOPATH",
            format!("{}:/usr/share/gocode", dir.join("go-path").display()),
        )
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "off")
        .status()
        .expect("run go build");
    assert!(status.success(), "go build {}", source.display());
    out
}

/// Runs `connlab inspect --json` on a capture and returns its summary.
pub fn inspect(file: &Path) -> Value {
    inspect_with(file, &[])
}

/// The same with more arguments (`--keylog KEYS`).
pub fn inspect_with(file: &Path, args: &[&std::ffi::OsStr]) -> Value {
    let out = connlab()
        .arg("inspect")
        .arg(file)
        .args(args)
        .arg("--json")
        .output()
        .expect("connlab inspect");
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_json_output(&out).summary
}

/// The finding of `kind` (the one with most connections), or a panic listing what there is.
pub fn finding<'a>(summary: &'a Value, kind: &str) -> &'a Value {
    summary["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} finding in {:#}", summary["findings"]))
}

pub fn kinds(summary: &Value) -> Vec<String> {
    summary["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Runs `client` to completion on the client host while tcpdump records, then inspects.
pub fn captured(hosts: &mut Hosts, name: &str, client: Command) -> Value {
    captured_first_bytes(hosts, name, client, 512)
}

/// As [`captured`], with tcpdump keeping only the first `snaplen` bytes of each frame.
pub fn captured_first_bytes(
    hosts: &mut Hosts,
    name: &str,
    mut client: Command,
    snaplen: u32,
) -> Value {
    let file = out_dir(name).join(format!("{name}.pcap"));
    let tcpdump = hosts.capture_first_bytes(&file, snaplen);
    let out = client.output().expect("run the client");
    assert!(
        out.status.success(),
        "client failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Let the last FINs and ACKs cross before the capture stops.
    std::thread::sleep(Duration::from_millis(300));
    hosts.stop_capture(tcpdump);
    let magic = std::fs::read(&file).expect("capture file")[..4].to_vec();
    assert_eq!(
        magic,
        [0xd4, 0xc3, 0xb2, 0xa1],
        "a classic pcap, not pcapng"
    );
    inspect(&file)
}

/// No finding names a knob of a stack the capture does not hold: none of the `foreign` words
/// appears in any knob.
pub fn only_knobs_of(s: &Value, foreign: &[&str]) {
    for f in s["findings"].as_array().into_iter().flatten() {
        for knob in f["knobs"].as_array().into_iter().flatten() {
            let knob = knob.as_str().unwrap_or_default();
            for word in foreign {
                assert!(!knob.contains(word), "{} names {word}: {knob}", f["kind"]);
            }
        }
    }
}

/// The first knob of finding `kind`.
pub fn first_knob<'a>(s: &'a Value, kind: &str) -> &'a str {
    finding(s, kind)["knobs"][0].as_str().unwrap_or_default()
}

/// What tshark prints of `field` for the packets of `file` that match `filter`, read with
/// `options` (`-d tcp.port==80,http2`, `-o tls.keylog_file:KEYS`): a line per packet.
pub fn tshark_field(file: &Path, options: &[String], filter: &str, field: &str) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(options)
        .args(["-Y", filter, "-T", "fields", "-e", field])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many HTTP/2 frames of `frame_type` tshark sees from the client host in `file`, read
/// with `options`. A packet may carry several frames: tshark lists each one's type,
/// comma-separated.
pub fn tshark_h2_frames(file: &Path, options: &[String], frame_type: u8) -> usize {
    let filter = format!("http2 && ip.src == {}", super::hosts::CLIENT_IP);
    let wanted = frame_type.to_string();
    tshark_field(file, options, &filter, "http2.type")
        .lines()
        .flat_map(|l| l.split(','))
        .filter(|t| t.trim() == wanted)
        .count()
}
