//! The result of a run: the summary printed as a table, or as the final `{"summary": ...}` JSON
//! line whose field names scripts rely on (documented in docs/output.md).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use connlab_core::analyze::{BySide, Summary};
use connlab_core::diagnose::DiagnosisReport;
use connlab_core::words::plural;

use super::expect::Outcome;
use super::file::Lab;
use crate::actors::client_report::ClientReport;
use crate::actors::exec::ExecReport;
use crate::capture::recorder::Recording;
use crate::net::kernel_truth::SocketStates;
use crate::net::memory::MemoryReport;
use crate::summary_text::{analysis_table, diagnosis_text};
use crate::wire::WireStats;

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The summary, expectations included.
    pub summary: RunSummary,
}

/// The summary of a run: the analyser's counters plus what only a live run knows.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Lab name.
    pub lab: String,
    /// The analyser's counters, from the frames on the wire.
    #[serde(flatten)]
    pub analysis: Summary,
    /// Findings, endpoints and distributions (`findings`, `endpoints`, `distributions`).
    #[serde(flatten)]
    pub diagnosis: DiagnosisReport,
    /// Frames the capture missed: dropped by the kernel before the wire read them, or not
    /// recorded because the recorder was behind (they were still forwarded).
    pub dropped: u64,
    /// Frames the link model dropped on purpose (loss, partitions).
    pub link_dropped: u64,
    /// TIME_WAIT sockets per side as the kernel counts them at the end of the run.
    pub kernel_time_wait: BySide,
    /// All kernel TCP socket states per side at the end of the run.
    pub kernel_states: KernelStates,
    /// What the wire did.
    pub wire: WireSummary,
    /// What the link's middlebox did (`[link.middlebox]` labs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middlebox: Option<connlab_core::link::MiddleboxStats>,
    /// The built-in client's own account of its requests; absent for an external program.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientReport>,
    /// The pcapng file.
    pub capture: PathBuf,
    /// The JSON-lines events file.
    pub events: PathBuf,
    /// The HTML report (`--report`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    /// True when the run was cut short by a signal.
    pub interrupted: bool,
    /// The lab's `timeout_s` when its client had not finished within it (the summary covers
    /// what was captured until then, and the run fails).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out_s: Option<u64>,
    /// The `--set` overrides the run used.
    pub overrides: Vec<String>,
    /// `root`, or `rootless (...)` when connlab ran in a user namespace of its own.
    pub privileges: String,
    /// What the lab asked for that this run could not do (rootless), in words; never faked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
    /// What the connections open at the end cost in memory (process and kernel).
    pub memory: MemoryReport,
    /// Time to close what was left open and delete the namespaces after the capture, ms.
    pub teardown_ms: u64,
    /// How the raw TCP actors' connections were laid out on this machine (worker processes,
    /// client addresses, the open-file limit, the memory estimate); absent for other labs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<crate::lab::scale::ScalePlan>,
    /// External programs run by the lab, with their exit codes and output files.
    pub exec: Vec<ExecReport>,
    /// Each `[expect]` line, checked; a lab without `[expect]` checks that its client's
    /// requests all succeeded and its external programs exited 0.
    pub expectations: Vec<Outcome>,
    /// What the lab asked for that did not happen (a planned reset never sent): the run may
    /// not show what the lab meant to show.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What a lab without `[expect]` is held to: nothing that ran failed. Its client's requests
/// all answered, its external programs exited 0 (a server stopped by connlab counts as fine).
fn implicit_expectations(s: &RunSummary) -> Vec<Outcome> {
    let mut out = Vec::new();
    if let Some(c) = &s.client {
        out.push(Outcome {
            name: "client.failed".to_owned(),
            want: "== 0 (no [expect]: the client's requests must succeed)".to_owned(),
            got: c.failed.into(),
            pass: c.failed == 0,
            why: None,
        });
    }
    for e in &s.exec {
        out.push(Outcome {
            name: format!("exec.{}.exit_code", e.side),
            want: "== 0 (no [expect]: the programs must succeed)".to_owned(),
            got: e.exit_code.map_or(serde_json::Value::Null, Into::into),
            pass: e.stopped || e.exit_code.is_none_or(|code| code == 0),
            why: None,
        });
    }
    out
}

