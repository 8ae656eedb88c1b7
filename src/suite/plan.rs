//! Which labs `connlab run a.toml b.toml labs/` means: every argument is an embedded lab's
//! name, a lab file or a folder of lab files (its `*.toml`, sorted by name). Every lab is read
//! and every `--set` applied before anything runs, so bad files stop the suite at once, every
//! one of them with its line and column, instead of after an hour of other labs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::lab::{catalog, overrides, overrides::Override};

/// One lab of a suite.
#[derive(Debug, Clone)]
pub struct SuiteLab {
    /// The lab's name (its file's stem, or the embedded name).
    pub name: String,
    /// What to hand to `connlab run`: the file's path or the embedded name.
    pub source: String,
    /// The file, when it came from one.
    pub file: Option<PathBuf>,
}

/// Expands the arguments into labs, in order (a lab named twice runs once), checking each.
pub fn labs(args: &[String], set: &[Override]) -> Result<Vec<SuiteLab>> {
    let mut labs: Vec<SuiteLab> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        let found = if path.is_dir() {
            folder(path)?
        } else {
            vec![arg.to_owned()]
        };
        for source in found {
            match one(&source, set) {
                Ok(lab) if labs.iter().any(|l| l.source == lab.source) => {}
                Ok(lab) => labs.push(lab),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
    }
    match errors.as_slice() {
        [] => Ok(labs),
        [one] => bail!("{one}"),
        // A file with several errors says them on lines of their own, under its name.
        all => bail!(
            "{} labs cannot run, nothing ran:\n  {}",
            all.len(),
            all.join("\n").replace('\n', "\n  ")
        ),
    }
}

/// A lab read, and checked with the `--set` overrides.
fn one(arg: &str, set: &[Override]) -> Result<SuiteLab> {
    let lab = catalog::resolve(arg)?;
    overrides::apply(&lab, set).with_context(|| format!("lab {arg}"))?;
    let file = Path::new(arg).is_file().then(|| PathBuf::from(arg));
    Ok(SuiteLab {
        name: lab.name,
        source: arg.to_owned(),
        file,
    })
}

/// The lab files of a folder, sorted.
fn folder(dir: &Path) -> Result<Vec<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the lab folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no lab files (*.toml)", dir.display());
    }
    Ok(files.iter().map(|f| f.display().to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_gives_its_lab_files_sorted_and_duplicates_run_once() {
        let dir = std::env::temp_dir().join(format!("connlab-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (_, text) = catalog::EMBEDDED[0];
        std::fs::write(dir.join("b.toml"), text).expect("b");
        std::fs::write(dir.join("a.toml"), text).expect("a");
        std::fs::write(dir.join("notes.md"), "not a lab").expect("md");
        let d = dir.display().to_string();
        let b = dir.join("b.toml").display().to_string();
        let labs = labs(&[d, b, "pool-burst".into()], &[]).expect("labs");
        let names: Vec<&str> = labs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "pool-burst"]);
        assert!(labs[2].file.is_none(), "embedded");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_file_or_key_stops_the_suite_before_it_runs() {
        let dir = std::env::temp_dir().join(format!("connlab-plan-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("bad.toml"), "question = \"?\"\nnope = 1\n").expect("bad");
        let err = labs(&[dir.display().to_string()], &[]).expect_err("bad file");
        assert!(format!("{err:#}").contains("bad.toml:2:1"), "{err:#}");
        std::fs::write(
            dir.join("worse.toml"),
            "question = \"?\"\n[client]\nrequests = -1\n",
        )
        .expect("worse");
        let err = format!(
            "{:#}",
            labs(&[dir.display().to_string()], &[]).expect_err("two")
        );
        assert!(
            err.contains("2 labs cannot run")
                && err.contains("bad.toml:2:1")
                && err.contains("worse.toml:3:"),
            "every bad file is reported: {err}"
        );
        let set: Vec<Override> = vec!["client.nope=1".parse().expect("o")];
        let err = labs(&["pool-burst".into()], &set).expect_err("bad key");
        assert!(format!("{err:#}").contains("client.nope"), "{err:#}");
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).expect("empty");
        let err = labs(&[empty.display().to_string()], &[]).expect_err("empty");
        assert!(err.to_string().contains("no lab files"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
