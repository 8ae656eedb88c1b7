//! The capture as other tools see it: tshark agrees with connlab on conversations and comments,
//! `connlab inspect` gives the run's summary back from the file (pcapng and classic pcap), and
//! a truncated file is reported with its byte offset after the summary of what was read.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::harness::Need;
use common::*;

/// Runs pool-burst (50 connections with FINs and TIME_WAITs) and returns the run and its file.
fn pool_burst_capture(test: &str) -> (LabRun, PathBuf) {
    let out = out_dir(test);
    let run = run_lab("pool-burst", &out);
    assert_expectations_pass(&run);
    let capture = PathBuf::from(run.summary["capture"].as_str().expect("capture path"));
    assert!(capture.exists(), "{capture:?}");
    (run, capture)
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn inspect_json(file: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = connlab()
        .arg("inspect")
        .arg(file)
        .arg("--json")
        .output()
        .expect("inspect");
    let run = parse_json_output(&out);
    (run.code, run.summary, run.stderr)
}

fn tshark_counts_the_same_conversations_and_comments() {
    let (run, capture) = pool_burst_capture("tshark");
    let file = capture.to_str().expect("utf-8 path");
    // Conversations: one line per TCP conversation with "<->" in the table.
    let conv = tshark(&["-r", file, "-q", "-z", "conv,tcp"]);
    let conversations = conv.lines().filter(|l| l.contains("<->")).count() as u64;
    assert_eq!(conversations, u(&run.summary, "connections"), "{conv}");
    // Comments: connlab writes one comment per event; tshark joins several with the aggregator.
    let comments = tshark(&[
        "-r",
        file,
        "-Y",
        "frame.comment",
        "-T",
        "fields",
        "-e",
        "frame.comment",
        "-E",
        "aggregator=|",
    ]);
    let tshark_comments = comments
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').count() as u64)
        .sum::<u64>();
    let analyser_events = run
        .events
        .iter()
        .filter(|e| e.get("conn").is_some())
        .count() as u64;
    assert_eq!(
        tshark_comments,
        analyser_events + u(&run.summary, "link_dropped")
    );
    // tshark reads the timestamps as nanoseconds (if_tsresol = 9): the capture spans well under
    // a minute, not 1000 times more.
    let span = tshark(&["-r", file, "-T", "fields", "-e", "frame.time_relative"]);
    let last: f64 = span
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("time");
    assert!(last > 0.0 && last < 30.0, "capture spans {last} s");
    // The reuse filter of docs/output.md finds nothing in pool-burst (no reuse) but the
    // request comments are there.
    let requests = tshark(&["-r", file, "-Y", "frame.comment contains \"request\""]);
    assert_eq!(requests.lines().count() as u64, u(&run.summary, "requests"));
}

fn inspect_reads_back_the_run_summary_from_pcapng_and_classic_pcap() {
    let (run, capture) = pool_burst_capture("inspect");
    let (code, summary, stderr) = inspect_json(&capture);
    assert_eq!(code, Some(0), "{stderr}");
    for field in [
        "connections",
        "requests",
        "reused",
        "fin_first_by.client",
        "fin_first_by.server",
        "rst_by.client",
        "time_wait.client",
        "time_wait.server",
        "keepalive_probes",
        "retransmits",
    ] {
        assert_eq!(u(&summary, field), u(&run.summary, field), "{field}");
    }
    for format in ["pcap", "nsecpcap"] {
        let classic = capture.with_extension(format);
        let st = Command::new("editcap")
            .args(["-F", format])
            .arg(&capture)
            .arg(&classic)
            .status()
            .expect("editcap");
        assert!(st.success());
        let (code, classic_summary, stderr) = inspect_json(&classic);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(u(&classic_summary, "connections"), 50, "{format}");
        assert_eq!(u(&classic_summary, "time_wait.client"), 48, "{format}");
    }
}

fn truncated_capture_reports_offset_and_what_was_read() {
    let (_run, capture) = pool_burst_capture("truncated");
    let bytes = std::fs::read(&capture).expect("read capture");
    let cut = capture.with_extension("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 3]).expect("write");
    let out = connlab()
        .arg("inspect")
        .arg(&cut)
        .output()
        .expect("inspect");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("byte offset"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("connections"),
        "summary of what was read: {stdout}"
    );
}

fn not_a_capture_is_a_clear_error() {
    let dir = out_dir("not-a-capture");
    let file = dir.join("notes.txt");
    std::fs::write(&file, "hello, this is text").expect("write");
    let out = connlab()
        .arg("inspect")
        .arg(&file)
        .output()
        .expect("inspect");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a pcap or pcapng"), "{stderr}");
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        tshark_counts_the_same_conversations_and_comments [Need::Labs, Need::Tool("tshark")],
        inspect_reads_back_the_run_summary_from_pcapng_and_classic_pcap [Need::Labs, Need::Tool("editcap")],
        truncated_capture_reports_offset_and_what_was_read [Need::Labs],
        not_a_capture_is_a_clear_error [],
    ])
}
