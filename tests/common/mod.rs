//! Helpers shared by the integration tests that run labs for real.
//!
//! What a test needs (root, user namespaces, a tool) is declared in its file's `main` and
//! checked by [`harness`]: outside CI an unmet need shows as an ignored test, under CI (`CI`
//! set) it is a failure, never a silent skip.

#![allow(dead_code)]

pub mod harness;
pub mod hog;
pub mod hosts;
pub mod junit;
pub mod real;
pub mod tmux;
pub mod unprivileged;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The connlab binary under test.
pub fn connlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_connlab"))
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

/// Namespaces whose owning run is no longer alive: what a finished run left behind. Runs still
/// going (other tests of the same binary run in parallel) are not counted. `.ci/run` clears
/// what killed runs left before the suite (`connlab clean`), so under CI this starts empty.
pub fn leftovers() -> Vec<String> {
    connlab_namespaces()
        .into_iter()
        .filter(|n| {
            let pid = n.split('-').nth(1).unwrap_or("0");
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect()
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
