//! Streaming reader for classic pcap (µs and ns) and pcapng, from any tool.
//!
//! The file is read in chunks and parsed block by block, so memory stays flat however large the
//! capture is, and the byte offset of every block is known: a truncated or corrupt file is
//! reported with the offset where reading stopped, after everything before it was delivered.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use connlab_core::analyze::{decode, decode_cut, DecodeError, LinkType, Segment};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::blocks::interface_statistics::InterfaceStatisticsOption;
use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{Endianness, TsResolution};

const CHUNK: usize = 4 << 20;
/// Largest record accepted; a larger length field means a corrupt file.
const MAX_RECORD: usize = 256 << 20;
const PCAPNG_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];

/// One packet as stored in the file.
#[derive(Debug, Clone, Copy)]
pub struct StoredPacket<'a> {
    /// Capture time, ns since the UNIX epoch (converted from the file's resolution).
    pub t_ns: u64,
    /// The pcap LINKTYPE of the interface it was captured on.
    pub linktype: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// The file keeps fewer bytes than the packet had (a snap length): decode it with
    /// `decode_cut`, which takes the IP header's length as the packet's.
    pub cut: bool,
    /// What connlab's packet comments say about it; nothing for other tools' captures.
    pub marks: Marks,
}

/// What a capture file holds, in file order: packets, and TLS secrets (a pcapng's Decryption
/// Secrets Blocks) for the packets after them.
#[derive(Debug, Clone, Copy)]
pub enum Stored<'a> {
    /// A packet.
    Packet(StoredPacket<'a>),
    /// The TLS key log text of a Decryption Secrets Block.
    Secrets(&'a [u8]),
}

/// What connlab's wire noted about a frame in its packet comments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// Recorded but not forwarded ("dropped by the link").
    pub dropped_by_link: bool,
    /// Forged by the wire: an RST in the name of one end, a middlebox's or an injected one
    /// ("forged by the wire").
    pub forged: bool,
    /// Frames connlab's own machine lost just before this one ("connlab's wire lost N
    /// frames"): a gap in the capture, not the network's doing.
    pub lost_before: u64,
}

impl<'a> StoredPacket<'a> {
    /// Decodes the packet's TCP segment, captured on `link`: as a cut frame when the file
    /// kept fewer bytes than the packet had.
    pub fn decode(&self, link: LinkType) -> Result<Option<Segment<'a>>, DecodeError> {
        if self.cut {
            decode_cut(link, self.data)
        } else {
            decode(link, self.data)
        }
    }
}

/// What one of connlab's packet comments says about a frame. The wire's notes open their
/// comments, so a prefix test per comment is enough.
fn note_marks(comment: &[u8], marks: &mut Marks) {
    use crate::wire::{DROPPED_NOTE, FORGED_NOTE, MIDDLEBOX_RST_NOTE, WIRE_LOSS_NOTE};
    marks.dropped_by_link |= comment.starts_with(DROPPED_NOTE.as_bytes());
    marks.forged |= comment.starts_with(FORGED_NOTE.as_bytes())
        || comment.starts_with(MIDDLEBOX_RST_NOTE.as_bytes());
    if let Some(rest) = comment.strip_prefix(WIRE_LOSS_NOTE.as_bytes()) {
        let digits: Vec<u8> = rest
            .iter()
            .skip_while(|b| **b == b' ')
            .take_while(|b| b.is_ascii_digit())
            .copied()
            .collect();
        let lost = std::str::from_utf8(&digits)
            .ok()
            .and_then(|d| d.parse().ok());
        marks.lost_before = marks.lost_before.saturating_add(lost.unwrap_or(0));
    }
}

/// An enhanced packet block, read in place (pcap-file would copy its options and check every
/// comment is UTF-8; this is the one block of every packet).
struct Epb<'a> {
    interface: u32,
    raw_ts: u64,
    data: &'a [u8],
    original_len: usize,
    marks: Marks,
}

