//! `connlab tui <file>`: any capture (connlab's, tcpdump's) read through the analyser into a
//! static timeline to scrub through.

use std::path::Path;

use crate::capture::reader::{read_capture, ReadError};
use connlab_core::analyze::{decode, Analyzer, LinkType};
use connlab_core::timeline::{FrameInfo, TimelineModel};

/// The timeline of a capture file; on a bad file, the timeline of what was read and the error.
pub fn load(path: &Path) -> (TimelineModel, Option<ReadError>) {
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut model = TimelineModel::new(&title, "replay");
    let mut analyzer = Analyzer::new();
    let mut events = Vec::new();
    let result = read_capture(path, |packet| {
        let Some(link) = LinkType::from_pcap(packet.linktype) else {
            return;
        };
        events.clear();
        analyzer.handle_frame(packet.t_ns, link, packet.data, &mut events);
        for e in &events {
            model.apply_event(e);
        }
        let info = decode(link, packet.data)
            .ok()
            .flatten()
            .map(|seg| FrameInfo::of(&seg));
        model.apply_frame(packet.t_ns, info, false);
    });
    model.finish();
    (model, result.err())
}
