//! Starting a lab's actors by kind, each in its namespace, and stopping them after the
//! capture. A lab has one server (`[server]` built-in HTTP or `[exec_server]`) and one client
//! (`[client]` built-in pooled HTTP or `[exec_client]`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::scale::ScalePlan;
use super::spec::{ClientRole, ServerRole};
use super::waiting::{sleep_unless_interrupted, wait_for, Interrupted};
use crate::actors::client_report::ClientReport;
use crate::actors::db_pool;
use crate::actors::exec::{self, ExecChild, ExecConfig, ExecReport};
use crate::actors::http_server;
use crate::actors::worker::{self, Job, Worker};
use crate::actors::ws;
use crate::actors::{h2_client, h2_server, http_client};
use crate::net::kernel_truth;
use crate::net::netns;
use crate::net::topology::{Topology, CLIENT_ADDR, SERVER_ADDR};
use crate::trace::Tracer;

/// A started server: where clients should connect, and how to stop it.
pub struct Server {
    /// Addresses it listens on.
    pub targets: Vec<SocketAddr>,
    stop: ServerStop,
}

enum ServerStop {
    BuiltIn {
        stop: tokio::sync::watch::Sender<bool>,
        thread: JoinHandle<()>,
    },
    Exec(ExecChild),
    Workers(Vec<Worker>),
}

/// A started client; [`Client::wait`] waits for it to finish its work.
pub struct Client {
    kind: ClientKind,
}

enum ClientKind {
    BuiltIn {
        report: mpsc::Receiver<ClientReport>,
        stop: tokio::sync::oneshot::Sender<()>,
        thread: JoinHandle<()>,
    },
    Exec(ExecChild),
    Workers(Vec<Worker>),
}

/// What the client phase produced.
pub struct ClientDone {
    /// The built-in client's account (none for an external program).
    pub report: Option<ClientReport>,
    /// Handles that close what is still open, after the capture stopped.
    release: Release,
    /// Client workers' resident memory (before they dialed, now), when the client runs in
    /// worker processes.
    workers_rss_before: Option<u64>,
    /// Set when the client had not finished within the lab's `timeout_s`: the run sums up
    /// what was captured until then, and fails.
    pub timed_out: Option<Duration>,
}

enum Release {
    BuiltIn {
        stop: tokio::sync::oneshot::Sender<()>,
        thread: JoinHandle<()>,
    },
    Exec(ExecChild),
    Workers(Vec<Worker>),
}

/// Starts the server of `role` in the server namespace and waits until it listens.
pub fn start_server(
    role: ServerRole<'_>,
    topo: &Topology,
    tracer: Tracer,
    out_prefix: &Path,
    plan: &ScalePlan,
) -> Result<Server> {
    match role {
        ServerRole::Http(cfg) => {
            let cfg = cfg.clone();
            start_builtin_server(topo, tracer, move |tracer, stop, ready| async move {
                http_server::serve(cfg, IpAddr::V4(SERVER_ADDR), tracer, stop, ready).await
            })
        }
        ServerRole::Ws(cfg) => {
            let cfg = cfg.clone();
            start_builtin_server(topo, tracer, move |tracer, stop, ready| async move {
                ws::serve(cfg, IpAddr::V4(SERVER_ADDR), tracer, stop, ready).await
            })
        }
        ServerRole::H2(cfg) => {
            let cfg = cfg.clone();
            start_builtin_server(topo, tracer, move |tracer, stop, ready| async move {
                h2_server::serve(cfg, IpAddr::V4(SERVER_ADDR), tracer, stop, ready).await
            })
        }
        ServerRole::Tcp(cfg) => {
            let job = Job::TcpServer {
                config: cfg.clone(),
                bind: IpAddr::V4(SERVER_ADDR),
            };
            let mut workers = Vec::with_capacity(plan.server_workers);
            let started = (0..plan.server_workers).try_for_each(|_| {
                workers.push(Worker::start(&topo.server_ns, &job, tracer.clone())?);
                Ok::<(), anyhow::Error>(())
            });
            // Every worker listens before the first dial, or the first would take them all.
            let listening = started.and_then(|()| {
                wait_listeners(
                    &topo.server_ns,
                    cfg.port,
                    workers.len(),
                    WORKER_START,
                    || None,
                )
            });
            if let Err(e) = listening {
                worker::stop_all(workers);
                return Err(e);
            }
            Ok(Server {
                targets: vec![SocketAddr::new(IpAddr::V4(SERVER_ADDR), cfg.port)],
                stop: ServerStop::Workers(workers),
            })
        }
        ServerRole::Exec(cfg) => {
            let env = peer_env(cfg.port);
            let mut child = exec::spawn(&topo.server_ns, "server", cfg, &env, out_prefix)?;
            let started = Instant::now();
            let started_env = child.env().to_vec();
            let listening = {
                let mut ended = || {
                    child
                        .try_wait()
                        .map(|status| format!("the server program ended ({status})"))
                };
                wait_listeners(&topo.server_ns, cfg.port, 1, PROGRAM_START, &mut ended).and_then(
                    |()| {
                        let left = PROGRAM_START.saturating_sub(started.elapsed());
                        wait_ready(&topo.server_ns, cfg, &started_env, left, &mut ended)
                    },
                )
            };
            if let Err(e) = listening {
                // Not left running: its own words on why are in its output.
                let report = child.stop();
                return Err(e.context(format!("see {}", report.stderr.display())));
            }
            Ok(Server {
                targets: vec![SocketAddr::new(IpAddr::V4(SERVER_ADDR), cfg.port)],
                stop: ServerStop::Exec(child),
            })
        }
    }
}

