//! The forwarding loop: one reader thread per direction, plus a scheduler thread per direction
//! when the link holds frames (delay, jitter).
//!
//! Each frame is handed to the capture tap *before* it is forwarded, so the capture's order is
//! causal: a reply can never be recorded before the request that caused it. Frames the link
//! drops are still handed to the tap, marked with the cause.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Result};
use connlab_core::link::{DirectionModel, DropCause, Middlebox, MiddleboxStats, Verdict};
use serde::Serialize;

use super::inject::{FlowTable, InjectRst};
use super::middlebox;
use super::packet_socket::{PacketSocket, MAX_FRAME};
use super::spec::LinkSpec;
use crate::clock::now_ns;
use crate::net::netns;

/// How often an idle reader looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Sent by the client side.
    ToServer = 0,
    /// Sent by the server side.
    ToClient = 1,
}

impl Direction {
    /// The way back.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// How the packet comment of a frame the link model dropped begins (readers look for it).
pub const DROPPED_NOTE: &str = "dropped by the link";

/// One frame as the wire saw it.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    /// Kernel receive time, ns since the UNIX epoch.
    pub t_ns: u64,
    /// Which way it was going.
    pub dir: Direction,
    /// The Ethernet frame.
    pub data: Vec<u8>,
    /// Set when the link model dropped it.
    pub dropped: Option<DropCause>,
    /// Set when the wire forged it.
    pub forged: Option<Forger>,
    /// The first frame of a flow the middlebox had forgotten.
    pub forgot_flow: bool,
}

/// Which part of the wire forged a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forger {
    /// `[[link.inject_rst]]`.
    RstInjection,
    /// `[link.middlebox]`, answering a segment of a forgotten flow.
    Middlebox,
}

/// How the packet comment of a frame the wire forged says so (readers look for it).
pub const FORGED_NOTE: &str = "forged by the wire";

impl CapturedFrame {
    /// What the wire did to the frame, in words for a packet comment (beside the analyser's
    /// events): Wireshark filters on them (`frame.comment contains "dropped by the link"`).
    pub fn notes(&self) -> impl Iterator<Item = String> + '_ {
        let forged = self.forged.map(|f| match f {
            Forger::RstInjection => format!("{FORGED_NOTE} (RST injection)"),
            Forger::Middlebox => format!("middlebox RST ({FORGED_NOTE})"),
        });
        let forgot = self.forgot_flow.then(|| "middlebox forgot flow".to_owned());
        let dropped = self
            .dropped
            .map(|cause| format!("{DROPPED_NOTE} ({})", cause.as_str()));
        forged.into_iter().chain(forgot).chain(dropped)
    }
}

/// The wire's two ports, by interface name in the wire namespace.
#[derive(Debug, Clone, Copy)]
pub struct Ports<'a> {
    /// The interface facing the client.
    pub client_side: &'a str,
    /// The interface facing the server.
    pub server_side: &'a str,
}

/// What the wire did, per run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WireStats {
    /// Frames forwarded (both directions).
    pub forwarded: u64,
    /// Frames the link model dropped on purpose.
    pub link_dropped: u64,
    /// Frames the kernel dropped before the wire could read them (capture drops), on the
    /// client-side and the server-side port.
    pub kernel_dropped: [u64; 2],
    /// Frames the wire failed to send.
    pub send_errors: u64,
    /// Time from the first to the last frame, ns.
    pub span_ns: u64,
    /// What the middlebox did, when the link has one.
    pub middlebox: Option<MiddleboxStats>,
    /// The capture buffers got their full size (false rootless: net.core.rmem_max caps them).
    pub full_buffers: bool,
}

impl WireStats {
    /// Forwarding rate over the span of the run's traffic.
    pub fn frames_per_second(&self) -> f64 {
        if self.span_ns == 0 {
            return 0.0;
        }
        (self.forwarded + self.link_dropped) as f64 * 1e9 / self.span_ns as f64
    }
}

#[derive(Debug, Default)]
struct DirectionStats {
    forwarded: u64,
    link_dropped: u64,
    send_errors: u64,
    first_ns: Option<u64>,
    last_ns: u64,
}

/// A running forwarder; [`Wire::stop`] ends it and reports.
pub struct Wire {
    stop: Arc<AtomicBool>,
    readers: Vec<JoinHandle<DirectionStats>>,
    injector: Option<JoinHandle<()>>,
    ports: [Arc<PacketSocket>; 2],
    middlebox: Option<Arc<Mutex<Middlebox>>>,
}

