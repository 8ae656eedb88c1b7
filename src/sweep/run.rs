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

fn run_one(job: &Job<'_>, point: usize, repeat: u32, stop: &(dyn Fn() -> bool + Sync)) -> PointRun {
    let out = job.out.join(format!("point-{:03}-{repeat}", point + 1));
    let mut args: Vec<OsString> = vec![job.lab.into(), "--out".into(), out.clone().into()];
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