/// The ready channel a built-in server reports its listening addresses on.
type Ready = Sender<Result<Vec<SocketAddr>, String>>;

/// Starts a built-in server (`serve(tracer, stop, ready)`) on a thread in the server namespace
/// and waits until it listens.
fn start_builtin_server<F, Fut>(topo: &Topology, tracer: Tracer, serve: F) -> Result<Server>
where
    F: FnOnce(Tracer, tokio::sync::watch::Receiver<bool>, Ready) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<()>>,
{
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Vec<SocketAddr>, String>>();
    let thread = actor_thread(&topo.server_ns, move |rt| {
        rt.block_on(async move {
            if let Err(e) = serve(tracer, stop_rx, ready_tx.clone()).await {
                let _ = ready_tx.send(Err(format!("{e:#}")));
            }
        })
    })?;
    let listening = wait_for(&ready_rx, Duration::from_secs(5))
        .context("the server did not start listening")?
        .map_err(|e| anyhow!("the server failed: {e}"))?;
    let targets = listening
        .iter()
        .map(|a| SocketAddr::new(IpAddr::V4(SERVER_ADDR), a.port()))
        .collect();
    Ok(Server {
        targets,
        stop: ServerStop::BuiltIn { stop, thread },
    })
}

/// Starts the client of `role` in the client namespace against `targets`.
pub fn start_client(
    role: ClientRole<'_>,
    topo: &Topology,
    targets: Vec<SocketAddr>,
    tracer: Tracer,
    out_prefix: &Path,
    plan: &ScalePlan,
) -> Result<Client> {
    match role {
        ClientRole::Http(cfg) => {
            let cfg = cfg.clone();
            start_builtin_client(topo, tracer, move |tracer| async move {
                let (report, held) = http_client::run(cfg, targets, tracer).await;
                (report, Box::new(held) as Box<dyn Send>)
            })
        }
        ClientRole::Tcp(cfg) => {
            let target = *targets.first().context("the server listens nowhere")?;
            let mut workers = Vec::with_capacity(plan.client_workers);
            for i in 0..plan.client_workers {
                let share = plan.client_share(i);
                let mut config = cfg.clone();
                config.connections = share.connections;
                // The lab's rate is the whole client's: each worker takes its share.
                config.dial_rate = cfg
                    .dial_rate
                    .map(|r| (r / plan.client_workers as u32).max(1));
                let job = Job::TcpClient {
                    config,
                    target,
                    source: IpAddr::V4(share.addr),
                    first_port: share.first_port,
                };
                match Worker::start(&topo.client_ns, &job, tracer.clone()) {
                    Ok(w) => workers.push(w),
                    Err(e) => {
                        worker::stop_all(workers);
                        return Err(e);
                    }
                }
            }
            Ok(Client {
                kind: ClientKind::Workers(workers),
            })
        }
        ClientRole::Ws(cfg) => {
            let cfg = cfg.clone();
            let target = *targets.first().context("the server listens nowhere")?;
            start_builtin_client(topo, tracer, move |tracer| async move {
                let report = ws::run_client(cfg, target, tracer).await;
                (report, Box::new(()) as Box<dyn Send>)
            })
        }
        ClientRole::H2(cfg) => {
            let cfg = cfg.clone();
            let target = *targets.first().context("the server listens nowhere")?;
            start_builtin_client(topo, tracer, move |tracer| async move {
                let (report, held) = h2_client::run_client(cfg, target, tracer).await;
                (report, Box::new(held) as Box<dyn Send>)
            })
        }
        ClientRole::Db(cfg) => {
            let cfg = cfg.clone();
            let target = *targets.first().context("the server listens nowhere")?;
            start_builtin_client(topo, tracer, move |tracer| async move {
                let (report, held) = db_pool::run_client(cfg, target, tracer).await;
                (report, Box::new(held) as Box<dyn Send>)
            })
        }
        ClientRole::Exec(cfg) => {
            let env = peer_env(cfg.port);
            let child = exec::spawn(&topo.client_ns, "client", cfg, &env, out_prefix)?;
            Ok(Client {
                kind: ClientKind::Exec(child),
            })
        }
    }
}

