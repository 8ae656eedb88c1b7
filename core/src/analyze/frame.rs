//! Decoding one captured frame down to the TCP segment it carries.
//!
//! Why by hand: the analyser must survive anything a capture file contains, so
//! every length is checked here, padding (Ethernet minimum frame size) is cut
//! off by honouring the IP length fields instead of trusting the frame length,
//! and the fixed headers are read as arrays, one bounds check each: this runs
//! for every frame of a capture. (Tests build their frames with pnet.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The link layer a capture was taken on, because the TCP segment sits behind
/// a different header on each (netns veth gives Ethernet, `any` gives SLL/SLL2,
/// tun devices and some OSes give raw IP or BSD loopback framing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1): 14-byte header, optional 802.1Q/802.1ad tags.
    Ethernet,
    /// LINKTYPE_RAW (101, 12 on some OSes, 228 IPv4, 229 IPv6): bare IP packet.
    RawIp,
    /// LINKTYPE_LINUX_SLL (113): Linux "cooked" capture, 16-byte header.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2, 20-byte header.
    LinuxSll2,
    /// LINKTYPE_NULL (0): 4-byte address family in the capturing host's order.
    Null,
    /// LINKTYPE_LOOP (108): 4-byte address family in network order.
    Loop,
}

impl LinkType {
    /// Maps a pcap/pcapng LINKTYPE value, so readers can refuse unknown links
    /// up front instead of counting every frame as undecodable.
    pub fn from_pcap(linktype: u32) -> Option<LinkType> {
        match linktype {
            1 => Some(LinkType::Ethernet),
            12 | 101 | 228 | 229 => Some(LinkType::RawIp),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            0 => Some(LinkType::Null),
            108 => Some(LinkType::Loop),
            _ => None,
        }
    }
}

/// The TCP flags the lifecycle analysis looks at. A plain Copy struct rather
/// than a bitmask so transitions read as `flags.syn && !flags.ack`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// Synchronize: opens a direction, takes one sequence number.
    pub syn: bool,
    /// The acknowledgement field is valid.
    pub ack: bool,
    /// Sender has no more data; takes one sequence number.
    pub fin: bool,
    /// Reset: the connection is gone.
    pub rst: bool,
    /// Push: only informative (end of a write).
    pub psh: bool,
}

impl TcpFlags {
    /// Reads the flags byte of a TCP header (CWR/ECE/URG are not needed).
    pub fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags {
            syn: bits & 0x02 != 0,
            ack: bits & 0x10 != 0,
            fin: bits & 0x01 != 0,
            rst: bits & 0x04 != 0,
            psh: bits & 0x08 != 0,
        }
    }
}

/// One TCP segment, borrowed from the frame it was captured in: the tracker
/// needs only addresses, sequence space, flags and the payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number of the first octet (or of the SYN/FIN).
    pub seq: u32,
    /// Acknowledgement number (meaningful when `flags.ack`).
    pub ack: u32,
    /// The TCP flags.
    pub flags: TcpFlags,
    /// Advertised receive window (unscaled).
    pub window: u16,
    /// TCP payload as captured, without Ethernet padding.
    pub payload: &'a [u8],
    /// Payload bytes the segment carried on the wire: more than `payload.len()` when the
    /// capture kept only the first bytes of the frame (a snap length, `tcpdump -s`).
    pub len: u32,
    /// The IP and TCP headers' bytes before the payload: the IP packet on the wire was
    /// `headers + len` bytes (Zeek's conn.log counts those).
    pub headers: u16,
}

/// A piece of a fragmented IP datagram (IPv4 with MF or an offset, IPv6 with a Fragment header
/// that is not atomic): [`crate::analyze::Defragmenter`] puts the pieces back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The datagram it belongs to: its sender, receiver and IP identification.
    pub datagram: (IpAddr, IpAddr, u32),
    /// The protocol the whole datagram carries (IPv4's protocol, IPv6's next header after the
    /// Fragment header).
    pub protocol: u8,
    /// Where `data` starts in the datagram's payload, in bytes.
    pub offset: usize,
    /// More fragments follow (the datagram's last piece has this unset).
    pub more: bool,
    /// The fragment's bytes as captured.
    pub data: &'a [u8],
    /// Its length on the wire: more than `data.len()` when a snap length cut the frame, and
    /// then it cannot be put back.
    pub len: usize,
}

