//! `connlab run a.toml b.toml labs/`: labs as a regression suite. Each lab runs as its own
//! `connlab run` (`child_run`), one after another or `-j N` at once; one line per lab as it
//! ends, a total, and `--junit FILE` for CI (one test case per lab, one failure per failed
//! expectation).

pub mod junit;
pub mod plan;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use connlab_core::words::plural;
use serde_json::Value;

use crate::child_run::{self, ChildRun, Outcome};
use crate::lab::overrides::Override;
pub use plan::SuiteLab;

/// A suite as asked on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--set` overrides, applied to every lab.
    pub set: Vec<Override>,
    /// Labs at once.
    pub jobs: usize,
    /// Folder for every lab's files.
    pub out: PathBuf,
    /// Also write each lab's HTML report.
    pub report: bool,
}

/// One lab's run.
#[derive(Debug, Clone)]
pub struct LabRun {
    /// The lab.
    pub lab: SuiteLab,
    /// How its `connlab run` ended; None when the suite was interrupted before it started.
    pub child: Option<ChildRun>,
}

impl LabRun {
    /// Its outcome; a lab that never started counts as interrupted.
    pub fn outcome(&self) -> Outcome {
        self.child
            .as_ref()
            .map(Outcome::of)
            .unwrap_or(Outcome::Interrupted)
    }

    /// The expectations that failed: (name, want, got).
    pub fn failed_expectations(&self) -> Vec<(String, String, String)> {
        let Some(list) = self.summary().and_then(|s| s["expectations"].as_array()) else {
            return Vec::new();
        };
        list.iter()
            .filter(|e| e["pass"] == Value::Bool(false))
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or("").to_owned(),
                    e["want"].as_str().unwrap_or("").to_owned(),
                    e["got"].to_string(),
                )
            })
            .collect()
    }

    /// Its summary, when it printed one.
    pub fn summary(&self) -> Option<&Value> {
        self.child.as_ref().and_then(|c| c.summary.as_ref())
    }

    /// Where its capture is.
    pub fn capture(&self) -> Option<&str> {
        self.summary().and_then(|s| s["capture"].as_str())
    }
}

/// A finished (or interrupted) suite.
#[derive(Debug)]
pub struct SuiteResult {
    /// Every planned lab, in order; those that never started have no child.
    pub runs: Vec<LabRun>,
    /// When it started.
    pub started: SystemTime,
    /// How long it took.
    pub elapsed: Duration,
}

impl SuiteResult {
    /// How many labs ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.runs.iter().filter(|r| r.outcome() == outcome).count()
    }

    /// The worst outcome (Pass for an empty suite).
    pub fn worst(&self) -> Outcome {
        self.runs
            .iter()
            .map(LabRun::outcome)
            .max()
            .unwrap_or(Outcome::Pass)
    }
}

/// Runs every lab, calling `each` with each one's line as it ends; `stop()` turning true
/// interrupts the labs under way (they stop cleanly) and starts no more.
pub fn run(
    labs: &[SuiteLab],
    opts: &Options,
    exe: &Path,
    stop: &(dyn Fn() -> bool + Sync),
    each: &(dyn Fn(&LabRun) + Sync),
) -> SuiteResult {
    let started = SystemTime::now();
    let clock = Instant::now();
    let ran = child_run::for_each_parallel(
        labs,
        opts.jobs,
        stop,
        &|lab| {
            let run = LabRun {
                lab: lab.clone(),
                child: Some(child_run::run(exe, &args(lab, opts), stop)),
            };
            each(&run);
            run
        },
        &|_, _| {},
    );
    let mut runs: Vec<LabRun> = labs
        .iter()
        .map(|lab| LabRun {
            lab: lab.clone(),
            child: None,
        })
        .collect();
    for (i, run) in ran {
        runs[i] = run;
    }
    SuiteResult {
        runs,
        started,
        elapsed: clock.elapsed(),
    }
}

fn args(lab: &SuiteLab, opts: &Options) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        lab.source.clone().into(),
        "--out".into(),
        opts.out.clone().into(),
    ];
    for o in &opts.set {
        args.push("--set".into());
        args.push(o.to_string().into());
    }
    if opts.report {
        args.push("--report".into());
    }
    args
}

