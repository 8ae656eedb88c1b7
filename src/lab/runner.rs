//! Runs one lab for real: network, wire, recorder, actors, then the teardown in an order that
//! keeps the capture honest.
//!
//! Order of the end: the client finishes, the lab settles (timeouts fire, FINs cross), the
//! kernel's socket states are read, the wire stops, the recorder writes the statistics and
//! flushes, and only then are the remaining connections released and the namespaces deleted,
//! so teardown frames never pollute the capture. Every exit path (error, Ctrl-C, SIGTERM,
//! panic) goes through the same teardown: the topology deletes itself on drop.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::report::RunReport;
use super::spec::Lab;
use crate::actors::http_client::{self, ClientReport};
use crate::actors::http_server;
use crate::actors::trace::{TraceEvent, Tracer};
use crate::capture::recorder::{Record, Recorder, RecorderOutput};
use crate::net::kernel_truth::{self, SocketStates};
use crate::net::netns;
use crate::net::topology::{Topology, TopologySpec, SERVER_ADDR};
use crate::wire::{forwarder::now_ns, Wire};

/// Set by the first SIGINT/SIGTERM: the run ends early, cleanly, keeping its capture.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Options from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder for the capture and events files.
    pub out_dir: PathBuf,
    /// Print events as JSON lines on stdout.
    pub json: bool,
}

/// Runs `lab` and returns its report (expectations already checked).
pub fn run(lab: &Lab, opts: &RunOptions) -> Result<RunReport> {
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating output folder {}", opts.out_dir.display()))?;
    let stamp = file_stamp();
    let pcapng = opts.out_dir.join(format!("{}-{stamp}.pcapng", lab.name));
    let events = opts
        .out_dir
        .join(format!("{}-{stamp}.events.jsonl", lab.name));

    let topo = Topology::build(&TopologySpec {
        client_sysctls: sysctls(&lab.spec.sysctl.client),
        server_sysctls: sysctls(&lab.spec.sysctl.server),
        ipv6: false,
    })?;

    let (tx, rx) = mpsc::channel::<Record>();
    let recorder = Recorder::start(
        RecorderOutput {
            pcapng: pcapng.clone(),
            events: events.clone(),
            json_stdout: opts.json,
            lab: lab.name.clone(),
        },
        rx,
    )?;
    let start_ns = now_ns();
    let wire = Wire::start(&topo.wire_ns, &lab.spec.link, start_ns, tx.clone())?;
    let (trace_tx, trace_forwarder) = forward_traces(tx.clone());

    let outcome = drive_actors(lab, &topo, trace_tx);

    // Whatever happened, stop the capture properly so what was recorded is kept.
    let wire_stats = wire.stop();
    let kernel_drops = wire_stats
        .as_ref()
        .map(|s| s.kernel_dropped)
        .unwrap_or([0; 2]);
    let _ = tx.send(Record::End { kernel_drops });
    drop(tx);
    let recording = recorder.join();
    let (actors, release) = match outcome {
        Ok(done) => done,
        Err(e) => {
            drop(topo);
            let _ = recording;
            return Err(e.context(format!(
                "lab {} failed; what was captured is in {}",
                lab.name,
                pcapng.display()
            )));
        }
    };
    release.finish();
    let _ = trace_forwarder.join();
    drop(topo);

    let recording = recording?;
    let wire_stats = wire_stats?;
    Ok(RunReport::new(
        lab,
        recording,
        wire_stats,
        actors,
        pcapng,
        events,
        INTERRUPTED.load(Ordering::SeqCst),
    ))
}

/// What the actors left: the client's report and the kernel's view at the end.
pub struct ActorOutcome {
    /// The client's own account.
    pub client: ClientReport,
    /// Kernel TCP states in the client namespace.
    pub client_states: SocketStates,
    /// Kernel TCP states in the server namespace.
    pub server_states: SocketStates,
}

