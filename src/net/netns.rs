//! Named network namespaces, created and entered without shelling out.
//!
//! As root, a namespace is kept alive by a bind mount under `/run/netns/<name>`, the same
//! convention as `ip netns`, so `ip netns list` and `ip netns exec` see ours and a user can
//! poke at a lab while it runs. Rootless (inside connlab's own user namespace, see
//! [`super::userns`]) nothing can be mounted there: the process holds each namespace's file
//! descriptor instead, and the namespaces end with it. Entering a namespace (`setns`) is per
//! thread: [`in_netns`] runs a closure on a fresh thread that entered it, so the caller's
//! thread is never moved.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::netns_dir::{self, NETNS_DIR};

/// Every namespace created by this process and not yet deleted, so that a signal handler can
/// remove them even when the normal teardown path cannot run.
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Rootless: the namespaces this process holds open, by name.
static HELD: Mutex<BTreeMap<String, File>> = Mutex::new(BTreeMap::new());

/// Path of a named namespace's handle: under `/run/netns` as root, this process's descriptor
/// for it (`/proc/self/fd/N`) when rootless.
pub fn path(name: &str) -> PathBuf {
    if super::userns::rootless() {
        if let Some(fd) = HELD
            .lock()
            .ok()
            .and_then(|held| held.get(name).map(|f| f.as_raw_fd()))
        {
            return PathBuf::from(format!("/proc/self/fd/{fd}"));
        }
    }
    Path::new(NETNS_DIR).join(name)
}

/// Creates an empty network namespace named `name` (only `lo`, down).
pub fn create(name: &str) -> Result<()> {
    if super::userns::rootless() {
        return create_held(name);
    }
    netns_dir::prepare()?;
    let handle = path(name);
    File::options()
        .write(true)
        .create_new(true)
        .open(&handle)
        .with_context(|| format!("creating namespace handle {}", handle.display()))?;
    register(name);
    let bind = handle.clone();
    let made = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &bind,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .context("bind-mounting the new namespace")?;
        Ok(())
    })
    .join()
    .map_err(|_| anyhow!("namespace creation thread panicked"))?;
    if let Err(e) = made {
        let _ = delete(name);
        return Err(e.context(format!(
            "creating network namespace {name} (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN)"
        )));
    }
    Ok(())
}

/// Rootless: a namespace made on a fresh thread and kept alive by its descriptor.
fn create_held(name: &str) -> Result<()> {
    let file = std::thread::spawn(|| -> Result<File> {
        unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
        File::open("/proc/thread-self/ns/net").context("opening the new namespace")
    })
    .join()
    .map_err(|_| anyhow!("namespace creation thread panicked"))?
    .with_context(|| format!("creating network namespace {name} in connlab's user namespace"))?;
    HELD.lock()
        .map_err(|_| anyhow!("namespace table poisoned"))?
        .insert(name.to_owned(), file);
    register(name);
    Ok(())
}

/// Deletes a named namespace: unmounts and removes its handle (rootless: lets go of its
/// descriptor). The kernel frees the namespace, and every veth end inside it, once no thread,
/// process or socket still uses it.
pub fn delete(name: &str) -> Result<()> {
    if let Ok(mut held) = HELD.lock() {
        if held.remove(name).is_some() {
            unregister(name);
            return Ok(());
        }
    }
    let handle = path(name);
    let removed = remove_handle(&handle).or_else(|e| {
        // EBUSY: a later bind of /run/netns hides the handle's mount; lift it and retry.
        if e.raw_os_error() != Some(nix::libc::EBUSY) {
            return Err(e).with_context(|| format!("removing {}", handle.display()));
        }
        netns_dir::unshadow()
            .with_context(|| format!("removing {} (busy: still mounted)", handle.display()))?;
        remove_handle(&handle).with_context(|| format!("removing {}", handle.display()))
    });
    unregister(name);
    removed
}

/// Unmounts and removes one handle under `/run/netns`; a handle already gone is fine.
fn remove_handle(handle: &Path) -> std::io::Result<()> {
    let _ = umount2(handle, MntFlags::MNT_DETACH);
    match fs::remove_file(handle) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Deletes every namespace this process still has; used on the way out of a signal.
pub fn delete_all_live() {
    let names: Vec<String> = LIVE.lock().map(|v| v.clone()).unwrap_or_default();
    for name in names {
        let _ = delete(&name);
    }
}

/// Moves the calling thread into namespace `name`. Only call this on a thread you own and
/// that runs nothing else (never inside an async task).
pub fn enter(name: &str) -> Result<()> {
    let handle = path(name);
    let file = File::open(&handle).with_context(|| format!("opening {}", handle.display()))?;
    setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering network namespace {name}"))
}

/// Runs `f` on a new thread inside namespace `name` and waits for its result. Sockets `f`
/// creates belong to that namespace.
pub fn in_netns<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let name = name.to_owned();
    std::thread::spawn(move || {
        enter(&name)?;
        f()
    })
    .join()
    .map_err(|_| anyhow!("thread inside namespace panicked"))?
}

fn register(name: &str) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(name.to_owned());
    }
}

fn unregister(name: &str) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|n| n != name);
    }
}
