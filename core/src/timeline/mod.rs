//! The timeline model: one row per connection with its state over time and its marks, the
//! counters and the event log, as plain data fed with analyser events.
//!
//! Both renderers draw from it, the terminal timeline and the HTML report, so the state logic
//! exists once. What a live run sends the model is a [`TimelineInput`], whoever produces it.

mod density;
mod model;
mod row;

pub use density::{Density, COUNTED};
pub use model::TimelineModel;
pub use row::{ConnState, FrameInfo, MarkKind, Row};

use crate::analyze::{BySide, Event};

/// What a live run (or a replay) feeds the timeline.
#[derive(Debug, Clone)]
pub enum TimelineInput {
    /// An analyser event.
    Event(Event),
    /// A frame reached the wire (sent after the events it caused).
    Frame {
        /// Capture time.
        t_ns: u64,
        /// Its TCP segment, when it carries one.
        info: Option<FrameInfo>,
        /// The link dropped it.
        dropped: bool,
    },
    /// The kernel's TIME_WAIT count per side, sampled during the run.
    Kernel(BySide),
    /// Frames the kernel dropped before the wire read them.
    CaptureDrops(u64),
    /// The run is over.
    Finished,
}

impl TimelineModel {
    /// Applies one input.
    pub fn apply(&mut self, input: TimelineInput) {
        match input {
            TimelineInput::Event(e) => self.apply_event(&e),
            TimelineInput::Frame {
                t_ns,
                info,
                dropped,
            } => self.apply_frame(t_ns, info, dropped),
            TimelineInput::Kernel(k) => self.kernel_time_wait = Some(k),
            TimelineInput::CaptureDrops(d) => self.capture_drops = d,
            TimelineInput::Finished => self.finished = true,
        }
    }
}