/// One lab's line: outcome, name, time, expectations held and the capture; then one indented
/// line per failed expectation, or the error.
pub fn line(run: &LabRun, width: usize) -> String {
    let mut out = String::new();
    let outcome = run.outcome();
    let secs = run.child.as_ref().map_or(0.0, |c| c.elapsed.as_secs_f64());
    let _ = write!(
        out,
        "{:<5} {:<width$} {:>6.1} s",
        outcome.word(),
        run.lab.name,
        secs
    );
    if let Some(list) = run.summary().and_then(|s| s["expectations"].as_array()) {
        let held = list
            .iter()
            .filter(|e| e["pass"] == Value::Bool(true))
            .count();
        let _ = write!(out, "  {held}/{} expected", list.len());
    }
    if let Some(capture) = run.capture() {
        let _ = write!(out, "  {capture}");
    }
    out.push('\n');
    for (name, want, got) in run.failed_expectations() {
        let _ = writeln!(out, "      {name} {want} (got {got})");
    }
    if outcome != Outcome::Pass && outcome != Outcome::Failed {
        let why = run
            .child
            .as_ref()
            .and_then(|c| c.error.clone())
            .unwrap_or_else(|| "not run: the suite was interrupted".to_owned());
        for l in why.lines() {
            let _ = writeln!(out, "      {l}");
        }
    }
    out
}

/// The closing line: `37 labs in 95.2 s: 36 passed, 1 failed, 0 errors, 0 skipped`.
pub fn total(result: &SuiteResult) -> String {
    let mut out = format!(
        "{} in {:.1} s: {} passed, {} failed, {}, {} skipped",
        plural(result.runs.len() as u64, "lab", "labs"),
        result.elapsed.as_secs_f64(),
        result.count(Outcome::Pass),
        result.count(Outcome::Failed),
        plural(result.count(Outcome::Error) as u64, "error", "errors"),
        result.count(Outcome::Skipped),
    );
    let interrupted = result.count(Outcome::Interrupted);
    if interrupted > 0 {
        let _ = write!(out, ", {interrupted} interrupted or not run");
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A lab run as `connlab run --json` would report it.
    pub(crate) fn lab_run(name: &str, code: Option<i32>, failed: &[(&str, &str, i64)]) -> LabRun {
        let mut expectations =
            vec![json!({"name": "connections", "want": "= 1", "got": 1, "pass": true})];
        for (n, want, got) in failed {
            expectations.push(json!({"name": n, "want": want, "got": got, "pass": false}));
        }
        let summary = matches!(code, Some(0) | Some(1)).then(|| {
            json!({"lab": name, "capture": format!("/tmp/out/{name}.pcapng"), "expectations": expectations})
        });
        LabRun {
            lab: SuiteLab {
                name: name.to_owned(),
                source: format!("labs/{name}.toml"),
                file: Some(format!("labs/{name}.toml").into()),
            },
            child: code.map(|code| ChildRun {
                code: Some(code),
                summary,
                error: match code {
                    3 => Some("lab x skipped: curl is not installed".into()),
                    2 => Some("labs/x.toml:3:9: <b> & \"bad\"".into()),
                    _ => None,
                },
                elapsed: Duration::from_millis(1_500),
            }),
        }
    }

    #[test]
    fn lines_say_the_outcome_the_failed_expectations_and_why() {
        let pass = line(&lab_run("keepalive-reuse", Some(0), &[]), 20);
        assert!(pass.starts_with("PASS  keepalive-reuse"), "{pass}");
        assert!(
            pass.contains("1/1 expected") && pass.contains("/tmp/out/keepalive-reuse.pcapng"),
            "{pass}"
        );
        let fail = line(
            &lab_run("pool-burst", Some(1), &[("reused", ">= 49", 3)]),
            20,
        );
        assert!(fail.starts_with("FAIL"), "{fail}");
        assert!(
            fail.contains("1/2 expected") && fail.contains("reused >= 49 (got 3)"),
            "{fail}"
        );
        let skip = line(&lab_run("curl-keepalive", Some(3), &[]), 20);
        assert!(
            skip.starts_with("SKIP") && skip.contains("curl is not installed"),
            "{skip}"
        );
        let never = line(&lab_run("late", None, &[]), 20);
        assert!(
            never.starts_with("INTR") && never.contains("not run"),
            "{never}"
        );
    }

    #[test]
    fn the_total_counts_each_outcome_and_the_worst_decides() {
        let result = SuiteResult {
            runs: vec![
                lab_run("a", Some(0), &[]),
                lab_run("b", Some(1), &[("reused", ">= 49", 3)]),
                lab_run("c", Some(2), &[]),
            ],
            started: SystemTime::now(),
            elapsed: Duration::from_secs(3),
        };
        assert_eq!(
            total(&result),
            "3 labs in 3.0 s: 1 passed, 1 failed, 1 error, 0 skipped"
        );
        assert_eq!(result.worst(), Outcome::Error);
    }
}
