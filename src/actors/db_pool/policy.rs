//! Go database/sql's pool policy as plain data (no sockets, no clock: time is passed in), so
//! the actor that drives it and the tests that pin it read the same rules:
//!
//! - a query takes the idle connection returned last (the least idle, so the others can age
//!   out), or dials when none is idle, or waits when `max_open` connections are open;
//! - a returned connection goes to the longest-waiting caller first, else back to the idle
//!   list if fewer than `max_idle` are idle, else it is closed (`MaxIdleClosed`);
//! - the cleaner closes idle connections past `max_idle_time` or `max_lifetime`, checking no
//!   more often than once a second;
//! - a connection taken past its lifetime is closed and the query tries again.
//!
//! `C` is whatever the driver holds for a connection; `W` whoever waits for one.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// database/sql's default of `SetMaxIdleConns`.
pub const DEFAULT_MAX_IDLE: u32 = 2;

/// The cleaner's shortest interval (database/sql's minimum).
pub const CLEANER_MIN_NS: u64 = 1_000_000_000;

/// The pool's knobs, named as database/sql's setters (a lab sets them in `[db_client]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// `SetMaxOpenConns`: connections open at most (0: unlimited).
    pub max_open: u32,
    /// `SetMaxIdleConns`: idle connections kept (0 keeps none).
    pub max_idle: u32,
    /// `SetConnMaxLifetime`, ms: a connection older than this is not used again.
    pub max_lifetime_ms: Option<u64>,
    /// `SetConnMaxIdleTime`, ms: an idle connection older than this is closed.
    pub max_idle_time_ms: Option<u64>,
}

/// database/sql's defaults.
impl Default for Knobs {
    fn default() -> Knobs {
        Knobs {
            max_open: 0,
            max_idle: DEFAULT_MAX_IDLE,
            max_lifetime_ms: None,
            max_idle_time_ms: None,
        }
    }
}

/// `db.Stats()`: what the pool did, as database/sql counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Connections open now (idle or in use).
    pub open_connections: u32,
    /// Connections in use now.
    pub in_use: u32,
    /// Connections idle now.
    pub idle: u32,
    /// Connections ever opened.
    pub opened: u64,
    /// Callers that waited for a connection.
    pub wait_count: u64,
    /// Their total wait, ns.
    pub wait_duration_ns: u64,
    /// Connections closed on return because `max_idle` were idle.
    pub max_idle_closed: u64,
    /// Connections closed by the cleaner for `max_idle_time`.
    pub max_idle_time_closed: u64,
    /// Connections closed for `max_lifetime` (by the cleaner, or when taken).
    pub max_lifetime_closed: u64,
}

/// An idle connection and its times.
#[derive(Debug)]
struct Idle<C> {
    conn: C,
    created_ns: u64,
    returned_ns: u64,
}

/// What a query gets when it asks for a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Take<C> {
    /// An idle connection, created at `created_ns`.
    Reuse {
        /// The connection.
        conn: C,
        /// When it was dialed.
        created_ns: u64,
    },
    /// Dial one: a slot is reserved for it (give it back with [`Pool::dial_failed`]).
    Dial,
    /// Wait: `max_open` are open; a connection is handed over on a return.
    Wait,
    /// The idle connection taken was past its lifetime: close it, and ask again.
    Expired(C),
}

/// Where a returned connection goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Put<C, W> {
    /// Straight to a waiting caller.
    Handed {
        /// Who waited longest.
        to: W,
        /// The connection.
        conn: C,
        /// When it was dialed.
        created_ns: u64,
    },
    /// Back to the idle list.
    Kept,
    /// Closed: `max_idle` were idle (or it broke, or it outlived its lifetime).
    Close(C),
}

/// The pool's state.
#[derive(Debug)]
pub struct Pool<C, W> {
    knobs: Knobs,
    /// Idle connections, oldest return first.
    free: Vec<Idle<C>>,
    waiting: VecDeque<(W, u64)>,
    open: u32,
    stats: Stats,
}

impl<C, W> Pool<C, W> {
    /// An empty pool with `knobs`.
    pub fn new(knobs: Knobs) -> Pool<C, W> {
        Pool {
            knobs,
            free: Vec::new(),
            waiting: VecDeque::new(),
            open: 0,
            stats: Stats::default(),
        }
    }

