//! Any capture (connlab's, tcpdump's) read through the analyser into a timeline model: what
//! `connlab tui` scrubs through and what `connlab report` draws.

use std::path::PathBuf;

use connlab_core::analyze::{Analyzer, Decoded, LinkType};
use connlab_core::timeline::{FrameInfo, TimelineModel};

use super::reader::{read_captures, FileFacts, ReadError, Stored};

/// How much of each frame the model keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frames {
    /// Every TCP frame under its connection (the terminal's detail view).
    All,
    /// Only frames the link dropped, as marks (a report needs no frame list).
    DroppedOnly,
}

/// Reads `paths` (one after another, as one capture) into `model`, then finishes it, decrypting the TLS connections whose keys are
/// in `keylog` or the file's Decryption Secrets Blocks. On a bad file the model holds what was
/// read before the error, which is returned beside it.
pub fn read_into(
    paths: &[PathBuf],
    keylog: Option<&[u8]>,
    model: &mut TimelineModel,
    frames: Frames,
) -> Result<FileFacts, ReadError> {
    let mut analyzer = Analyzer::new();
    if let Some(keys) = keylog {
        analyzer.add_keys(keys);
    }
    let mut events = Vec::new();
    let result = read_captures(paths, |stored| {
        let packet = match stored {
            Stored::Packet(packet) => packet,
            Stored::Secrets(keys) => {
                analyzer.add_keys(keys);
                return;
            }
        };
        events.clear();
        // No link connlab decodes: no TCP, but a frame, so later frame numbers stay Wireshark's.
        let decoded = LinkType::from_pcap(packet.linktype).map(|link| packet.decode(link));
        let analysed = decoded.clone().map_or(Decoded::NotTcp, Decoded::of);
        analyzer.handle_decoded(packet.t_ns, analysed, packet.marks.forged, &mut events);
        for e in &events {
            model.apply_event(e);
        }
        let info = decoded
            .filter(|_| frames == Frames::All || packet.marks.dropped_by_link)
            .and_then(|d| d.ok().flatten())
            .map(|seg| FrameInfo::of(&seg));
        model.apply_frame(packet.t_ns, info, packet.marks.dropped_by_link);
    });
    model.finish();
    result
}
