//! `connlab sweep`: run a lab for every combination of some knobs' values and chart the key
//! figures against them (`--vary client.max_idle_per_host=1,2,5,10,25,50`), the question users
//! actually ask of a knob.

pub mod html;
pub mod plan;
pub mod run;
pub mod table;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use plan::Vary;
use table::{Outcome, PointRow};

use crate::lab::catalog;

/// A sweep as asked on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The lab: an embedded name or a file.
    pub lab: String,
    /// The knobs and their values.
    pub vary: Vec<Vary>,
    /// Runs per point (figures are their median).
    pub repeat: u32,
    /// Points run at once.
    pub jobs: usize,
    /// More summary keys to show (`findings.pool_overflow.kept_idle`).
    pub metrics: Vec<String>,
    /// The folder the sweep's folder goes into.
    pub out: PathBuf,
}

/// Checks everything (the lab, every key and value), then runs every point; `stop()` turning
/// true ends the sweep early with the points that finished. The files are written either way.
pub fn sweep(opts: &Options, stop: &(dyn Fn() -> bool + Sync)) -> Result<SweepResult> {
    let lab = catalog::resolve(&opts.lab)?;
    let points = plan::points(&lab, &opts.vary)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating the output folder {}", opts.out.display()))?;
    let (folder, ()) = crate::paths::claim(&opts.out, &format!("sweep-{}", lab.name), |p| {
        std::fs::create_dir(p)
    })?;
    let exe = std::env::current_exe().context("finding the connlab executable")?;
    let runs = run::run_all(
        &run::Job {
            exe: &exe,
            lab: &opts.lab,
            points: &points,
            repeat: opts.repeat.max(1),
            jobs: opts.jobs.max(1),
            out: &folder,
        },
        stop,
    );
    let rows = table::rows(&points, &runs, &opts.metrics);
    write_files(&folder, &lab.name, &rows, stop())?;
    Ok(SweepResult {
        rows,
        planned: points.len(),
        folder,
    })
}

/// What a finished (or interrupted) sweep produced.
#[derive(Debug)]
pub struct SweepResult {
    /// One row per point that ran.
    pub rows: Vec<PointRow>,
    /// Points planned.
    pub planned: usize,
    /// `sweep.csv`, `sweep.json` and `sweep.html` are in here.
    pub folder: PathBuf,
}

impl SweepResult {
    /// The worst outcome over the points that ran.
    pub fn worst(&self) -> Option<Outcome> {
        self.rows.iter().map(|r| r.outcome).max()
    }
}

/// Writes the three files of a sweep into `folder`.
pub fn write_files(folder: &Path, lab: &str, rows: &[PointRow], interrupted: bool) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = folder.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("sweep.csv", table::csv(rows))?;
    let json = table::json(lab, rows, interrupted);
    write("sweep.json", format!("{json:#}\n"))?;
    write("sweep.html", html::render(lab, rows, folder))
}
