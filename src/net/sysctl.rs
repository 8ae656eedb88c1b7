//! Per-namespace sysctls.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens it, so writes must
//! come from a thread inside the namespace (see [`super::netns::in_netns`]).

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// Path under /proc/sys for a dotted key such as `net.ipv4.tcp_keepalive_time`.
fn proc_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// Writes one sysctl in the calling thread's namespace.
pub fn write(key: &str, value: &str) -> Result<()> {
    fs::write(proc_path(key), value).with_context(|| {
        format!("setting sysctl {key} = {value} (is the key spelled right and per-namespace?)")
    })
}

/// Turns IPv6 off for every current and future interface of the namespace, so that router
/// solicitations and MLD reports do not cross the wire. Kernels without IPv6 need nothing.
pub fn disable_ipv6() -> Result<()> {
    for key in [
        "net.ipv6.conf.all.disable_ipv6",
        "net.ipv6.conf.default.disable_ipv6",
    ] {
        if proc_path(key).exists() {
            write(key, "1")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_map_to_proc_paths() {
        assert_eq!(
            proc_path("net.ipv4.ip_local_port_range"),
            PathBuf::from("/proc/sys/net/ipv4/ip_local_port_range")
        );
    }
}
