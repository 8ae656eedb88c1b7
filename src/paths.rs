//! Where a run's files go: `<folder>/<lab>-<UTC time>` is the prefix of the capture, the events
//! file, the report and the external programs' output, so one run's files sort together.

use std::path::{Path, PathBuf};

/// The prefix of a run of `lab` writing into `folder`, stamped with the current UTC time.
pub fn run_prefix(folder: &Path, lab: &str) -> PathBuf {
    folder.join(format!("{lab}-{}", file_stamp()))
}

/// `<prefix>.<suffix>`, without treating a dot in the lab's name as an extension.
pub fn beside(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
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

    #[test]
    fn suffixes_are_appended_not_swapped_for_an_extension() {
        let prefix = run_prefix(Path::new("/tmp/out"), "lab.v2");
        let name = prefix.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(name.starts_with("lab.v2-") && name.ends_with('Z'), "{name}");
        let pcap = beside(&prefix, "pcapng");
        assert_eq!(pcap.extension().and_then(|e| e.to_str()), Some("pcapng"));
        assert!(
            pcap.to_string_lossy().contains("lab.v2-"),
            "{}",
            pcap.display()
        );
    }
}
