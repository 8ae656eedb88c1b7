//! Scale and timing: an impossible connection count refused up front, and the link model's
//! delay held to its configured value (half a million connections are in c500k.rs, a test
//! binary of its own so that nothing else runs beside it).

mod common;

use common::harness::Need;
use common::*;

fn a_count_the_process_cannot_hold_is_refused_before_the_lab_starts() {
    let out = out_dir("refused");
    let run = std::process::Command::new("prlimit")
        .args(["--nofile=200:200", "--"])
        .arg(env!("CARGO_BIN_EXE_connlab"))
        .args(["run", "long-connections", "--out"])
        .arg(&out)
        .output()
        .expect("prlimit");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("open-file limit is 200"), "{stderr}");
    assert!(
        std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0) == 0,
        "refused before any file or namespace was made"
    );
}

/// 200 handshakes over a 5 ms link: each crosses it twice before the wire sees the ACK. The
/// median one-way time is the link's delay plus the forwarder's own time (a debug build on a
/// machine running the test suite): 5.206 ms once in CI, so the margin is half a millisecond,
/// a tenth of the link.
fn the_link_delay_holds_within_half_a_millisecond() {
    let run = run_lab("short-vs-long", &out_dir("delay"));
    assert_expectations_pass(&run);
    let mut handshakes: Vec<u64> = run
        .events
        .iter()
        .filter(|e| e["kind"] == "established")
        .map(|e| u(e, "handshake_ns"))
        .collect();
    assert_eq!(handshakes.len(), 200);
    handshakes.sort_unstable();
    let one_way_ms = handshakes[handshakes.len() / 2] as f64 / 2e6;
    assert!(
        (one_way_ms - 5.0).abs() <= 0.5,
        "median one-way delay {one_way_ms:.3} ms for a 5 ms link"
    );
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        a_count_the_process_cannot_hold_is_refused_before_the_lab_starts[Need::Tool("prlimit")],
        the_link_delay_holds_within_half_a_millisecond[Need::Labs],
    ])
}
