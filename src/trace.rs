//! Trace events, like Go's httptrace (GotConn with Reused/WasIdle/IdleTime, PutIdleConn, ...),
//! written into the run's event stream beside the analyser's events.
//!
//! Shared by the actors (which emit them) and the recorder (which writes them), so it sits
//! below both: a [`Tracer`] delivers through a function it is given, and knows nothing of
//! where its events go.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::now_ns;

/// One thing an actor did or saw, stamped with the wall clock (the clock of frame timestamps).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceEvent {
    /// ns since the UNIX epoch.
    pub t_ns: u64,
    /// "client" or "server".
    pub actor: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: TraceKind,
}

/// The kinds of trace event; field names are part of the JSON-lines contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceKind {
    /// The client starts dialing a new connection.
    Dial {
        /// Target.
        remote: SocketAddr,
    },
    /// Dialing failed.
    DialError {
        /// Target.
        remote: SocketAddr,
        /// The OS error.
        error: String,
    },
    /// A request got its connection (Go: httptrace GotConn).
    GotConn {
        /// Our end.
        local: SocketAddr,
        /// Peer.
        remote: SocketAddr,
        /// The connection served a request before.
        reused: bool,
        /// It came from the idle pool.
        was_idle: bool,
        /// How long it sat idle, ns.
        idle_ns: u64,
        /// How long the request waited for a slot (max_conns_per_host), ns.
        wait_ns: u64,
    },
    /// A connection was offered back to the idle pool (Go: PutIdleConn).
    PutIdle {
        /// Our end.
        local: SocketAddr,
        /// Peer.
        remote: SocketAddr,
        /// It was kept.
        accepted: bool,
        /// Why not.
        reason: Option<String>,
    },
    /// A connection was closed by this actor.
    Close {
        /// Our end.
        local: SocketAddr,
        /// Peer.
        remote: SocketAddr,
        /// Why (stable words, listed in docs/output.md).
        reason: String,
    },
    /// A timeout fired.
    Timeout {
        /// Which timer: read, read_header, write, idle, handler or request.
        timer: String,
        /// Our end.
        local: SocketAddr,
        /// Peer.
        remote: SocketAddr,
    },
    /// Something failed.
    Error {
        /// Short class: read, write, reset, eof, retry, ...
        class: String,
        /// Details.
        message: String,
    },
    /// The server's graceful shutdown moved on: `draining` (no new connection, idle ones
    /// closed, busy ones closed after their reply) or `closing` (the grace period is over).
    Shutdown {
        /// The phase entered.
        phase: String,
    },
    /// The server accepted a connection.
    Accept {
        /// Our end.
        local: SocketAddr,
        /// Peer.
        remote: SocketAddr,
    },
    /// A request was sent (client) or read (server).
    Request {
        /// Our end.
        local: SocketAddr,
        /// Peer.
        remote: SocketAddr,
        /// Its number on the connection, from 1.
        n: u32,
        /// Method.
        method: String,
        /// Target.
        path: String,
    },
    /// A TLS secret the actor derived, as one line of an NSS key log (`SSLKEYLOGFILE`): the
    /// recorder decrypts with it and writes it into the capture, so Wireshark opens the
    /// lab's TLS decrypted.
    TlsKey {
        /// `LABEL <client random hex> <secret hex>`.
        line: String,
    },
    /// A response was read (client) or written (server).
    Response {
        /// Our end.
        local: SocketAddr,
        /// Peer.
        remote: SocketAddr,
        /// Its number on the connection.
        n: u32,
        /// Status code.
        status: u16,
        /// Body bytes.
        bytes: u64,
    },
}

/// Where a tracer's events go: the run's recorder, a child process's stdout, a test's list.
/// Delivery never blocks and never fails the actor (a closed stream just drops the event).
pub type Deliver = Arc<dyn Fn(TraceEvent) + Send + Sync>;

/// How many trace events may wait in the recorder's queue at once: its channel also carries
/// the wire's frames, which must never wait (the wire's ring would overflow), so trace events
/// get a share of it and their senders wait beyond that share.
#[derive(Debug, Clone)]
pub struct TraceRoom {
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl TraceRoom {
    /// Room for `limit` events.
    pub fn new(limit: usize) -> TraceRoom {
        TraceRoom {
            queued: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// The recorder took one event off the queue.
    pub fn taken(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    fn wait_for_room(&self) {
        while self.queued.load(Ordering::Relaxed) >= self.limit {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
    }
}

/// Emits an actor's trace events into the run's stream.
#[derive(Clone)]
pub struct Tracer {
    actor: &'static str,
    deliver: Deliver,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("actor", &self.actor)
            .finish()
    }
}

impl Tracer {
    /// A tracer for `actor` ("client" or "server") delivering through `deliver`.
    pub fn new(actor: &'static str, deliver: Deliver) -> Self {
        Tracer { actor, deliver }
    }

    /// A tracer whose events go into the bounded channel `tx` (the recorder's), converted to
    /// the channel's type, while `room` allows: when it is full the actor waits for room, so
    /// no trace event is lost, and the frames that share the channel always find a slot.
    pub fn into_channel<T>(
        actor: &'static str,
        tx: std::sync::mpsc::SyncSender<T>,
        room: TraceRoom,
    ) -> Self
    where
        T: From<TraceEvent> + Send + 'static,
    {
        Tracer::new(
            actor,
            Arc::new(move |event| {
                room.wait_for_room();
                let _ = tx.send(event.into());
            }),
        )
    }

    /// Stamps and delivers one event.
    pub fn emit(&self, kind: TraceKind) {
        (self.deliver)(TraceEvent {
            t_ns: now_ns(),
            actor: self.actor.to_owned(),
            kind,
        });
    }

    /// Delivers an event that was stamped elsewhere (an actor in a child process).
    pub fn forward(&self, event: TraceEvent) {
        (self.deliver)(event);
    }

    /// Emits a `close` event.
    pub fn close(&self, local: SocketAddr, remote: SocketAddr, reason: &str) {
        self.emit(TraceKind::Close {
            local,
            remote,
            reason: reason.to_owned(),
        });
    }

    /// Emits an `error` event.
    pub fn error(&self, class: &str, message: impl ToString) {
        self.emit(TraceKind::Error {
            class: class.to_owned(),
            message: message.to_string(),
        });
    }
}
