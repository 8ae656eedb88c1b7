//! `connlab inspect`: the analyser over any capture file, with the same summary as a run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;

use serde::Serialize;

use std::net::SocketAddr;
use std::ops::Range;

use connlab_core::analyze::{
    Ahead, Analyzer, Decoded, Defragmenter, Event, KeyNote, LinkType, OpenedRecords, Segment,
    Summary, TcpFlags,
};
use connlab_core::diagnose::{Diagnosis, DiagnosisReport};

use crate::capture::reader::{read_captures, FileFacts, ReadError, Stored, StoredPacket};

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
    /// Zeek's conn.log rows, when asked for: one per TCP connection.
    pub conn_log: Option<Vec<connlab_core::connlog::Row>>,
    /// Set when the file was truncated or corrupt (the summary covers what came before).
    pub error: Option<ReadError>,
}

/// Frames handed from the reading thread to the analysing one at a time.
const BATCH: usize = 4096;
/// Batches the reader may run ahead by.
const AHEAD: usize = 8;
/// Batches waiting for the analyser from which the reader, having time to spare, decrypts
/// TLS records for it.
const BEHIND: usize = AHEAD / 2;

/// Decoded frames on their way to the analyser, with their payloads in one buffer, the TLS
/// records the reader opened for it, and the TLS secrets the file gave before them.
struct Batch {
    keys: Vec<u8>,
    frames: Vec<Frame>,
    payloads: Vec<u8>,
    opened: OpenedRecords,
}

struct Frame {
    t_ns: u64,
    forged: bool,
    /// Frames the capturing machine lost just before this one (connlab's note).
    lost_before: u64,
    what: What,
    /// The records of `opened` that end in this frame.
    opened: Range<u32>,
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
        len: u32,
        headers: u16,
    },
    NotTcp,
    Undecodable,
    /// On a link type connlab does not decode.
    Unsupported,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            keys: Vec::new(),
            frames: Vec::with_capacity(BATCH),
            payloads: Vec::with_capacity(BATCH * 256),
            opened: OpenedRecords::default(),
        }
    }

    /// Adds a packet; `ahead` frames its TLS records, and opens them when `open`; `defrag`
    /// holds fragments until their datagram is whole.
    fn push(
        &mut self,
        packet: &StoredPacket<'_>,
        (ahead, defrag): (&mut Ahead, &mut Defragmenter),
        open: bool,
    ) {
        let mut opened = 0..0;
        let mut tcp = |seg: Segment<'_>| {
            opened = ahead.segment(&seg, open, &mut self.opened);
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
                len: seg.len,
                headers: seg.headers,
            }
        };
        let what = match LinkType::from_pcap(packet.linktype) {
            None => What::Unsupported,
            Some(link) => match packet.decode(link) {
                Ok(Some(seg)) => tcp(seg),
                Ok(None) => match defrag.take(packet.t_ns, (link, packet.data), packet.cut) {
                    Some(Some(whole)) => match whole.segment() {
                        Ok(Some(seg)) => tcp(seg),
                        Ok(None) => What::NotTcp,
                        Err(_) => What::Undecodable,
                    },
                    Some(None) | None => What::NotTcp,
                },
                Err(_) => What::Undecodable,
            },
        };
        self.frames.push(Frame {
            t_ns: packet.t_ns,
            forged: packet.marks.forged,
            lost_before: packet.marks.lost_before,
            what,
            opened,
        });
    }

    /// Empties the batch for its next frames.
    fn clear(&mut self) {
        self.frames.clear();
        self.payloads.clear();
        self.opened.clear();
    }
}

/// The analyser's view of a decoded frame, its payload in `batch`'s buffer. A frame on a link
/// type connlab does not decode is no TCP to it, but still a frame: the frame numbers of
/// evidence stay Wireshark's.
fn decoded<'a>(batch: &'a Batch, frame: &Frame) -> Decoded<'a> {
    match &frame.what {
        What::Tcp {
            src,
            dst,
            seq,
            ack,
            flags,
            window,
            payload,
            len,
            headers,
        } => Decoded::Tcp(Segment {
            src: *src,
            dst: *dst,
            seq: *seq,
            ack: *ack,
            flags: *flags,
            window: *window,
            payload: &batch.payloads[payload.clone()],
            len: *len,
            headers: *headers,
        }),
        What::NotTcp | What::Unsupported => Decoded::NotTcp,
        What::Undecodable => Decoded::Undecodable,
    }
}

/// What the analysing thread sends back, in capture order.
enum Analysed {
    /// The events of a run of frames.
    Events(Vec<Event>),
    /// A gap in the capture before the frame at `t_ns`: frames the capturing machine lost.
    Gap { t_ns: u64, frames: u64 },
    /// TLS application keys the analyser found, for the reader to decrypt ahead with.
    Keys(Vec<KeyNote>),
}

/// The diagnosis and the caller's event handler, fed events in batches.
struct Diagnose<F> {
    diagnosis: Diagnosis,
    on_event: F,
    /// Where emptied event batches go back to the analyser, to be filled again.
    recycle: SyncSender<Vec<Event>>,
}

impl<F: FnMut(&Event)> Diagnose<F> {
    /// Diagnoses what the analyser sent; key notes go to `ahead`.
    fn apply(&mut self, analysed: Analysed, ahead: &mut Ahead) {
        let mut events = match analysed {
            Analysed::Events(events) => events,
            Analysed::Gap { t_ns, frames } => return self.diagnosis.capture_gap(t_ns, frames),
            Analysed::Keys(notes) => return ahead.follow(notes),
        };
        for event in &events {
            self.diagnosis.apply(event);
            (self.on_event)(event);
        }
        events.clear();
        let _ = self.recycle.try_send(events);
    }
}

