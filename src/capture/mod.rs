//! Capture: the recorder that turns the wire's frames into events and hands them to the
//! sinks (pcapng with lifecycle comments, JSON lines, live counters, the live timeline), and
//! the reader of any pcap or pcapng (connlab's, tcpdump's, Wireshark's).

pub mod files;
pub mod jsonl;
pub mod live;
pub mod pcapng_out;
pub mod reader;
pub mod recorder;
pub mod sink;
pub mod timeline;
pub mod timeline_feed;
