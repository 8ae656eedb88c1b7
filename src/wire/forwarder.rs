//! The forwarding loop: one reader thread per direction, plus a scheduler thread per direction
//! when the link holds frames (delay, jitter).
//!
//! A reader takes the frames waiting in its port's receive ring (up to a batch), decides each
//! one, hands copies to the capture tap, sends the ones due now out of the other port in one
//! batch straight from the ring, and gives the slots back. The tap gets a batch *before* it is
//! forwarded, so the capture's order is causal: a reply can never be recorded before the
//! request that caused it. Frames the link drops are still handed to the tap, marked with the
//! cause. The tap is bounded: when the recorder falls behind, frames still forward and the
//! capture counts what it could not take (`tap_dropped`), so memory never grows unbounded.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Result};
use connlab_core::link::{DirectionModel, DropCause, Middlebox, MiddleboxStats, Verdict};
use serde::Serialize;

use super::direction::Direction;
use super::inject::{FlowTable, InjectRst};
use super::middlebox;
use super::packet_socket::PacketSocket;
use super::pressure::Lag;
use super::queues::QueueWatch;
use super::ring::RxRing;
use super::spec::LinkSpec;
use crate::clock::now_ns;
use crate::net::netns;

/// How often an idle reader looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Frames taken from the ring at once.
const BATCH: usize = 64;

/// How the packet comment of a frame the link model dropped begins (readers look for it).
pub const DROPPED_NOTE: &str = "dropped by the link";

/// One frame as the wire saw it.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    /// Kernel receive time, ns since the UNIX epoch.
    pub t_ns: u64,
    /// Which way it was going.
    pub dir: Direction,
    /// The Ethernet frame, up to the capture's snap length.
    pub data: Vec<u8>,
    /// Its length on the wire (more than `data` when the snap length cut it).
    pub wire_len: u32,
    /// Set when the link model dropped it.
    pub dropped: Option<DropCause>,
    /// Set when the wire forged it.
    pub forged: Option<Forger>,
    /// The first frame of a flow the middlebox had forgotten.
    pub forgot_flow: bool,
    /// Frames going this way that connlab's own wire failed to capture just before this one
    /// (its receive ring overflowed, or the recorder was behind): connlab's overload, not the
    /// network's behaviour.
    pub lost_before: u64,
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
/// How the packet comment of an RST the middlebox forged begins (readers look for it).
pub const MIDDLEBOX_RST_NOTE: &str = "middlebox RST";
/// How the packet comment of a frame after a gap in the capture begins; the number of frames
/// lost follows it (readers look for it).
pub const WIRE_LOSS_NOTE: &str = "connlab's wire lost";

impl CapturedFrame {
    /// What the wire did to the frame, in words for a packet comment (beside the analyser's
    /// events): Wireshark filters on them (`frame.comment contains "dropped by the link"`).
    pub fn notes(&self) -> impl Iterator<Item = String> + '_ {
        let forged = self.forged.map(|f| match f {
            Forger::RstInjection => format!("{FORGED_NOTE} (RST injection)"),
            Forger::Middlebox => format!("{MIDDLEBOX_RST_NOTE} ({FORGED_NOTE})"),
        });
        let forgot = self.forgot_flow.then(|| "middlebox forgot flow".to_owned());
        let dropped = self
            .dropped
            .map(|cause| format!("{DROPPED_NOTE} ({})", cause.as_str()));
        let lost = (self.lost_before > 0).then(|| {
            format!(
                "{WIRE_LOSS_NOTE} {} frames before this one (its own overload, not the network)",
                self.lost_before
            )
        });
        lost.into_iter().chain(forged).chain(forgot).chain(dropped)
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
    /// Frames forwarded but not recorded because the recorder was behind (its queue full),
    /// per port like `kernel_dropped`.
    pub tap_dropped: [u64; 2],
    /// Frames the kernel's input queues dropped during the run (host-wide: every veth
    /// frame passes them; see [`crate::net::softnet`]).
    pub backlog_dropped: u64,
    /// `[[link.inject_rst]]` resets that never went out: the connection named had not opened
    /// (or acknowledged anything) by then, or the run ended before their time.
    pub resets_not_injected: u64,
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
    tap_dropped: u64,
    /// Kernel drops read while forwarding (reading resets the kernel's count).
    kernel_dropped: u64,
    first_ns: Option<u64>,
    last_ns: u64,
}

