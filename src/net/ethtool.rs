//! NIC offloads, switched off through the SIOCETHTOOL ioctl (no ethtool binary needed).
//!
//! A veth sends frames with partial checksums (CHECKSUM_PARTIAL) and may hand over GSO
//! super-frames. The wire reads frames from one veth with AF_PACKET and writes them to another,
//! which drops the "checksum to be completed" mark: the receiver then sees a wrong checksum
//! and silently discards the segment. A super-frame larger than the MTU cannot be re-sent at
//! all. So every interface on the path computes checksums in software and segments before
//! sending.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{bail, Context, Result};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_STXCSUM: u32 = 0x17;
const ETHTOOL_SSG: u32 = 0x19;
const ETHTOOL_STSO: u32 = 0x1f;
const ETHTOOL_SGSO: u32 = 0x24;
const ETHTOOL_SGRO: u32 = 0x2c;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut EthtoolValue,
    _pad: [u8; 16],
}

/// Turns off checksum offload, scatter-gather, TSO, GSO and GRO on interface `ifname` of the
/// calling thread's namespace.
pub fn disable_offloads(ifname: &str) -> Result<()> {
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error()).context("socket for SIOCETHTOOL");
    }
    // SAFETY: raw is a fresh valid descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // GSO and TSO first: they depend on checksum offload, which goes last.
    for cmd in [
        ETHTOOL_SGRO,
        ETHTOOL_SGSO,
        ETHTOOL_STSO,
        ETHTOOL_SSG,
        ETHTOOL_STXCSUM,
    ] {
        set(&sock, ifname, cmd, 0)
            .with_context(|| format!("turning off offload 0x{cmd:x} on {ifname}"))?;
    }
    Ok(())
}

fn set(sock: &OwnedFd, ifname: &str, cmd: u32, value: u32) -> Result<()> {
    let mut name = [0u8; libc::IFNAMSIZ];
    if ifname.len() >= name.len() {
        bail!("interface name {ifname} is too long");
    }
    name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    let mut arg = EthtoolValue { cmd, data: value };
    let mut req = IfReq {
        name,
        data: &mut arg,
        _pad: [0; 16],
    };
    // SAFETY: req points to a valid ifreq whose data points to a live ethtool_value.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut req as *mut IfReq) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}
