//! Running a sweep's points: each one is `connlab run <lab> --set ... --json` in a process of
//! its own (`child_run`), so points are independent and `-j N` runs N at once. An interrupted
//! sweep passes the signal on to the points under way and keeps every point that finished.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::plan::Point;
use crate::child_run::{self, ChildRun};

/// One run of one point.
#[derive(Debug, Clone)]
pub struct PointRun {
    /// Index of the point in the plan.
    pub point: usize,
    /// Which repetition (from 0).
    pub repeat: u32,
    /// How its `connlab run` ended.
    pub child: ChildRun,
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
    let plan: Vec<(usize, u32)> = (0..job.points.len())
        .flat_map(|p| (0..job.repeat).map(move |r| (p, r)))
        .collect();
    child_run::for_each_parallel(
        &plan,
        job.jobs,
        stop,
        &|&(point, repeat)| run_one(job, point, repeat, stop),
        &|_, _| {},
    )
    .into_iter()
    .map(|(_, run)| run)
    .collect()
}

/// A point's folder, named by its values so that a listing reads as the sweep's table:
/// `02-client.max_idle_per_host=2`, and `-run2` on for repeats.
pub fn point_folder(index: usize, point: &Point, repeat: u32) -> String {
    let values: Vec<String> = point.iter().map(|o| o.to_string()).collect();
    let mut name: String = format!("{:02}-{}", index + 1, values.join(","))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=,-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if repeat > 0 {
        name.push_str(&format!("-run{}", repeat + 1));
    }
    name
}

fn run_one(job: &Job<'_>, point: usize, repeat: u32, stop: &(dyn Fn() -> bool + Sync)) -> PointRun {
    let out = job
        .out
        .join(point_folder(point, &job.points[point], repeat));
    // Each point's page, linked from the sweep's.
    let mut args: Vec<OsString> = vec![
        job.lab.into(),
        "--report".into(),
        "--out".into(),
        out.clone().into(),
    ];
    for o in &job.points[point] {
        args.push("--set".into());
        args.push(o.to_string().into());
    }
    PointRun {
        point,
        repeat,
        child: child_run::run(job.exe, &args, stop),
        out,
    }
}
