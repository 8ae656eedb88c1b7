//! The captures a command line names: files, `-` for stdin, or a lab's name for the newest
//! capture a run of that lab wrote (a shell glob like `pool-burst-*` also matches the captures
//! of `pool-burst-big-idle`, and picks more than one once the lab ran twice).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::reader::STDIN;
use crate::paths::parse_stamp;

/// The capture `arg` names: an existing file (or `-`) as it is; else the newest
/// `<folder>/<arg>-<time>.pcapng` a run of the lab `arg` wrote. What looks like a file's path
/// (a `/` or an extension in it) and is not there is said to be missing, not a lab to run.
pub fn resolve(arg: &str, folder: &Path) -> Result<PathBuf> {
    let path = Path::new(arg);
    if path.is_dir() {
        bail!("{arg} is a directory, not a capture: give the capture files in it");
    }
    if arg == STDIN || path.exists() {
        return Ok(path.to_owned());
    }
    if let Some(newest) = newest_of_lab(arg, folder) {
        return Ok(newest);
    }
    if arg.contains('/') || path.extension().is_some() {
        bail!("no such file: {arg}");
    }
    bail!(
        "no such file {arg:?}, and no capture of a lab named {arg:?} in {}/ (run `connlab run \
         {arg}` first, or give the capture's path)",
        folder.display()
    )
}

/// The newest capture of `lab` in `folder`: runs are stamped with their UTC start time and
/// numbered within a second (`paths::claim`), so the newest has the greatest (stamp, number).
/// Another lab whose name begins with this one's does not count.
fn newest_of_lab(lab: &str, folder: &Path) -> Option<PathBuf> {
    let prefix = format!("{lab}-");
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let rest = name.strip_prefix(&prefix)?.strip_suffix(".pcapng")?;
            let (stamp, n) = parse_stamp(rest)?;
            Some(((stamp.to_owned(), n), name))
        })
        .max()
        .map(|(_, name)| folder.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_name_is_its_newest_capture_and_not_a_longer_labs() {
        let dir = std::env::temp_dir().join(format!("connlab-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        for name in [
            "pool-burst-20261124T191226Z.pcapng",
            "pool-burst-20261125T080000Z.pcapng",
            "pool-burst-20261125T080000Z-2.pcapng",
            "pool-burst-20261125T080000Z-10.pcapng",
            "pool-burst-20261125T080000Z-9.pcapng",
            "pool-burst-20261125T080000Z.events.jsonl",
            "pool-burst-big-idle-20261126T000000Z.pcapng",
        ] {
            std::fs::write(dir.join(name), b"").expect("write");
        }
        let got = resolve("pool-burst", &dir).expect("found");
        assert_eq!(got, dir.join("pool-burst-20261125T080000Z-10.pcapng"));
        let got = resolve("pool-burst-big-idle", &dir).expect("found");
        assert_eq!(got, dir.join("pool-burst-big-idle-20261126T000000Z.pcapng"));
        let err = resolve("keepalive-reuse", &dir)
            .expect_err("none")
            .to_string();
        assert!(err.contains("connlab run keepalive-reuse"), "{err}");
        assert_eq!(resolve("-", &dir).expect("stdin"), PathBuf::from("-"));
        let err = resolve("missing.pcap", &dir).expect_err("none").to_string();
        assert_eq!(err, "no such file: missing.pcap");
        let err = resolve(&dir.display().to_string(), &dir)
            .expect_err("a directory")
            .to_string();
        assert!(err.ends_with("is a directory, not a capture: give the capture files in it"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
