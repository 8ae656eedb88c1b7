//! The lab network: a client namespace and a server namespace, each with one veth whose other
//! end sits in a wire namespace, where the userspace forwarder joins them.
//!
//! ```text
//!  client ns              wire ns                    server ns
//!  eth0 198.18.0.1 ==== to-client  [forwarder]  to-server ==== eth0 198.18.0.2
//! ```
//! Both sides share one /24 of 198.18.0.0/15 (reserved for benchmarking), so ARP and TCP cross
//! the forwarder as plain Ethernet frames. Interface names live inside private namespaces, so
//! they never collide between runs; namespace names carry the pid and a sequence number.
//!
//! Everything is made in-process: namespaces with nix, links and addresses over rtnetlink,
//! sysctls through /proc, offloads with SIOCETHTOOL. Dropping a [`Topology`] deletes its
//! namespaces, which destroys the veth pairs with them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Result;

use super::{clean, ethtool, link, netns, sysctl};

/// Address of the client side.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Address of the server side.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// More client addresses, for labs with more connections than one address has ports:
/// 198.18.0.11 onwards.
pub fn extra_client_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 10 + i.min(MAX_EXTRA_CLIENT_ADDRS) as u8)
}
/// How many extra client addresses the subnet holds (198.18.0.11 to .250).
pub const MAX_EXTRA_CLIENT_ADDRS: usize = 240;
/// Prefix length of the shared subnet.
const PREFIX_LEN: u8 = 24;
/// Interface of the client or server inside its namespace.
const ENDPOINT_IF: &str = "eth0";
/// Wire-namespace interface facing the client.
const WIRE_CLIENT_IF: &str = "to-client";
/// Wire-namespace interface facing the server.
const WIRE_SERVER_IF: &str = "to-server";

static NEXT_SEQ: AtomicU32 = AtomicU32::new(0);

/// What a lab asks of the network besides the fixed shape.
#[derive(Debug, Clone, Default)]
pub struct TopologySpec {
    /// Sysctls for the client namespace (dotted keys).
    pub client_sysctls: BTreeMap<String, String>,
    /// Sysctls for the server namespace.
    pub server_sysctls: BTreeMap<String, String>,
    /// Keep IPv6 on (off by default so no stray neighbour discovery crosses the wire).
    pub ipv6: bool,
    /// Addresses the client side has besides [`CLIENT_ADDR`].
    pub extra_client_addrs: Vec<Ipv4Addr>,
}

/// A built lab network; dropping it removes it.
#[derive(Debug)]
pub struct Topology {
    /// Namespace of the client actors.
    pub client_ns: String,
    /// Namespace of the server actors.
    pub server_ns: String,
    /// Namespace holding the forwarder's two interfaces.
    pub wire_ns: String,
    /// What the lab asked for that this run could not do (rootless: a sysctl that is not
    /// per-namespace), in words for the summary.
    pub unavailable: Vec<String>,
}

impl Topology {
    /// Builds the three namespaces and the two veth pairs, configured and up.
    pub fn build(spec: &TopologySpec) -> Result<Topology> {
        let pid = std::process::id();
        let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
        let mut topo = Topology {
            client_ns: clean::namespace_name(pid, seq, "client"),
            server_ns: clean::namespace_name(pid, seq, "server"),
            wire_ns: clean::namespace_name(pid, seq, "wire"),
            unavailable: Vec::new(),
        };
        // Created one by one: whatever exists is removed by Drop if a later step fails.
        let names = [
            topo.client_ns.clone(),
            topo.server_ns.clone(),
            topo.wire_ns.clone(),
        ];
        let mut created: Vec<String> = Vec::new();
        for name in &names {
            if let Err(e) = netns::create(name) {
                for done in &created {
                    let _ = netns::delete(done);
                }
                topo.client_ns.clear();
                topo.server_ns.clear();
                topo.wire_ns.clear();
                return Err(e);
            }
            created.push(name.clone());
        }
        topo.configure(spec)?;
        Ok(topo)
    }

    /// The wire namespace's interfaces facing the client and the server: the forwarder's ports.
    pub fn wire_ports(&self) -> (&'static str, &'static str) {
        (WIRE_CLIENT_IF, WIRE_SERVER_IF)
    }

    fn configure(&mut self, spec: &TopologySpec) -> Result<()> {
        for ns in [&self.client_ns, &self.server_ns, &self.wire_ns] {
            if !spec.ipv6 {
                netns::in_netns(ns, sysctl::disable_ipv6)?;
            }
            link::with_netlink(ns, |h| async move { link::set_up(&h, "lo").await })?;
        }
        let (client_ns, server_ns) = (self.client_ns.clone(), self.server_ns.clone());
        link::with_netlink(&self.wire_ns, move |h| async move {
            link::add_veth(&h, WIRE_CLIENT_IF, ENDPOINT_IF, &client_ns).await?;
            link::add_veth(&h, WIRE_SERVER_IF, ENDPOINT_IF, &server_ns).await
        })?;
        let client_addrs: Vec<Ipv4Addr> = std::iter::once(CLIENT_ADDR)
            .chain(spec.extra_client_addrs.iter().copied())
            .collect();
        for (ns, addrs) in [
            (&self.client_ns, client_addrs),
            (&self.server_ns, vec![SERVER_ADDR]),
        ] {
            netns::in_netns(ns, || ethtool::disable_offloads(ENDPOINT_IF))?;
            link::with_netlink(ns, move |h| async move {
                for addr in addrs {
                    link::add_address(&h, ENDPOINT_IF, IpAddr::V4(addr), PREFIX_LEN).await?;
                }
                link::set_up(&h, ENDPOINT_IF).await
            })?;
        }
        for wire_if in [WIRE_CLIENT_IF, WIRE_SERVER_IF] {
            netns::in_netns(&self.wire_ns, move || ethtool::disable_offloads(wire_if))?;
            link::with_netlink(&self.wire_ns, move |h| async move {
                link::set_up(&h, wire_if).await
            })?;
        }
        let client = apply_sysctls(&self.client_ns, &spec.client_sysctls)?;
        let server = apply_sysctls(&self.server_ns, &spec.server_sysctls)?;
        self.unavailable.extend(client.into_iter().chain(server));
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.client_ns, &self.server_ns, &self.wire_ns] {
            if !ns.is_empty() {
                clean::kill_processes_inside(ns);
                let _ = netns::delete(ns);
            }
        }
    }
}

/// Writes the sysctls inside `ns`. Rootless, one the kernel does not let a user namespace
/// write (not per-namespace) is skipped and returned in words, for the summary to say; as
/// root any failure is an error.
fn apply_sysctls(ns: &str, sysctls: &BTreeMap<String, String>) -> Result<Vec<String>> {
    if sysctls.is_empty() {
        return Ok(Vec::new());
    }
    let sysctls = sysctls.clone();
    let rootless = super::userns::rootless();
    netns::in_netns(ns, move || {
        let mut skipped = Vec::new();
        for (key, value) in &sysctls {
            match sysctl::write(key, value) {
                Ok(()) => {}
                Err(e) if rootless => skipped.push(format!(
                    "sysctl {key} = {value} (not writable without root: {e:#})"
                )),
                Err(e) => return Err(e),
            }
        }
        Ok(skipped)
    })
}