/// Why a frame could not be decoded; the analyser counts these instead of
/// failing, and the message names the header and the inconsistency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame ends before the named header (or the length it declares).
    #[error("{layer} truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Which header or packet was cut short.
        layer: &'static str,
        /// Bytes the header or its length field requires.
        need: usize,
        /// Bytes actually present.
        have: usize,
    },
    /// IPv4 IHL below the 5-word minimum.
    #[error("IPv4 header length {0} bytes is below the 20-byte minimum")]
    BadIhl(usize),
    /// IPv4 total length smaller than the header itself.
    #[error("IPv4 total length {total} is smaller than its header length {header}")]
    BadTotalLength {
        /// The total length field.
        total: usize,
        /// The header length from IHL.
        header: usize,
    },
    /// TCP data offset below the 5-word minimum.
    #[error("TCP data offset {0} bytes is below the 20-byte minimum")]
    BadDataOffset(usize),
    /// An IPv6 extension header connlab cannot walk past (only the chain's known headers
    /// say their length).
    #[error("IPv6 next header {0} is an extension header connlab does not know")]
    UnknownExtension(u8),
    /// A raw-IP frame whose version nibble is neither 4 nor 6.
    #[error("IP version {0} is neither 4 nor 6")]
    BadIpVersion(u8),
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];
const IPPROTO_TCP: u8 = 6;
/// IPv6 extension headers whose length is `(byte 1 + 1) * 8` (RFC 8200 §4 and the IANA
/// registry): hop-by-hop, routing, destination options, mobility, HIP, shim6.
const IPV6_EXTENSIONS: [u8; 6] = [0, 43, 60, 135, 139, 140];
const IPV6_FRAGMENT: u8 = 44;
/// The Authentication Header counts its length in 4-byte words, less 2 (RFC 4302).
const IPV6_AUTH: u8 = 51;
/// Experimental extension headers (RFC 3692): nothing says their length.
const IPV6_EXPERIMENTAL: [u8; 2] = [253, 254];
/// AF_INET6 differs per OS: Linux, NetBSD/OpenBSD, FreeBSD, macOS.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];
const AF_INET: u32 = 2;

/// Decodes `frame` captured on `link` into its TCP segment.
///
/// Returns `Ok(None)` for frames that simply are not TCP (ARP, UDP, ICMP,
/// IP fragments), and `Err` only when a header that should be there is
/// truncated or inconsistent, so callers can tell noise from damage.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Option<Segment<'_>>, DecodeError> {
    decode_frame(link, frame, false)
}

/// Like [`decode`], for a frame the capture kept only the first bytes of (its recorded
/// length is below its length on the wire: a snap length). What is there is decoded, TCP
/// options may be missing, and the segment's `len` is its length on the wire from the IP
/// header. A whole frame whose IP length claims more than it holds is damage, not a cut:
/// that is why the caller, who knows both lengths, chooses.
pub fn decode_cut(link: LinkType, frame: &[u8]) -> Result<Option<Segment<'_>>, DecodeError> {
    decode_frame(link, frame, true)
}

fn decode_frame(
    link: LinkType,
    frame: &[u8],
    cut: bool,
) -> Result<Option<Segment<'_>>, DecodeError> {
    match ip_layer(link, frame)? {
        Some(Ip::V4(packet)) => decode_ipv4(packet, cut),
        Some(Ip::V6(packet)) => decode_ipv6(packet, cut),
        None => Ok(None),
    }
}

/// The TCP segment of a datagram a [`crate::analyze::Defragmenter`] put back together: its
/// addresses, protocol and payload. Read from what the pieces said, not from a rebuilt packet,
/// so [`decode`]'s chain keeps one caller and inlines into the analyser's loop over frames.
pub fn datagram_segment(
    (src, dst): (IpAddr, IpAddr),
    protocol: u8,
    payload: &[u8],
) -> Result<Option<Segment<'_>>, DecodeError> {
    if protocol != IPPROTO_TCP {
        return Ok(None);
    }
    let ip_header = if src.is_ipv4() { 20 } else { 40 };
    decode_tcp((src, dst, ip_header), payload, payload.len(), false).map(Some)
}

