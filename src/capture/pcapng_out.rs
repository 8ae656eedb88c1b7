//! The pcapng sink: every frame the wire saw, with nanosecond timestamps and the lifecycle
//! events it caused as packet comments, so Wireshark shows the analysis in place
//! (`frame.comment contains "reused"`).
//!
//! Two interfaces: 0 is the client-facing port (frames the client sent), 1 the server-facing
//! port (frames the server sent). Each frame is recorded once, where it entered the wire.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::interface_statistics::{
    InterfaceStatisticsBlock, InterfaceStatisticsOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::{PcapNgWriter, RawBlock};
use pcap_file::{DataLink, Endianness};

use super::sink::{CaptureEnd, Recorded, Sink};
use crate::wire::Direction;

/// An open pcapng file being written.
pub struct PcapngOut {
    writer: PcapNgWriter<BufWriter<File>>,
    /// Frames written per interface (client side, server side).
    received: [u64; 2],
    last_ns: u64,
    finished: bool,
}

impl PcapngOut {
    /// Writes into `file` (made by the run that claimed its name: see `paths::claim`) the
    /// section header (naming the lab and its link, so a report of the file alone keeps them)
    /// and both interface descriptions, which state the capture's snap length.
    pub fn to_file(file: File, (lab, link): (&str, &str), snaplen: u32) -> Result<PcapngOut> {
        let section = SectionHeaderBlock {
            options: vec![
                SectionHeaderOption::UserApplication(Cow::Owned(format!(
                    "connlab {}",
                    env!("CARGO_PKG_VERSION")
                ))),
                SectionHeaderOption::Comment(Cow::Owned(format!("connlab lab {lab}"))),
                SectionHeaderOption::Comment(Cow::Owned(format!("connlab link {link}"))),
            ],
            ..Default::default()
        };
        let mut writer = PcapNgWriter::with_section_header(BufWriter::new(file), section)
            .context("writing the pcapng section header")?;
        for (name, desc) in [
            (
                "client-side",
                "frames sent by the client, as they entered the wire",
            ),
            (
                "server-side",
                "frames sent by the server, as they entered the wire",
            ),
        ] {
            let mut idb = InterfaceDescriptionBlock::new(DataLink::ETHERNET, snaplen);
            // pcap-file writes nanosecond timestamps whatever the interface says; without
            // if_tsresol = 9 readers assume microseconds and show times 1000x off.
            idb.options = vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed(name)),
                InterfaceDescriptionOption::IfDescription(Cow::Borrowed(desc)),
                InterfaceDescriptionOption::IfTsResol(9),
            ];
            writer
                .write_pcapng_block(idb)
                .context("writing a pcapng interface description")?;
        }
        Ok(PcapngOut {
            writer,
            received: [0; 2],
            last_ns: 0,
            finished: false,
        })
    }

    /// Appends one frame (`data` may be cut short of its `wire_len`) with its comments (one
    /// comment option per event).
    pub fn write(
        &mut self,
        t_ns: u64,
        dir: Direction,
        data: &[u8],
        wire_len: u32,
        comments: &[String],
    ) -> Result<()> {
        let block = EnhancedPacketBlock {
            interface_id: dir as u32,
            timestamp: Duration::from_nanos(t_ns),
            original_len: wire_len.max(data.len() as u32),
            data: Cow::Borrowed(data),
            options: comments
                .iter()
                .map(|c| EnhancedPacketOption::Comment(Cow::Borrowed(c.as_str())))
                .collect(),
        };
        self.writer
            .write_pcapng_block(block)
            .context("writing a frame to the capture")?;
        self.received[dir as usize] += 1;
        self.last_ns = self.last_ns.max(t_ns);
        Ok(())
    }
}

impl Sink for PcapngOut {
    /// One comment per event the frame caused, then what the wire did to it.
    fn frame(&mut self, recorded: &Recorded<'_>) -> Result<()> {
        let frame = recorded.frame;
        let mut comments: Vec<String> = recorded.events.iter().map(|e| e.describe()).collect();
        comments.extend(frame.notes());
        self.write(
            frame.t_ns,
            frame.dir,
            &frame.data,
            frame.wire_len,
            &comments,
        )
    }

    /// A Decryption Secrets Block with the key log, before the frames it decrypts: Wireshark
    /// and tshark open the lab's TLS decrypted with no key log file of their own.
    fn secrets(&mut self, key_log: &[u8]) -> Result<()> {
        self.writer
            .write_raw_block(&secrets_block(key_log, self.writer.section().endianness))
            .context("writing TLS secrets to the capture")?;
        Ok(())
    }

    /// Pushes buffered frames to the file, so a crash loses at most what came since.
    fn flush(&mut self) -> Result<()> {
        self.writer
            .get_mut()
            .flush()
            .context("flushing the capture")
    }

    /// Writes each interface's statistics (frames received; the kernel's drops as the
    /// interface's, the recorder's as the OS's, as Wireshark's capture statistics show them)
    /// and flushes.
    fn finish(&mut self, end: &CaptureEnd) -> Result<()> {
        if std::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        for iface in 0..2 {
            let isb = InterfaceStatisticsBlock {
                interface_id: iface as u32,
                // Same units as packet timestamps (ns); the section is big-endian, so the
                // u64 is written high word first, as the format wants.
                timestamp: self.last_ns,
                options: vec![
                    InterfaceStatisticsOption::IsbIfRecv(self.received[iface]),
                    InterfaceStatisticsOption::IsbIfDrop(end.kernel_drops[iface]),
                    InterfaceStatisticsOption::IsbOsDrop(end.recorder_drops[iface]),
                ],
            };
            self.writer
                .write_pcapng_block(isb)
                .context("writing capture statistics")?;
        }
        self.flush()
    }
}

/// Decryption Secrets Block (pcapng §4.7) and its secrets type for a TLS key log.
const DECRYPTION_SECRETS_BLOCK: u32 = 0x0000_000A;
const SECRETS_TLS_KEY_LOG: u32 = 0x544c_534b;

/// A Decryption Secrets Block holding `key_log`, in the section's byte order: secrets type,
/// length, the text padded to 32 bits, no options.
fn secrets_block(key_log: &[u8], order: Endianness) -> RawBlock<'static> {
    let u32_bytes = |v: u32| match order {
        Endianness::Big => v.to_be_bytes(),
        Endianness::Little => v.to_le_bytes(),
    };
    let mut body = Vec::with_capacity(key_log.len() + 11);
    body.extend(u32_bytes(SECRETS_TLS_KEY_LOG));
    body.extend(u32_bytes(key_log.len() as u32));
    body.extend(key_log);
    body.resize(body.len().next_multiple_of(4), 0);
    let len = body.len() as u32 + 12;
    RawBlock {
        type_: DECRYPTION_SECRETS_BLOCK,
        initial_len: len,
        body: Cow::Owned(body),
        trailer_len: len,
    }
}
