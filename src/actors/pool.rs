//! The client's connection pool, keyed by target address (ip and port), with Go's
//! http.Transport policies: a request takes the most recently idled connection, or dials a new
//! one at once (MaxConnsPerHost 0), or, with a per-host limit, waits for a connection handed
//! back or a slot freed. A connection offered back to a full idle pool is closed
//! (MaxIdleConnsPerHost). While idle, a connection is watched: a FIN (or stray data) from the
//! server closes it at once, like Go's persistConn readLoop, and IdleConnTimeout closes it too.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::stream::{PeerWake, Stream};
use crate::trace::{TraceKind, Tracer};

/// A client connection and what the pool knows about it.
#[derive(Debug)]
pub struct Conn {
    /// The connection (plain or TLS).
    pub stream: Stream,
    /// Our end.
    pub local: SocketAddr,
    /// The server.
    pub remote: SocketAddr,
    /// Requests served so far.
    pub requests: u32,
    /// Bytes read past the last response (should stay empty).
    pub leftover: Vec<u8>,
    /// Its place under max_conns_per_host, given back when the connection is dropped,
    /// whichever way it goes (closed, failed, abandoned by a request timeout).
    pub slot: Option<Slot>,
}

/// One connection's place under max_conns_per_host; dropping it frees the place (or hands it
/// to a waiting request).
#[derive(Debug)]
pub struct Slot {
    pool: Pool,
    addr: SocketAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.forget(self.addr);
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("limits", &self.limits)
            .finish()
    }
}

/// Pool limits, from the client config.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Go MaxIdleConnsPerHost.
    pub max_idle_per_host: usize,
    /// Go MaxConnsPerHost (0 = unlimited).
    pub max_conns_per_host: usize,
    /// Go IdleConnTimeout.
    pub idle_timeout: Option<Duration>,
}

/// What a request got from the pool.
pub enum Checkout {
    /// A connection (reused from idle or handed over by another request).
    Conn {
        /// The connection.
        conn: Conn,
        /// It came from the idle pool.
        was_idle: bool,
        /// Idle time.
        idle: Duration,
    },
    /// The right to dial a new connection, with its slot when the host has a limit.
    Dial(Option<Slot>),
}

enum Handoff {
    Conn(Box<Conn>),
    Slot,
}

/// What woke an idle connection's watcher.
enum Wake {
    Taken(Option<oneshot::Sender<Conn>>),
    Peer(PeerWake),
    Expired,
}

struct IdleEntry {
    id: u64,
    since: Instant,
    take: oneshot::Sender<oneshot::Sender<Conn>>,
}

#[derive(Default)]
struct HostState {
    idle: Vec<IdleEntry>,
    waiters: VecDeque<oneshot::Sender<Handoff>>,
    /// Connections that exist (dialing, busy or idle); counted only with a per-host limit.
    conns: usize,
}

/// The pool; cheap to clone (shared).
#[derive(Clone)]
pub struct Pool {
    limits: PoolLimits,
    tracer: Tracer,
    hosts: Arc<Mutex<HashMap<SocketAddr, HostState>>>,
    leaked: Arc<Mutex<Vec<Conn>>>,
    next_id: Arc<Mutex<u64>>,
}

impl Pool {
    /// An empty pool.
    pub fn new(limits: PoolLimits, tracer: Tracer) -> Pool {
        Pool {
            limits,
            tracer,
            hosts: Arc::default(),
            leaked: Arc::default(),
            next_id: Arc::default(),
        }
    }

    /// Gets a connection to `addr` or the right to dial one; may wait when the host is at
    /// max_conns_per_host.
    pub async fn checkout(&self, addr: SocketAddr) -> Checkout {
        loop {
            let next = {
                let mut hosts = self.hosts.lock().expect("pool lock");
                let host = hosts.entry(addr).or_default();
                if let Some(entry) = host.idle.pop() {
                    Ok(entry)
                } else if self.limits.max_conns_per_host == 0 {
                    return Checkout::Dial(None);
                } else if host.conns < self.limits.max_conns_per_host {
                    host.conns += 1;
                    return Checkout::Dial(Some(self.slot(addr)));
                } else {
                    let (tx, rx) = oneshot::channel();
                    host.waiters.push_back(tx);
                    Err(rx)
                }
            };
            match next {
                Ok(entry) => {
                    let (tx, rx) = oneshot::channel();
                    if entry.take.send(tx).is_ok() {
                        if let Ok(conn) = rx.await {
                            return Checkout::Conn {
                                conn,
                                was_idle: true,
                                idle: entry.since.elapsed(),
                            };
                        }
                    }
                    // Its watcher closed it meanwhile: try again.
                }
                Err(rx) => match rx.await {
                    Ok(Handoff::Conn(conn)) => {
                        return Checkout::Conn {
                            conn: *conn,
                            was_idle: false,
                            idle: Duration::ZERO,
                        }
                    }
                    // The place of a closed connection, passed on (already counted).
                    Ok(Handoff::Slot) => return Checkout::Dial(Some(self.slot(addr))),
                    Err(_) => {}
                },
            }
        }
    }