impl Wire {
    /// Opens both ports in `wire_ns` and starts forwarding. `start_ns` is the lab's time zero
    /// (partitions are relative to it); every frame goes to `tap`.
    pub fn start<T>(
        wire_ns: &str,
        ports: Ports<'_>,
        link: &LinkSpec,
        start_ns: u64,
        tap: Sender<T>,
    ) -> Result<Wire>
    where
        T: From<CapturedFrame> + Send + 'static,
    {
        let (client_if, server_if) = (ports.client_side.to_owned(), ports.server_side.to_owned());
        let (client_port, server_port) = netns::in_netns(wire_ns, move || {
            Ok((
                PacketSocket::open(&client_if, POLL)?,
                PacketSocket::open(&server_if, POLL)?,
            ))
        })?;
        let client_port = Arc::new(client_port);
        let server_port = Arc::new(server_port);
        let stop = Arc::new(AtomicBool::new(false));
        let flows =
            (!link.inject_rst.is_empty()).then(|| Arc::new(Mutex::new(FlowTable::default())));
        let middlebox = link
            .middlebox
            .as_ref()
            .map(|m| Arc::new(Mutex::new(m.table())));
        let mut readers = Vec::new();
        for (dir, from, to) in [
            (Direction::ToServer, &client_port, &server_port),
            (Direction::ToClient, &server_port, &client_port),
        ] {
            let path = Path {
                dir,
                from: from.clone(),
                to: to.clone(),
                model: (!link.is_unimpaired()).then(|| link.model(dir)),
                flows: flows.clone(),
                middlebox: middlebox.clone(),
                start_ns,
                tap: tap.clone(),
                stop: stop.clone(),
            };
            readers.push(std::thread::spawn(move || path.run()));
        }
        let injector = flows.map(|flows| {
            let injector = Injector {
                plan: link.inject_rst.clone(),
                flows,
                start_ns,
                ports: [client_port.clone(), server_port.clone()],
                tap,
                stop: stop.clone(),
            };
            std::thread::spawn(move || injector.run())
        });
        Ok(Wire {
            stop,
            readers,
            injector,
            ports: [client_port, server_port],
            middlebox,
        })
    }

    /// Stops forwarding, waits for the threads and returns the counts, kernel drops included.
    pub fn stop(self) -> Result<WireStats> {
        self.stop.store(true, Ordering::SeqCst);
        let mut stats = WireStats::default();
        let mut first = u64::MAX;
        let mut last = 0;
        for reader in self.readers {
            let d = reader
                .join()
                .map_err(|_| anyhow!("a wire thread panicked"))?;
            stats.forwarded += d.forwarded;
            stats.link_dropped += d.link_dropped;
            stats.send_errors += d.send_errors;
            first = first.min(d.first_ns.unwrap_or(u64::MAX));
            last = last.max(d.last_ns);
        }
        stats.span_ns = last.saturating_sub(first);
        if let Some(injector) = self.injector {
            let _ = injector.join();
        }
        for (i, port) in self.ports.iter().enumerate() {
            stats.kernel_dropped[i] = port.drops().unwrap_or(0);
        }
        stats.full_buffers = self.ports.iter().all(|p| p.full_buffer);
        stats.middlebox = self
            .middlebox
            .as_ref()
            .and_then(|m| m.lock().ok().map(|m| m.stats()));
        Ok(stats)
    }
}

/// One direction of the wire.
struct Path<T> {
    dir: Direction,
    from: Arc<PacketSocket>,
    to: Arc<PacketSocket>,
    model: Option<DirectionModel>,
    flows: Option<Arc<Mutex<FlowTable>>>,
    middlebox: Option<Arc<Mutex<Middlebox>>>,
    start_ns: u64,
    tap: Sender<T>,
    stop: Arc<AtomicBool>,
}

impl<T: From<CapturedFrame>> Path<T> {
    /// The middlebox stops a segment of a flow it forgot: recorded (not forwarded), and the
    /// RST it answers with sent back toward the sender and recorded after it.
    fn stopped(&self, t_ns: u64, frame: Vec<u8>, stopped: middlebox::Stopped) {
        let _ = self.tap.send(
            CapturedFrame {
                t_ns,
                dir: self.dir,
                data: frame,
                dropped: Some(DropCause::ForgottenFlow),
                forged: None,
                forgot_flow: stopped.forgot_now,
            }
            .into(),
        );
        if let Some(rst) = stopped.reset {
            let _ = self.from.send(&rst);
            let _ = self.tap.send(
                CapturedFrame {
                    t_ns: now_ns(),
                    dir: self.dir.reverse(),
                    data: rst,
                    dropped: None,
                    forged: Some(Forger::Middlebox),
                    forgot_flow: false,
                }
                .into(),
            );
        }
    }