/// Kernel socket states per side.
#[derive(Debug, Clone, Serialize)]
pub struct KernelStates {
    /// Client namespace.
    pub client: SocketStates,
    /// Server namespace.
    pub server: SocketStates,
}

/// The wire's throughput and health.
#[derive(Debug, Clone, Serialize)]
pub struct WireSummary {
    /// Frames seen (forwarded and dropped by the link).
    pub frames: u64,
    /// Frames per second over the span of the traffic.
    pub frames_per_second: f64,
    /// Frames the wire failed to send on.
    pub send_errors: u64,
    /// Capture drops by the kernel: frames that found the wire's receive ring full (they
    /// were lost on the link too, as on a real congested hop).
    pub kernel_dropped: u64,
    /// Capture drops by the recorder: frames forwarded but not recorded, its queue full.
    pub recorder_dropped: u64,
    /// Frames the kernel's input queues dropped on their way into or out of the wire (the
    /// machine too busy to drain them; a host-wide count over the run).
    pub backlog_dropped: u64,
    /// The link model in words.
    pub link: String,
}

/// What the actors left: the client's report and the kernel's view at the end. The runner
/// gathers it; it is one of what a report is made of.
pub struct ActorOutcome {
    /// The built-in client's own account (none for an external program).
    pub client: Option<ClientReport>,
    /// Kernel TCP states in the client namespace.
    pub client_states: SocketStates,
    /// Kernel TCP states in the server namespace.
    pub server_states: SocketStates,
    /// External programs' reports.
    pub exec: Vec<ExecReport>,
    /// What the open connections cost, measured before the teardown.
    pub memory: MemoryReport,
    /// The lab's `timeout_s`, when the client had not finished within it.
    pub timed_out: Option<Duration>,
}

impl RunReport {
    /// Assembles the report and checks the lab's expectations against it.
    pub fn new(
        lab: &Lab,
        recording: Recording,
        wire: WireStats,
        actors: ActorOutcome,
        capture: PathBuf,
        events: PathBuf,
        interrupted: bool,
    ) -> RunReport {
        let mut summary = RunSummary {
            lab: lab.name.clone(),
            analysis: recording.summary,
            diagnosis: recording.diagnosis,
            dropped: wire
                .kernel_dropped
                .iter()
                .chain(&wire.tap_dropped)
                .sum::<u64>()
                + wire.backlog_dropped,
            link_dropped: recording.link_dropped,
            kernel_time_wait: BySide {
                client: actors.client_states.get("TIME_WAIT"),
                server: actors.server_states.get("TIME_WAIT"),
            },
            kernel_states: KernelStates {
                client: actors.client_states,
                server: actors.server_states,
            },
            wire: WireSummary {
                frames: recording.frames + wire.tap_dropped.iter().sum::<u64>(),
                frames_per_second: wire.frames_per_second(),
                send_errors: wire.send_errors,
                kernel_dropped: wire.kernel_dropped.iter().sum(),
                recorder_dropped: wire.tap_dropped.iter().sum(),
                backlog_dropped: wire.backlog_dropped,
                link: lab.spec.link.describe(),
            },
            middlebox: wire.middlebox,
            client: actors.client,
            capture,
            events,
            report: None,
            interrupted,
            timed_out_s: actors.timed_out.map(|d| d.as_secs()),
            overrides: lab.overrides.clone(),
            privileges: crate::net::userns::privileges(),
            unavailable: Vec::new(),
            scale: None,
            teardown_ms: 0,
            exec: actors.exec,
            memory: actors.memory,
            expectations: Vec::new(),
            warnings: Vec::new(),
        };
        if wire.resets_not_injected > 0 {
            summary.warnings.push(format!(
                "{} of the {} [[link.inject_rst]] never fired: the connection named had not \
                 opened (or acknowledged anything) by then, or the run ended first; check \
                 their conn and at_ms",
                wire.resets_not_injected,
                lab.spec.link.inject_rst.len()
            ));
        }
        let as_json = serde_json::to_value(&summary).unwrap_or_default();
        summary.expectations = if lab.expectations.is_empty() {
            implicit_expectations(&summary)
        } else {
            lab.expectations.iter().map(|e| e.check(&as_json)).collect()
        };
        if let Some(limit) = summary.timed_out_s {
            summary.expectations.insert(
                0,
                Outcome {
                    name: "timeout_s".to_owned(),
                    want: format!("the client finished within {limit} s"),
                    got: "it was still running: stopped".into(),
                    pass: false,
                    why: None,
                },
            );
        }
        RunReport { summary }
    }

