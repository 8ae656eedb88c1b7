//! `connlab run` with several labs or a folder: a line per lab, a total, exit codes, and a
//! JUnit report with one failure per failed expectation (the catalogue's passing suite is in
//! catalogue.rs).

mod common;

use common::harness::Need;
use common::*;

const KEEPALIVE: &str = include_str!("../labs/keepalive-reuse.toml");

/// A folder with keepalive-reuse as shipped and a copy whose expectations are wrong.
fn folder(test: &str) -> std::path::PathBuf {
    let dir = out_dir(test).join("labs");
    std::fs::create_dir_all(&dir).expect("labs folder");
    std::fs::write(dir.join("keepalive-reuse.toml"), KEEPALIVE).expect("lab");
    let (lab, expect) = KEEPALIVE.split_once("[expect]").expect("[expect]");
    let expect = expect
        .replace("requests = 100\n", "requests = 7\n")
        .replace("reused = 99\n", "reused = 6\n");
    let wrong = format!("{lab}[expect]{expect}");
    assert_ne!(wrong, KEEPALIVE, "the copy's expectations changed");
    std::fs::write(dir.join("wrong-expectations.toml"), wrong).expect("lab");
    std::fs::write(dir.join("notes.md"), "not a lab").expect("notes");
    dir
}

fn each_failed_expectation_is_a_junit_failure() {
    let labs = folder("suite-fail");
    let out = labs.parent().expect("parent").join("out");
    let junit = labs.parent().expect("parent").join("junit.xml");
    let run = connlab()
        .arg("run")
        .arg(&labs)
        .arg("--out")
        .arg(&out)
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "an expectation failed: {stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[1].starts_with("PASS  keepalive-reuse "), "{stdout}");
    assert!(lines[1].contains("9/9 expected"), "{stdout}");
    assert!(
        lines[2].starts_with("FAIL  wrong-expectations "),
        "{stdout}"
    );
    assert!(lines[2].contains("7/9 expected"), "{stdout}");
    assert_eq!(lines[3].trim(), "requests = 7 (got 100)");
    assert_eq!(lines[4].trim(), "reused = 6 (got 99)");
    assert!(
        lines[5].starts_with("2 labs in ")
            && lines[5].ends_with(": 1 passed, 1 failed, 0 errors, 0 skipped"),
        "{stdout}"
    );
    let report = junit::read(&junit);
    assert_eq!(
        (report["tests"].as_u64(), report["failures"].as_u64()),
        (Some(2), Some(1))
    );
    let failed = junit::case(&report, "wrong-expectations");
    let messages: Vec<&str> = failed["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            assert_eq!(r["kind"], "failure");
            r["message"].as_str().unwrap_or("")
        })
        .collect();
    assert_eq!(messages, ["requests = 7 (got 100)", "reused = 6 (got 99)"]);
    assert_eq!(failed["results"][0]["text"], "want: requests = 7\ngot: 100");
    junit::attachment(failed);
    assert_eq!(
        junit::case(&report, "keepalive-reuse")["results"],
        serde_json::json!([])
    );
}

fn a_bad_lab_stops_the_suite_before_anything_runs() {
    let labs = folder("suite-bad");
    std::fs::write(
        labs.join("typo.toml"),
        "question = \"?\"\n[link]\ndelay_ms = -5.0\n",
    )
    .expect("bad lab");
    let out = labs.parent().expect("parent").join("out");
    let run = connlab()
        .arg("run")
        .arg(&labs)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("typo.toml:3:"), "file and line: {stderr}");
    assert!(!out.exists(), "nothing ran");
    let tui = connlab()
        .args(["run", "keepalive-reuse", "pool-burst", "--tui"])
        .output()
        .expect("run");
    assert_eq!(tui.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&tui.stderr).contains("--tui watches one lab"));
}

fn main() -> std::process::ExitCode {
    common::harness::run(cases![
        each_failed_expectation_is_a_junit_failure [
            Need::Labs,
            Need::Tool("xmllint"),
            Need::PythonModule("junitparser"),
        ],
        a_bad_lab_stops_the_suite_before_anything_runs [],
    ])
}
