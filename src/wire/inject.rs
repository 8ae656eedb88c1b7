//! RST injection: the wire forges a reset into a chosen connection at a chosen time, the way a
//! middlebox (a firewall dropping state, a load balancer) does.
//!
//! The wire follows every TCP flow it forwards (the last acknowledgement each side sent and
//! the MAC addresses), so a forged RST carries the sequence number the receiver expects and is
//! accepted. The forged frames go to the capture too, marked as injected.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::tcp::{self, MutableTcpPacket, TcpFlags};
use serde::{Deserialize, Serialize};

use super::Direction;
use connlab_core::analyze::{decode, LinkType};

/// `[[link.inject_rst]]`: forge an RST into connection `conn` at `at_ms`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InjectRst {
    /// When, in ms after the lab started.
    pub at_ms: u64,
    /// Which connection: the n-th the wire saw open (1-based).
    #[serde(default = "first")]
    pub conn: usize,
    /// Who receives the forged RST: "both" (default), "client" or "server".
    #[serde(default)]
    pub toward: Toward,
}

fn first() -> usize {
    1
}

/// The receivers of a forged RST.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Toward {
    /// Both ends.
    #[default]
    Both,
    /// Only the client (the RST claims to come from the server).
    Client,
    /// Only the server.
    Server,
}

/// What the wire knows of one flow, enough to forge a reset.
#[derive(Debug, Clone)]
struct Flow {
    client: SocketAddr,
    server: SocketAddr,
    client_mac: [u8; 6],
    server_mac: [u8; 6],
    /// The last acknowledgement number the client sent: the server's next sequence number.
    client_ack: Option<u32>,
    /// The last acknowledgement number the server sent.
    server_ack: Option<u32>,
}

/// The flows seen so far, in order of their SYN.
#[derive(Debug, Default)]
pub struct FlowTable {
    flows: Vec<Flow>,
    by_key: HashMap<(SocketAddr, SocketAddr), usize>,
}