/// An IP packet, by the version its link layer (or its first nibble) says.
enum Ip<'a> {
    V4(&'a [u8]),
    V6(&'a [u8]),
}

/// The IP packet behind the link layer's header, or None when the link carries something else.
fn ip_layer(link: LinkType, frame: &[u8]) -> Result<Option<Ip<'_>>, DecodeError> {
    match link {
        LinkType::Ethernet => ethernet_payload(frame),
        LinkType::RawIp => match frame.first().map(|b| b >> 4) {
            Some(4) => Ok(Some(Ip::V4(frame))),
            Some(6) => Ok(Some(Ip::V6(frame))),
            Some(v) => Err(DecodeError::BadIpVersion(v)),
            None => Err(truncated("IP header", 1, 0)),
        },
        LinkType::LinuxSll => {
            let header = need(frame, "Linux SLL header", 16)?;
            Ok(by_ethertype(be16(&header[14..16]), &frame[16..]))
        }
        LinkType::LinuxSll2 => {
            let header = need(frame, "Linux SLL2 header", 20)?;
            Ok(by_ethertype(be16(&header[0..2]), &frame[20..]))
        }
        LinkType::Null | LinkType::Loop => {
            let header = need(frame, "loopback header", 4)?;
            let bytes = [header[0], header[1], header[2], header[3]];
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(bytes)
            } else {
                // Host order of the capturing machine, which we do not know.
                let le = u32::from_le_bytes(bytes);
                if le == AF_INET || AF_INET6.contains(&le) {
                    le
                } else {
                    u32::from_be_bytes(bytes)
                }
            };
            Ok(match family {
                AF_INET => Some(Ip::V4(&frame[4..])),
                f if AF_INET6.contains(&f) => Some(Ip::V6(&frame[4..])),
                _ => None,
            })
        }
    }
}

fn truncated(layer: &'static str, need: usize, have: usize) -> DecodeError {
    DecodeError::Truncated { layer, need, have }
}

fn need<'a>(data: &'a [u8], layer: &'static str, len: usize) -> Result<&'a [u8], DecodeError> {
    data.get(..len)
        .ok_or_else(|| truncated(layer, len, data.len()))
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn ethernet_payload(frame: &[u8]) -> Result<Option<Ip<'_>>, DecodeError> {
    need(frame, "Ethernet header", 14)?;
    let mut ethertype = be16(&frame[12..14]);
    let mut rest = &frame[14..];
    while ETHERTYPE_VLAN.contains(&ethertype) {
        let tag = need(rest, "802.1Q tag", 4)?;
        ethertype = be16(&tag[2..4]);
        rest = &rest[4..];
    }
    Ok(by_ethertype(ethertype, rest))
}

fn by_ethertype(ethertype: u16, packet: &[u8]) -> Option<Ip<'_>> {
    match ethertype {
        ETHERTYPE_IPV4 => Some(Ip::V4(packet)),
        ETHERTYPE_IPV6 => Some(Ip::V6(packet)),
        _ => None,
    }
}

/// The first `N` bytes of `data` as an array, or the truncation error naming `layer`.
fn header<'a, const N: usize>(
    data: &'a [u8],
    layer: &'static str,
) -> Result<&'a [u8; N], DecodeError> {
    data.first_chunk::<N>()
        .ok_or_else(|| truncated(layer, N, data.len()))
}

/// The IP packet's first `total` bytes: all of them in a whole frame (else it is truncated),
/// what there is of them in a cut one.
fn ip_packet<'a>(
    packet: &'a [u8],
    total: usize,
    cut: bool,
    layer: &'static str,
) -> Result<&'a [u8], DecodeError> {
    if cut {
        Ok(&packet[..total.min(packet.len())])
    } else {
        need(packet, layer, total)
    }
}

