//! Capture files: writing the wire's frames to pcapng with lifecycle comments, and reading any
//! pcap or pcapng back (connlab's, tcpdump's, Wireshark's).

pub mod live;
pub mod pcapng_out;
pub mod reader;
pub mod recorder;