impl FlowTable {
    /// Updates the table from one frame travelling in `dir`.
    pub fn observe(&mut self, dir: Direction, frame: &[u8]) {
        let Ok(Some(seg)) = decode(LinkType::Ethernet, frame) else {
            return;
        };
        let (Some(dst_mac), Some(src_mac)) = (mac(frame, 0), mac(frame, 6)) else {
            return;
        };
        let from_client = dir == Direction::ToServer;
        let key = if from_client {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        if seg.flags.syn && !seg.flags.ack && from_client {
            self.by_key.insert(key, self.flows.len());
            self.flows.push(Flow {
                client: seg.src,
                server: seg.dst,
                client_mac: src_mac,
                server_mac: dst_mac,
                client_ack: None,
                server_ack: None,
            });
            return;
        }
        let Some(&i) = self.by_key.get(&key) else {
            return;
        };
        if seg.flags.ack {
            let flow = &mut self.flows[i];
            if from_client {
                flow.client_ack = Some(seg.ack);
            } else {
                flow.server_ack = Some(seg.ack);
            }
        }
    }

    /// Forged RST frames for connection `n` (1-based): (direction of travel, frame).
    pub fn forge(&self, n: usize, toward: Toward) -> Vec<(Direction, Vec<u8>)> {
        let Some(flow) = n.checked_sub(1).and_then(|i| self.flows.get(i)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if toward != Toward::Server {
            if let Some(seq) = flow.client_ack {
                let f = rst_frame(
                    flow.server_mac,
                    flow.client_mac,
                    flow.server,
                    flow.client,
                    seq,
                );
                out.extend(f.map(|f| (Direction::ToClient, f)));
            }
        }
        if toward != Toward::Client {
            if let Some(seq) = flow.server_ack {
                let f = rst_frame(
                    flow.client_mac,
                    flow.server_mac,
                    flow.client,
                    flow.server,
                    seq,
                );
                out.extend(f.map(|f| (Direction::ToServer, f)));
            }
        }
        out
    }
}

fn mac(frame: &[u8], at: usize) -> Option<[u8; 6]> {
    frame.get(at..at + 6)?.try_into().ok()
}

/// An Ethernet/IPv4/TCP frame carrying a bare RST from `src` to `dst` with sequence `seq`
/// (None for IPv6 addresses, which the wire does not forge).
pub fn rst_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
) -> Option<Vec<u8>> {
    let (IpAddr::V4(src_ip), IpAddr::V4(dst_ip)) = (src.ip(), dst.ip()) else {
        return None;
    };
    let mut frame = vec![0u8; 14 + 20 + 20];
    {
        let mut tcp = MutableTcpPacket::new(&mut frame[34..])?;
        tcp.set_source(src.port());
        tcp.set_destination(dst.port());
        tcp.set_sequence(seq);
        tcp.set_data_offset(5);
        tcp.set_flags(TcpFlags::RST);
        let sum = tcp::ipv4_checksum(&tcp.to_immutable(), &src_ip, &dst_ip);
        tcp.set_checksum(sum);
    }
    {
        let mut ip = MutableIpv4Packet::new(&mut frame[14..])?;
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length(40);
        ip.set_ttl(64);
        ip.set_next_level_protocol(IpNextHeaderProtocols::Tcp);
        ip.set_source(src_ip);
        ip.set_destination(dst_ip);
        let sum = ipv4::checksum(&ip.to_immutable());
        ip.set_checksum(sum);
    }
    let mut eth = MutableEthernetPacket::new(&mut frame)?;
    eth.set_source(src_mac.into());
    eth.set_destination(dst_mac.into());
    eth.set_ethertype(EtherTypes::Ipv4);
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connlab_core::analyze::Analyzer;

    fn frame(src: SocketAddr, dst: SocketAddr, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
            panic!("v4")
        };
        let mut f = rst_frame([1; 6], [2; 6], src, dst, seq).expect("frame");
        let mut tcp = MutableTcpPacket::new(&mut f[34..]).expect("tcp");
        tcp.set_flags(flags);
        tcp.set_acknowledgement(ack);
        let sum = tcp::ipv4_checksum(&tcp.to_immutable(), &s, &d);
        tcp.set_checksum(sum);
        f
    }

    #[test]
    fn forged_rst_carries_the_sequence_the_receiver_expects() {
        let c: SocketAddr = "198.18.0.1:40000".parse().expect("addr");
        let s: SocketAddr = "198.18.0.2:80".parse().expect("addr");
        let mut table = FlowTable::default();
        let handshake = [
            (Direction::ToServer, frame(c, s, TcpFlags::SYN, 100, 0)),
            (
                Direction::ToClient,
                frame(s, c, TcpFlags::SYN | TcpFlags::ACK, 500, 101),
            ),
            (Direction::ToServer, frame(c, s, TcpFlags::ACK, 101, 501)),
        ];
        let mut analyzer = Analyzer::new();
        let mut events = Vec::new();
        for (i, (dir, f)) in handshake.iter().enumerate() {
            table.observe(*dir, f);
            analyzer.handle_frame(i as u64, LinkType::Ethernet, f, &mut events);
        }
        let forged = table.forge(1, Toward::Both);
        assert_eq!(forged.len(), 2);
        let (dir, to_client) = &forged[0];
        assert_eq!(*dir, Direction::ToClient);
        let seg = decode(LinkType::Ethernet, to_client)
            .expect("decodes")
            .expect("tcp");
        assert_eq!((seg.src, seg.dst, seg.seq), (s, c, 501));
        assert!(seg.flags.rst);
        events.clear();
        analyzer.handle_frame(10, LinkType::Ethernet, to_client, &mut events);
        assert!(
            events
                .iter()
                .any(|e| e.describe().contains("RST from server")),
            "{events:?}"
        );
        assert!(
            table.forge(2, Toward::Both).is_empty(),
            "no such connection"
        );
    }
}