fn decode_ipv4(packet: &[u8], cut: bool) -> Result<Option<Segment<'_>>, DecodeError> {
    let ip: &[u8; 20] = header(packet, "IPv4 header")?;
    let version = ip[0] >> 4;
    if version != 4 {
        return Err(DecodeError::BadIpVersion(version));
    }
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    if header_len < 20 {
        return Err(DecodeError::BadIhl(header_len));
    }
    need(packet, "IPv4 header", header_len)?;
    // Total length 0 appears on captures of TSO-offloaded packets: use the frame.
    let total = match usize::from(u16::from_be_bytes([ip[2], ip[3]])) {
        0 => packet.len(),
        t if t < header_len => {
            return Err(DecodeError::BadTotalLength {
                total: t,
                header: header_len,
            })
        }
        t => t,
    };
    let packet = ip_packet(packet, total, cut, "IPv4 packet")?;
    let more_fragments = ip[6] & 0x20 != 0;
    let fragment_offset = u16::from_be_bytes([ip[6] & 0x1f, ip[7]]);
    if fragment_offset != 0 || more_fragments || ip[9] != IPPROTO_TCP {
        return Ok(None);
    }
    let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
    decode_tcp(
        (src, dst, header_len),
        &packet[header_len..],
        total - header_len,
        cut,
    )
    .map(Some)
}

fn decode_ipv6(packet: &[u8], cut: bool) -> Result<Option<Segment<'_>>, DecodeError> {
    let ip: &[u8; 40] = header(packet, "IPv6 header")?;
    let version = ip[0] >> 4;
    if version != 6 {
        return Err(DecodeError::BadIpVersion(version));
    }
    // Payload length 0 means a jumbogram (or offload): take the rest.
    let total = match usize::from(u16::from_be_bytes([ip[4], ip[5]])) {
        0 => packet.len(),
        len => 40 + len,
    };
    let packet = ip_packet(packet, total, cut, "IPv6 packet")?;
    let at = match ip[6] {
        IPPROTO_TCP => 40,
        _ => match ipv6_chain(ip[6], packet)? {
            (IPPROTO_TCP, at, None) => at,
            _ => return Ok(None),
        },
    };
    decode_tcp(
        (v6_address(ip, 8), v6_address(ip, 24), at),
        &packet[at..],
        total - at,
        cut,
    )
    .map(Some)
}

/// The IPv6 address at `at` in the fixed header `ip`.
fn v6_address(ip: &[u8; 40], at: usize) -> IpAddr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&ip[at..at + 16]);
    IpAddr::V6(Ipv6Addr::from(octets))
}

/// The IPv6 Fragment header's fields: offset in bytes, more fragments, identification.
type FragmentHeader = (usize, bool, u32);

/// Walks IPv6's extension headers from `next` (the fixed header's next header) in `packet`:
/// what comes after them, where, and the Fragment header when the payload is a fragment. An
/// atomic fragment (offset 0, no more: RFC 6946) is no fragment, its payload is whole. Out of
/// line: few frames carry extension headers.
#[inline(never)]
fn ipv6_chain(
    mut next: u8,
    packet: &[u8],
) -> Result<(u8, usize, Option<FragmentHeader>), DecodeError> {
    let mut at = 40;
    loop {
        let rest = &packet[at..];
        let length = match next {
            IPV6_FRAGMENT => {
                let h: &[u8; 8] = header(rest, "IPv6 Fragment header")?;
                let offset = usize::from(be16(&h[2..4]) & !7);
                let more = h[3] & 1 != 0;
                if offset != 0 || more {
                    let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                    return Ok((h[0], at + 8, Some((offset, more, id))));
                }
                8
            }
            n if IPV6_EXTENSIONS.contains(&n) => {
                let h: &[u8; 2] = header(rest, "IPv6 extension header")?;
                (usize::from(h[1]) + 1) * 8
            }
            IPV6_AUTH => {
                let h: &[u8; 2] = header(rest, "IPv6 Authentication Header")?;
                (usize::from(h[1]) + 2) * 4
            }
            n if IPV6_EXPERIMENTAL.contains(&n) => return Err(DecodeError::UnknownExtension(n)),
            n => return Ok((n, at, None)),
        };
        need(rest, "IPv6 extension header", length)?;
        next = rest[0];
        at += length;
    }
}