/// Handles that end the actors once the capture has stopped.
struct Release {
    stop_client: Option<tokio::sync::oneshot::Sender<()>>,
    stop_server: tokio::sync::watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Release {
    fn finish(mut self) {
        if let Some(stop) = self.stop_client.take() {
            let _ = stop.send(());
        }
        let _ = self.stop_server.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn drive_actors(
    lab: &Lab,
    topo: &Topology,
    trace_tx: Sender<TraceEvent>,
) -> Result<(ActorOutcome, Release)> {
    let spec = &lab.spec;
    let (stop_server, stop_server_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Vec<SocketAddr>, String>>();
    let server_cfg = spec.server.clone();
    let server_tracer = Tracer::new("server", trace_tx.clone());
    let server_thread = actor_thread(&topo.server_ns, move |rt| {
        rt.block_on(async move {
            let result = http_server::serve(
                server_cfg,
                IpAddr::V4(SERVER_ADDR),
                server_tracer,
                stop_server_rx,
                ready_tx.clone(),
            )
            .await;
            if let Err(e) = result {
                let _ = ready_tx.send(Err(format!("{e:#}")));
            }
        })
    })?;
    let mut release = Release {
        stop_client: None,
        stop_server,
        threads: vec![server_thread],
    };
    let listening = wait_for(&ready_rx, Duration::from_secs(5))
        .context("the server did not start listening")?
        .map_err(|e| anyhow!("the server failed: {e}"))?;

    let (report_tx, report_rx) = mpsc::channel::<ClientReport>();
    let (stop_client, stop_client_rx) = tokio::sync::oneshot::channel::<()>();
    let client_cfg = spec.client.clone();
    let client_tracer = Tracer::new("client", trace_tx);
    let targets: Vec<SocketAddr> = listening
        .iter()
        .map(|a| SocketAddr::new(IpAddr::V4(SERVER_ADDR), a.port()))
        .collect();
    let client_thread = actor_thread(&topo.client_ns, move |rt| {
        rt.block_on(async move {
            let mut stop = stop_client_rx;
            tokio::select! {
                (report, held) = http_client::run(client_cfg, targets, client_tracer) => {
                    let _ = report_tx.send(report);
                    let _ = (&mut stop).await;
                    drop(held);
                }
                _ = &mut stop => {}
            }
        })
    })?;
    release.stop_client = Some(stop_client);
    release.threads.push(client_thread);

    let deadline = Duration::from_secs(spec.timeout_s);
    let client = match wait_for(&report_rx, deadline) {
        Ok(report) => report,
        Err(e) => {
            release.finish();
            return Err(e.context("the client did not finish"));
        }
    };
    sleep_unless_interrupted(Duration::from_millis(spec.settle_ms));
    let client_states =
        netns::in_netns(&topo.client_ns, || Ok(kernel_truth::read_socket_states()))?;
    let server_states =
        netns::in_netns(&topo.server_ns, || Ok(kernel_truth::read_socket_states()))?;
    Ok((
        ActorOutcome {
            client,
            client_states,
            server_states,
        },
        release,
    ))
}

/// Starts a thread inside `ns` with a current-thread tokio runtime: every socket the actor
/// creates belongs to that namespace.
fn actor_thread(
    ns: &str,
    body: impl FnOnce(&tokio::runtime::Runtime) + Send + 'static,
) -> Result<JoinHandle<()>> {
    let label = ns_label(ns).to_owned();
    let ns = ns.to_owned();
    let (ok_tx, ok_rx) = mpsc::channel::<Result<(), String>>();
    let handle = std::thread::spawn(move || {
        let setup = netns::enter(&ns).and_then(|()| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building the actor runtime")
        });
        match setup {
            Ok(rt) => {
                let _ = ok_tx.send(Ok(()));
                body(&rt);
            }
            Err(e) => {
                let _ = ok_tx.send(Err(format!("{e:#}")));
            }
        }
    });
    match ok_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => bail!("starting an actor in the {label} namespace: {e}"),
        Err(_) => bail!("the actor thread for the {label} namespace died"),
    }
}

fn ns_label(ns: &str) -> &str {
    ns.rsplit('-').next().unwrap_or(ns)
}

/// Waits for a value, giving up on timeout or interruption.
fn wait_for<T>(rx: &mpsc::Receiver<T>, limit: Duration) -> Result<T> {
    let start = Instant::now();
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) if start.elapsed() < limit => {}
            Err(mpsc::RecvTimeoutError::Timeout) => bail!("timed out after {limit:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("its thread ended early"),
        }
    }
}

fn sleep_unless_interrupted(total: Duration) {
    let start = Instant::now();
    while start.elapsed() < total && !INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20).min(total.saturating_sub(start.elapsed())));
    }
}

/// Moves actor trace events into the recorder's channel.
fn forward_traces(to: Sender<Record>) -> (Sender<TraceEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<TraceEvent>();
    let handle = std::thread::spawn(move || {
        for event in rx {
            if to.send(Record::Trace(event)).is_err() {
                break;
            }
        }
    });
    (tx, handle)
}

fn sysctls(
    map: &std::collections::BTreeMap<String, super::spec::SysctlValue>,
) -> std::collections::BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.as_text())).collect()
}

/// UTC time for file names: `20261124T191226Z`.
fn file_stamp() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(['-', ':'], "")
}
