//! Links and addresses over rtnetlink, from a thread inside the namespace: a netlink socket
//! talks to the namespace of the thread that opened it.

use std::future::Future;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use anyhow::{anyhow, Context, Result};
use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::netns;

/// Runs `f` with a netlink handle bound to namespace `ns`.
pub fn with_netlink<T, F, Fut>(ns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    netns::in_netns(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the netlink runtime")?;
        rt.block_on(async move {
            let (connection, handle, _) =
                rtnetlink::new_connection().context("opening a netlink socket")?;
            let driver = tokio::spawn(connection);
            let result = f(handle).await;
            driver.abort();
            result
        })
    })
}

/// Index of interface `name`.
pub async fn index_of(handle: &Handle, name: &str) -> Result<u32> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    let link = links
        .try_next()
        .await
        .with_context(|| format!("looking up interface {name}"))?
        .ok_or_else(|| anyhow!("no interface {name}"))?;
    Ok(link.header.index)
}

/// Brings interface `name` up.
pub async fn set_up(handle: &Handle, name: &str) -> Result<()> {
    let index = index_of(handle, name).await?;
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .with_context(|| format!("bringing {name} up"))
}

/// Creates a veth pair: `name` here, its peer `peer_name` created directly in namespace
/// `peer_ns` (as `ip link add NAME type veth peer name PEER netns NS` does).
pub async fn add_veth(handle: &Handle, name: &str, peer_name: &str, peer_ns: &str) -> Result<()> {
    let ns = std::fs::File::open(netns::path(peer_ns))
        .with_context(|| format!("opening namespace {peer_ns}"))?;
    let peer = LinkMessageBuilder::<LinkUnspec>::default()
        .name(peer_name.to_owned())
        .setns_by_fd(ns.as_raw_fd())
        .build();
    let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(name.to_owned())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    handle
        .link()
        .add(veth)
        .execute()
        .await
        .with_context(|| format!("creating veth {name} with peer {peer_name} in {peer_ns}"))
}

/// Adds `addr/prefix` to interface `name`.
pub async fn add_address(handle: &Handle, name: &str, addr: IpAddr, prefix: u8) -> Result<()> {
    let index = index_of(handle, name).await?;
    handle
        .address()
        .add(index, addr, prefix)
        .execute()
        .await
        .with_context(|| format!("adding {addr}/{prefix} to {name}"))
}