/// The IP fragment `frame` carries, if it is one (see [`Fragment`]): for frames [`decode`]
/// found no TCP segment in, since it leaves fragments to a [`crate::analyze::Defragmenter`].
/// Like [`decode_cut`] when `cut`.
pub fn fragment(link: LinkType, frame: &[u8], cut: bool) -> Option<Fragment<'_>> {
    match ip_layer(link, frame).ok()?? {
        Ip::V4(packet) => {
            let ip: &[u8; 20] = header(packet, "IPv4 header").ok()?;
            let header_len = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(be16(&ip[2..4]));
            if header_len < 20 || total < header_len {
                return None;
            }
            let packet = ip_packet(packet, total, cut, "IPv4 packet").ok()?;
            let field = be16(&ip[6..8]);
            let (offset, more) = (usize::from(field & 0x1fff) * 8, field & 0x2000 != 0);
            let data = packet.get(header_len..)?;
            (offset != 0 || more).then_some(Fragment {
                datagram: (
                    IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])),
                    IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])),
                    u32::from(be16(&ip[4..6])),
                ),
                protocol: ip[9],
                offset,
                more,
                data,
                len: total - header_len,
            })
        }
        Ip::V6(packet) => {
            let ip: &[u8; 40] = header(packet, "IPv6 header").ok()?;
            let total = 40 + usize::from(be16(&ip[4..6]));
            let packet = ip_packet(packet, total, cut, "IPv6 packet").ok()?;
            let (protocol, at, Some((offset, more, id))) = ipv6_chain(ip[6], packet).ok()? else {
                return None;
            };
            Some(Fragment {
                datagram: (v6_address(ip, 8), v6_address(ip, 24), id),
                protocol,
                offset,
                more,
                data: &packet[at..],
                len: total - at,
            })
        }
    }
}

