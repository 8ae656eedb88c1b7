//! Half a million connections on this machine (2 cores, 24 GiB): laid out under the
//! open-file limit, established at the lab's pace, every component's cost per connection
//! measured, nothing dropped, and cleaned up in seconds. A test binary of its own, so that no
//! other lab competes with it for the two cores.

mod common;

use common::harness::Need;
use common::*;

fn c500k_holds_half_a_million_connections() {
    // On this machine as it is. Its retransmissions are the lab's to judge (at most 2,500, and
    // no drop, no finding): alone it retransmits none, but right after CI's build it
    // retransmitted 548 handshakes once (0.1 %), whose answers the wire held past the SYN
    // timer while the kernel wrote the build out. (Under a CPU hog on every core the lab
    // passes too, at a lower pace: `sudo bench/under-load.sh` runs it both ways; it takes three
    // minutes more than CI should spend on it.)
    half_a_million();
}

/// Runs c500k and checks it (the lab's expectations and what they cannot say): the teardown
/// within 20 s, the whole run within 3 minutes.
fn half_a_million() {
    let out = out_dir("c500k");
    let started = std::time::Instant::now();
    // The summary alone: 3.5 million events are in the events file, not on a pipe.
    let output = connlab()
        .args(["run", "c500k", "--json-summary", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    let run = parse_json_output(&output);
    assert_expectations_pass(&run);
    let s = &run.summary;
    // Laid out under the open-file limit: no process holds more sockets than it may.
    let limit = u(s, "scale.open_file_limit");
    let server_workers = u(s, "scale.server_workers");
    let client_workers = u(s, "scale.client_workers");
    assert!(
        500_000 / server_workers < limit,
        "{server_workers} server processes"
    );
    assert!(
        500_000 / client_workers < limit,
        "{client_workers} client processes"
    );
    assert_eq!(
        s["scale"]["client_addrs"].as_array().map(Vec::len),
        Some(10)
    );
    // What a connection costs, by component (measured, so with margins).
    for (key, lo, hi) in [
        ("memory.client_process_bytes_per_connection", 300, 4_000),
        ("memory.server_process_bytes_per_connection", 300, 4_000),
        ("memory.process_bytes_per_connection", 100, 4_000),
        ("memory.kernel_bytes_per_socket", 1_000, 8_000),
    ] {
        let v = u(s, key);
        assert!((lo..=hi).contains(&v), "{key} = {v}");
    }
    // Dialed at most at the lab's pace (25,000 a second): the pace is a ceiling. Where the
    // machine could not hold it, the dials waited for connlab's wire rather than losing frames
    // (the expectations above: nothing dropped, nothing retransmitted, no finding).
    let rate = u(s, "client.dialed") as f64 / (u(s, "client.dial_ns") as f64 / 1e9);
    assert!(rate <= 26_000.0, "{rate:.0} connections/s");
    let waited = s["client"]["wire_wait_ns"].as_u64().unwrap_or(0);
    assert!(
        rate >= 20_000.0 || waited > 0,
        "{rate:.0} connections/s without waiting for the wire"
    );
    assert!(
        u(s, "teardown_ms") < 20_000,
        "teardown {} ms",
        u(s, "teardown_ms")
    );
    assert!(
        started.elapsed().as_secs() < 180,
        "the lab took {:?}",
        started.elapsed()
    );
    let left = leftovers();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![c500k_holds_half_a_million_connections[Need::Labs]])
}
