//! Who an external program runs as: a real server started by a lab needs no root (and
//! PostgreSQL refuses it), so a lab may name an unprivileged user for it. Only root can
//! switch; connlab run by anyone else runs the program as itself.

use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::unistd::{Gid, Uid, User};

/// A user to become between fork and exec, resolved before the fork (looking a name up is
/// not async-signal-safe).
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    uid: Uid,
    gid: Gid,
}

impl RunAs {
    /// The user called `name`; `None` when connlab cannot switch to it: not root, or root
    /// only of a user namespace (a rootless run) that maps its own user alone.
    pub fn named(name: &str) -> Result<Option<RunAs>> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        let Some(user) =
            User::from_name(name).with_context(|| format!("looking up user {name}"))?
        else {
            bail!("no user called {name} on this machine (the lab's exec `user`)");
        };
        let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
        if !mapped(&map, user.uid.as_raw()) {
            return Ok(None);
        }
        Ok(Some(RunAs {
            uid: user.uid,
            gid: user.gid,
        }))
    }

    /// Gives `path` to this user, so the program may write there.
    pub fn own(&self, path: &Path) -> Result<()> {
        nix::unistd::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("giving {} to uid {}", path.display(), self.uid))
    }

    /// Drops root for this user: no supplementary groups, its group, then its uid (in that
    /// order: once the uid is dropped the others can no longer change). Only raw system calls,
    /// so it may run between fork and exec.
    pub fn become_it(&self) -> std::io::Result<()> {
        // SAFETY: plain system calls on integers; no memory is touched.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(self.gid.as_raw()) != 0
                || libc::setuid(self.uid.as_raw()) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Whether `uid` (as this process's user namespace numbers it) is in its `uid_map`: the
/// initial namespace maps every uid; a rootless run's maps its own user alone.
fn mapped(uid_map: &str, uid: u32) -> bool {
    uid_map.lines().any(|line| {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        match (fields.next(), fields.next(), fields.next()) {
            (Some(Ok(inside)), Some(Ok(_)), Some(Ok(count))) => {
                (inside..inside + count).contains(&u64::from(uid))
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::mapped;

    #[test]
    fn a_rootless_namespace_maps_its_own_user_alone() {
        let init = "         0          0 4294967295\n";
        assert!(mapped(init, 65534));
        let rootless = "         0       1000          1\n";
        assert!(mapped(rootless, 0));
        assert!(!mapped(rootless, 65534));
        assert!(!mapped("", 0));
    }
}
