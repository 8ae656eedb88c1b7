#!/usr/bin/python3
"""Builds the edge captures of tests/edges with scapy (python3-scapy): frames real captures
have that connlab's own labs never make. Run it to remake them; the tests read the files.

ipv6-extensions-fragments.pcap: one HTTP/1.1 exchange over IPv6. The client's SYN carries a
hop-by-hop and a destination-options header, its handshake ACK is an atomic fragment, its
request travels in three fragments (the last first) behind a routing header, and the server's
response in two fragments. Then a datagram whose two pieces overlap, and one whose last piece
never comes.
"""
from scapy.all import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, TCP, Ether, Raw, wrpcap)

C, S = "2001:db8::1", "2001:db8::2"
CP, SP = 40000, 80
REQUEST = b"GET /edges HTTP/1.1\r\nHost: example\r\nUser-Agent: edge-test/1.0\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\nContent-Type: text/plain\r\n\r\n"
            + b"x" * 40)


def eth(packet):
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / packet


def fragments(src, dst, tcp, ident, cuts):
    """The TCP segment's bytes cut at `cuts` (multiples of 8) into IPv6 fragments."""
    payload = bytes(tcp)
    edges = [0] + cuts + [len(payload)]
    out = []
    for start, end in zip(edges, edges[1:]):
        more = int(end < len(payload))
        header = IPv6ExtHdrFragment(nh=6, offset=start // 8, m=more, id=ident)
        out.append(eth(IPv6(src=src, dst=dst, nh=44) / header / Raw(payload[start:end])))
    return out


def tcp(src, dst, sport, dport, flags, seq, ack, data=b""):
    segment = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240)
    segment = segment / Raw(data) if data else segment
    # The checksum over the IPv6 pseudo-header, as the fragments will carry it.
    return TCP(bytes(IPv6(src=src, dst=dst) / segment)[40:])


frames = []
cs, ss = 1000, 5000
frames.append(eth(IPv6(src=C, dst=S) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
                  / TCP(sport=CP, dport=SP, flags="S", seq=cs)))
frames.append(eth(IPv6(src=S, dst=C) / TCP(sport=SP, dport=CP, flags="SA", seq=ss, ack=cs + 1)))
frames.append(eth(IPv6(src=C, dst=S) / IPv6ExtHdrFragment(nh=6, offset=0, m=0, id=1)
                  / TCP(sport=CP, dport=SP, flags="A", seq=cs + 1, ack=ss + 1)))
request = fragments(C, S, tcp(C, S, CP, SP, "PA", cs + 1, ss + 1, REQUEST), 2, [32, 64])
for piece in request:
    # Behind a routing header (type 0, no segments left), as some tunnels send them.
    inner = piece[IPv6ExtHdrFragment]
    piece[IPv6].nh = 43
    piece[IPv6].remove_payload()
    piece[IPv6].add_payload(IPv6ExtHdrRouting(nh=44, type=0, segleft=0) / inner)
frames += [request[2], request[0], request[1]]
response = tcp(S, C, SP, CP, "PA", ss + 1, cs + 1 + len(REQUEST), RESPONSE)
frames += fragments(S, C, response, 3, [56])
frames.append(eth(IPv6(src=C, dst=S) / TCP(sport=CP, dport=SP, flags="A",
                                            seq=cs + 1 + len(REQUEST),
                                            ack=ss + 1 + len(RESPONSE))))
# Overlapping pieces (offsets 0-31 and 16-47): dropped and counted, never reassembled.
overlap = tcp(C, S, CP, SP, "PA", cs + 1 + len(REQUEST), ss + 1 + len(RESPONSE), REQUEST)
frames += [fragments(C, S, overlap, 4, [32])[0], fragments(C, S, overlap, 4, [16])[1]]
# A datagram whose last piece never comes: incomplete at the end of the capture.
frames.append(fragments(C, S, overlap, 5, [24])[0])
for i, frame in enumerate(frames):
    frame.time = 1_700_000_000 + i * 0.001
wrpcap("tests/edges/ipv6-extensions-fragments.pcap", frames)