    fn slot(&self, addr: SocketAddr) -> Slot {
        Slot {
            pool: self.clone(),
            addr,
        }
    }

    /// Offers a healthy connection back after a response (Go: tryPutIdleConn).
    pub fn put(&self, conn: Conn) {
        let (local, remote) = (conn.local, conn.remote);
        let mut conn = Some(conn);
        let mut hosts = self.hosts.lock().expect("pool lock");
        let host = hosts.entry(remote).or_default();
        // A waiting request gets it directly.
        while let Some(waiter) = host.waiters.pop_front() {
            match waiter.send(Handoff::Conn(Box::new(conn.take().expect("conn")))) {
                Ok(()) => return,
                Err(Handoff::Conn(back)) => conn = Some(*back),
                Err(Handoff::Slot) => unreachable!("sent a connection"),
            }
        }
        let conn = conn.expect("conn");
        if host.idle.len() >= self.limits.max_idle_per_host {
            drop(hosts);
            self.tracer.emit(TraceKind::PutIdle {
                local,
                remote,
                accepted: false,
                reason: Some("idle_pool_full".into()),
            });
            self.close(conn, "idle_pool_full");
            return;
        }
        let id = {
            let mut next = self.next_id.lock().expect("id lock");
            *next += 1;
            *next
        };
        let (take_tx, take_rx) = oneshot::channel();
        host.idle.push(IdleEntry {
            id,
            since: Instant::now(),
            take: take_tx,
        });
        drop(hosts);
        self.tracer.emit(TraceKind::PutIdle {
            local,
            remote,
            accepted: true,
            reason: None,
        });
        tokio::spawn(self.clone().watch_idle(id, conn, take_rx));
    }

    /// Closes a connection for `reason` (in the style set when it was dialed); its slot is
    /// freed as it drops.
    pub fn close(&self, conn: Conn, reason: &str) {
        self.tracer.close(conn.local, conn.remote, reason);
        drop(conn);
    }

    /// Keeps a connection open, outside the pool, until the lab ends (a body never closed).
    pub fn leak(&self, conn: Conn) {
        self.leaked.lock().expect("leak lock").push(conn);
    }

    /// Closes every idle and leaked connection (the end of the lab).
    pub fn close_all(&self) {
        self.hosts.lock().expect("pool lock").clear();
        self.leaked.lock().expect("leak lock").clear();
    }

    /// A connection is gone: free its slot, or let a waiter dial.
    fn forget(&self, addr: SocketAddr) {
        if self.limits.max_conns_per_host == 0 {
            return;
        }
        let mut hosts = self.hosts.lock().expect("pool lock");
        let host = hosts.entry(addr).or_default();
        while let Some(waiter) = host.waiters.pop_front() {
            if waiter.send(Handoff::Slot).is_ok() {
                return; // the slot passes to the waiter
            }
        }
        host.conns = host.conns.saturating_sub(1);
    }

    /// Owns an idle connection until a request takes it, the server closes it, or it idles out.
    async fn watch_idle(
        self,
        id: u64,
        mut conn: Conn,
        mut take: oneshot::Receiver<oneshot::Sender<Conn>>,
    ) {
        let idle_limit = self.limits.idle_timeout;
        let expiry = async {
            match idle_limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        let reason = {
            let wake = tokio::select! {
                taken = &mut take => Wake::Taken(taken.ok()),
                peer = conn.stream.peer_wake() => Wake::Peer(peer),
                _ = &mut expiry => Wake::Expired,
            };
            match wake {
                Wake::Taken(Some(reply)) => {
                    if let Err(conn) = reply.send(conn) {
                        self.close(conn, "error");
                    }
                    return;
                }
                // The pool was dropped at the end of the lab: the connection closes with it.
                Wake::Taken(None) => return,
                Wake::Peer(PeerWake::Closed) => "peer_closed",
                Wake::Peer(PeerWake::Data) => "unexpected_data",
                Wake::Peer(PeerWake::Failed) => "peer_reset",
                Wake::Expired => {
                    self.tracer.emit(TraceKind::Timeout {
                        timer: "idle".into(),
                        local: conn.local,
                        remote: conn.remote,
                    });
                    "idle_timeout"
                }
            }
        };
        self.remove_idle(conn.remote, id);
        self.close(conn, reason);
    }

    fn remove_idle(&self, addr: SocketAddr, id: u64) {
        if let Some(host) = self.hosts.lock().expect("pool lock").get_mut(&addr) {
            host.idle.retain(|e| e.id != id);
        }
    }
}
