//! `connlab inspect`: captures analysed and diagnosed, one summary each or one for all.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use connlab::capture::reader::ReadError;
use connlab::{inspect, summary_text};

use super::args::InspectArgs;
use super::exit::{fail, worst, EXIT_ERROR};
use super::inputs::captures_and_keylog;

/// Inspects the captures `args` names: each apart, or as one with `--merge`.
pub fn main(args: InspectArgs) -> ExitCode {
    let InspectArgs {
        files,
        merge,
        json,
        keylog,
        conn_log,
    } = args;
    let conn_log = conn_log.as_deref();
    match captures_and_keylog(&files, keylog.as_deref()) {
        Ok((files, _)) if conn_log.is_some() && files.len() > 1 && !merge => fail(
            &anyhow::anyhow!("--conn-log writes one file: give one capture, or --merge them"),
        ),
        Ok((files, keys)) if merge => inspect(&files, json, keys.as_deref(), conn_log),
        Ok((files, keys)) => files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                if i > 0 && !json {
                    println!();
                }
                inspect(std::slice::from_ref(file), json, keys.as_deref(), conn_log)
            })
            .fold(ExitCode::SUCCESS, worst),
        Err(e) => fail(&e),
    }
}

/// Inspects `files` as one capture and prints its summary; writes its conn.log to
/// `conn_log` when given.
fn inspect(
    files: &[PathBuf],
    json: bool,
    keylog: Option<&[u8]>,
    conn_log: Option<&Path>,
) -> ExitCode {
    let inspection = inspect::inspect(files, keylog, conn_log.is_some(), |event| {
        if json {
            println!("{}", serde_json::to_string(event).unwrap_or_default());
        }
    });
    // What was read is logged, even when the file ends in damage.
    if let (Some(path), Some(rows)) = (conn_log, &inspection.conn_log) {
        if let Err(e) = super::conn_log::write(path, rows) {
            return fail(&e);
        }
    }
    // A file that could not be opened or is no capture has nothing to summarise.
    let unread = inspection.summary.packets == 0
        && matches!(
            inspection.error,
            Some(ReadError::Io { .. } | ReadError::Empty { .. } | ReadError::NotACapture { .. })
        );
    if !unread {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        print_inspection(&names.join(" + "), &inspection, json);
    }
    match inspection.error {
        None => ExitCode::SUCCESS,
        Some(e) if unread => {
            eprintln!("connlab: {e}");
            ExitCode::from(EXIT_ERROR)
        }
        Some(e) => {
            eprintln!("connlab: {e} (the summary above covers what was read before it)");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Prints what `connlab inspect` found: the summary line (JSON), or the tables and findings.
fn print_inspection(name: &str, inspection: &inspect::Inspection, json: bool) {
    if json {
        let mut line = serde_json::json!({ "file": name, "summary": inspection.summary });
        if let Some(e) = &inspection.error {
            line["error"] = serde_json::Value::String(e.to_string());
        }
        println!("{line}");
    } else {
        let s = &inspection.summary;
        println!("{name}");
        print!("{}", summary_text::analysis_table(&s.analysis, None));
        println!("packets {}   recorded drops {}", s.packets, s.dropped);
        if s.unsupported_link > 0 {
            println!(
                "skipped {} packets on link types connlab does not decode",
                s.unsupported_link
            );
        }
        if s.analysis.tcp_segments == 0 {
            println!("no TCP in this capture: nothing to diagnose");
        } else {
            let understood = s.analysis.requests + s.analysis.responses + s.analysis.http2.streams;
            if understood == 0 && s.analysis.websocket.connections == 0 && s.analysis.exchanges == 0
            {
                let why = if s.analysis.tls.connections > 0 {
                    "TLS without keys: give them with --keylog"
                } else if s.analysis.cut_segments > 0 {
                    "the snap length cut it, or another protocol"
                } else {
                    "another protocol?"
                };
                println!(
                    "no HTTP/1.x or HTTP/2 seen ({why}): findings about requests cannot apply; \
                     idle closes, resets, refusals, dead peers and SYN retransmits still can"
                );
            }
            print!(
                "{}",
                summary_text::diagnosis_text(&s.diagnosis, s.analysis.connections)
            );
        }
    }
}
