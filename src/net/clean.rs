//! Removal of what killed runs left behind.
//!
//! A run names its namespaces `connlab-<pid>-<seq>-<role>`. A run killed with SIGKILL cannot
//! clean up, so `connlab clean` removes the namespaces whose owning pid is no longer a live
//! connlab process, after killing any process still inside them. Live runs are never touched.

use std::fs;
use std::os::unix::fs::MetadataExt;

use anyhow::Result;

use super::netns;
use super::netns_dir::NETNS_DIR;

/// Prefix of every namespace connlab creates.
pub const PREFIX: &str = "connlab-";

/// Name of a run's namespace for `role` ("client", "server", "wire").
pub fn namespace_name(pid: u32, seq: u32, role: &str) -> String {
    format!("{PREFIX}{pid}-{seq}-{role}")
}

/// The pid that owns a connlab namespace name, or None for names connlab did not make.
pub fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// True when `pid` is a running connlab process.
fn is_live_connlab(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim_end().starts_with("connlab"))
        .unwrap_or(false)
}

/// What [`clean`] removed.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Namespaces deleted.
    pub namespaces: Vec<String>,
    /// Processes killed because they were still inside one of them.
    pub processes: Vec<u32>,
}

/// Removes the namespaces (and the processes inside them) of dead connlab runs.
pub fn clean() -> Result<Cleaned> {
    let mut cleaned = Cleaned::default();
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return Ok(cleaned);
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if is_live_connlab(pid) {
            continue;
        }
        cleaned.processes.extend(kill_processes_inside(&name));
        netns::delete(&name)?;
        cleaned.namespaces.push(name);
    }
    Ok(cleaned)
}

/// Kills (SIGKILL) every process whose network namespace is the named one.
pub fn kill_processes_inside(name: &str) -> Vec<u32> {
    let Ok(target) = fs::metadata(netns::path(name)) else {
        return Vec::new();
    };
    let mut killed = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return killed;
    };
    for proc_entry in procs.flatten() {
        let Some(pid) = proc_entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(ns) = fs::metadata(format!("/proc/{pid}/ns/net")) else {
            continue;
        };
        if ns.ino() == target.ino() && ns.dev() == target.dev() && pid != std::process::id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            killed.push(pid);
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_owner() {
        let name = namespace_name(4242, 3, "client");
        assert_eq!(name, "connlab-4242-3-client");
        assert_eq!(owner_pid(&name), Some(4242));
        assert_eq!(owner_pid("someone-else"), None);
        assert_eq!(owner_pid("connlab-notapid-1-wire"), None);
    }
}
