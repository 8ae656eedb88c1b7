//! Runs one lab for real: network, wire, recorder, actors, then the teardown in an order that
//! keeps the capture honest.
//!
//! Order of the end: the client finishes, the lab settles (timeouts fire, FINs cross), the
//! kernel's socket states are read, the wire stops, the recorder writes the statistics and
//! flushes, and only then are the remaining connections released and the namespaces deleted,
//! so teardown frames never pollute the capture. Every exit path (error, Ctrl-C, SIGTERM,
//! panic) goes through the same teardown: the topology deletes itself on drop.

use std::path::PathBuf;
use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use connlab_core::analyze::BySide;
use connlab_core::timeline::TimelineInput;

use super::file::Lab;
use super::launch::{self, ClientDone};
use super::report::{ActorOutcome, RunReport};
use super::scale;
use super::waiting::Interrupted;
use crate::actors::exec::ExecError;
use crate::capture::jsonl::JsonLines;
use crate::capture::live::{LiveCounters, ProgressLine};
use crate::capture::pcapng_out::PcapngOut;
use crate::capture::recorder::{Record, Recorder};
use crate::capture::sink::{CaptureEnd, Sink};
use crate::capture::timeline_feed::TimelineFeed;
use crate::clock::now_ns;
use crate::net::kernel_truth;
use crate::net::memory::{self, MemoryReport, Workers};
use crate::net::netns;
use crate::net::softnet::RaisedBacklog;
use crate::net::topology::{Topology, TopologySpec};
use crate::paths::{beside, claim, create_new};
use crate::trace::{TraceRoom, Tracer};
use crate::wire::{CaptureLimits, Ports, TapBudget, Wire};

/// Messages (batches of frames, trace events) waiting for the recorder at most.
const RECORDER_QUEUE: usize = 1 << 16;
/// Frames waiting for the recorder at most (about 160 MiB): a burst faster than the recorder
/// is absorbed, a recorder that cannot keep up costs capture drops, counted.
const RECORDER_BACKLOG: usize = 1 << 20;

/// Options from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder for the capture and events files.
    pub out_dir: PathBuf,
    /// Print events as JSON lines on stdout.
    pub json: bool,
    /// Show a one-line live progress on stderr.
    pub progress: bool,
    /// Feed the live terminal timeline.
    pub tui: Option<Sender<TimelineInput>>,
    /// Write an HTML report beside the capture.
    pub report: bool,
}

/// Why a run produced no report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An external program the lab needs is missing: the lab is skipped, not failed.
    #[error("skipped: {0}")]
    Skipped(String),
    /// Anything else (the message says what was kept).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Runs `lab` and returns its report (expectations already checked).
