//! The raw TCP actors in processes of their own (`connlab actor <job>`), started inside a lab
//! namespace. A process per share of the connections: one process may hold only as many
//! sockets as its open-file limit allows (and without CAP_SYS_RESOURCE that limit cannot be
//! raised), so half a million connections are spread over as many server processes sharing
//! the port (SO_REUSEPORT) and client processes as the limit asks. Being processes also makes
//! "memory per connection of the server" mean just that.
//!
//! A worker writes its trace events as JSON lines on stdout, and a client worker ends with one
//! `{"report": ...}` line once its connections are up and have talked; it then holds them
//! until it is killed (at the end of the lab, after the capture stopped).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::client_report::ClientReport;
use super::exec::spawn_in;
use super::tcp::{self, TcpClientConfig, TcpServerConfig};
use crate::trace::{TraceEvent, Tracer};
use crate::wire::pressure;

/// Nice value of worker processes (the wire and the recorder keep 0).
const WORKER_NICE: libc::c_int = 10;

/// The hidden subcommand a worker runs.
pub const SUBCOMMAND: &str = "actor";

/// What a worker process does, handed to it as JSON on its command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Serve `config` on `bind`, sharing the port with the other server workers.
    TcpServer {
        /// The server's table.
        config: TcpServerConfig,
        /// Address to listen on.
        bind: IpAddr,
    },
    /// Dial `config.connections` connections to `target` from `source`, ports counting up
    /// from `first_port`.
    TcpClient {
        /// The client's table, with this worker's share of the connections.
        config: TcpClientConfig,
        /// The server.
        target: SocketAddr,
        /// The source address of this worker's connections.
        source: IpAddr,
        /// The source port of its first connection.
        first_port: u16,
    },
}

/// One line a worker writes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    /// Its final account (client workers).
    Report {
        /// The account.
        report: ClientReport,
        /// Its resident memory before it dialed, bytes.
        rss_before: u64,
    },
    /// A trace event.
    Trace(TraceEvent),
}

/// A running worker process.
pub struct Worker {
    child: Child,
    forwarder: JoinHandle<()>,
    report: mpsc::Receiver<(ClientReport, u64)>,
}

impl Worker {
    /// Starts `job` in namespace `ns`; its trace events go to `tracer`.
    pub fn start(ns: &str, job: &Job, tracer: Tracer) -> Result<Worker> {
        let exe = std::env::current_exe().context("finding the connlab executable")?;
        let json = serde_json::to_string(job).context("encoding the worker's job")?;
        let mut command = Command::new(exe);
        command
            .args([SUBCOMMAND, &json])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Paced workers hold back while the wire is behind.
        pressure::share_with(&mut command);
        let mut child = spawn_in(ns, &mut command)?;
        let stdout = child.stdout.take().context("the worker's stdout")?;
        let (report_tx, report) = mpsc::channel();
        let forwarder = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Line>(&line) {
                    Ok(Line::Trace(event)) => tracer.forward(event),
                    Ok(Line::Report { report, rss_before }) => {
                        let _ = report_tx.send((report, rss_before));
                    }
                    Err(_) => {}
                }
            }
        });
        Ok(Worker {
            child,
            forwarder,
            report,
        })
    }

    /// The process id, to measure its memory.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The client worker's report and its memory before it dialed, once it has written them.
    pub fn try_report(&self) -> Option<(ClientReport, u64)> {
        self.report.try_recv().ok()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Kills the workers (their sockets close with them) and waits for them all. Closing is the
/// kernel's work in each dying process, at that process's priority: a worker stepped back to
/// nice 10 would close its sockets at a tenth of a busy core (112 s for a million sockets
/// under a hog on every core), so each first gets back the priority of the process that
/// started it (allowed as root; elsewhere it stays niced). All are killed before any is waited
/// for, so they close on every core at once.
pub fn stop_all(workers: Vec<Worker>) {
    // SAFETY: getpriority on this process, no pointers involved.
    let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let mut workers = workers;
    for worker in &mut workers {
        // SAFETY: setpriority on our own child's pid, no pointers involved.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, worker.child.id(), own);
        }
        let _ = worker.child.kill();
    }
    for mut worker in workers {
        let _ = worker.child.wait();
        let _ = worker.forwarder.join();
    }
}

/// The worker's side: runs `job` (JSON) until killed, writing trace events and the report to
/// stdout.
pub fn run_child(job: &str) -> Result<()> {
    let job: Job = serde_json::from_str(job).context("reading the worker's job")?;
    // The wire and the recorder are the network and its tap: with dozens of workers on a few
    // cores they must not wait for a time slice, or frames overflow the ring. Workers step
    // back instead (lowering one's own priority needs no privilege).
    // SAFETY: setpriority on this process, no pointers involved.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICE);
    }
    let (tx, rx) = mpsc::channel::<Line>();
    let writer = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // Write what is waiting, then flush: batches under load, prompt when quiet (a
        // worker is killed at the end, so nothing may sit in the buffer).
        while let Ok(first) = rx.recv() {
            let batch = std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()));
            for line in batch {
                let text = serde_json::to_string(&line).unwrap_or_default();
                if writeln!(out, "{text}").is_err() {
                    return;
                }
            }
            if out.flush().is_err() {
                return;
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    let traces = tx.clone();
    let deliver = move |event: TraceEvent| {
        let _ = traces.send(Line::Trace(event));
    };
    match job {
        Job::TcpServer { config, bind } => {
            let tracer = Tracer::new("server", std::sync::Arc::new(deliver));
            rt.block_on(tcp::serve(config, bind, tracer))
        }
        Job::TcpClient {
            config,
            target,
            source,
            first_port,
        } => {
            let tracer = Tracer::new("client", std::sync::Arc::new(deliver));
            let rss_before = crate::net::memory::rss_of(std::process::id());
            let (report, held) = rt.block_on(tcp::run_client(
                config,
                target,
                (source, first_port),
                tracer,
            ));
            let _ = tx.send(Line::Report { report, rss_before });
            drop(tx);
            let _ = writer.join();
            // Hold the connections until the lab kills this process.
            let _held = held;
            loop {
                std::thread::park();
            }
        }
    }
}
