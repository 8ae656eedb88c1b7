//! Checking a JUnit report as CI systems would: valid against the JUnit schema (xmllint), and
//! read by junitparser, a consumer CI tools use.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Validates `file` against tests/junit/junit.xsd, then returns what junitparser read:
/// `{tests, failures, errors, skipped, cases: [{name, results: [{kind, message, text}],
/// system_out}]}`.
pub fn read(file: &Path) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit");
    let valid = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(dir.join("junit.xsd"))
        .arg(file)
        .output()
        .expect("xmllint");
    assert!(
        valid.status.success(),
        "not valid JUnit: {}",
        String::from_utf8_lossy(&valid.stderr)
    );
    let read = Command::new("/usr/bin/python3")
        .arg(dir.join("read.py"))
        .arg(file)
        .output()
        .expect("python3");
    assert!(
        read.status.success(),
        "junitparser: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    serde_json::from_slice(&read.stdout).expect("read.py prints JSON")
}

/// The case named `name`.
pub fn case<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no test case {name} in {report}"))
}

/// The capture named by a case's attachment line, which must exist.
pub fn attachment(case: &Value) -> String {
    let out = case["system_out"].as_str().unwrap_or("");
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("[[ATTACHMENT|")?.strip_suffix("]]"))
        .unwrap_or_else(|| panic!("no attachment line in {out:?}"));
    assert!(Path::new(path).is_file(), "attached capture {path}");
    path.to_owned()
}