/// Enhanced packet block type.
const EPB_TYPE: u32 = 6;
/// Decryption Secrets Block (pcapng draft §4.8), and its secrets type for a TLS key log.
const DSB_TYPE: u32 = 0x0A;
const SECRETS_TLS_KEY_LOG: u32 = 0x544c_534b;
/// Comment option code.
const OPT_COMMENT: usize = 1;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Reads the enhanced packet block at the start of `block` (its whole length present).
fn parse_epb(block: &[u8], big: bool) -> Result<Epb<'_>, String> {
    let total = u32_at(block, 4, big);
    if total < 32 || total > block.len() {
        return Err(format!("an enhanced packet block claims {total} bytes"));
    }
    let caplen = u32_at(block, 20, big);
    let data_end = 28usize.saturating_add(caplen);
    if data_end > total - 4 {
        return Err(format!(
            "a packet of {caplen} bytes does not fit its {total}-byte block"
        ));
    }
    let mut marks = Marks::default();
    let mut opts = &block[align4(data_end).min(total - 4)..total - 4];
    while opts.len() >= 4 {
        let u16_at = |at: usize| {
            let raw = [opts[at], opts[at + 1]];
            usize::from(if big {
                u16::from_be_bytes(raw)
            } else {
                u16::from_le_bytes(raw)
            })
        };
        let (code, len) = (u16_at(0), u16_at(2));
        if code == 0 || 4 + len > opts.len() {
            break;
        }
        if code == OPT_COMMENT {
            note_marks(&opts[4..4 + len], &mut marks);
        }
        opts = &opts[(4 + align4(len)).min(opts.len())..];
    }
    Ok(Epb {
        interface: u32_at(block, 8, big) as u32,
        raw_ts: (u32_at(block, 12, big) as u64) << 32 | u32_at(block, 16, big) as u64,
        data: &block[28..data_end],
        original_len: u32_at(block, 24, big),
        marks,
    })
}

/// The TLS key log of the Decryption Secrets Block at the start of `block` (its whole
/// length present); None for other kinds of secrets.
fn parse_dsb(block: &[u8], big: bool) -> Result<Option<&[u8]>, String> {
    let total = u32_at(block, 4, big);
    if total < 20 || total > block.len() {
        return Err(format!("a decryption secrets block claims {total} bytes"));
    }
    let kind = u32_at(block, 8, big) as u32;
    let len = u32_at(block, 12, big);
    if 16usize.saturating_add(len) > total - 4 {
        return Err(format!(
            "{len} bytes of secrets do not fit their {total}-byte block"
        ));
    }
    Ok((kind == SECRETS_TLS_KEY_LOG).then(|| &block[16..16 + len]))
}

/// Why reading stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read. The cause is said in the message, and is not
    /// also this error's source, which a chain of errors would say a second time.
    #[error("cannot read {path}: {cause}")]
    Io {
        /// File name.
        path: String,
        /// Cause.
        cause: std::io::Error,
    },
    /// The file holds nothing at all.
    #[error(
        "{path} is an empty file: no capture was written into it (did the capturing program \
         stop before it wrote its header?)"
    )]
    Empty {
        /// File name.
        path: String,
    },
    /// The file is neither pcap nor pcapng.
    #[error("{path} is not a pcap or pcapng file (magic number {magic:02x?} at offset 0)")]
    NotACapture {
        /// File name.
        path: String,
        /// The first bytes found.
        magic: Vec<u8>,
    },
    /// The file ends in the middle of a block.
    #[error("{path} is truncated: the block at byte offset {offset} is cut short ({missing})")]
    Truncated {
        /// File name.
        path: String,
        /// Offset of the incomplete block.
        offset: u64,
        /// What was expected.
        missing: String,
    },
    /// The reading thread died (a bug, reported instead of a silent short summary).
    #[error("the thread reading the capture stopped unexpectedly")]
    ReaderPanicked,
    /// A block could not be parsed.
    #[error("{path} is corrupt at byte offset {offset}: {reason}")]
    Corrupt {
        /// File name.
        path: String,
        /// Offset of the bad block.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
}