pub fn run(lab: &Lab, opts: &RunOptions) -> Result<RunReport, RunError> {
    // Refused before anything is made when the machine cannot hold the connections.
    let plan = scale::plan(&lab.spec, &scale::Machine::read())?;
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating output folder {}", opts.out_dir.display()))?;
    // The capture and the events file claim the run's prefix (no other run writes them), and
    // are made before the network, so a bad path fails before anything is built.
    let (prefix, (pcapng_file, events_file)) = claim(&opts.out_dir, &lab.name, |prefix| {
        let pcapng = create_new(&beside(prefix, "pcapng"))?;
        create_new(&beside(prefix, "events.jsonl"))
            .map(|events| (pcapng, events))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(beside(prefix, "pcapng"));
            })
    })?;
    let pcapng = beside(&prefix, "pcapng");
    let live = Arc::new(LiveCounters::default());
    let mut sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(PcapngOut::to_file(
            pcapng_file,
            (&lab.name, &lab.spec.link.describe()),
            lab.spec.capture.snaplen,
        )?),
        Box::new(JsonLines::to_file(events_file, opts.json)),
        Box::new(live.clone()),
    ];
    if let Some(tui) = &opts.tui {
        sinks.push(Box::new(TimelineFeed(tui.clone())));
    }

    let mut server_sysctls = sysctls(&lab.spec.sysctl.server);
    server_sysctls.extend(plan.server_sysctls.clone());
    let mut client_sysctls = sysctls(&lab.spec.sysctl.client);
    client_sysctls.extend(plan.client_sysctls.clone());
    let topo = Topology::build(&TopologySpec {
        client_sysctls,
        server_sysctls,
        ipv6: lab.spec.ipv6,
        extra_client_addrs: plan.client_addrs[1..].to_vec(),
    })?;

    let mut unavailable = topo.unavailable.clone();
    // Restored when the run ends (dropped at the end of this function).
    let _input_queue = match plan.input_queue.map(RaisedBacklog::to_at_least) {
        Some(Err(e)) => {
            unavailable.push(format!(
                "raising net.core.netdev_max_backlog for {} connections ({e}): bursts may be \
                 dropped inside this machine, and are then counted as capture drops",
                plan.connections
            ));
            None
        }
        Some(Ok(raised)) => raised,
        None => None,
    };
    // Bounded: a recorder that falls behind costs capture drops, never unbounded memory.
    let (tx, rx) = mpsc::sync_channel::<Record>(RECORDER_QUEUE);
    let budget = TapBudget::new(RECORDER_BACKLOG, RECORDER_QUEUE);
    // Trace events get half the queue's slots; frames are held to the budget.
    let traces = TraceRoom::new(RECORDER_QUEUE / 2);
    let recorder = Recorder::start(sinks, rx, budget.clone(), traces.clone());
    let progress = opts.progress.then(|| ProgressLine::start(live));
    let start_ns = now_ns();
    let (client_side, server_side) = topo.wire_ports();
    let ports = Ports {
        client_side,
        server_side,
    };
    let wire = Wire::start(
        &topo.wire_ns,
        ports,
        &lab.spec.link,
        start_ns,
        CaptureLimits {
            snaplen: lab.spec.capture.snaplen as usize,
            ring_frames: lab.spec.capture.ring_frames as usize,
        },
        tx.clone(),
        budget,
    )?;
    let sampler = opts.tui.clone().map(|tui| KernelSampler::start(&topo, tui));

    let outcome = drive_actors(lab, &topo, (&tx, traces), &prefix, &plan);

    // Whatever happened, stop the capture properly so what was recorded is kept.
    let wire_stats = wire.stop();
    let end = wire_stats
        .as_ref()
        .map(|s| CaptureEnd {
            kernel_drops: s.kernel_dropped,
            recorder_drops: s.tap_dropped,
        })
        .unwrap_or_default();
    let _ = tx.send(Record::End(end));
    drop(tx);
    let recording = recorder.join();
    drop(progress);
    drop(sampler);
    let (mut actors, server, client) = match outcome {
        Ok(done) => done,
        Err(RunError::Failed(e)) => {
            drop(topo);
            return Err(RunError::Failed(e.context(format!(
                "lab {} failed; what was captured is in {}",
                lab.name,
                pcapng.display()
            ))));
        }
        Err(skipped) => return Err(skipped),
    };
    let teardown = std::time::Instant::now();
    actors.exec.extend(client.release());
    actors.exec.extend(server.stop());
    drop(topo);
    let teardown_ms = teardown.elapsed().as_millis() as u64;

    let mut report = RunReport::new(
        lab,
        recording?,
        wire_stats?,
        actors,
        pcapng,
        beside(&prefix, "events.jsonl"),
        Interrupted::now(),
    );
    report.summary.unavailable = unavailable;
    if report.summary.memory.connections >= 100
        && report.summary.memory.kernel_bytes_per_socket.is_none()
    {
        report
            .summary
            .unavailable
            .push("the kernel's memory per socket (reading /proc/slabinfo needs root)".to_owned());
    }
    report.summary.teardown_ms = teardown_ms;
    if plan.connections > 0 {
        report.summary.scale = Some(plan);
    }
    if opts.report {
        report.summary.report = Some(write_html(lab, &report, &prefix)?);
    }
    Ok(report)
}

/// The HTML report of the run's capture, beside it, with the lab's question and story.
fn write_html(lab: &Lab, report: &RunReport, prefix: &std::path::Path) -> Result<PathBuf> {
    let s = &report.summary;
    let mut notes = vec![format!("capture: {}", s.capture.display())];
    if let Some(c) = &s.client {
        notes.push(format!(
            "client: {} ok, {} failed, {} dialed, {} reused",
            c.ok, c.failed, c.dialed, c.reused
        ));
    }
    let header = crate::report::Header {
        title: lab.name.clone(),
        question: Some(lab.spec.question.clone()),
        about: Some(lab.spec.about.clone()),
        link: Some(s.wire.link.clone()),
        overrides: s.overrides.clone(),
        kernel_time_wait: Some(s.kernel_time_wait),
        notes,
        // The run's own secrets are in its capture.
        keylog: None,
        // The question is known already.
        lab_story: None,
    };
    let html = beside(prefix, "html");
    crate::report::write(&s.capture, &html, &header).context("writing the HTML report")?;
    Ok(html)
}