/// A running forwarder; [`Wire::stop`] ends it and reports.
pub struct Wire {
    stop: Arc<AtomicBool>,
    readers: Vec<JoinHandle<DirectionStats>>,
    queues: Option<QueueWatch>,
    injector: Option<JoinHandle<u64>>,
    ports: [Arc<PacketSocket>; 2],
    middlebox: Option<Arc<Mutex<Middlebox>>>,
}

impl Wire {
    /// Opens both ports in `wire_ns` and starts forwarding. `start_ns` is the lab's time zero
    /// (partitions are relative to it); every frame goes to `tap`, cut to the snap length,
    /// while `budget` has room.
    pub fn start<T>(
        wire_ns: &str,
        ports: Ports<'_>,
        link: &LinkSpec,
        start_ns: u64,
        limits: CaptureLimits,
        tap: SyncSender<T>,
        budget: TapBudget,
    ) -> Result<Wire>
    where
        T: From<Vec<CapturedFrame>> + Send + 'static,
    {
        let (client_if, server_if) = (ports.client_side.to_owned(), ports.server_side.to_owned());
        let ((client_port, client_ring), (server_port, server_ring)) =
            netns::in_netns(wire_ns, move || {
                Ok((
                    PacketSocket::open(&client_if, limits.ring_frames)?,
                    PacketSocket::open(&server_if, limits.ring_frames)?,
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
        let lost = Arc::new(AtomicU64::new(0));
        let queues = QueueWatch::start(lost.clone(), stop.clone());
        let mut readers = Vec::new();
        for (dir, from, ring, to) in [
            (Direction::ToServer, &client_port, client_ring, &server_port),
            (Direction::ToClient, &server_port, server_ring, &client_port),
        ] {
            let path = Path {
                dir,
                from: from.clone(),
                ring,
                to: to.clone(),
                snaplen: limits.snaplen,
                model: (!link.is_unimpaired()).then(|| link.model(dir)),
                flows: flows.clone(),
                middlebox: middlebox.clone(),
                lost_elsewhere: lost.clone(),
                start_ns,
                tap: Tap {
                    tx: tap.clone(),
                    budget: budget.clone(),
                },
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
                tap: Tap { tx: tap, budget },
                stop: stop.clone(),
            };
            std::thread::spawn(move || injector.run())
        });
        Ok(Wire {
            stop,
            readers,
            queues,
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
        for (i, reader) in self.readers.into_iter().enumerate() {
            let d = reader
                .join()
                .map_err(|_| anyhow!("a wire thread panicked"))?;
            stats.forwarded += d.forwarded;
            stats.link_dropped += d.link_dropped;
            stats.send_errors += d.send_errors;
            stats.tap_dropped[i] = d.tap_dropped;
            stats.kernel_dropped[i] = d.kernel_dropped;
            first = first.min(d.first_ns.unwrap_or(u64::MAX));
            last = last.max(d.last_ns);
        }
        stats.span_ns = last.saturating_sub(first);
        stats.backlog_dropped = self.queues.map_or(0, QueueWatch::stop);
        if let Some(injector) = self.injector {
            stats.resets_not_injected = injector.join().unwrap_or(0);
        }
        for (i, port) in self.ports.iter().enumerate() {
            stats.kernel_dropped[i] += port.drops().unwrap_or(0);
        }
        stats.middlebox = self
            .middlebox
            .as_ref()
            .and_then(|m| m.lock().ok().map(|m| m.stats()));
        Ok(stats)
    }
}

/// What the wire keeps of the traffic: bytes per frame and frames per receive ring.
#[derive(Debug, Clone, Copy)]
pub struct CaptureLimits {
    /// Bytes kept of each frame.
    pub snaplen: usize,
    /// Frames each port's receive ring holds.
    pub ring_frames: usize,
}

/// One direction of the wire.
struct Path<T> {
    dir: Direction,
    from: Arc<PacketSocket>,
    ring: RxRing,
    to: Arc<PacketSocket>,
    snaplen: usize,
    model: Option<DirectionModel>,
    flows: Option<Arc<Mutex<FlowTable>>>,
    middlebox: Option<Arc<Mutex<Middlebox>>>,
    /// Frames lost outside the rings (the kernel's input queues), not yet told of.
    lost_elsewhere: Arc<AtomicU64>,
    start_ns: u64,
    tap: Tap<T>,
    stop: Arc<AtomicBool>,
}

/// How many frames, and batches of frames, may wait for the recorder at once: the wire's side
/// of the recorder's bounded queue (its channel holds a number of batches, its memory a number
/// of frames). The wire adds what it hands over, the recorder takes off what it has read.
#[derive(Debug, Clone)]
pub struct TapBudget {
    /// Frames and batches queued.
    queued: Arc<[AtomicUsize; 2]>,
    limits: [usize; 2],
}

impl TapBudget {
    /// Room for `frames` frames in at most `batches` batches.
    pub fn new(frames: usize, batches: usize) -> TapBudget {
        TapBudget {
            queued: Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]),
            limits: [frames, batches],
        }
    }

    /// The recorder has taken a batch of `n` frames off the queue.
    pub fn taken(&self, n: usize) {
        self.queued[0].fetch_sub(n, Ordering::Relaxed);
        self.queued[1].fetch_sub(1, Ordering::Relaxed);
    }

    /// True when either count is at or above its limit divided by `part`.
    fn filled(&self, part: usize) -> bool {
        (0..2).any(|i| self.queued[i].load(Ordering::Relaxed) >= self.limits[i] / part)
    }

    /// The recorder is behind: a quarter of its room is taken.
    fn is_behind(&self) -> bool {
        self.filled(4)
    }

    /// The recorder has caught up: less than a 64th of its room is taken.
    fn is_caught_up(&self) -> bool {
        !self.filled(64)
    }

    fn reserve(&self, n: usize) -> bool {
        if self.queued[0].load(Ordering::Relaxed) + n > self.limits[0] {
            return false;
        }
        self.queued[0].fetch_add(n, Ordering::Relaxed);
        self.queued[1].fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// The capture's end of the wire: the recorder's channel and its frame budget.
struct Tap<T> {
    tx: SyncSender<T>,
    budget: TapBudget,
}

impl<T: From<Vec<CapturedFrame>>> Tap<T> {
    /// Hands `frames` over without ever waiting; returns how many could not be taken.
    fn send(&self, frames: Vec<CapturedFrame>) -> u64 {
        let n = frames.len();
        if !self.budget.reserve(n) {
            return n as u64;
        }
        match self.tx.try_send(frames.into()) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => 0,
            Err(TrySendError::Full(_)) => {
                self.budget.taken(n);
                n as u64
            }
        }
    }
}

impl<T: From<Vec<CapturedFrame>>> Path<T> {
    /// The middlebox stops a segment of a flow it forgot: recorded (not forwarded), and the
    /// RST it answers with sent back toward the sender and recorded after it.
    fn stopped(&self, record: CapturedFrame, stopped: middlebox::Stopped) -> Vec<CapturedFrame> {
        let mut out = vec![CapturedFrame {
            dropped: Some(DropCause::ForgottenFlow),
            forgot_flow: stopped.forgot_now,
            ..record
        }];
        if let Some(rst) = stopped.reset {
            let _ = self.from.send(&rst);
            out.push(CapturedFrame {
                t_ns: now_ns(),
                dir: self.dir.reverse(),
                wire_len: rst.len() as u32,
                data: rst,
                dropped: None,
                forged: Some(Forger::Middlebox),
                forgot_flow: false,
                lost_before: 0,
            });
        }
        out
    }

    fn run(mut self) -> DirectionStats {
        let mut stats = DirectionStats::default();
        let mut held: Option<(Sender<Held>, JoinHandle<u64>)> = None;
        let mut now: Vec<usize> = Vec::with_capacity(BATCH);
        let mut delayed: Vec<Held> = Vec::new();
        let mut lag = Lag::default();
        // Frames lost (never captured) since the last recorded one.
        let mut lost = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let (rb, tb) = (self.ring.is_behind(now_ns()), self.tap.budget.is_behind());
            lag.update(
                rb || tb,
                self.ring.is_caught_up() && self.tap.budget.is_caught_up(),
            );
            let ready = self.ring.ready(BATCH);
            if ready == 0 {
                self.from.wait(POLL);
                continue;
            }
            now.clear();
            let mut records = Vec::with_capacity(ready);
            let mut counted_losses = false;
            if self.lost_elsewhere.load(Ordering::Relaxed) > 0 {
                lost += self.lost_elsewhere.swap(0, Ordering::Relaxed);
            }
            for k in 0..ready {
                let f = self.ring.frame(k);
                // The kernel marks frames written after it dropped some; its count (read
                // once a batch, reading resets it) belongs before this frame.
                if f.losing && !counted_losses {
                    counted_losses = true;
                    let dropped = self.from.drops().unwrap_or(0);
                    stats.kernel_dropped += dropped;
                    lost += dropped;
                }
                if let Some(flows) = &self.flows {
                    if let Ok(mut flows) = flows.lock() {
                        flows.observe(self.dir, f.data);
                    }
                }
                stats.first_ns.get_or_insert(f.t_ns);
                stats.last_ns = f.t_ns;
                let record = CapturedFrame {
                    t_ns: f.t_ns,
                    dir: self.dir,
                    data: f.data[..f.data.len().min(self.snaplen)].to_vec(),
                    wire_len: f.wire_len,
                    dropped: None,
                    forged: None,
                    forgot_flow: false,
                    lost_before: std::mem::take(&mut lost),
                };
                if let Some(mb) = &self.middlebox {
                    if let Some(stopped) = middlebox::screen(mb, f.t_ns, f.data) {
                        stats.link_dropped += 1;
                        records.extend(self.stopped(record, stopped));
                        continue;
                    }
                }
                let verdict = match &mut self.model {
                    None => Verdict::Deliver { hold_ns: 0 },
                    Some(m) => m.decide(f.t_ns.saturating_sub(self.start_ns)),
                };
                match verdict {
                    Verdict::Drop(cause) => {
                        stats.link_dropped += 1;
                        records.push(CapturedFrame {
                            dropped: Some(cause),
                            ..record
                        });
                    }
                    Verdict::Deliver { hold_ns: 0 } => {
                        records.push(record);
                        now.push(k);
                        stats.forwarded += 1;
                    }
                    Verdict::Deliver { hold_ns } => {
                        records.push(record);
                        delayed.push(Held {
                            due_ns: f.t_ns + hold_ns,
                            data: f.data.to_vec(),
                        });
                        stats.forwarded += 1;
                    }
                }
            }
            // Recorded before forwarded: the answer cannot overtake it. What the recorder
            // could not take is a gap the next recorded frame tells of.
            let carried: u64 = records.iter().map(|r| r.lost_before).sum();
            let untaken = self.tap.send(records);
            if untaken > 0 {
                stats.tap_dropped += untaken;
                lost += untaken + carried;
            }
            // Delayed frames go to their scheduler only now, after the recorder has them:
            // handed over earlier, a reader thread descheduled mid-batch (a busy machine) let
            // the answer be recorded before the frame it answers.
            if !delayed.is_empty() {
                let (tx, _) = held.get_or_insert_with(|| {
                    let (tx, rx) = mpsc::channel();
                    let to = self.to.clone();
                    (tx, std::thread::spawn(move || release_held(rx, &to)))
                });
                for h in delayed.drain(..) {
                    let _ = tx.send(h);
                }
            }
            let out: Vec<&[u8]> = now.iter().map(|&k| self.ring.frame(k).data).collect();
            stats.send_errors += self.to.send_batch(&out);
            self.ring.release(ready);
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
    tap: Tap<T>,
    stop: Arc<AtomicBool>,
}

impl<T: From<Vec<CapturedFrame>>> Injector<T> {
    /// Sends the plan; returns how many of its resets never went out.
    fn run(mut self) -> u64 {
        self.plan.sort_by_key(|r| r.at_ms);
        let planned = self.plan.len() as u64;
        let mut empty = 0;
        for (sent, rst) in self.plan.iter().enumerate() {
            let missed = empty + planned - sent as u64;
            let due = self.start_ns + rst.at_ms * 1_000_000;
            while now_ns() < due {
                if self.stop.load(Ordering::Relaxed) {
                    return missed;
                }
                let left = Duration::from_nanos(due.saturating_sub(now_ns()));
                std::thread::sleep(left.min(POLL));
            }
            let forged = match self.flows.lock() {
                Ok(flows) => flows.forge(rst.conn, rst.toward),
                Err(_) => return missed,
            };
            if forged.is_empty() {
                empty += 1;
            }
            for (dir, frame) in forged {
                let port = match dir {
                    Direction::ToClient => &self.ports[0],
                    Direction::ToServer => &self.ports[1],
                };
                let _ = port.send(&frame);
                self.tap.send(vec![CapturedFrame {
                    t_ns: now_ns(),
                    dir,
                    wire_len: frame.len() as u32,
                    data: frame,
                    dropped: None,
                    forged: Some(Forger::RstInjection),
                    forgot_flow: false,
                    lost_before: 0,
                }]);
            }
        }
        empty
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