/// What the file said besides its packets.
#[derive(Debug, Default, Clone)]
pub struct FileFacts {
    /// The lab that made it, when connlab did (its section header's comment
    /// `connlab lab <name>`).
    pub lab: Option<String>,
    /// That lab's link model in words (`connlab link <words>`).
    pub link: Option<String>,
    /// Packets delivered.
    pub packets: u64,
    /// Drops the capturing tool recorded (pcapng interface statistics), if any.
    pub recorded_drops: u64,
    /// Decryption Secrets Blocks with a TLS key log.
    pub secrets: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// Reads every packet of `path`, calling `on_packet` for each. On a bad file, the packets
/// before the problem have been delivered and the error says where reading stopped.
pub fn read_capture(
    path: &Path,
    mut on_packet: impl FnMut(StoredPacket<'_>),
) -> Result<FileFacts, ReadError> {
    read_capture_all(path, |stored| {
        if let Stored::Packet(p) = stored {
            on_packet(p);
        }
    })
}

/// Like [`read_capture`], and also gives the TLS key log text of each of a pcapng's
/// Decryption Secrets Blocks, in file order with the packets (a secret applies to the
/// packets after it).
pub fn read_capture_all(
    path: &Path,
    mut on_stored: impl FnMut(Stored<'_>),
) -> Result<FileFacts, ReadError> {
    if path == Path::new(STDIN) {
        let mut stdin = std::io::stdin().lock();
        return read_chunks(
            "stdin".to_owned(),
            Chunks::of_stream(&mut stdin),
            &mut on_stored,
        );
    }
    let name = path.display().to_string();
    let io = |cause| ReadError::Io {
        path: name.clone(),
        cause,
    };
    let mut file = File::open(path).map_err(io)?;
    if is_gzip(&mut file).map_err(io)? {
        // tshark reads `capture.pcap.gz` as it is; so does connlab (offsets in errors are
        // then offsets in the decompressed capture).
        let mut unzipped = flate2::read::MultiGzDecoder::new(file);
        return read_chunks(name, Chunks::of_stream(&mut unzipped), &mut on_stored);
    }
    read_chunks(name, Chunks::new(&mut file), &mut on_stored)
}

/// Reads several captures one after another as if they were one (as `mergecap -a` would
/// join them: a ring buffer's files, say), with their facts added up. Stops at the first
/// error, after delivering everything before it.
pub fn read_captures(
    paths: &[PathBuf],
    mut on_stored: impl FnMut(Stored<'_>),
) -> Result<FileFacts, ReadError> {
    let mut total = FileFacts::default();
    for path in paths {
        let facts = read_capture_all(path, &mut on_stored)?;
        total.packets += facts.packets;
        total.recorded_drops = total.recorded_drops.saturating_add(facts.recorded_drops);
        total.secrets += facts.secrets;
        total.bytes += facts.bytes;
        total.lab = total.lab.or(facts.lab);
        total.link = total.link.or(facts.link);
    }
    Ok(total)
}

/// The path that names standard input, as for other command-line tools.
pub const STDIN: &str = "-";

/// Whether `file` starts with gzip's magic number; leaves it at its start.
fn is_gzip(file: &mut File) -> std::io::Result<bool> {
    use std::io::Seek;
    if !file.metadata()?.is_file() {
        // A pipe cannot be looked into and rewound.
        return Ok(false);
    }
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    file.rewind()?;
    Ok(n == 2 && magic == [0x1F, 0x8B])
}

/// Reads every packet of a capture held in memory (`name` is what errors call it): the same
/// reading as [`read_capture`]'s, for captures that are not files (and for the fuzzer).
pub fn read_capture_bytes(
    name: &str,
    bytes: &[u8],
    mut on_stored: impl FnMut(Stored<'_>),
) -> Result<FileFacts, ReadError> {
    read_chunks(name.to_owned(), Chunks::of_bytes(bytes), &mut on_stored)
}

fn read_chunks(
    name: String,
    mut chunks: Chunks<'_>,
    on_stored: &mut impl FnMut(Stored<'_>),
) -> Result<FileFacts, ReadError> {
    let io = |cause| ReadError::Io {
        path: name.clone(),
        cause,
    };
    chunks.fill(4).map_err(io)?;
    let magic = chunks
        .pending()
        .get(..4)
        .unwrap_or(chunks.pending())
        .to_vec();
    if magic.is_empty() {
        return Err(ReadError::Empty { path: name });
    }
    let mut facts = FileFacts::default();
    let result = if magic == PCAPNG_MAGIC {
        read_pcapng(&mut chunks, &mut facts, on_stored)
    } else if is_pcap_magic(&magic) {
        read_pcap(&mut chunks, &mut facts, on_stored)
    } else {
        return Err(ReadError::NotACapture { path: name, magic });
    };
    facts.bytes = chunks.offset();
    result.map_err(|stop| stop.into_error(name, chunks.offset()))?;
    Ok(facts)
}

fn is_pcap_magic(m: &[u8]) -> bool {
    matches!(
        m,
        [0xA1, 0xB2, 0xC3, 0xD4]
            | [0xD4, 0xC3, 0xB2, 0xA1]
            | [0xA1, 0xB2, 0x3C, 0x4D]
            | [0x4D, 0x3C, 0xB2, 0xA1]
    )
}

/// Why a format loop stopped, before the path and offset are attached.
enum Stop {
    Io(std::io::Error),
    Truncated(String),
    Corrupt(String),
}

impl Stop {
    fn into_error(self, path: String, offset: u64) -> ReadError {
        match self {
            Stop::Io(cause) => ReadError::Io { path, cause },
            Stop::Truncated(missing) => ReadError::Truncated {
                path,
                offset,
                missing,
            },
            Stop::Corrupt(reason) => ReadError::Corrupt {
                path,
                offset,
                reason,
            },
        }
    }
}

/// Makes sure the next whole record is pending. `record_len` reads a record's total length
/// from its first `header` bytes. Returns false at a clean end of file.
fn next_record(
    chunks: &mut Chunks<'_>,
    header: usize,
    record_len: impl Fn(&[u8]) -> usize,
) -> Result<bool, Stop> {
    if chunks.pending().len() < header && chunks.fill(header).map_err(Stop::Io)? == 0 {
        return match chunks.pending().len() {
            0 => Ok(false),
            n => Err(Stop::Truncated(format!(
                "{n} bytes where a {header}-byte header should be"
            ))),
        };
    }
    if chunks.pending().len() < header {
        return Err(Stop::Truncated(format!(
            "{} bytes where a {header}-byte header should be",
            chunks.pending().len()
        )));
    }
    let need = record_len(chunks.pending()).max(header);
    if need > MAX_RECORD {
        return Err(Stop::Corrupt(format!("a record claims {need} bytes")));
    }
    if chunks.pending().len() < need {
        chunks.fill(need).map_err(Stop::Io)?;
        if chunks.pending().len() < need {
            return Err(Stop::Truncated(format!(
                "record of {need} bytes, only {} left",
                chunks.pending().len()
            )));
        }
    }
    Ok(true)
}

#[inline]
fn u32_at(bytes: &[u8], at: usize, big_endian: bool) -> usize {
    let raw: [u8; 4] = bytes[at..at + 4].try_into().unwrap_or([0; 4]);
    (if big_endian {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    }) as usize
}

fn read_pcap(
    chunks: &mut Chunks<'_>,
    facts: &mut FileFacts,
    on_stored: &mut impl FnMut(Stored<'_>),
) -> Result<(), Stop> {
    if !next_record(chunks, 24, |_| 24)? {
        return Err(Stop::Truncated("pcap file header".into()));
    }
    let (used, parser) = match PcapParser::new(chunks.pending()) {
        Ok((rest, parser)) => (chunks.pending().len() - rest.len(), parser),
        Err(e) => return Err(Stop::Corrupt(e.to_string())),
    };
    chunks.consume(used);
    let header = parser.header();
    let linktype = u32::from(header.datalink);
    let big = header.endianness == Endianness::Big;
    let frac_ns = match header.ts_resolution {
        TsResolution::MicroSecond => 1_000,
        TsResolution::NanoSecond => 1,
    };
    // Record header: ts_sec, ts_frac, incl_len, orig_len. Read here rather than by pcap-file,
    // which refuses a packet longer than the file's snap length: that is what a snap length
    // is (tcpdump -s 128 records the first 128 bytes of longer packets).
    while next_record(chunks, 16, |h| 16 + u32_at(h, 8, big))? {
        let pending = chunks.pending();
        let Some((header, rest)) = pending.split_first_chunk::<16>() else {
            break; // next_record made sure of 16 bytes
        };
        let word = |at: usize| u32_at(header, at, big);
        let incl = word(8);
        let t_ns = word(0) as u64 * 1_000_000_000 + word(4) as u64 * frac_ns;
        on_stored(Stored::Packet(StoredPacket {
            t_ns,
            linktype,
            data: &rest[..incl],
            cut: incl < word(12),
            marks: Marks::default(),
        }));
        facts.packets += 1;
        chunks.consume(16 + incl);
    }
    Ok(())
}

fn read_pcapng(
    chunks: &mut Chunks<'_>,
    facts: &mut FileFacts,
    on_stored: &mut impl FnMut(Stored<'_>),
) -> Result<(), Stop> {
    // The section header's length field is in the section's byte order, told by its magic.
    let shb_len = |h: &[u8]| u32_at(h, 4, h[8..12] == [0x1A, 0x2B, 0x3C, 0x4D]);
    if !next_record(chunks, 12, shb_len)? {
        return Err(Stop::Truncated("pcapng section header".into()));
    }
    let mut parser = match PcapNgParser::new(chunks.pending()) {
        Ok((rest, parser)) => {
            let used = chunks.pending().len() - rest.len();
            chunks.consume(used);
            let said = |prefix: &str| {
                parser.section().options.iter().find_map(|o| match o {
                    SectionHeaderOption::Comment(c) => c.strip_prefix(prefix).map(str::to_owned),
                    _ => None,
                })
            };
            facts.lab = said("connlab lab ");
            facts.link = said("connlab link ");
            parser
        }
        Err(e) => return Err(Stop::Corrupt(e.to_string())),
    };
    // Per interface: (linktype, timestamp units to ns).
    let mut interfaces: Vec<(u32, TsScale)> = Vec::new();
    loop {
        let big = parser.section().endianness == Endianness::Big;
        let more = next_record(chunks, 12, |h| {
            if h[0..4] == PCAPNG_MAGIC {
                shb_len(h)
            } else {
                u32_at(h, 4, big)
            }
        })?;
        if !more {
            return Ok(());
        }
        let pending = chunks.pending();
        if pending[..4] != PCAPNG_MAGIC && u32_at(pending, 0, big) as u32 == EPB_TYPE {
            let epb = parse_epb(pending, big).map_err(Stop::Corrupt)?;
            let Some(&(linktype, scale)) = interfaces.get(epb.interface as usize) else {
                return Err(Stop::Corrupt(format!(
                    "packet on undeclared interface {}",
                    epb.interface
                )));
            };
            on_stored(Stored::Packet(StoredPacket {
                t_ns: scale.to_ns(epb.raw_ts),
                linktype,
                data: epb.data,
                cut: epb.data.len() < epb.original_len,
                marks: epb.marks,
            }));
            facts.packets += 1;
            let used = u32_at(pending, 4, big);
            chunks.consume(used);
            continue;
        }
        if pending[..4] != PCAPNG_MAGIC && u32_at(pending, 0, big) as u32 == DSB_TYPE {
            if let Some(keys) = parse_dsb(pending, big).map_err(Stop::Corrupt)? {
                on_stored(Stored::Secrets(keys));
                facts.secrets += 1;
            }
            let used = u32_at(pending, 4, big);
            chunks.consume(used);
            continue;
        }
        let (rest, block) = parser
            .next_block(pending)
            .map_err(|e| Stop::Corrupt(e.to_string()))?;
        let used = pending.len() - rest.len();
        match block {
            Block::InterfaceDescription(idb) => {
                let scale = idb
                    .options
                    .iter()
                    .find_map(|o| match o {
                        InterfaceDescriptionOption::IfTsResol(r) => Some(TsScale::from_resol(*r)),
                        _ => None,
                    })
                    .unwrap_or(TsScale::from_resol(6));
                interfaces.push((u32::from(idb.linktype), scale));
            }
            Block::SimplePacket(spb) => {
                let linktype = interfaces.first().map(|i| i.0).unwrap_or(1);
                on_stored(Stored::Packet(StoredPacket {
                    t_ns: 0,
                    linktype,
                    data: &spb.data,
                    cut: spb.data.len() < spb.original_len as usize,
                    marks: Marks::default(),
                }));
                facts.packets += 1;
            }
            Block::InterfaceStatistics(isb) => {
                for opt in &isb.options {
                    match opt {
                        InterfaceStatisticsOption::IsbIfDrop(d)
                        | InterfaceStatisticsOption::IsbOsDrop(d) => {
                            // A damaged or hostile file's counts may be anything.
                            facts.recorded_drops = facts.recorded_drops.saturating_add(*d)
                        }
                        _ => {}
                    }
                }
            }
            Block::SectionHeader(_) => interfaces.clear(),
            _ => {}
        }
        chunks.consume(used);
    }
}

/// Converts a pcapng interface's timestamp units to nanoseconds.
#[derive(Debug, Clone, Copy)]
enum TsScale {
    /// Multiply by this.
    Mul(u64),
    /// Units of 2^-k seconds.
    Pow2(u32),
    /// Divide by this (resolutions finer than 1 ns).
    Div(u64),
}

impl TsScale {
    fn from_resol(r: u8) -> TsScale {
        if r & 0x80 != 0 {
            TsScale::Pow2(u32::from(r & 0x7f).min(63))
        } else if r <= 9 {
            TsScale::Mul(10u64.pow(9 - u32::from(r)))
        } else {
            TsScale::Div(10u64.pow(u32::from(r.min(19)) - 9))
        }
    }

    fn to_ns(self, raw: u64) -> u64 {
        match self {
            TsScale::Mul(m) => raw.saturating_mul(m),
            TsScale::Div(d) => raw / d,
            TsScale::Pow2(k) => ((raw as u128 * 1_000_000_000) >> k) as u64,
        }
    }
}

/// A window over the file: bytes available but not yet consumed, and the file offset of the
/// first. A regular file is mapped (no copy per read; the pages already consumed are handed
/// back every few MiB, so resident memory stays flat); anything else (a pipe) is read in
/// chunks.
struct Chunks<'f> {
    source: Source<'f>,
    pos: usize,
    consumed: u64,
}

enum Source<'f> {
    Mapped {
        map: memmap2::Mmap,
        /// Bytes before this offset have been handed back to the kernel.
        released: usize,
        /// Bytes before this offset are mapped in already.
        populated: usize,
    },
    /// A pipe, stdin, or a decompressor: read in chunks.
    Read {
        file: &'f mut dyn Read,
        buf: Vec<u8>,
    },
    /// A capture already in memory.
    Bytes(&'f [u8]),
}

impl Source<'_> {
    /// Maps in the next `POPULATE` bytes once reading at `pos` gets within half of that of the
    /// end of what is mapped in (a kernel without MADV_POPULATE_READ faults them in instead).
    fn populate_ahead(&mut self, pos: usize) {
        if let Source::Mapped { map, populated, .. } = self {
            // Never behind the reading position (after a record larger than the window).
            *populated = (*populated).max(pos.min(map.len()));
            if *populated < map.len() && pos + POPULATE / 2 >= *populated {
                let len = POPULATE.min(map.len() - *populated);
                let _ = map.advise_range(memmap2::Advice::PopulateRead, *populated, len);
                *populated += len;
            }
        }
    }
}

/// Consumed bytes handed back to the kernel at a time.
const RELEASE: usize = 8 << 20;
/// Bytes ahead of the reading position mapped in at a time, in one call rather than a page
/// fault every few pages.
const POPULATE: usize = 8 << 20;

impl<'f> Chunks<'f> {
    fn new(file: &'f mut File) -> Self {
        let regular = file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0);
        // SAFETY: the map is only read; a capture shrinking under us while it is read is the
        // one case this does not survive, as every memory-mapping reader.
        let map = regular
            .then(|| unsafe { memmap2::Mmap::map(&*file) }.ok())
            .flatten();
        let source = match map {
            Some(map) => {
                let _ = map.advise(memmap2::Advice::Sequential);
                let mut source = Source::Mapped {
                    map,
                    released: 0,
                    populated: 0,
                };
                source.populate_ahead(0);
                source
            }
            None => Source::Read {
                file,
                buf: Vec::with_capacity(CHUNK),
            },
        };
        Chunks {
            source,
            pos: 0,
            consumed: 0,
        }
    }

    /// Chunks of a stream that cannot be mapped (stdin, a decompressor).
    fn of_stream(reader: &'f mut dyn Read) -> Self {
        Chunks {
            source: Source::Read {
                file: reader,
                buf: Vec::with_capacity(CHUNK),
            },
            pos: 0,
            consumed: 0,
        }
    }

    fn of_bytes(bytes: &'f [u8]) -> Self {
        Chunks {
            source: Source::Bytes(bytes),
            pos: 0,
            consumed: 0,
        }
    }

    /// Bytes available and not yet consumed.
    fn pending(&self) -> &[u8] {
        match &self.source {
            Source::Mapped { map, .. } => &map[self.pos..],
            Source::Read { buf, .. } => &buf[self.pos..],
            Source::Bytes(bytes) => &bytes[self.pos..],
        }
    }

    /// File offset of the first pending byte.
    fn offset(&self) -> u64 {
        self.consumed
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.consumed += n as u64;
        self.source.populate_ahead(self.pos);
        if let Source::Mapped { map, released, .. } = &mut self.source {
            let done = self.pos & !4095;
            if done - *released >= RELEASE {
                // SAFETY: the range is consumed and never read again; the map is read-only,
                // so dropping its pages loses nothing (they come back from the file if read).
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        *released,
                        done - *released,
                    )
                };
                *released = done;
            }
        }
    }

    /// Reads until at least `want` bytes are pending or the file ends; returns bytes added.
    fn fill(&mut self, want: usize) -> std::io::Result<usize> {
        let Source::Read { file, buf } = &mut self.source else {
            // The whole file is mapped, or in memory: nothing more will come.
            return Ok(0);
        };
        if self.pos > 0 {
            buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut added = 0;
        while buf.len() < want {
            let old = buf.len();
            buf.resize(old + CHUNK.max(want - old), 0);
            let n = file.read(&mut buf[old..])?;
            buf.truncate(old + n);
            if n == 0 {
                break;
            }
            added += n;
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small pcapng written by connlab's own writer.
    fn sample_capture(path: &Path) -> Vec<u8> {
        let mut out = crate::capture::pcapng_out::PcapngOut::to_file(
            std::fs::File::create(path).expect("file"),
            ("t", "20 ms delay"),
            65_535,
        )
        .expect("create");
        for i in 0..50u64 {
            let frame: Vec<u8> = (0..60 + i as usize)
                .map(|b| (b as u64 * 31 + i) as u8)
                .collect();
            let dir = if i % 2 == 0 {
                crate::wire::Direction::ToServer
            } else {
                crate::wire::Direction::ToClient
            };
            out.write(
                1_700_000_000_000_000_000 + i * 1_000,
                dir,
                &frame,
                frame.len() as u32,
                &[format!("frame {i}")],
            )
            .expect("write");
        }
        use crate::capture::sink::{CaptureEnd, Sink};
        out.finish(&CaptureEnd {
            kernel_drops: [3, 4],
            recorder_drops: [0, 2],
        })
        .expect("finish");
        std::fs::read(path).expect("read back")
    }

    /// Secrets written between frames come back in their place, whole, and padded text
    /// (lengths not a multiple of 4) loses nothing; a reader that wants only packets skips
    /// them.
    #[test]
    fn decryption_secrets_blocks_come_back_in_file_order() {
        use crate::capture::sink::{CaptureEnd, Sink};
        let path = std::env::temp_dir().join(format!(
            "connlab-reader-secrets-{}.pcapng",
            std::process::id()
        ));
        let mut out = crate::capture::pcapng_out::PcapngOut::to_file(
            std::fs::File::create(&path).expect("file"),
            ("t", "20 ms delay"),
            65_535,
        )
        .expect("create");
        let frame = [7u8; 60];
        let to_server = crate::wire::Direction::ToServer;
        out.write(1_000, to_server, &frame, 60, &[]).expect("write");
        out.secrets(b"CLIENT_RANDOM aa bb\n").expect("secrets");
        out.write(2_000, to_server, &frame, 60, &[]).expect("write");
        out.secrets(b"SERVER_TRAFFIC_SECRET_0 cc dd\n")
            .expect("secrets");
        out.finish(&CaptureEnd::default()).expect("finish");
        let mut seen = Vec::new();
        let facts = read_capture_all(&path, |stored| match stored {
            Stored::Packet(p) => seen.push(format!("packet {}", p.t_ns)),
            Stored::Secrets(text) => seen.push(String::from_utf8_lossy(text).into_owned()),
        })
        .expect("reads");
        assert_eq!(
            seen,
            [
                "packet 1000",
                "CLIENT_RANDOM aa bb\n",
                "packet 2000",
                "SERVER_TRAFFIC_SECRET_0 cc dd\n"
            ]
        );
        assert_eq!((facts.packets, facts.secrets), (2, 2));
        let mut packets = 0;
        read_capture(&path, |_| packets += 1).expect("reads");
        assert_eq!(packets, 2);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn classic_pcap_with_a_snap_length_keeps_the_cut_packets() {
        // tcpdump -s 64: a 16-byte record header saying 64 bytes kept of 200.
        // File header: magic, version 2.4, zone, sigfigs, snaplen 64, Ethernet.
        let mut file = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
        file.extend_from_slice(&[2, 0, 4, 0]);
        for word in [0u32, 0, 64, 1] {
            file.extend_from_slice(&word.to_le_bytes());
        }
        for (i, orig) in [(0u32, 200u32), (1, 64)] {
            for word in [1_700_000_000 + i, 250_000, 64, orig] {
                file.extend_from_slice(&word.to_le_bytes());
            }
            file.extend(std::iter::repeat_n(i as u8, 64));
        }
        let path =
            std::env::temp_dir().join(format!("connlab-reader-snap-{}.pcap", std::process::id()));
        std::fs::write(&path, &file).expect("write");
        let mut seen = Vec::new();
        let facts = read_capture(&path, |p| seen.push((p.t_ns, p.data.len(), p.data[0])))
            .expect("a snap length is no damage");
        assert_eq!(facts.packets, 2);
        assert_eq!(
            seen,
            [
                (1_700_000_000_250_000_000, 64, 0),
                (1_700_000_001_250_000_000, 64, 1)
            ]
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn reads_back_what_connlab_wrote_with_ns_times_and_drops() {
        let path =
            std::env::temp_dir().join(format!("connlab-reader-{}.pcapng", std::process::id()));
        sample_capture(&path);
        let mut times = Vec::new();
        let facts = read_capture(&path, |p| times.push(p.t_ns)).expect("reads");
        assert_eq!(facts.packets, 50);
        assert_eq!(facts.recorded_drops, 9, "kernel and recorder drops");
        assert_eq!(times[1] - times[0], 1_000, "nanosecond timestamps survive");
        let _ = std::fs::remove_file(&path);
    }

    /// Found by the capture fuzzer: drop counts of interface statistics that add up past
    /// u64 overflowed; they saturate.
    #[test]
    fn drop_counts_past_the_largest_number_saturate() {
        use crate::capture::sink::{CaptureEnd, Sink};
        let path = std::env::temp_dir().join(format!(
            "connlab-reader-drops-{}.pcapng",
            std::process::id()
        ));
        let mut out = crate::capture::pcapng_out::PcapngOut::to_file(
            std::fs::File::create(&path).expect("file"),
            ("t", "none"),
            65_535,
        )
        .expect("create");
        out.finish(&CaptureEnd {
            kernel_drops: [u64::MAX, 4],
            recorder_drops: [u64::MAX, 2],
        })
        .expect("finish");
        let facts = read_capture(&path, |_| {}).expect("reads");
        assert_eq!(facts.recorded_drops, u64::MAX);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_pipe_is_read_in_chunks_like_a_mapped_file() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("connlab-reader-pipe-{}.pcapng", std::process::id()));
        let bytes = sample_capture(&file);
        let fifo = dir.join(format!("connlab-reader-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(&fifo, bytes).expect("write the pipe"))
        };
        let mut from_pipe = Vec::new();
        let piped = read_capture(&fifo, |p| from_pipe.push(p.t_ns)).expect("reads the pipe");
        writer.join().expect("writer");
        let mut from_file = Vec::new();
        let mapped = read_capture(&file, |p| from_file.push(p.t_ns)).expect("reads the file");
        assert_eq!((piped.packets, piped.recorded_drops), (50, 9));
        assert_eq!(
            (piped.lab.as_deref(), piped.link.as_deref()),
            (Some("t"), Some("20 ms delay")),
            "the section header names the lab and its link"
        );
        assert_eq!(from_pipe, from_file);
        assert_eq!(piped.bytes, mapped.bytes);
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&fifo);
    }

    #[test]
    fn damaged_files_are_errors_with_offsets_never_panics() {
        let path = std::env::temp_dir().join(format!("connlab-fuzz-{}.pcapng", std::process::id()));
        let good = sample_capture(&path);
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..400 {
            let cut = (next() as usize) % (good.len() + 1);
            let mut bad = good[..cut].to_vec();
            for _ in 0..(round % 8) {
                if !bad.is_empty() {
                    let at = (next() as usize) % bad.len();
                    bad[at] = next() as u8;
                }
            }
            std::fs::write(&path, &bad).expect("write");
            let mut seen = 0u64;
            match read_capture(&path, |_| seen += 1) {
                Ok(facts) => assert_eq!(facts.packets, seen),
                Err(ReadError::Truncated { offset, .. } | ReadError::Corrupt { offset, .. }) => {
                    assert!(
                        offset <= bad.len() as u64,
                        "offset {offset} inside the file"
                    );
                }
                Err(_) => {}
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn timestamp_resolutions_convert_to_ns() {
        assert_eq!(TsScale::from_resol(6).to_ns(1_500_000), 1_500_000_000);
        assert_eq!(TsScale::from_resol(9).to_ns(42), 42);
        assert_eq!(TsScale::from_resol(0x80 | 10).to_ns(1024), 1_000_000_000);
        assert_eq!(TsScale::from_resol(12).to_ns(5_000), 5);
    }
}
