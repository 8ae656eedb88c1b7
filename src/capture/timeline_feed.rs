//! The live terminal timeline's sink: forwards each frame's events, then the frame itself, to
//! the screen's channel. The screen drains the channel at its own pace; the recorder never
//! waits for it.

use std::sync::mpsc::Sender;

use anyhow::Result;
use connlab_core::analyze::{decode, LinkType};
use connlab_core::timeline::{FrameInfo, TimelineInput};

use super::sink::{CaptureEnd, Recorded, Sink};

/// Feeds a live timeline.
pub struct TimelineFeed(pub Sender<TimelineInput>);

impl Sink for TimelineFeed {
    fn frame(&mut self, recorded: &Recorded<'_>) -> Result<()> {
        for e in recorded.events {
            let _ = self.0.send(TimelineInput::Event(e.clone()));
        }
        let frame = recorded.frame;
        let info = decode(LinkType::Ethernet, &frame.data)
            .ok()
            .flatten()
            .map(|seg| FrameInfo::of(&seg));
        let _ = self.0.send(TimelineInput::Frame {
            t_ns: frame.t_ns,
            info,
            dropped: frame.dropped.is_some(),
        });
        Ok(())
    }

    fn finish(&mut self, end: &CaptureEnd) -> Result<()> {
        let _ = self
            .0
            .send(TimelineInput::CaptureDrops(end.kernel_drops.iter().sum()));
        let _ = self.0.send(TimelineInput::Finished);
        Ok(())
    }
}