/// Starts the server, then the client; waits for the client and the settle time; reads the
/// kernel's view. Actor trace events go straight into the recorder's channel.
fn drive_actors(
    lab: &Lab,
    topo: &Topology,
    (records, traces): (&SyncSender<Record>, TraceRoom),
    prefix: &std::path::Path,
    plan: &scale::ScalePlan,
) -> Result<(ActorOutcome, launch::Server, ClientDone), RunError> {
    let spec = &lab.spec;
    let baseline = memory::sample();
    let server_tracer = Tracer::into_channel("server", records.clone(), traces.clone());
    let client_tracer = Tracer::into_channel("client", records.clone(), traces);
    let server = launch::start_server(spec.server_role()?, topo, server_tracer, prefix, plan)
        .map_err(skipped_if_missing)?;
    let targets = server.targets.clone();
    let server_baseline = memory::rss_of_all(&server.pids());
    let client = match launch::start_client(
        spec.client_role()?,
        topo,
        targets,
        client_tracer,
        prefix,
        plan,
    ) {
        Ok(client) => client,
        Err(e) => {
            server.stop();
            return Err(skipped_if_missing(e));
        }
    };
    let done = match client.wait(
        Duration::from_secs(spec.timeout_s),
        Duration::from_millis(spec.settle_ms),
    ) {
        Ok(done) => done,
        Err(e) => {
            server.stop();
            return Err(e.into());
        }
    };
    let client_states =
        netns::in_netns(&topo.client_ns, || Ok(kernel_truth::read_socket_states()))?;
    let server_states =
        netns::in_netns(&topo.server_ns, || Ok(kernel_truth::read_socket_states()))?;
    let open = client_states.get("ESTABLISHED");
    let outcome = ActorOutcome {
        client: done.report.clone(),
        memory: MemoryReport::between(
            baseline,
            memory::sample(),
            Workers {
                server: (!server.pids().is_empty())
                    .then(|| (server_baseline, memory::rss_of_all(&server.pids()))),
                client: done.workers_rss(),
            },
            open,
        ),
        client_states,
        server_states,
        exec: Vec::new(),
        timed_out: done.timed_out,
    };
    Ok((outcome, server, done))
}

/// Samples the kernel's TIME_WAIT count in both namespaces about once a second for the live
/// timeline, until dropped.
struct KernelSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KernelSampler {
    fn start(topo: &Topology, tui: Sender<TimelineInput>) -> KernelSampler {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let (client_ns, server_ns) = (topo.client_ns.clone(), topo.server_ns.clone());
        let thread = std::thread::spawn(move || {
            let tw = |ns: &str| {
                netns::in_netns(ns, || {
                    Ok(kernel_truth::read_socket_states().get("TIME_WAIT"))
                })
                .unwrap_or(0)
            };
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let sample = BySide {
                    client: tw(&client_ns),
                    server: tw(&server_ns),
                };
                if tui.send(TimelineInput::Kernel(sample)).is_err() {
                    return;
                }
                for _ in 0..20 {
                    if flag.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        KernelSampler {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for KernelSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A missing external program (or one that refuses root, where connlab cannot switch users)
/// skips the lab, except under CI, where the suite's own labs must run.
fn skipped_if_missing(e: anyhow::Error) -> RunError {
    match e.downcast_ref::<ExecError>() {
        Some(ExecError::NotInstalled(program)) if std::env::var_os("CI").is_none() => {
            RunError::Skipped(format!("{program} is not installed"))
        }
        Some(why @ ExecError::RefusesRoot(..)) if std::env::var_os("CI").is_none() => {
            RunError::Skipped(why.to_string())
        }
        _ => RunError::Failed(e),
    }
}

fn sysctls(
    map: &std::collections::BTreeMap<String, super::spec::SysctlValue>,
) -> std::collections::BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.as_text())).collect()
}
