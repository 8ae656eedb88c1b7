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
    /// The user called `name`; `None` when connlab is not root (nothing to switch from).
    pub fn named(name: &str) -> Result<Option<RunAs>> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        let Some(user) =
            User::from_name(name).with_context(|| format!("looking up user {name}"))?
        else {
            bail!("no user called {name} on this machine (the lab's exec `user`)");
        };
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
