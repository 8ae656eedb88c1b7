//! The one interface every output of a run implements. The recorder analyses each frame once
//! and hands the frame with the events it caused to every sink in turn: the pcapng file, the
//! JSON-lines file, the live counters, the terminal timeline. A new output is a new sink, not
//! a new branch in the recorder.

use anyhow::Result;
use connlab_core::analyze::Event;

use crate::trace::TraceEvent;
use crate::wire::CapturedFrame;

/// A frame as the recorder hands it to the sinks: what the wire saw and what the analyser made
/// of it.
pub struct Recorded<'a> {
    /// The frame, with what the wire did to it (dropped, forged).
    pub frame: &'a CapturedFrame,
    /// The lifecycle events this frame caused, in order.
    pub events: &'a [Event],
}

/// How the capture ended, for sinks that write a trailer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptureEnd {
    /// Frames the kernel dropped before the wire read them, per port (client side, server
    /// side).
    pub kernel_drops: [u64; 2],
    /// Frames forwarded but not recorded because the recorder's queue was full, per port.
    pub recorder_drops: [u64; 2],
}

/// An output of the recorder. Every method but `frame` has a no-op default, so a sink says
/// only what it cares about. An error stops the recording (what was written is kept).
pub trait Sink: Send {
    /// One frame and its events.
    fn frame(&mut self, recorded: &Recorded<'_>) -> Result<()>;

    /// One actor trace event (sinks that only care about frames ignore it).
    fn trace(&mut self, _event: &TraceEvent) -> Result<()> {
        Ok(())
    }

    /// TLS secrets an actor derived, as NSS key log text (sinks that do not keep them ignore
    /// them).
    fn secrets(&mut self, _key_log: &[u8]) -> Result<()> {
        Ok(())
    }

    /// Pushes buffered output out, so a crash loses at most the last moments.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// The capture is over: write trailers and flush.
    fn finish(&mut self, _end: &CaptureEnd) -> Result<()> {
        Ok(())
    }
}