/// Decodes the TCP header at the start of `data`, the captured part (all of it unless `cut`)
/// of a `wire_len`-byte TCP segment sent from `src` to `dst` behind an IP header of
/// `ip_header` bytes.
fn decode_tcp(
    (src, dst, ip_header): (IpAddr, IpAddr, usize),
    data: &[u8],
    wire_len: usize,
    cut: bool,
) -> Result<Segment<'_>, DecodeError> {
    let tcp: &[u8; 20] = header(data, "TCP header")?;
    let offset = usize::from(tcp[12] >> 4) * 4;
    if offset < 20 {
        return Err(DecodeError::BadDataOffset(offset));
    }
    // The options are not read: a snap length may cut them (`tcpdump -s 64` on loopback);
    // only a header longer than the segment itself is damage.
    let wire_len = wire_len.max(data.len());
    let present = if cut { wire_len } else { data.len() };
    if offset > present {
        return Err(truncated("TCP header with options", offset, data.len()));
    }
    let be16 = |at: usize| u16::from_be_bytes([tcp[at], tcp[at + 1]]);
    let be32 = |at: usize| u32::from_be_bytes([tcp[at], tcp[at + 1], tcp[at + 2], tcp[at + 3]]);
    Ok(Segment {
        src: SocketAddr::new(src, be16(0)),
        dst: SocketAddr::new(dst, be16(2)),
        seq: be32(4),
        ack: be32(8),
        flags: TcpFlags::from_bits(tcp[13]),
        window: be16(14),
        payload: data.get(offset..).unwrap_or(&[]),
        len: u32::try_from(wire_len - offset).unwrap_or(u32::MAX),
        headers: u16::try_from(ip_header + offset).unwrap_or(u16::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testframes::{ethernet, ip_packet, sll, sll2, tcp_bytes, F};

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn packet(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
        let (s, d) = (addr(src), addr(dst));
        ip_packet(s, d, &tcp_bytes(s, d, F::PSH | F::ACK, 1000, 2000, payload))
    }

    fn v4() -> Vec<u8> {
        packet("10.0.0.1:40000", "10.0.0.2:80", b"hello")
    }

    fn check(seg: Option<Segment<'_>>, src: &str, dst: &str, payload: &[u8]) {
        let seg = seg.expect("a TCP segment");
        assert_eq!((seg.src, seg.dst), (addr(src), addr(dst)));
        assert_eq!((seg.seq, seg.ack, seg.window), (1000, 2000, 64240));
        assert!(
            seg.flags.ack && seg.flags.psh && !seg.flags.syn && !seg.flags.fin && !seg.flags.rst
        );
        assert_eq!(seg.payload, payload);
    }

    #[test]
    fn linktypes_from_pcap() {
        assert_eq!(LinkType::from_pcap(1), Some(LinkType::Ethernet));
        for raw in [12, 101, 228, 229] {
            assert_eq!(LinkType::from_pcap(raw), Some(LinkType::RawIp));
        }
        assert_eq!(LinkType::from_pcap(113), Some(LinkType::LinuxSll));
        assert_eq!(LinkType::from_pcap(276), Some(LinkType::LinuxSll2));
        assert_eq!(LinkType::from_pcap(0), Some(LinkType::Null));
        assert_eq!(LinkType::from_pcap(108), Some(LinkType::Loop));
        assert_eq!(LinkType::from_pcap(147), None);
    }

    #[test]
    fn ethernet_ipv4_with_padding_ignored() {
        // 14 + 20 + 20 + 1 = 55 bytes: the NIC pads to 60, padding is not payload.
        let frame = ethernet(0x0800, &packet("10.0.0.1:40000", "10.0.0.2:80", b"x"));
        assert_eq!(frame.len(), 60);
        let seg = decode(LinkType::Ethernet, &frame).expect("decodes");
        check(seg, "10.0.0.1:40000", "10.0.0.2:80", b"x");
    }

    #[test]
    fn ethernet_vlan_tag_is_skipped() {
        let ip = v4();
        let mut tagged = vec![0x00, 0x05, 0x08, 0x00];
        tagged.extend_from_slice(&ip);
        let frame = ethernet(0x8100, &tagged);
        let seg = decode(LinkType::Ethernet, &frame).expect("decodes");
        check(seg, "10.0.0.1:40000", "10.0.0.2:80", b"hello");
    }

    #[test]
    fn ipv6_over_ethernet_and_raw() {
        let ip = packet("[fd00::1]:40000", "[fd00::2]:443", b"six");
        let frame = ethernet(0x86dd, &ip);
        check(
            decode(LinkType::Ethernet, &frame).expect("eth"),
            "[fd00::1]:40000",
            "[fd00::2]:443",
            b"six",
        );
        check(
            decode(LinkType::RawIp, &ip).expect("raw"),
            "[fd00::1]:40000",
            "[fd00::2]:443",
            b"six",
        );
    }

    #[test]
    fn raw_sll_sll2_null_loop() {
        let ip = v4();
        let (c, s) = ("10.0.0.1:40000", "10.0.0.2:80");
        check(decode(LinkType::RawIp, &ip).expect("raw"), c, s, b"hello");
        check(
            decode(LinkType::LinuxSll, &sll(0x0800, &ip)).expect("sll"),
            c,
            s,
            b"hello",
        );
        check(
            decode(LinkType::LinuxSll2, &sll2(0x0800, &ip)).expect("sll2"),
            c,
            s,
            b"hello",
        );
        for header in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let frame = [&header[..], &ip].concat();
            check(
                decode(LinkType::Null, &frame).expect("null"),
                c,
                s,
                b"hello",
            );
        }
        let v6 = packet("[::1]:5000", "[::1]:80", b"");
        let frame = [&[0, 0, 0, 30][..], &v6].concat();
        check(
            decode(LinkType::Loop, &frame).expect("loop"),
            "[::1]:5000",
            "[::1]:80",
            b"",
        );
    }

    #[test]
    fn non_tcp_is_none() {
        let arp = ethernet(0x0806, &[0u8; 28]);
        assert_eq!(decode(LinkType::Ethernet, &arp), Ok(None));
        let mut udp = v4();
        udp[9] = 17;
        assert_eq!(decode(LinkType::RawIp, &udp), Ok(None));
        let mut fragment = v4();
        fragment[7] = 8; // fragment offset 8
        assert_eq!(decode(LinkType::RawIp, &fragment), Ok(None));
        assert_eq!(decode(LinkType::Null, &[99, 0, 0, 0]), Ok(None));
    }

    #[test]
    fn a_frame_cut_by_a_snap_length_keeps_its_wire_length() {
        let whole = packet("10.0.0.1:40000", "10.0.0.2:80", b"GET / HTTP/1.1\r\n\r\n");
        let seg = decode(LinkType::RawIp, &whole)
            .expect("decodes")
            .expect("tcp");
        assert_eq!((seg.payload.len(), seg.len), (18, 18));
        let cut = decode_cut(LinkType::RawIp, &whole[..44])
            .expect("decodes")
            .expect("tcp");
        assert_eq!((cut.payload, cut.len), (&b"GET "[..], 18));
        // The same bytes as a whole frame: its IP length claims more than it holds.
        assert!(decode(LinkType::RawIp, &whole[..44]).is_err());
        let v6 = packet("[fd00::1]:1", "[fd00::2]:2", b"abcdef");
        let cut = decode_cut(LinkType::RawIp, &v6[..62])
            .expect("decodes")
            .expect("tcp");
        assert_eq!((cut.payload, cut.len), (&b"ab"[..], 6));
        // Cut inside the TCP options: the header's fixed part is enough.
        let mut with_options = whole.clone();
        with_options[32] = 0x80; // data offset 32 bytes: 12 of them "options"
        let cut = decode_cut(LinkType::RawIp, &with_options[..45])
            .expect("decodes")
            .expect("tcp");
        assert_eq!((cut.payload, cut.len), (&b""[..], 6));
        assert!(decode(LinkType::RawIp, &with_options[..45]).is_err());
    }

    #[test]
    fn malformed_headers_are_errors_with_reasons() {
        let ip = v4();
        let err = decode(LinkType::RawIp, &ip[..30]).expect_err("truncated");
        assert_eq!(
            err.to_string(),
            "IPv4 packet truncated: need 45 bytes, have 30"
        );
        let err = decode(LinkType::Ethernet, &[0u8; 10]).expect_err("short ethernet");
        assert!(err.to_string().contains("Ethernet header"), "{err}");
        let mut bad_ihl = ip.clone();
        bad_ihl[0] = 0x42;
        assert_eq!(
            decode(LinkType::RawIp, &bad_ihl),
            Err(DecodeError::BadIhl(8))
        );
        let mut bad_total = ip.clone();
        bad_total[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert!(matches!(
            decode(LinkType::RawIp, &bad_total),
            Err(DecodeError::BadTotalLength { .. })
        ));
        let mut bad_offset = ip.clone();
        bad_offset[20 + 12] = 0x20;
        assert_eq!(
            decode(LinkType::RawIp, &bad_offset),
            Err(DecodeError::BadDataOffset(8))
        );
        let mut long_offset = ip.clone();
        long_offset[20 + 12] = 0xf0;
        assert!(decode(LinkType::RawIp, &long_offset).is_err());
        assert_eq!(
            decode(LinkType::RawIp, &[0x50]),
            Err(DecodeError::BadIpVersion(5))
        );
        assert!(decode(LinkType::RawIp, &[]).is_err());
        let v6 = packet("[fd00::1]:1", "[fd00::2]:2", b"abc");
        assert!(decode(LinkType::RawIp, &v6[..50]).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let links = [
            LinkType::Ethernet,
            LinkType::RawIp,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::Null,
            LinkType::Loop,
        ];
        let template = ethernet(0x0800, &v4());
        for round in 0..20_000 {
            let len = (next() % 96) as usize;
            let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 {
                // Mutate a valid frame so the deeper headers get exercised too.
                frame = template.clone();
                for _ in 0..4 {
                    let at = (next() as usize) % frame.len();
                    frame[at] = next() as u8;
                }
                frame.truncate((next() as usize) % (frame.len() + 1));
            }
            let link = links[(next() % links.len() as u64) as usize];
            let _ = decode(link, &frame);
        }
    }
}
