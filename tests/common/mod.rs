//! Helpers shared by the integration tests that run labs for real.
//!
//! Labs need root (network namespaces). Outside CI a non-root run skips with a message; under
//! CI (`CI` set) a missing capability is a failure, never a silent skip.

#![allow(dead_code)]

pub mod hosts;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The connlab binary under test.
pub fn connlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_connlab"))
}

/// True when labs can run here. Under CI, panics instead of returning false.
pub fn can_run_labs() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but the tests are not running as root: lab tests must run in CI");
    }
    eprintln!("skipping: lab tests need root (network namespaces); run them with sudo");
    false
}

/// True when `tool` is on PATH. Under CI a missing tool is a failure.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but {tool} is not installed (.ci/run installs it)");
        }
        eprintln!("skipping: {tool} is not installed");
    }
    found
}

/// A fresh output folder for one test.
pub fn out_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("connlab-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test output folder");
    dir
}

/// What one `connlab run --json` produced.
pub struct LabRun {
    /// Exit status code.
    pub code: Option<i32>,
    /// The `summary` object of the last line.
    pub summary: Value,
    /// Every event line before it.
    pub events: Vec<Value>,
    /// stderr, for failure messages.
    pub stderr: String,
}

/// Runs a lab with `--json` and parses its output.
pub fn run_lab(lab: &str, out: &Path) -> LabRun {
    let output = connlab()
        .args(["run", lab, "--json", "--out"])
        .arg(out)
        .output()
        .expect("run connlab");
    parse_json_output(&output)
}

/// Splits `--json` output into events and the final summary.
pub fn parse_json_output(output: &Output) -> LabRun {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    let last = lines
        .pop()
        .unwrap_or_else(|| panic!("no output; stderr: {stderr}"));
    let summary = last
        .get("summary")
        .cloned()
        .unwrap_or_else(|| panic!("last line is not a summary: {last}; stderr: {stderr}"));
    LabRun {
        code: output.status.code(),
        summary,
        events: lines,
        stderr,
    }
}

/// Asserts every expectation passed, showing the failing ones.
pub fn assert_expectations_pass(run: &LabRun) {
    let exps = run.summary["expectations"]
        .as_array()
        .expect("expectations array");
    assert!(!exps.is_empty(), "the lab states expectations");
    let failed: Vec<&Value> = exps.iter().filter(|e| e["pass"] != true).collect();
    assert!(
        failed.is_empty(),
        "failed expectations: {failed:#?}\nsummary: {:#}\nstderr: {}",
        run.summary,
        run.stderr
    );
    assert_eq!(run.code, Some(0), "exit code; stderr: {}", run.stderr);
}

/// Namespaces of connlab runs still present.
pub fn connlab_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("connlab-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Namespaces left by the process `pid`.
pub fn namespaces_of(pid: u32) -> Vec<String> {
    let prefix = format!("connlab-{pid}-");
    connlab_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Reads a u64 at a dotted path of a JSON value.
pub fn u(v: &Value, path: &str) -> u64 {
    path.split('.')
        .try_fold(v, |v, p| v.get(p))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no number at {path} in {v:#}"))
}