    fn run(mut self) -> DirectionStats {
        let mut stats = DirectionStats::default();
        let mut buf = vec![0u8; MAX_FRAME];
        let mut held: Option<(Sender<Held>, JoinHandle<u64>)> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let (len, t_ns) = match self.from.recv(&mut buf) {
                Ok(Some(got)) => got,
                Ok(None) => continue,
                Err(_) => break,
            };
            let frame = buf[..len].to_vec();
            if let Some(flows) = &self.flows {
                if let Ok(mut flows) = flows.lock() {
                    flows.observe(self.dir, &frame);
                }
            }
            stats.first_ns.get_or_insert(t_ns);
            stats.last_ns = t_ns;
            if let Some(mb) = &self.middlebox {
                if let Some(stopped) = middlebox::screen(mb, t_ns, &frame) {
                    stats.link_dropped += 1;
                    self.stopped(t_ns, frame, stopped);
                    continue;
                }
            }
            let verdict = match &mut self.model {
                None => Verdict::Deliver { hold_ns: 0 },
                Some(m) => m.decide(t_ns.saturating_sub(self.start_ns)),
            };
            let dropped = match verdict {
                Verdict::Drop(cause) => Some(cause),
                Verdict::Deliver { .. } => None,
            };
            let record = CapturedFrame {
                t_ns,
                dir: self.dir,
                data: frame,
                dropped,
                forged: None,
                forgot_flow: false,
            };
            match verdict {
                Verdict::Drop(_) => {
                    stats.link_dropped += 1;
                    let _ = self.tap.send(record.into());
                }
                Verdict::Deliver { hold_ns: 0 } => {
                    // Recorded before it is forwarded: the answer cannot overtake it.
                    let _ = self.tap.send(record.into());
                    if self.to.send(&buf[..len]).is_err() {
                        stats.send_errors += 1;
                    }
                    stats.forwarded += 1;
                }
                Verdict::Deliver { hold_ns } => {
                    let data = buf[..len].to_vec();
                    let _ = self.tap.send(record.into());
                    let (tx, _) = held.get_or_insert_with(|| {
                        let (tx, rx) = mpsc::channel();
                        let to = self.to.clone();
                        (tx, std::thread::spawn(move || release_held(rx, &to)))
                    });
                    let _ = tx.send(Held {
                        due_ns: t_ns + hold_ns,
                        data,
                    });
                    stats.forwarded += 1;
                }
            }
        }
        if let Some((tx, scheduler)) = held {
            drop(tx);
            stats.send_errors += scheduler.join().unwrap_or(0);
        }
        stats
    }
}

/// Sends the planned forged resets at their times.
struct Injector<T> {
    plan: Vec<InjectRst>,
    flows: Arc<Mutex<FlowTable>>,
    start_ns: u64,
    /// Client-facing and server-facing ports.
    ports: [Arc<PacketSocket>; 2],
    tap: Sender<T>,
    stop: Arc<AtomicBool>,
}

impl<T: From<CapturedFrame>> Injector<T> {
    fn run(mut self) {
        self.plan.sort_by_key(|r| r.at_ms);
        for rst in &self.plan {
            let due = self.start_ns + rst.at_ms * 1_000_000;
            while now_ns() < due {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                let left = Duration::from_nanos(due.saturating_sub(now_ns()));
                std::thread::sleep(left.min(POLL));
            }
            let forged = match self.flows.lock() {
                Ok(flows) => flows.forge(rst.conn, rst.toward),
                Err(_) => return,
            };
            for (dir, frame) in forged {
                let port = match dir {
                    Direction::ToClient => &self.ports[0],
                    Direction::ToServer => &self.ports[1],
                };
                let _ = port.send(&frame);
                let _ = self.tap.send(
                    CapturedFrame {
                        t_ns: now_ns(),
                        dir,
                        data: frame,
                        dropped: None,
                        forged: Some(Forger::RstInjection),
                        forgot_flow: false,
                    }
                    .into(),
                );
            }
        }
    }
}

/// A frame the link is holding until `due_ns`.
struct Held {
    due_ns: u64,
    data: Vec<u8>,
}

/// Sends held frames when they fall due; returns the number of failed sends. Ends when the
/// reader hangs up (frames still held then are never sent: the lab is over).
fn release_held(rx: Receiver<Held>, to: &PacketSocket) -> u64 {
    let mut queue: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut frames: std::collections::HashMap<u64, Vec<u8>> = std::collections::HashMap::new();
    let mut seq = 0u64;
    let mut errors = 0;
    loop {
        let now = now_ns();
        while let Some(Reverse((due, id))) = queue.peek().copied() {
            if due > now {
                break;
            }
            queue.pop();
            if let Some(data) = frames.remove(&id) {
                if to.send(&data).is_err() {
                    errors += 1;
                }
            }
        }
        let wait = queue
            .peek()
            .map(|Reverse((due, _))| Duration::from_nanos(due.saturating_sub(now)))
            .unwrap_or(POLL);
        match rx.recv_timeout(wait) {
            Ok(held) => {
                queue.push(Reverse((held.due_ns, seq)));
                frames.insert(seq, held.data);
                seq += 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return errors,
        }
    }
}