    /// True when every expectation held (and the run was not interrupted).
    pub fn passed(&self) -> bool {
        !self.summary.interrupted && self.summary.expectations.iter().all(|o| o.pass)
    }

    /// The `{"summary": {...}}` line of `--json` output.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The human summary table.
    pub fn render_text(&self, lab: &Lab) -> String {
        let s = &self.summary;
        let a = &s.analysis;
        let mut out = String::new();
        let _ = writeln!(out, "lab {}: {}", s.lab, lab.spec.question);
        for line in lab.spec.about.trim().lines() {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "link: {}", s.wire.link);
        if !s.overrides.is_empty() {
            let _ = writeln!(out, "overrides: {}", s.overrides.join(" "));
        }
        if s.privileges != "root" {
            let _ = writeln!(out, "privileges: {}", s.privileges);
        }
        for what in &s.unavailable {
            let _ = writeln!(out, "unavailable: {what}");
        }
        if s.dropped > 0 {
            let _ = writeln!(
                out,
                "\nDAMAGED RUN: connlab's own machine fell behind and lost {} (wire ring {}, \
                 recorder {}, kernel input queues {}). The lab's traffic lost them too: what \
                 follows is not the network's behaviour where those frames were. Findings on \
                 the {} open then are withheld. Run it again on a quieter machine, or at a \
                 lower pace.",
                plural(s.dropped, "frame", "frames"),
                s.wire.kernel_dropped,
                s.wire.recorder_dropped,
                s.wire.backlog_dropped,
                plural(
                    s.diagnosis.capture_gaps.damaged_connections,
                    "connection",
                    "connections"
                ),
            );
        }
        let _ = writeln!(out);
        out.push_str(&analysis_table(a, Some(s.kernel_time_wait)));
        let _ = write!(out, "capture drops {}", s.dropped);
        if s.dropped > 0 {
            let _ = write!(
                out,
                " (kernel {}, recorder {}, input queues {})",
                s.wire.kernel_dropped, s.wire.recorder_dropped, s.wire.backlog_dropped
            );
        }
        let _ = writeln!(
            out,
            ", link drops {}; wire: {} frames, {:.0} frames/s",
            s.link_dropped, s.wire.frames, s.wire.frames_per_second
        );
        if let Some(m) = &s.middlebox {
            let _ = writeln!(
                out,
                "middlebox: forgot {}, stopped {} of forgotten flows, sent {}",
                plural(m.forgotten_flows, "flow", "flows"),
                plural(m.expired_segments, "segment", "segments"),
                plural(m.rsts_sent, "RST", "RSTs")
            );
        }
        if let Some(plan) = &s.scale {
            let _ = writeln!(
                out,
                "scale: {} connections over {} server and {} client processes, {} client \
                 addresses; open-file limit {}; teardown {:.1} s",
                plan.connections,
                plan.server_workers,
                plan.client_workers,
                plan.client_addrs.len(),
                plan.open_file_limit,
                s.teardown_ms as f64 / 1000.0
            );
        }
        if s.memory.connections >= 100 {
            let m = &s.memory;
            let mut parts = Vec::new();
            if let Some(per) = m.client_process_bytes_per_connection {
                parts.push(format!("client processes {per} B"));
            }
            if let Some(per) = m.server_process_bytes_per_connection {
                parts.push(format!("server processes {per} B"));
            }
            parts.push(format!("connlab {} B", m.process_bytes_per_connection));
            if let Some(per) = m.kernel_bytes_per_socket {
                parts.push(format!("kernel {per} B per socket"));
            }
            let _ = writeln!(
                out,
                "memory per connection ({} open): {}",
                m.connections,
                parts.join(", ")
            );
        }
        if let Some(c) = &s.client {
            let _ = write!(
                out,
                "client: {} ok, {} failed, {} dialed, {} reused",
                c.ok, c.failed, c.dialed, c.reused
            );
            if let (true, Some(why)) = (c.failed > 0, &c.first_error) {
                let _ = write!(out, " (the first failure: {why})");
            }
            if c.dial_ns > 0 {
                let secs = c.dial_ns as f64 / 1e9;
                let _ = write!(
                    out,
                    "; dialed in {secs:.1} s ({:.0} connections/s)",
                    c.dialed as f64 / secs
                );
                if c.wire_wait_ns >= 100_000_000 {
                    let _ = write!(
                        out,
                        ", {:.1} s of it waiting for connlab's wire to catch up (the dial rate \
                         is a ceiling)",
                        c.wire_wait_ns as f64 / 1e9
                    );
                }
            } else if c.wire_wait_ns >= 100_000_000 {
                let _ = write!(
                    out,
                    "; {:.1} s waiting for connlab's wire to catch up (the request pace is a \
                     ceiling)",
                    c.wire_wait_ns as f64 / 1e9
                );
            }
            let _ = writeln!(out);
        }
        for e in &s.exec {
            // An external program's own word: how it exited, and where its output is.
            let exit = match (e.exit_code, e.stopped) {
                (Some(0), _) => "exit 0".to_owned(),
                (Some(code), true) => format!("stopped by connlab (exit {code})"),
                (Some(code), false) => format!("exit {code} (it failed)"),
                (None, _) => "stopped by connlab".to_owned(),
            };
            let _ = writeln!(
                out,
                "exec {}: {exit}; output in {} and {}",
                e.side,
                e.stdout.display(),
                e.stderr.display()
            );
        }
        out.push_str(&diagnosis_text(&s.diagnosis, a.connections));
        if !s.expectations.is_empty() {
            let _ = writeln!(out, "\nexpectations");
            for o in &s.expectations {
                let verdict = if o.pass { "PASS" } else { "FAIL" };
                let _ = writeln!(out, "  {verdict} {} {} (got {})", o.name, o.want, o.got);
            }
            if let Some(why) = s.expectations.iter().find_map(|o| o.why.as_ref()) {
                let _ = writeln!(out, "  the failures may be connlab's, not the lab's: {why}");
            }
        }
        for warning in &s.warnings {
            let _ = writeln!(out, "\nwarning: {warning}");
        }
        if let Some(limit) = s.timed_out_s {
            let _ = writeln!(
                out,
                "\ntimed out: the client had not finished after timeout_s = {limit} s; the \
                 summary covers what was captured until it was stopped (raise timeout_s, or \
                 ask the client for less)"
            );
        }
        if s.interrupted {
            let _ = writeln!(out, "\ninterrupted: the run was stopped before it finished");
        }
        let _ = writeln!(out, "\ncapture: {}", s.capture.display());
        let _ = writeln!(out, "events:  {}", s.events.display());
        if let Some(report) = &s.report {
            let _ = writeln!(out, "report:  {}", report.display());
        }
        out
    }
}
