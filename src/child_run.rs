//! `connlab run <lab> --json-summary` in a process of its own, for the commands that run many labs
//! (`connlab sweep`, `connlab run labs/`): each run has its own namespaces and its own cleanup,
//! so runs are independent and N can go at once. When `stop()` turns true the child gets
//! SIGINT, stops cleanly and keeps its capture.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// How one child run ended.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// Its exit code (0 pass, 1 an expectation failed, 2 error, 3 skipped, 130 interrupted);
    /// None when it could not be started.
    pub code: Option<i32>,
    /// Its `{"summary": ...}`, when it printed one.
    pub summary: Option<Value>,
    /// Why there is no summary, or why it was skipped (the end of its stderr).
    pub error: Option<String>,
    /// Wall time from start to exit.
    pub elapsed: Duration,
}

/// How a run ended, better first (so the worst of several is their `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every expectation held.
    Pass,
    /// An expectation failed.
    Failed,
    /// Skipped (an external program is missing).
    Skipped,
    /// Stopped by a signal.
    Interrupted,
    /// Could not run.
    Error,
}

impl Outcome {
    /// The outcome of one run, from its exit code and whether it printed a summary.
    pub fn of(run: &ChildRun) -> Outcome {
        match (run.code, &run.summary) {
            (Some(0), Some(_)) => Outcome::Pass,
            (Some(1), Some(_)) => Outcome::Failed,
            (Some(3), _) => Outcome::Skipped,
            (Some(130), _) => Outcome::Interrupted,
            _ => Outcome::Error,
        }
    }

    /// The word shown in tables: PASS, FAIL, SKIP, INTR, ERROR.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Failed => "FAIL",
            Outcome::Skipped => "SKIP",
            Outcome::Interrupted => "INTR",
            Outcome::Error => "ERROR",
        }
    }
}

/// Runs `exe run <args> --json-summary` and reads its summary; both pipes are drained while
/// it runs, or a chatty run would block on a full pipe.
pub fn run(exe: &Path, args: &[OsString], stop: &(dyn Fn() -> bool + Sync)) -> ChildRun {
    let started = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.arg("run").args(args).arg("--json-summary");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut run = ChildRun {
        code: None,
        summary: None,
        error: None,
        elapsed: Duration::ZERO,
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(format!("could not start connlab run: {e}"));
            return run;
        }
    };
    let stdout = child.stdout.take().map(last_line_reader);
    let stderr = child.stderr.take().map(tail_reader);
    run.code = wait(&mut child, stop);
    run.elapsed = started.elapsed();
    let last = stdout.and_then(|t| t.join().ok()).flatten();
    let tail = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    run.summary = last
        .and_then(|l| serde_json::from_str::<Value>(&l).ok())
        .and_then(|v| v.get("summary").cloned());
    if run.summary.is_none() || run.code == Some(3) {
        let tail = tail.trim().trim_start_matches("connlab: ");
        run.error = Some(if tail.is_empty() {
            match run.code {
                Some(code) => format!("exit code {code} and no summary"),
                None => "ended by a signal, with no summary".to_owned(),
            }
        } else {
            tail.to_owned()
        });
    }
    run
}

/// Waits for the run; when `stop()` turns true, asks it to stop (SIGINT: it cleans up and
/// keeps its capture) and waits for that.
fn wait(child: &mut Child, stop: &(dyn Fn() -> bool + Sync)) -> Option<i32> {
    let mut signalled = false;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code().or(Some(130)),
            Ok(None) => {}
            Err(_) => return None,
        }
        if stop() && !signalled {
            signalled = true;
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn last_line_reader(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Option<String>> {
    std::thread::spawn(move || BufReader::new(pipe).lines().map_while(Result::ok).last())
}

fn tail_reader(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(pipe).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    })
}

/// Calls `each` on every item with `jobs` at once, in order of the items; `done` sees each
/// result as it comes (to print progress). Once `stop()` turns true nothing new starts.
/// Returns the results of the items that ran, in item order.
pub fn for_each_parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    stop: &(dyn Fn() -> bool + Sync),
    each: &(dyn Fn(&T) -> R + Sync),
    done: &(dyn Fn(usize, &R) + Sync),
) -> Vec<(usize, R)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                if stop() {
                    return;
                }
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else {
                    return;
                };
                let result = each(item);
                done(i, &result);
                if let Ok(mut r) = results.lock() {
                    r.push((i, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once_and_results_come_back_in_order() {
        let items: Vec<u32> = (0..40).collect();
        let seen = std::sync::Mutex::new(Vec::new());
        let out = for_each_parallel(&items, 3, &|| false, &|x| x * 2, &|i, _| {
            seen.lock().unwrap().push(i)
        });
        assert_eq!(out.len(), 40);
        assert!(out
            .iter()
            .enumerate()
            .all(|(k, (i, r))| k == *i && *r == 2 * k as u32));
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn nothing_starts_after_stop() {
        let items: Vec<u32> = (0..10).collect();
        assert!(for_each_parallel(&items, 2, &|| true, &|x| *x, &|_, _| {}).is_empty());
    }

    #[test]
    fn outcomes_follow_exit_codes_and_the_summary() {
        let run = |code, summary: bool| ChildRun {
            code,
            summary: summary.then(|| serde_json::json!({})),
            error: None,
            elapsed: Duration::ZERO,
        };
        assert_eq!(Outcome::of(&run(Some(0), true)), Outcome::Pass);
        assert_eq!(Outcome::of(&run(Some(1), true)), Outcome::Failed);
        assert_eq!(
            Outcome::of(&run(Some(0), false)),
            Outcome::Error,
            "no summary"
        );
        assert_eq!(Outcome::of(&run(Some(3), false)), Outcome::Skipped);
        assert_eq!(Outcome::of(&run(Some(130), true)), Outcome::Interrupted);
        assert_eq!(Outcome::of(&run(None, false)), Outcome::Error);
    }
}