/// Starts a built-in client (`run(tracer)` returns its report and the connections it still
/// holds) on a thread in the client namespace. The held connections are closed on release,
/// after the capture stopped.
fn start_builtin_client<F, Fut>(topo: &Topology, tracer: Tracer, run: F) -> Result<Client>
where
    F: FnOnce(Tracer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = (ClientReport, Box<dyn Send>)>,
{
    let (report_tx, report) = mpsc::channel::<ClientReport>();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = actor_thread(&topo.client_ns, move |rt| {
        rt.block_on(async move {
            let mut stop = stop_rx;
            tokio::select! {
                (report, held) = run(tracer) => {
                    let _ = report_tx.send(report);
                    let _ = (&mut stop).await;
                    drop(held);
                }
                _ = &mut stop => {}
            }
        })
    })?;
    Ok(Client {
        kind: ClientKind::BuiltIn {
            report,
            stop,
            thread,
        },
    })
}

impl Client {
    /// Waits for the client to finish (the built-in one's requests, or the program's exit), at
    /// most `limit`, then lets the lab settle for `settle`. An interruption (Ctrl-C) or the
    /// limit ends the wait without a client report: the run then sums up what was captured,
    /// marked interrupted or timed out (the client is stopped when the capture ends).
    pub fn wait(self, limit: Duration, settle: Duration) -> Result<ClientDone> {
        let start = Instant::now();
        let done = match self.kind {
            ClientKind::BuiltIn {
                report,
                stop,
                thread,
            } => match wait_for(&report, limit) {
                Ok(report) => ClientDone {
                    report: Some(report),
                    release: Release::BuiltIn { stop, thread },
                    workers_rss_before: None,
                    timed_out: None,
                },
                Err(_) if Interrupted::now() || start.elapsed() >= limit => ClientDone {
                    report: None,
                    release: Release::BuiltIn { stop, thread },
                    workers_rss_before: None,
                    timed_out: (!Interrupted::now()).then_some(limit),
                },
                Err(e) => {
                    let _ = stop.send(());
                    let _ = thread.join();
                    return Err(e.context("the client did not finish"));
                }
            },
            ClientKind::Workers(workers) => wait_workers(workers, limit)?,
            ClientKind::Exec(mut child) => {
                let mut timed_out = None;
                while child.try_wait().is_none() {
                    if Interrupted::now() {
                        break;
                    }
                    if start.elapsed() > limit {
                        timed_out = Some(limit);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                ClientDone {
                    report: None,
                    release: Release::Exec(child),
                    workers_rss_before: None,
                    timed_out,
                }
            }
        };
        sleep_unless_interrupted(settle);
        Ok(done)
    }
}

/// Waits until every client worker has reported (or one died, or `limit` passed) and adds
/// their reports up.
fn wait_workers(mut workers: Vec<Worker>, limit: Duration) -> Result<ClientDone> {
    let start = Instant::now();
    let mut reports: Vec<Option<(ClientReport, u64)>> = vec![None; workers.len()];
    let failure = loop {
        for (slot, worker) in reports.iter_mut().zip(&workers) {
            if slot.is_none() {
                *slot = worker.try_report();
            }
        }
        if reports.iter().all(Option::is_some) {
            break None;
        }
        if let Some(i) =
            (0..workers.len()).find(|&i| reports[i].is_none() && !workers[i].is_running())
        {
            break Some(anyhow!(
                "client worker {} of {} died before it reported",
                i + 1,
                workers.len()
            ));
        }
        let timed_out = start.elapsed() > limit;
        if Interrupted::now() || timed_out {
            // What the workers did is in the capture; their reports are not all in.
            return Ok(ClientDone {
                report: None,
                release: Release::Workers(workers),
                workers_rss_before: None,
                timed_out: timed_out.then_some(limit),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(e) = failure {
        worker::stop_all(workers);
        return Err(e.context("the client did not finish"));
    }
    let mut total = ClientReport::default();
    let mut rss_before = 0;
    for (report, rss) in reports.into_iter().flatten() {
        total.add(&report);
        rss_before += rss;
    }
    Ok(ClientDone {
        report: Some(total),
        release: Release::Workers(workers),
        workers_rss_before: Some(rss_before),
        timed_out: None,
    })
}

impl ClientDone {
    /// The client workers' resident memory (before they dialed, now), when there are any.
    pub fn workers_rss(&self) -> Option<(u64, u64)> {
        let Release::Workers(workers) = &self.release else {
            return None;
        };
        let pids: Vec<u32> = workers.iter().map(Worker::pid).collect();
        self.workers_rss_before
            .map(|before| (before, crate::net::memory::rss_of_all(&pids)))
    }

    /// Closes what the client still holds; returns the external program's report, if any.
    pub fn release(self) -> Option<ExecReport> {
        match self.release {
            Release::BuiltIn { stop, thread } => {
                let _ = stop.send(());
                let _ = thread.join();
                None
            }
            Release::Exec(child) => Some(child.stop()),
            Release::Workers(workers) => {
                worker::stop_all(workers);
                None
            }
        }
    }
}

impl Server {
    /// Stops the server; returns the external program's report, if any.
    pub fn stop(self) -> Option<ExecReport> {
        match self.stop {
            ServerStop::BuiltIn { stop, thread } => {
                let _ = stop.send(true);
                let _ = thread.join();
                None
            }
            ServerStop::Exec(child) => Some(child.stop()),
            ServerStop::Workers(workers) => {
                worker::stop_all(workers);
                None
            }
        }
    }

    /// The pids of the server's worker processes (none for a built-in or external server),
    /// to measure their memory.
    pub fn pids(&self) -> Vec<u32> {
        match &self.stop {
            ServerStop::Workers(workers) => workers.iter().map(Worker::pid).collect(),
            ServerStop::Exec(_) | ServerStop::BuiltIn { .. } => Vec::new(),
        }
    }
}

/// Environment telling an external program where the lab's hosts are.
fn peer_env(port: u16) -> Vec<(String, String)> {
    vec![
        ("CONNLAB_SERVER_ADDR".into(), SERVER_ADDR.to_string()),
        ("CONNLAB_SERVER_PORT".into(), port.to_string()),
        (
            "CONNLAB_SERVER_URL".into(),
            format!("http://{SERVER_ADDR}:{port}"),
        ),
        ("CONNLAB_CLIENT_ADDR".into(), CLIENT_ADDR.to_string()),
    ]
}

/// How long connlab's own server workers may take to listen: they bind at once.
const WORKER_START: Duration = Duration::from_secs(10);

/// How long a server program may take to listen. A database makes its data folder first
/// (mariadb-install-db, initdb): a few seconds alone, over ten with every core busy, which CI
/// saw. A program that ends before listening fails the wait at once, so the margin costs
/// nothing when the program is broken.
const PROGRAM_START: Duration = Duration::from_secs(60);

/// Waits until `count` sockets listen on `port` in namespace `ns`, looking at the kernel's
/// socket table rather than connecting, so that no probe traffic crosses the wire. `ended`
/// says why the server can no longer come up (its program exited), or None while it may.
fn wait_listeners(
    ns: &str,
    port: u16,
    count: usize,
    limit: Duration,
    mut ended: impl FnMut() -> Option<String>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let listening = netns::in_netns(ns, move || Ok(kernel_truth::listeners(port)))?;
        if listening >= count {
            return Ok(());
        }
        if Interrupted::now() {
            bail!("interrupted");
        }
        if let Some(why) = ended() {
            bail!("{why} before listening on port {port}");
        }
        if start.elapsed() > limit {
            bail!(
                "the server program is not listening on port {port} after {} s",
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the server program's `ready` command until it says ready, within `limit`.
fn wait_ready(
    ns: &str,
    cfg: &ExecConfig,
    env: &[(String, String)],
    limit: Duration,
    mut ended: impl FnMut() -> Option<String>,
) -> Result<()> {
    let start = Instant::now();
    while !exec::ready(ns, cfg, env)? {
        if Interrupted::now() {
            bail!("interrupted");
        }
        if let Some(why) = ended() {
            bail!("{why} before it was ready");
        }
        if start.elapsed() > limit {
            bail!("the server program listens but its ready command never succeeded");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Starts a thread inside `ns` with a current-thread tokio runtime: every socket the actor
/// creates belongs to that namespace.
fn actor_thread(
    ns: &str,
    body: impl FnOnce(&tokio::runtime::Runtime) + Send + 'static,
) -> Result<JoinHandle<()>> {
    let label = ns.rsplit('-').next().unwrap_or(ns).to_owned();
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
