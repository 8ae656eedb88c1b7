//! connlab's own overload is never reported as the network's behaviour: when the wire loses
//! frames (here forced with a tiny receive ring), the run says so first, the capture marks
//! the gaps, and nothing those gaps could have caused is diagnosed, live or from the file.
//! And a busy machine is no excuse: the whole catalogue passes with every core busy.

mod common;

use common::harness::Need;
use common::*;

fn forced_wire_drops_are_named_and_never_diagnosed() {
    let out = out_dir("forced-drops");
    // 50 dials at once into a ring of 16 frames: the wire cannot keep up. Every run must
    // diagnose nothing from the gaps; one with something to withhold shows it is withheld
    // (on a machine busy with other tests the drops can be so heavy that nothing would have
    // been found at all, so up to three runs are made for that).
    let mut attempt = 0;
    let (run, s) = loop {
        attempt += 1;
        let output = connlab()
            .args([
                "run",
                "pool-burst",
                "--set",
                "capture.ring_frames=16",
                "--json",
            ])
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run");
        let run = parse_json_output(&output);
        let s = run.summary.clone();
        let dropped = u(&s, "dropped");
        assert!(
            dropped > 0,
            "a 16-frame ring dropped nothing: {}",
            s["wire"]
        );
        assert_eq!(u(&s, "wire.kernel_dropped"), dropped, "{}", s["wire"]);
        // Every loss is a gap in the capture, told at the next frame.
        let lost = u(&s, "capture_gaps.frames_lost");
        assert!(
            lost > 0 && lost <= dropped,
            "{} of {dropped}",
            s["capture_gaps"]
        );
        assert!(u(&s, "capture_gaps.damaged_connections") > 0);
        // Nothing is diagnosed from the damaged connections (all 50 were open): what would
        // have been is listed apart, marked.
        assert_eq!(s["findings"], serde_json::json!([]), "{:#}", s["findings"]);
        let withheld = s["withheld_findings"].as_array().expect("withheld");
        assert!(withheld.iter().all(|f| f["caused_by_wire_drops"] == true));
        if !withheld.is_empty() || attempt == 3 {
            assert!(!withheld.is_empty(), "nothing withheld in {attempt} runs");
            break (run, s);
        }
    };
    let s = &s;
    // The lab's expectations fail, and say why.
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    let failed: Vec<&serde_json::Value> = s["expectations"]
        .as_array()
        .expect("expectations")
        .iter()
        .filter(|e| e["pass"] == false)
        .collect();
    assert!(!failed.is_empty());
    for e in failed {
        let why = e["why"].as_str().unwrap_or_default();
        assert!(why.contains("connlab's own machine"), "{e}");
    }
    // The pcapng keeps the gaps: inspect finds the same ones and diagnoses nothing from them.
    let capture = s["capture"].as_str().expect("capture path");
    let inspected = common::real::inspect(std::path::Path::new(capture));
    assert_eq!(inspected["capture_gaps"], s["capture_gaps"]);
    assert_eq!(inspected["findings"], serde_json::json!([]));
    // The text says it first, plainly.
    let text = connlab()
        .args(["inspect", capture])
        .output()
        .expect("inspect");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("capture gaps: the capturing machine lost"),
        "{text}"
    );
}

fn the_catalogue_passes_with_every_core_busy() {
    let out = out_dir("catalogue-under-load");
    let junit = out.join("connlab.xml");
    let _hog = common::hog::Hog::on_every_core();
    let labs = concat!(env!("CARGO_MANIFEST_DIR"), "/labs");
    let output = connlab()
        .args(["run", labs, "-j", "2", "--junit"])
        .arg(&junit)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run the catalogue");
    let text = String::from_utf8_lossy(&output.stdout);
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("PASS") && !l.starts_with("running"))
        .collect();
    assert_eq!(
        output.status.code(),
        Some(0),
        "under load:\n{}\n{}",
        failed.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    let labs_run = text.lines().filter(|l| l.starts_with("PASS")).count();
    assert!(labs_run >= 40, "{labs_run} labs passed:\n{text}");
}

/// An HTTP client's requests are paced by the wire too: with a 16-frame ring and 16 slots
/// sending as fast as they can, the wire keeps falling behind, and the requests wait for it
/// (`wire_wait_ns`) instead of pushing more frames into a ring that would drop them; every
/// request still gets its answer.
fn http_requests_wait_for_a_wire_that_falls_behind() {
    let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/many-requests.toml");
    let output = connlab()
        .args(["run", lab, "--json-summary", "--out"])
        .arg(out_dir("http-pressure"))
        .args([
            "--set",
            "capture.ring_frames=16",
            "--set",
            "client.requests=20000",
        ])
        .output()
        .expect("run");
    let run = parse_json_output(&output);
    let s = &run.summary;
    assert_eq!(u(s, "client.ok"), 20_000, "{}", s["client"]);
    assert!(u(s, "client.wire_wait_ns") > 0, "{}", s["client"]);
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        forced_wire_drops_are_named_and_never_diagnosed[Need::Labs],
        the_catalogue_passes_with_every_core_busy[Need::Labs, Need::Tool("stress-ng")],
        http_requests_wait_for_a_wire_that_falls_behind[Need::Labs],
    ])
}
