//! The recorder thread: the one place where frames become a capture and events.
//!
//! It receives the wire's frames (in batches) and the actors' trace events on one bounded
//! channel, runs each frame through the analyser once, and hands the frame with the events it
//! caused to every [`Sink`] (pcapng, JSON lines, live counters, the terminal timeline). The
//! wire never waits for it: when the queue is full the wire forwards anyway and counts the
//! frames the capture missed, so memory stays bounded. The sinks are flushed regularly and on
//! every exit path, so what was recorded before a failure is kept.

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use connlab_core::analyze::{Analyzer, Event, LinkType, Summary};
use connlab_core::diagnose::{Diagnosis, DiagnosisReport};

use super::sink::{CaptureEnd, Recorded, Sink};
use crate::trace::{TraceEvent, TraceKind, TraceRoom};
use crate::wire::{CapturedFrame, TapBudget};

/// How often buffered output is pushed to disk.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Nice value of the recorder thread (the wire's threads keep 0, workers 10).
const RECORDER_NICE: libc::c_int = 5;

/// What flows into the recorder.
pub enum Record {
    /// Frames from the wire, in the order it read them.
    Frames(Vec<CapturedFrame>),
    /// An actor's trace event.
    Trace(TraceEvent),
    /// The capture is over: finish the sinks and stop.
    End(CaptureEnd),
}

impl From<Vec<CapturedFrame>> for Record {
    fn from(frames: Vec<CapturedFrame>) -> Record {
        Record::Frames(frames)
    }
}

impl From<TraceEvent> for Record {
    fn from(event: TraceEvent) -> Record {
        Record::Trace(event)
    }
}

/// What the recorder saw, returned when it ends.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// The analyser's summary of every frame.
    pub summary: Summary,
    /// What went wrong, per endpoint, and the distributions.
    pub diagnosis: DiagnosisReport,
    /// Frames recorded.
    pub frames: u64,
    /// Frames recorded that the link had dropped.
    pub link_dropped: u64,
}

/// A running recorder thread.
pub struct Recorder {
    handle: JoinHandle<Result<Recording>>,
}

impl Recorder {
    /// Starts the thread reading `rx` and feeding `sinks` (created by the caller, so a bad
    /// output path fails before the lab starts); it gives `budget` back each frame it takes.
    pub fn start(
        sinks: Vec<Box<dyn Sink>>,
        rx: Receiver<Record>,
        budget: TapBudget,
        traces: TraceRoom,
    ) -> Recorder {
        let mut state = State {
            sinks,
            analyzer: Analyzer::new(),
            diagnosis: Diagnosis::new(),
            events: Vec::new(),
            recording: Recording::default(),
            budget,
            traces,
            keys_seen: HashSet::new(),
        };
        let handle = std::thread::spawn(move || {
            // The wire's ring overflows when its thread waits for a core; the recorder's queue
            // is deep and only costs memory to wait in. Under load, the wire goes first.
            // SAFETY: setpriority on this thread (a tid is a PRIO_PROCESS id), no pointers.
            unsafe {
                libc::setpriority(
                    libc::PRIO_PROCESS,
                    libc::gettid() as libc::id_t,
                    RECORDER_NICE,
                );
            }
            state.run(rx)
        });
        Recorder { handle }
    }

    /// Waits for the thread to finish (after [`Record::End`] or when every sender is gone).
    pub fn join(self) -> Result<Recording> {
        self.handle
            .join()
            .map_err(|_| anyhow!("the recorder thread panicked"))?
    }
}

struct State {
    sinks: Vec<Box<dyn Sink>>,
    analyzer: Analyzer,
    diagnosis: Diagnosis,
    /// The current frame's events (reused between frames).
    events: Vec<Event>,
    recording: Recording,
    budget: TapBudget,
    traces: TraceRoom,
    /// Key log lines already applied and written.
    keys_seen: HashSet<String>,
}

impl State {
    fn run(&mut self, rx: Receiver<Record>) -> Result<Recording> {
        let mut last_flush = Instant::now();
        let mut end = CaptureEnd::default();
        let result = loop {
            let step = match rx.recv_timeout(FLUSH_EVERY) {
                Ok(Record::Frames(frames)) => {
                    self.budget.taken(frames.len());
                    frames.iter().try_for_each(|f| self.frame(f))
                }
                Ok(Record::Trace(event)) => {
                    self.traces.taken();
                    match &event.kind {
                        TraceKind::TlsKey { line } => self.tls_key(line),
                        _ => self.each(|s| s.trace(&event)),
                    }
                }
                Ok(Record::End(e)) => {
                    end = e;
                    break Ok(());
                }
                Err(RecvTimeoutError::Timeout) => Ok(()),
                Err(RecvTimeoutError::Disconnected) => break Ok(()),
            };
            if step.is_err() {
                break step;
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                if let Err(e) = self.each(|s| s.flush()) {
                    break Err(e);
                }
                last_flush = Instant::now();
            }
        };
        // Finished on every path, so what was written before an error is readable.
        let finished = self.each(|s| s.finish(&end));
        result.and(finished)?;
        self.recording.summary = self.analyzer.summary();
        self.recording.diagnosis = self.diagnosis.report();
        Ok(self.recording.clone())
    }

    fn frame(&mut self, frame: &CapturedFrame) -> Result<()> {
        self.events.clear();
        let (t, link, data) = (frame.t_ns, LinkType::Ethernet, &frame.data);
        self.diagnosis.capture_gap(t, frame.lost_before);
        if frame.forged.is_some() {
            self.analyzer
                .handle_forged_frame(t, link, data, &mut self.events);
        } else {
            self.analyzer.handle_frame(t, link, data, &mut self.events);
        }
        for e in &self.events {
            self.diagnosis.apply(e);
        }
        self.recording.frames += 1;
        self.recording.link_dropped += u64::from(frame.dropped.is_some());
        let recorded = Recorded {
            frame,
            events: &self.events,
        };
        self.sinks.iter_mut().try_for_each(|s| s.frame(&recorded))
    }

    /// A TLS secret an actor derived: the analyser decrypts with it from now on (and what it
    /// holds back for it), and the capture gets it once (both ends log the same secrets).
    fn tls_key(&mut self, line: &str) -> Result<()> {
        if !self.keys_seen.insert(line.to_owned()) {
            return Ok(());
        }
        let line = format!("{line}\n");
        self.analyzer.add_keys(line.as_bytes());
        self.each(|s| s.secrets(line.as_bytes()))
    }

    /// Runs `f` on every sink; the first error is returned after all have run.
    fn each(&mut self, mut f: impl FnMut(&mut dyn Sink) -> Result<()>) -> Result<()> {
        let mut first = Ok(());
        for sink in &mut self.sinks {
            let r = f(sink.as_mut());
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}
