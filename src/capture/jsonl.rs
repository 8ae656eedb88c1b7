//! The JSON-lines sink: every analyser event and actor trace event as one JSON object per
//! line, in the order the recorder saw them, in the events file and, with `--json`, on stdout.

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{Context, Result};

use super::sink::{CaptureEnd, Recorded, Sink};
use crate::trace::TraceEvent;

/// Writes events as JSON lines.
pub struct JsonLines {
    file: BufWriter<File>,
    stdout: bool,
}

impl JsonLines {
    /// Writes into `file`, made before the lab starts so a bad path fails first; `stdout` also
    /// prints each line.
    pub fn to_file(file: File, stdout: bool) -> JsonLines {
        JsonLines {
            file: BufWriter::new(file),
            stdout,
        }
    }

    fn line(&mut self, value: &impl serde::Serialize) -> Result<()> {
        let text = serde_json::to_string(value).context("encoding an event")?;
        writeln!(self.file, "{text}").context("writing the events file")?;
        // A reader that went away (`--json | head`) stops the echo, not the run: the events
        // file still gets every line.
        if self.stdout && writeln!(std::io::stdout().lock(), "{text}").is_err() {
            self.stdout = false;
        }
        Ok(())
    }
}

impl Sink for JsonLines {
    fn frame(&mut self, recorded: &Recorded<'_>) -> Result<()> {
        recorded.events.iter().try_for_each(|e| self.line(e))
    }

    fn trace(&mut self, event: &TraceEvent) -> Result<()> {
        self.line(event)
    }

    fn flush(&mut self) -> Result<()> {
        self.file.flush().context("flushing the events file")
    }

    fn finish(&mut self, _end: &CaptureEnd) -> Result<()> {
        self.flush()
    }
}
