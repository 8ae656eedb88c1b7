//! Running labs without root: connlab enters a user namespace of its own, mapped to the
//! invoking user, and becomes root there. That gives it CAP_NET_ADMIN and CAP_NET_RAW over the
//! network namespaces it then creates (veth, addresses, AF_PACKET, their sysctls), all owned by
//! that one user namespace, and nothing beyond them. External programs run as the invoking
//! user. The namespaces live as long as the process holds them: a killed run leaves nothing.
//!
//! Where the system forbids unprivileged user namespaces, [`enter`] says which setting does
//! and what to do.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid};

/// Set once this process runs in its own user namespace.
static ROOTLESS: AtomicBool = AtomicBool::new(false);

/// True when connlab runs rootless (in its own user namespace).
pub fn rootless() -> bool {
    ROOTLESS.load(Ordering::Relaxed)
}

/// What the run's privileges are, for the summary.
pub fn privileges() -> String {
    if rootless() {
        format!("rootless (a user namespace mapped to uid {})", outer_uid())
    } else {
        "root".to_owned()
    }
}

/// The uid outside the user namespace (the invoking user).
fn outer_uid() -> u32 {
    std::fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| m.split_whitespace().nth(1).and_then(|u| u.parse().ok()))
        .unwrap_or(0)
}

/// As root: nothing to do. Otherwise enters a new user namespace in which this process is
/// root. Must run while the process has a single thread (first thing in `main`).
pub fn enter() -> Result<()> {
    if geteuid().is_root() {
        return Ok(());
    }
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER) {
        let why = blocker().unwrap_or_else(|| format!("unshare(CLONE_NEWUSER) failed: {e}"));
        bail!(
            "connlab needs root or an unprivileged user namespace, and {why}.\n\
             Either run it with sudo, or allow unprivileged user namespaces (as root; see the \
             setting named above)"
        );
    }
    let write = |file: &str, text: &str| {
        std::fs::write(file, text).with_context(|| format!("writing {file} ({text:?})"))
    };
    write("/proc/self/setgroups", "deny")?;
    write("/proc/self/uid_map", &format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    ROOTLESS.store(true, Ordering::Relaxed);
    Ok(())
}

/// The setting that forbids unprivileged user namespaces here, in words, if one does.
fn blocker() -> Option<String> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
    };
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some(
            "kernel.unprivileged_userns_clone = 0 forbids them (sysctl -w \
             kernel.unprivileged_userns_clone=1)"
                .to_owned(),
        );
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some(
            "user.max_user_namespaces = 0 forbids them (sysctl -w \
             user.max_user_namespaces=15000)"
                .to_owned(),
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Some(
            "kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu) restricts them \
             (sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile \
             for connlab)"
                .to_owned(),
        );
    }
    None
}
