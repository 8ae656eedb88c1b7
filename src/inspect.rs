//! `connlab inspect`: the analyser over any capture file, with the same summary as a run.

use std::path::Path;

use serde::Serialize;

use std::net::SocketAddr;
use std::ops::Range;

use connlab_core::analyze::{
    decode, Analyzer, Decoded, Event, LinkType, Segment, Summary, TcpFlags,
};
use connlab_core::diagnose::{Diagnosis, DiagnosisReport};

use crate::capture::reader::{read_capture, FileFacts, ReadError, StoredPacket};

/// Summary of an inspected file (`{"summary": ...}` in JSON output).
#[derive(Debug, Clone, Serialize)]
pub struct InspectSummary {
    /// The analyser's counters.
    #[serde(flatten)]
    pub analysis: Summary,
    /// Findings, endpoints and distributions.
    #[serde(flatten)]
    pub diagnosis: DiagnosisReport,
    /// Drops the capturing tool recorded in the file (pcapng interface statistics).
    pub dropped: u64,
    /// Packets read.
    pub packets: u64,
    /// Packets on a link type connlab does not decode.
    pub unsupported_link: u64,
}

/// What reading the file gave: the summary of what was read, and the error that stopped it.
pub struct Inspection {
    /// Summary of every packet read.
    pub summary: InspectSummary,
    /// Set when the file was truncated or corrupt (the summary covers what came before).
    pub error: Option<ReadError>,
}

/// Frames handed from the reading thread to the analysing one at a time.
const BATCH: usize = 4096;
/// Batches the reader may run ahead by.
const AHEAD: usize = 8;

/// Decoded frames on their way to the analyser, with their payloads in one buffer.
struct Batch {
    frames: Vec<Frame>,
    payloads: Vec<u8>,
}

struct Frame {
    t_ns: u64,
    forged: bool,
    what: What,
}

enum What {
    /// A TCP segment, its payload at `payload` in the batch's buffer.
    Tcp {
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        payload: Range<usize>,
    },
    NotTcp,
    Undecodable,
    /// On a link type connlab does not decode.
    Unsupported,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            frames: Vec::with_capacity(BATCH),
            payloads: Vec::with_capacity(BATCH * 256),
        }
    }

    fn push(&mut self, packet: &StoredPacket<'_>) {
        let what = match LinkType::from_pcap(packet.linktype) {
            None => What::Unsupported,
            Some(link) => match decode(link, packet.data) {
                Ok(Some(seg)) => {
                    let start = self.payloads.len();
                    self.payloads.extend_from_slice(seg.payload);
                    What::Tcp {
                        src: seg.src,
                        dst: seg.dst,
                        seq: seg.seq,
                        ack: seg.ack,
                        flags: seg.flags,
                        window: seg.window,
                        payload: start..self.payloads.len(),
                    }
                }
                Ok(None) => What::NotTcp,
                Err(_) => What::Undecodable,
            },
        };
        self.frames.push(Frame {
            t_ns: packet.t_ns,
            forged: packet.forged,
            what,
        });
    }
}

/// The analyser's view of a decoded frame, its payload in `batch`'s buffer; None for a frame
/// on a link type connlab does not decode.
fn decoded<'a>(batch: &'a Batch, frame: &Frame) -> Option<Decoded<'a>> {
    Some(match &frame.what {
        What::Tcp {
            src,
            dst,
            seq,
            ack,
            flags,
            window,
            payload,
        } => Decoded::Tcp(Segment {
            src: *src,
            dst: *dst,
            seq: *seq,
            ack: *ack,
            flags: *flags,
            window: *window,
            payload: &batch.payloads[payload.clone()],
        }),
        What::NotTcp => Decoded::NotTcp,
        What::Undecodable => Decoded::Undecodable,
        What::Unsupported => return None,
    })
}

/// Reads `path` and analyses it; `on_event` gets every event in order. Reading and decoding
/// run on a thread of their own, ahead of the analysis, so a large capture takes the longer
/// of the two rather than their sum (a third stage for the diagnosis was measured slower on
/// two cores).
pub fn inspect(path: &Path, mut on_event: impl FnMut(&Event)) -> Inspection {
    let mut analyzer = Analyzer::new();
    let mut diagnosis = Diagnosis::new();
    let mut events = Vec::new();
    let mut unsupported_link = 0;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(AHEAD);
    // Analysed batches go back to the reader to be filled again: a batch is allocated (and its
    // pages faulted in) a few times per capture, not once per 4,096 frames, and never freed on
    // the other thread.
    let (recycle, recycled) = std::sync::mpsc::sync_channel::<Batch>(AHEAD + 2);
    let result = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let fresh = || recycled.try_recv().unwrap_or_else(|_| Batch::new());
            let mut batch = Batch::new();
            let result = read_capture(path, |packet| {
                batch.push(&packet);
                if batch.frames.len() == BATCH {
                    // The analyser only hangs up when it is gone: then nothing more matters.
                    let _ = tx.send(std::mem::replace(&mut batch, fresh()));
                }
            });
            let _ = tx.send(batch);
            result
        });
        for mut batch in rx {
            for frame in &batch.frames {
                let Some(decoded) = decoded(&batch, frame) else {
                    unsupported_link += 1;
                    continue;
                };
                events.clear();
                analyzer.handle_decoded(frame.t_ns, decoded, frame.forged, &mut events);
                for event in &events {
                    diagnosis.apply(event);
                    on_event(event);
                }
            }
            batch.frames.clear();
            batch.payloads.clear();
            let _ = recycle.try_send(batch);
        }
        reader.join().unwrap_or(Err(ReadError::ReaderPanicked))
    });
    let (facts, error) = match result {
        Ok(facts) => (facts, None),
        Err(e) => (FileFacts::default(), Some(e)),
    };
    let summary = analyzer.summary();
    Inspection {
        summary: InspectSummary {
            packets: if error.is_some() {
                summary.frames
            } else {
                facts.packets
            },
            analysis: summary,
            diagnosis: diagnosis.report(),
            dropped: facts.recorded_drops,
            unsupported_link,
        },
        error,
    }
}
