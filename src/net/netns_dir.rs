//! The `/run/netns` directory kept the way iproute2 keeps it: a shared mount point of its own.
//!
//! `ip netns add` makes `/run/netns` a shared mount, and when it is not a mount point yet it
//! first bind-mounts the directory onto itself. If connlab had already mounted namespace
//! handles in the plain directory, that bind hides them: the handles' files stay visible, but
//! removing one fails with EBUSY (it is still a mount point underneath), and a killed run's
//! namespaces could never be cleaned. So connlab prepares the directory as iproute2 would
//! before its first handle ([`prepare`]), and [`unshadow`] undoes a shadowing bind that holds
//! nothing, so that what lies under it can be removed.

use std::fs;

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Where named namespaces live (the `ip netns` convention).
pub const NETNS_DIR: &str = "/run/netns";

/// One line of `/proc/self/mountinfo`: the fields this module needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    id: u32,
    parent: u32,
    point: String,
}

/// Parses `/proc/self/mountinfo` text (mount id, parent id, …, mount point as the fifth field).
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let id = fields.next()?.parse().ok()?;
            let parent = fields.next()?.parse().ok()?;
            let point = fields.nth(2)?.replace("\\040", " ");
            Some(Mount { id, parent, point })
        })
        .collect()
}

fn mounts() -> Result<Vec<Mount>> {
    let text =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(parse_mountinfo(&text))
}

/// The mount that `/run/netns` resolves to (the last one stacked there), if it is a mount point.
fn top(mounts: &[Mount]) -> Option<&Mount> {
    mounts.iter().rev().find(|m| m.point == NETNS_DIR)
}

/// Makes `/run/netns` exist and be a shared mount point, as `ip netns add` does, so that a
/// later `ip netns add` never binds over handles connlab mounted there.
pub fn prepare() -> Result<()> {
    fs::create_dir_all(NETNS_DIR).with_context(|| format!("creating {NETNS_DIR}"))?;
    // Two runs starting at once must not both bind the directory: the check and the bind are
    // one step under a lock on the directory itself.
    let dir = fs::File::open(NETNS_DIR).with_context(|| format!("opening {NETNS_DIR}"))?;
    let _locked = Flock::lock(dir, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {NETNS_DIR}"))?;
    if top(&mounts()?).is_none() {
        mount(
            Some(NETNS_DIR),
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting {NETNS_DIR} onto itself"))?;
    }
    mount(
        None::<&str>,
        NETNS_DIR,
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("making {NETNS_DIR} a shared mount"))
}

/// Removes a bind of `/run/netns` that hides handles mounted beneath it, when that bind holds
/// no namespace of its own (then nothing is lost: its files are the directory's own). Returns
/// an error that says what to do when it does hold some.
pub fn unshadow() -> Result<()> {
    let all = mounts()?;
    let Some(top) = top(&all) else {
        bail!("{NETNS_DIR} is not a mount point: nothing shadows its handles");
    };
    let held: Vec<&str> = all
        .iter()
        .filter(|m| m.parent == top.id)
        .map(|m| m.point.as_str())
        .collect();
    if !held.is_empty() {
        bail!(
            "{NETNS_DIR} is a bind mount over older namespace handles and holds namespaces of \
             its own ({}); delete those with `ip netns delete`, then run `umount -l {NETNS_DIR}` \
             and `connlab clean` again",
            held.join(", ")
        );
    }
    umount2(NETNS_DIR, MntFlags::MNT_DETACH)
        .with_context(|| format!("unmounting the bind of {NETNS_DIR} that hides older handles"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHADOWED: &str = "\
27 1 0:26 / /run rw,nosuid shared:5 - tmpfs tmpfs rw
45 27 0:4 net:[4026532178] /run/netns/connlab-2390-0-client rw - nsfs nsfs rw
46 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw
";

    #[test]
    fn finds_the_bind_stacked_last_over_the_directory() {
        let all = parse_mountinfo(SHADOWED);
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].point, "/run/netns/connlab-2390-0-client");
        let top = top(&all).expect("a mount at /run/netns");
        assert_eq!(top.id, 46);
        assert!(
            all.iter().all(|m| m.parent != top.id),
            "the shadowing bind holds nothing, so it may go"
        );
    }

    #[test]
    fn a_plain_directory_has_no_top_mount() {
        let all = parse_mountinfo("27 1 0:26 / /run rw - tmpfs tmpfs rw\n");
        assert!(top(&all).is_none());
    }
}
