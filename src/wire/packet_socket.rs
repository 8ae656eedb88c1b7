//! An AF_PACKET socket bound to one interface: the wire's port.
//!
//! Opened by hand (libc) rather than through a datalink wrapper because the wire needs options
//! no wrapper exposes: PACKET_IGNORE_OUTGOING (so frames the wire itself sends are not read
//! back), a forced 16 MiB receive buffer (bursts must not overflow it while the capture
//! thread writes), kernel receive timestamps (SIOCGSTAMPNS) and PACKET_STATISTICS drop counts.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{Context, Result};

const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
const RECV_BUFFER: libc::c_int = 16 << 20;
/// Largest frame the wire accepts: room for GRO/GSO super-frames should any appear.
pub const MAX_FRAME: usize = 64 * 1024 + 256;

/// A raw Ethernet port on one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
    /// The receive buffer got the full 16 MiB (SO_RCVBUFFORCE needs root in the initial user
    /// namespace; rootless it is capped by net.core.rmem_max).
    pub full_buffer: bool,
}

impl PacketSocket {
    /// Opens a port on interface `ifname` of the calling thread's namespace; `poll` bounds each
    /// receive so the reading thread can notice a stop request.
    pub fn open(ifname: &str, poll: Duration) -> Result<PacketSocket> {
        let ifindex = nix::net::if_::if_nametoindex(ifname)
            .with_context(|| format!("no interface {ifname}"))? as i32;
        // Protocol 0 until bind: an ETH_P_ALL socket would see every interface's frames
        // between socket() and bind().
        // SAFETY: plain socket(2) call; the fd is owned right away.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error())
                .context("opening an AF_PACKET socket (needs CAP_NET_RAW)");
        }
        // SAFETY: raw is a fresh valid descriptor owned by nothing else.
        let mut sock = PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
            ifindex,
            full_buffer: true,
        };
        sock.set_int(libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            .context("PACKET_IGNORE_OUTGOING (kernel >= 4.20)")?;
        if sock
            .set_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RECV_BUFFER)
            .is_err()
        {
            // Rootless: as much as net.core.rmem_max allows; drops are counted, not hidden.
            sock.full_buffer = false;
            sock.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, RECV_BUFFER)
                .context("SO_RCVBUF")?;
        }
        let tv = libc::timeval {
            tv_sec: poll.as_secs() as libc::time_t,
            tv_usec: poll.subsec_micros() as libc::suseconds_t,
        };
        sock.set_opt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
            .context("SO_RCVTIMEO")?;
        sock.bind()?;
        // Reading the counters resets them: start from zero.
        let _ = sock.drops();
        Ok(sock)
    }

    fn bind(&self) -> Result<()> {
        // SAFETY: zeroed sockaddr_ll is a valid value; fields are set below.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = self.ifindex;
        // SAFETY: addr is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error()).context("binding the AF_PACKET socket");
        }
        Ok(())
    }

    /// Receives one frame into `buf`; returns its length and kernel receive time (ns since the
    /// UNIX epoch), or None when the poll interval passed without a frame.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, u64)>> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let len = (n as usize).min(buf.len());
        Ok(Some((len, self.last_timestamp()?)))
    }

    /// Kernel receive time of the last frame read.
    fn last_timestamp(&self) -> io::Result<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec for the ioctl to fill.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCGSTAMPNS, &mut ts) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// Sends one frame out of this port.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: frame is valid for reads of frame.len() bytes.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Frames the kernel dropped because the receive buffer was full, since the previous
    /// call (the kernel resets its counters on read).
    pub fn drops(&self) -> io::Result<u64> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: st and len describe a valid buffer for the option value.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut st as *mut libc::tpacket_stats as *mut libc::c_void,
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(u64::from(st.tp_drops))
    }

    fn set_int(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> Result<()> {
        self.set_opt(level, name, &value)
    }

    fn set_opt<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) -> Result<()> {
        // SAFETY: value points to a live T of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                value as *const T as *const libc::c_void,
                std::mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error().into());
        }
        Ok(())
    }
}