    /// A query asks for a connection at `now_ns`: an idle one if `cached` (database/sql's
    /// cachedOrNewConn; its last retry asks for a new one), else a dial, or a wait for `who`.
    pub fn take(&mut self, now_ns: u64, cached: bool, who: impl FnOnce() -> W) -> Take<C> {
        if let Some(idle) = self.free.pop_if(|_| cached) {
            if self.expired(idle.created_ns, now_ns) {
                self.open -= 1;
                self.stats.max_lifetime_closed += 1;
                return Take::Expired(idle.conn);
            }
            return Take::Reuse {
                conn: idle.conn,
                created_ns: idle.created_ns,
            };
        }
        if self.knobs.max_open > 0 && self.open >= self.knobs.max_open {
            self.stats.wait_count += 1;
            self.waiting.push_back((who(), now_ns));
            return Take::Wait;
        }
        self.open += 1;
        self.stats.opened += 1;
        Take::Dial
    }

    /// A dial reserved by [`Take::Dial`] failed: its slot is free again.
    pub fn dial_failed(&mut self) {
        self.open -= 1;
        self.stats.opened -= 1;
    }

    /// A waiter that got a connection at `now_ns` after waiting since `since_ns`.
    fn waited(&mut self, since_ns: u64, now_ns: u64) {
        self.stats.wait_duration_ns += now_ns.saturating_sub(since_ns);
    }

    /// A query is done with `conn` (dialed at `created_ns`) at `now_ns`; `broken` when the
    /// driver said it is bad (it is closed, never kept).
    pub fn put(&mut self, conn: C, created_ns: u64, now_ns: u64, broken: bool) -> Put<C, W> {
        if broken {
            self.open -= 1;
            return Put::Close(conn);
        }
        if let Some((to, since)) = self.waiting.pop_front() {
            self.waited(since, now_ns);
            return Put::Handed {
                to,
                conn,
                created_ns,
            };
        }
        if self.expired(created_ns, now_ns) {
            self.open -= 1;
            self.stats.max_lifetime_closed += 1;
            return Put::Close(conn);
        }
        if (self.free.len() as u32) < self.knobs.max_idle {
            self.free.push(Idle {
                conn,
                created_ns,
                returned_ns: now_ns,
            });
            return Put::Kept;
        }
        self.open -= 1;
        self.stats.max_idle_closed += 1;
        Put::Close(conn)
    }

    /// A connection closed while a caller waited (a broken one returned): the longest waiter
    /// may dial in its place. Returns who, if anyone waits.
    pub fn free_slot(&mut self, now_ns: u64) -> Option<W> {
        let (to, since) = self.waiting.pop_front()?;
        self.waited(since, now_ns);
        self.open += 1;
        self.stats.opened += 1;
        Some(to)
    }

    /// The cleaner's run at `now_ns`: the idle connections to close, and when to run next
    /// (None: no limit is set, the cleaner sleeps).
    pub fn clean(&mut self, now_ns: u64) -> (Vec<C>, Option<u64>) {
        let idle_limit = self.knobs.max_idle_time_ms.map(|ms| ms * 1_000_000);
        let life_limit = self.knobs.max_lifetime_ms.map(|ms| ms * 1_000_000);
        if idle_limit.is_none() && life_limit.is_none() {
            return (Vec::new(), None);
        }
        let mut closing = Vec::new();
        let mut next = u64::MAX;
        let mut kept = Vec::with_capacity(self.free.len());
        for idle in self.free.drain(..) {
            let idle_for = now_ns.saturating_sub(idle.returned_ns);
            let age = now_ns.saturating_sub(idle.created_ns);
            if idle_limit.is_some_and(|l| idle_for > l) {
                self.stats.max_idle_time_closed += 1;
                closing.push(idle.conn);
            } else if life_limit.is_some_and(|l| age > l) {
                self.stats.max_lifetime_closed += 1;
                closing.push(idle.conn);
            } else {
                if let Some(l) = idle_limit {
                    next = next.min(l - idle_for);
                }
                if let Some(l) = life_limit {
                    next = next.min(l - age);
                }
                kept.push(idle);
            }
        }
        self.free = kept;
        self.open -= closing.len() as u32;
        let limit = idle_limit.into_iter().chain(life_limit).min().unwrap_or(0);
        let next = if next == u64::MAX { limit } else { next };
        (closing, Some(now_ns + next.max(CLEANER_MIN_NS)))
    }

    /// `db.Stats()` now.
    pub fn stats(&self) -> Stats {
        let idle = self.free.len() as u32;
        Stats {
            open_connections: self.open,
            in_use: self.open - idle,
            idle,
            ..self.stats
        }
    }

    /// Every idle connection, taken out (the pool is closing).
    pub fn drain(&mut self) -> Vec<C> {
        self.open -= self.free.len() as u32;
        self.free.drain(..).map(|i| i.conn).collect()
    }

    fn expired(&self, created_ns: u64, now_ns: u64) -> bool {
        self.knobs
            .max_lifetime_ms
            .is_some_and(|ms| now_ns.saturating_sub(created_ns) > ms * 1_000_000)
    }
}
