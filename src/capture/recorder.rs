//! The recorder thread: the one place where frames become a capture and events.
//!
//! It receives the wire's frames and the actors' trace events on one channel, runs each frame
//! through the analyser, writes the frame to pcapng with the events it caused as comments, and
//! writes every event (analyser and actor) as one JSON line. The wire never waits for it: the
//! channel is unbounded, and what was recorded is flushed regularly and on every exit path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use super::live::LiveCounters;
use super::pcapng_out::PcapngOut;
use crate::actors::trace::TraceEvent;
use crate::analyze::{decode, Analyzer, Event, LinkType, Summary};
use crate::tui::app::TuiInput;
use crate::tui::model::FrameInfo;
use crate::wire::CapturedFrame;
use std::sync::Arc;

/// How often buffered output is pushed to disk.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// What flows into the recorder.
pub enum Record {
    /// A frame from the wire.
    Frame(CapturedFrame),
    /// An actor's trace event.
    Trace(TraceEvent),
    /// The capture is over: write the statistics and stop.
    End {
        /// Frames the kernel dropped on each port (client side, server side).
        kernel_drops: [u64; 2],
    },
}

impl From<CapturedFrame> for Record {
    fn from(frame: CapturedFrame) -> Record {
        Record::Frame(frame)
    }
}

impl From<TraceEvent> for Record {
    fn from(event: TraceEvent) -> Record {
        Record::Trace(event)
    }
}

/// Where the recorder writes.
pub struct RecorderOutput {
    /// The pcapng file.
    pub pcapng: PathBuf,
    /// The JSON-lines events file.
    pub events: PathBuf,
    /// Also print each event as a JSON line on stdout (`--json`).
    pub json_stdout: bool,
    /// Lab name, written into the capture's section header.
    pub lab: String,
    /// Counters for live views, updated per frame.
    pub live: Arc<LiveCounters>,
    /// The live timeline's feed (`run --tui`).
    pub tui: Option<Sender<TuiInput>>,
}

/// What the recorder saw, returned when it ends.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// The analyser's summary of every frame.
    pub summary: Summary,
    /// Frames written.
    pub frames: u64,
    /// Frames written that the link had dropped.
    pub link_dropped: u64,
    /// Events written (analyser and actors).
    pub events: u64,
}

/// A running recorder thread.
pub struct Recorder {
    handle: JoinHandle<Result<Recording>>,
}

impl Recorder {
    /// Creates the output files (so a bad path fails before the lab starts) and starts the
    /// thread reading `rx`.
    pub fn start(out: RecorderOutput, rx: Receiver<Record>) -> Result<Recorder> {
        let pcapng = PcapngOut::create(&out.pcapng, &out.lab)?;
        let events = File::create(&out.events)
            .with_context(|| format!("creating {}", out.events.display()))?;
        let mut state = State {
            pcapng: Some(pcapng),
            events: BufWriter::new(events),
            json_stdout: out.json_stdout,
            live: out.live,
            tui: out.tui,
            analyzer: Analyzer::new(),
            scratch: Vec::new(),
            recording: Recording::default(),
            received: [0; 2],
            last_ns: 0,
        };
        let handle = std::thread::spawn(move || state.run(rx));
        Ok(Recorder { handle })
    }

    /// Waits for the thread to finish (after [`Record::End`] or when every sender is gone).
    pub fn join(self) -> Result<Recording> {
        self.handle
            .join()
            .map_err(|_| anyhow!("the recorder thread panicked"))?
    }
}

struct State {
    live: Arc<LiveCounters>,
    tui: Option<Sender<TuiInput>>,
    pcapng: Option<PcapngOut>,
    events: BufWriter<File>,
    json_stdout: bool,
    analyzer: Analyzer,
    scratch: Vec<Event>,
    recording: Recording,
    received: [u64; 2],
    last_ns: u64,
}

impl State {
    fn run(&mut self, rx: Receiver<Record>) -> Result<Recording> {
        let mut last_flush = Instant::now();
        let mut kernel_drops = [0; 2];
        loop {
            match rx.recv_timeout(FLUSH_EVERY) {
                Ok(Record::Frame(frame)) => self.frame(&frame)?,
                Ok(Record::Trace(event)) => self.line(&event)?,
                Ok(Record::End { kernel_drops: d }) => {
                    kernel_drops = d;
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                self.flush()?;
                last_flush = Instant::now();
            }
        }
        self.finish(kernel_drops)?;
        Ok(self.recording.clone())
    }

    fn frame(&mut self, frame: &CapturedFrame) -> Result<()> {
        self.scratch.clear();
        self.analyzer.handle_frame(
            frame.t_ns,
            LinkType::Ethernet,
            &frame.data,
            &mut self.scratch,
        );
        let mut comments: Vec<String> = self.scratch.iter().map(Event::describe).collect();
        if frame.injected {
            comments.push("forged by the wire (RST injection)".to_owned());
        }
        if let Some(cause) = frame.dropped {
            comments.push(format!("dropped by the link ({})", cause.as_str()));
            self.recording.link_dropped += 1;
        }
        if let Some(out) = &mut self.pcapng {
            out.write(frame.t_ns, frame.dir, &frame.data, &comments)?;
        }
        self.live.record(&self.scratch, frame.dropped.is_some());
        if let Some(tui) = &self.tui {
            for e in &self.scratch {
                let _ = tui.send(TuiInput::Event(e.clone()));
            }
            let info = decode(LinkType::Ethernet, &frame.data)
                .ok()
                .flatten()
                .map(|seg| FrameInfo::of(&seg));
            let _ = tui.send(TuiInput::Frame {
                t_ns: frame.t_ns,
                info,
                dropped: frame.dropped.is_some(),
            });
        }
        self.received[frame.dir as usize] += 1;
        self.recording.frames += 1;
        self.last_ns = frame.t_ns;
        let events = std::mem::take(&mut self.scratch);
        for event in &events {
            self.line(event)?;
        }
        self.scratch = events;
        Ok(())
    }

    fn line(&mut self, value: &impl serde::Serialize) -> Result<()> {
        let text = serde_json::to_string(value).context("encoding an event")?;
        writeln!(self.events, "{text}").context("writing the events file")?;
        if self.json_stdout {
            println!("{text}");
        }
        self.recording.events += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(out) = &mut self.pcapng {
            out.flush()?;
        }
        self.events.flush().context("flushing the events file")
    }

    fn finish(&mut self, kernel_drops: [u64; 2]) -> Result<()> {
        self.recording.summary = self.analyzer.summary();
        if let Some(out) = self.pcapng.take() {
            out.finish(self.last_ns, kernel_drops, self.received)?;
        }
        self.events.flush().context("flushing the events file")
    }
}
