//! Where a run's files go: `<folder>/<lab>-<UTC time>` is the prefix of the capture, the events
//! file, the report and the external programs' output, so one run's files sort together.
//!
//! Two runs never share a prefix: a run claims its prefix by creating its first file
//! exclusively (`O_EXCL`), and a run that finds the name taken (another run started in the same
//! second, or a lab of the same name in one suite) takes `<lab>-<UTC time>-2`, `-3`, and so on.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Names tried after the bare stamp before giving up: far more runs than one second can start.
const MOST_CLAIMS: u32 = 10_000;

/// `<prefix>.<suffix>`, without treating a dot in the lab's name as an extension.
pub fn beside(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Claims a fresh prefix for a run of `lab` in `folder`, stamped with the current UTC time:
/// `make` is given each candidate prefix in turn and must create what marks it taken
/// exclusively (`File::create_new`, `create_dir`); a candidate whose mark already exists is
/// passed over. Returns the prefix and what `make` made.
pub fn claim<T>(
    folder: &Path,
    lab: &str,
    mut make: impl FnMut(&Path) -> io::Result<T>,
) -> Result<(PathBuf, T)> {
    let stamp = file_stamp();
    for n in 1..=MOST_CLAIMS {
        let prefix = folder.join(match n {
            1 => format!("{lab}-{stamp}"),
            n => format!("{lab}-{stamp}-{n}"),
        });
        match make(&prefix) {
            Ok(made) => return Ok((prefix, made)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", prefix.display()));
            }
        }
    }
    bail!(
        "{MOST_CLAIMS} runs of {lab} started in {} within one second: no free file name is left",
        folder.display()
    )
}

/// Creates `path` for writing, failing with `AlreadyExists` where a file is there.
pub fn create_new(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The stamp and claim number of a run's file name after `<lab>-`: `20261124T191226Z` is
/// the first run of that second, `20261124T191226Z-3` the third. None for anything else.
pub fn parse_stamp(rest: &str) -> Option<(&str, u32)> {
    let (stamp, n) = match rest.split_once('-') {
        None => (rest, 1),
        // Only the names `claim` makes: 2 and up, no leading zero.
        Some((stamp, n)) if !n.starts_with('0') => (stamp, n.parse().ok().filter(|n| *n >= 2)?),
        Some(_) => return None,
    };
    is_stamp(stamp).then_some((stamp, n))
}

/// `20261124T191226Z`, as [`claim`] stamps runs.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// UTC time for file names: `20261124T191226Z`.
fn file_stamp() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("connlab-paths-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn suffixes_are_appended_not_swapped_for_an_extension() {
        let dir = scratch("dots");
        let (prefix, _) =
            claim(&dir, "lab.v2", |p| create_new(&beside(p, "pcapng"))).expect("claim");
        let name = prefix.file_name().and_then(|n| n.to_str()).expect("name");
        let rest = name.strip_prefix("lab.v2-").expect(name);
        assert_eq!(parse_stamp(rest).map(|(_, n)| n), Some(1), "{name}");
        let pcap = beside(&prefix, "pcapng");
        assert_eq!(pcap.extension().and_then(|e| e.to_str()), Some("pcapng"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn runs_started_together_each_claim_their_own_prefix() {
        let dir = scratch("together");
        let claims: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| claim(&dir, "lab", |p| create_new(&beside(p, "pcapng")))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("claim").0)
                .collect()
        });
        let mut distinct = claims.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 8, "{claims:?}");
        let files = std::fs::read_dir(&dir).expect("read").count();
        assert_eq!(files, 8);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_taken_name_moves_on_and_other_errors_stop() {
        let dir = scratch("taken");
        let mut tried = Vec::new();
        let (prefix, ()) = claim(&dir, "lab", |p| {
            tried.push(p.to_owned());
            if tried.len() < 3 {
                Err(io::ErrorKind::AlreadyExists.into())
            } else {
                Ok(())
            }
        })
        .expect("claim");
        assert!(
            prefix.to_string_lossy().ends_with("Z-3"),
            "{}",
            prefix.display()
        );
        let err = claim(&dir, "lab", |_| {
            Err::<(), _>(io::ErrorKind::PermissionDenied.into())
        })
        .expect_err("refused");
        assert!(format!("{err:#}").contains("creating"), "{err:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_the_names_claim_makes_parse() {
        assert_eq!(
            parse_stamp("20261124T191226Z"),
            Some(("20261124T191226Z", 1))
        );
        assert_eq!(
            parse_stamp("20261124T191226Z-12"),
            Some(("20261124T191226Z", 12))
        );
        for no in [
            "20261124T191226Z-1",
            "20261124T191226Z-02",
            "20261124T191226Z-x",
            "big-idle-20261124T191226Z",
            "",
        ] {
            assert_eq!(parse_stamp(no), None, "{no}");
        }
    }
}
