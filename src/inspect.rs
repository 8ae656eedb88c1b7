//! `connlab inspect`: the analyser over any capture file, with the same summary as a run.

use std::path::Path;

use serde::Serialize;

use connlab_core::analyze::{Analyzer, Event, LinkType, Summary};
use connlab_core::diagnose::{Diagnosis, DiagnosisReport};

use crate::capture::reader::{read_capture, FileFacts, ReadError};

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

/// Reads `path` and analyses it; `on_event` gets every event in order.
pub fn inspect(path: &Path, mut on_event: impl FnMut(&Event)) -> Inspection {
    let mut analyzer = Analyzer::new();
    let mut diagnosis = Diagnosis::new();
    let mut events = Vec::new();
    let mut unsupported_link = 0;
    let result = read_capture(path, |packet| {
        let Some(link) = LinkType::from_pcap(packet.linktype) else {
            unsupported_link += 1;
            return;
        };
        events.clear();
        if packet.forged {
            analyzer.handle_forged_frame(packet.t_ns, link, packet.data, &mut events);
        } else {
            analyzer.handle_frame(packet.t_ns, link, packet.data, &mut events);
        }
        for event in &events {
            diagnosis.apply(event);
            on_event(event);
        }
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
