//! Running a sweep's points: each one is `connlab run <lab> --set ... --json` in a process of
//! its own, so points are independent (their own namespaces, their own cleanup) and `-j N`
//! runs N at once. An interrupted sweep passes the signal on to the points under way, which
//! stop cleanly, and keeps every point that finished.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::plan::Point;

/// One run of one point.
#[derive(Debug, Clone)]
pub struct PointRun {
    /// Index of the point in the plan.
    pub point: usize,
    /// Which repetition (from 0).
    pub repeat: u32,
    /// `connlab run`'s exit code (0 pass, 1 an expectation failed, 2 error, 3 skipped, 130
    /// interrupted); None when it could not be started.
    pub code: Option<i32>,
    /// Its `{"summary": ...}`, when it printed one.
    pub summary: Option<Value>,
    /// Why there is no summary (the end of its stderr).
    pub error: Option<String>,
    /// Its output folder.
    pub out: PathBuf,
}

/// What to run.
pub struct Job<'a> {
    /// The connlab executable.
    pub exe: &'a Path,
    /// The lab as given on the command line (a name or a file).
    pub lab: &'a str,
    /// The points.
    pub points: &'a [Point],
    /// Runs per point.
    pub repeat: u32,
    /// Points at once.
    pub jobs: usize,
    /// The sweep's folder; each run gets a folder inside.
    pub out: &'a Path,
}

/// Runs every (point, repeat) with `job.jobs` at once; `stop()` turning true stops launching
/// and interrupts the runs under way. Returns the runs that ended, in plan order.
pub fn run_all(job: &Job<'_>, stop: &(dyn Fn() -> bool + Sync)) -> Vec<PointRun> {
    let queue: VecDeque<(usize, u32)> = (0..job.points.len())
        .flat_map(|p| (0..job.repeat).map(move |r| (p, r)))
        .collect();
    let queue = Arc::new(Mutex::new(queue));
    let done = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..job.jobs.max(1) {
            let (queue, done) = (queue.clone(), done.clone());
            scope.spawn(move || loop {
                if stop() {
                    return;
                }
                let Some((point, repeat)) = queue.lock().ok().and_then(|mut q| q.pop_front())
                else {
                    return;
                };
                let run = run_one(job, point, repeat, stop);
                if let Ok(mut d) = done.lock() {
                    d.push(run);
                }
            });
        }
    });
    let mut runs = Arc::try_unwrap(done)
        .map(|m| m.into_inner().unwrap_or_default())
        .unwrap_or_default();
    runs.sort_by_key(|r| (r.point, r.repeat));
    runs
}

fn run_one(job: &Job<'_>, point: usize, repeat: u32, stop: &(dyn Fn() -> bool + Sync)) -> PointRun {
    let out = job.out.join(format!("point-{:03}-{repeat}", point + 1));
    let mut cmd = Command::new(job.exe);
    cmd.args(["run", job.lab, "--json", "--out"]).arg(&out);
    for o in &job.points[point] {
        cmd.arg("--set").arg(o.to_string());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut run = PointRun {
        point,
        repeat,
        code: None,
        summary: None,
        error: None,
        out,
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(format!("could not start connlab run: {e}"));
            return run;
        }
    };
    // Read both pipes while the run goes, or a chatty run would block on a full pipe.
    let stdout = child.stdout.take().map(last_line_reader);
    let stderr = child.stderr.take().map(tail_reader);
    run.code = wait(&mut child, stop);
    let last = stdout.and_then(|t| t.join().ok()).flatten();
    let tail = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    run.summary = last
        .and_then(|l| serde_json::from_str::<Value>(&l).ok())
        .and_then(|v| v.get("summary").cloned());
    if run.summary.is_none() {
        run.error = Some(if tail.trim().is_empty() {
            format!("exit code {:?} and no summary", run.code)
        } else {
            tail.trim().to_owned()
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
