//! The raw TCP server in a process of its own, so that "memory per connection of the server
//! process" means just that, and so that thousands of connections do not put both ends'
//! descriptors in one process (whose open-file limit may not be raisable).
//!
//! The parent re-executes connlab (`connlab actor tcp-server <json>`) inside the server
//! namespace; the child writes its trace events as JSON lines on stdout, and the parent feeds
//! them into the run's event stream.

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use anyhow::{Context, Result};

use super::exec::spawn_in;
use super::tcp::{self, TcpServerConfig};
use crate::trace::{TraceEvent, Tracer};

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "actor";

/// A running server process.
pub struct ServerProcess {
    child: Child,
    forwarder: JoinHandle<()>,
}

impl ServerProcess {
    /// Starts the server in namespace `ns`; its trace events go to `trace`.
    pub fn start(ns: &str, cfg: &TcpServerConfig, tracer: Tracer) -> Result<Self> {
        let exe = std::env::current_exe().context("finding the connlab executable")?;
        let config = serde_json::to_string(cfg).context("encoding the server config")?;
        let mut child = spawn_in(
            ns,
            Command::new(exe)
                .args([SUBCOMMAND, "tcp-server", &config])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let forwarder = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<TraceEvent>(&line) {
                    tracer.forward(event);
                }
            }
        });
        Ok(ServerProcess { child, forwarder })
    }

    /// The child's pid, to measure its memory.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process and waits for it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.forwarder.join();
    }
}

/// The child's side: serve `config` (JSON) on the server address until killed, writing trace
/// events to stdout.
pub fn run_child(kind: &str, config: &str, bind: IpAddr) -> Result<()> {
    anyhow::ensure!(kind == "tcp-server", "unknown actor kind {kind:?}");
    let cfg: TcpServerConfig = serde_json::from_str(config).context("reading the config")?;
    let (tx, rx) = std::sync::mpsc::channel::<TraceEvent>();
    std::thread::spawn(move || {
        let mut out = std::io::stdout().lock();
        for event in rx {
            let line = serde_json::to_string(&event).unwrap_or_default();
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let (ready, _ready_rx) = std::sync::mpsc::channel();
    rt.block_on(tcp::serve(
        cfg,
        bind,
        Tracer::into_channel("server", tx),
        stop_rx,
        ready,
    ))
}