/// Reads `paths` (one after another, as one capture) and analyses them, decrypting the TLS
/// connections whose keys are in `keylog` (NSS key log text) or in the file's Decryption
/// Secrets Blocks; `on_event` gets every event in order; with `conn_log`, the inspection
/// holds Zeek's conn.log rows too. Two threads share the work: one
/// reads and decodes frames, then diagnoses the events the other thread's analyser sent back
/// for the frames before; the other runs the analyser. So a large capture takes about half
/// the sum of the three jobs (a thread per job was measured slower on two cores). TLS
/// decryption, as much work again as the rest, goes where there is time: when the analyser
/// falls behind, the reading thread decrypts the records of the keys it noted
/// ([`connlab_core::analyze::Ahead`]), and the analyser decrypts the rest.
pub fn inspect(
    paths: &[PathBuf],
    keylog: Option<&[u8]>,
    conn_log: bool,
    on_event: impl FnMut(&Event) + Send,
) -> Inspection {
    let mut analyzer = Analyzer::new();
    if let Some(keys) = keylog {
        analyzer.add_keys(keys);
    }
    if conn_log {
        analyzer.log_connections();
    }
    analyzer.decrypt_ahead();
    // Batches sent and not yet analysed: when the analyser is this far behind, the reader
    // has time to decrypt for it.
    let in_flight = AtomicUsize::new(0);
    let in_flight = &in_flight;
    let mut unsupported_link = 0;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(AHEAD);
    // Analysed batches go back to the reader to be filled again: a batch is allocated (and its
    // pages faulted in) a few times per capture, not once per 4,096 frames, and never freed on
    // the other thread.
    let (recycle, recycled) = std::sync::mpsc::sync_channel::<Batch>(AHEAD + 2);
    // Unbounded, so the analyser never waits on the reader while the reader waits on it; it
    // holds at most the events of the AHEAD batches in flight.
    let (events_tx, events_rx) = std::sync::mpsc::channel::<Analysed>();
    let (events_recycle, events_recycled) = std::sync::mpsc::sync_channel::<Vec<Event>>(AHEAD + 2);
    let (result, diagnosis, fragments) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut diagnose = Diagnose {
                diagnosis: Diagnosis::new(),
                on_event,
                recycle: events_recycle,
            };
            let fresh = || recycled.try_recv().unwrap_or_else(|_| Batch::new());
            let send = |batch: Batch| {
                in_flight.fetch_add(1, Ordering::Relaxed);
                // The analyser only hangs up when it is gone: then nothing more matters.
                let _ = tx.send(batch);
            };
            let mut ahead = Ahead::default();
            let mut defrag = Defragmenter::default();
            let mut batch = Batch::new();
            let result = read_captures(paths, |stored| {
                let packet = match stored {
                    Stored::Packet(packet) => packet,
                    Stored::Secrets(keys) => {
                        // The frames before go first: the keys apply to the frames after.
                        send(std::mem::replace(&mut batch, fresh()));
                        batch.keys.extend_from_slice(keys);
                        return;
                    }
                };
                let behind = in_flight.load(Ordering::Relaxed) >= BEHIND;
                batch.push(&packet, (&mut ahead, &mut defrag), behind);
                if batch.frames.len() == BATCH {
                    send(std::mem::replace(&mut batch, fresh()));
                    while let Ok(events) = events_rx.try_recv() {
                        diagnose.apply(events, &mut ahead);
                    }
                }
            });
            send(batch);
            drop(tx);
            for events in events_rx {
                diagnose.apply(events, &mut ahead);
            }
            (result, diagnose.diagnosis, defrag.summary())
        });
        let mut events = Vec::new();
        for mut batch in rx {
            if !batch.keys.is_empty() {
                analyzer.add_keys(&batch.keys);
                batch.keys.clear();
            }
            for frame in &batch.frames {
                if frame.lost_before > 0 {
                    // The gap goes in order: after the events of the frames before it.
                    let fresh = events_recycled.try_recv().unwrap_or_default();
                    let before = std::mem::replace(&mut events, fresh);
                    let _ = events_tx.send(Analysed::Events(before));
                    let _ = events_tx.send(Analysed::Gap {
                        t_ns: frame.t_ns,
                        frames: frame.lost_before,
                    });
                }
                unsupported_link += u64::from(matches!(frame.what, What::Unsupported));
                let decoded = decoded(&batch, frame);
                let opened = batch.opened.of(frame.opened.clone());
                analyzer.handle_opened(frame.t_ns, decoded, frame.forged, opened, &mut events);
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let fresh = events_recycled.try_recv().unwrap_or_default();
            let _ = events_tx.send(Analysed::Events(std::mem::replace(&mut events, fresh)));
            let mut notes = Vec::new();
            analyzer.take_key_notes(&mut notes);
            if !notes.is_empty() {
                let _ = events_tx.send(Analysed::Keys(notes));
            }
            batch.clear();
            let _ = recycle.try_send(batch);
        }
        drop(events_tx);
        reader.join().unwrap_or_else(|_| {
            let nothing = Default::default();
            (Err(ReadError::ReaderPanicked), Diagnosis::new(), nothing)
        })
    });
    let (facts, error) = match result {
        Ok(facts) => (facts, None),
        Err(e) => (FileFacts::default(), Some(e)),
    };
    let mut summary = analyzer.summary();
    summary.ip_fragments = fragments;
    let diagnosis = diagnosis.report();
    Inspection {
        conn_log: analyzer.conn_log().map(|log| log.rows(&diagnosis)),
        summary: InspectSummary {
            packets: if error.is_some() {
                summary.frames
            } else {
                facts.packets
            },
            analysis: summary,
            diagnosis,
            dropped: facts.recorded_drops,
            unsupported_link,
        },
        error,
    }
}
