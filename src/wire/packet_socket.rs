//! An AF_PACKET socket bound to one interface: the wire's port.
//!
//! Opened by hand (libc) rather than through a datalink wrapper because the wire needs options
//! no wrapper exposes: PACKET_IGNORE_OUTGOING (so frames the wire itself sends are not read
//! back), a receive ring shared with the kernel (see [`super::ring`]), sends that skip the
//! qdisc and go out in batches (sendmmsg), and PACKET_STATISTICS drop counts.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{Context, Result};

use super::ring::RxRing;

/// Frames per sendmmsg call.
const BATCH: usize = 64;

const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
/// Send buffer: a batch of frames must not wait for room.
const SEND_BUFFER: libc::c_int = 4 << 20;

/// A raw Ethernet port on one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens a port on interface `ifname` of the calling thread's namespace, with a receive
    /// ring of `ring_frames` slots.
    pub fn open(ifname: &str, ring_frames: usize) -> Result<(PacketSocket, RxRing)> {
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
        let sock = PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
            ifindex,
        };
        sock.set_int(libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            .context("PACKET_IGNORE_OUTGOING (kernel >= 4.20)")?;
        // The frames go straight to the veth; a failure only costs a little speed.
        let _ = sock.set_int(libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1);
        let _ = sock.set_int(libc::SOL_SOCKET, libc::SO_SNDBUF, SEND_BUFFER);
        // The ring before bind: no frame arrives through the plain socket path.
        let ring = RxRing::attach(sock.fd.as_raw_fd(), ring_frames).context("the receive ring")?;
        sock.bind()?;
        // Reading the counters resets them: start from zero.
        let _ = sock.drops();
        Ok((sock, ring))
    }

    /// Waits until a frame may be in the ring or `timeout` passed.
    pub fn wait(&self, timeout: Duration) {
        let mut fds = [libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        }];
        // SAFETY: fds is a valid array of one pollfd.
        unsafe {
            libc::poll(fds.as_mut_ptr(), 1, timeout.as_millis() as libc::c_int);
        }
    }

    /// Sends `frames` out of this port with as few system calls as the kernel allows;
    /// returns how many could not be sent.
    pub fn send_batch(&self, frames: &[&[u8]]) -> u64 {
        let mut failed = 0;
        for chunk in frames.chunks(BATCH) {
            let mut iov: Vec<libc::iovec> = chunk
                .iter()
                .map(|f| libc::iovec {
                    iov_base: f.as_ptr() as *mut libc::c_void,
                    iov_len: f.len(),
                })
                .collect();
            // SAFETY: zeroed mmsghdr is valid; each points at one iovec that outlives the call.
            let mut msgs: Vec<libc::mmsghdr> = iov
                .iter_mut()
                .map(|v| {
                    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    m.msg_hdr.msg_iov = v;
                    m.msg_hdr.msg_iovlen = 1;
                    m
                })
                .collect();
            let mut sent = 0;
            while sent < msgs.len() {
                // SAFETY: msgs[sent..] are valid mmsghdr entries describing live buffers.
                let n = unsafe {
                    libc::sendmmsg(
                        self.fd.as_raw_fd(),
                        msgs[sent..].as_mut_ptr(),
                        (msgs.len() - sent) as libc::c_uint,
                        0,
                    )
                };
                if n <= 0 {
                    // This frame failed; the others still go.
                    failed += 1;
                    sent += 1;
                } else {
                    sent += n as usize;
                }
            }
        }
        failed
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
