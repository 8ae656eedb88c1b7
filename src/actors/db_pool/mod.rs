//! `[db_client]`: a client whose connection pool follows Go database/sql's policy
//! ([`policy`]), running bursts of concurrent queries against the lab's server, so the pool
//! stories (a burst that dials and then closes all but `max_idle`, callers waiting at
//! `max_open`, connections retired by idle time or lifetime) happen on the wire where connlab
//! reads them. It reports `db.Stats()` beside its own counts.
//!
//! The queries' protocol ([`session`]) is `line`, a line out and a line back (the raw TCP
//! server echoes), which is all a pool's story needs, `postgres` through tokio-postgres, so the
//! same policy runs against the real PostgreSQL, twin of Go's database/sql over lib/pq, or
//! `mysql` through a client of connlab's own ([`mysql`]), twin of database/sql over
//! go-sql-driver/mysql against the real MariaDB.

mod failure;
mod mysql;
#[cfg(test)]
mod mysql_tests;
mod mysql_wire;
pub mod policy;
#[cfg(test)]
mod policy_tests;
mod query;
mod session;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::client_report::ClientReport;
use super::socket::SocketOptions;
use crate::trace::Tracer;
use policy::{Knobs, Pool};
use query::Shared;
pub use session::DbProtocol;
use session::Login;

/// `[db_client]`: the pool's knobs (database/sql's setters) and the workload.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DbClientConfig {
    /// The queries' protocol.
    #[serde(default)]
    pub protocol: DbProtocol,
    /// `SetMaxOpenConns` (0: unlimited, the default).
    #[serde(default)]
    pub max_open: u32,
    /// `SetMaxIdleConns` (2 by default; 0 keeps none).
    #[serde(default = "default_max_idle")]
    pub max_idle: u32,
    /// `SetConnMaxLifetime`, ms (off by default).
    #[serde(default)]
    pub max_lifetime_ms: Option<u64>,
    /// `SetConnMaxIdleTime`, ms (off by default).
    #[serde(default)]
    pub max_idle_time_ms: Option<u64>,
    /// Bursts of queries.
    #[serde(default = "one")]
    pub bursts: u32,
    /// Concurrent queries in each burst.
    #[serde(default = "default_burst_size")]
    pub burst_size: u32,
    /// From the start of one burst to the next, ms.
    #[serde(default = "default_gap")]
    pub burst_gap_ms: u64,
    /// The query's text.
    #[serde(default = "default_query")]
    pub query: String,
    /// The user each session logs in as (`postgres` for PostgreSQL, `root` for MySQL).
    #[serde(default)]
    pub user: Option<String>,
    /// The database each session opens (`postgres` for PostgreSQL; none for MySQL, whose
    /// login may name none).
    #[serde(default)]
    pub database: Option<String>,
    /// `[db_client.socket]`: options of every dialed connection.
    #[serde(default)]
    pub socket: SocketOptions,
}

fn default_max_idle() -> u32 {
    policy::DEFAULT_MAX_IDLE
}
fn one() -> u32 {
    1
}
fn default_burst_size() -> u32 {
    10
}
fn default_gap() -> u64 {
    1000
}
fn default_query() -> String {
    "select 1".to_owned()
}

impl DbClientConfig {
    /// The session's login, each protocol's defaults filling what the lab left out: the
    /// names a PostgreSQL made by initdb has, and MySQL's administrator with no database.
    fn login(&self) -> Login {
        let (user, database) = match self.protocol {
            DbProtocol::Line | DbProtocol::Postgres => ("postgres", Some("postgres")),
            DbProtocol::Mysql => ("root", None),
        };
        Login {
            protocol: self.protocol,
            user: self.user.clone().unwrap_or_else(|| user.to_owned()),
            database: self.database.clone().or(database.map(str::to_owned)),
        }
    }

    fn knobs(&self) -> Knobs {
        Knobs {
            max_open: self.max_open,
            max_idle: self.max_idle,
            max_lifetime_ms: self.max_lifetime_ms,
            max_idle_time_ms: self.max_idle_time_ms,
        }
    }
}

/// The connections the pool still holds at the end; dropping closes them (after the capture
/// stopped, like every client's).
pub struct HeldPool {
    _pool: Shared,
    cleaner: tokio::task::JoinHandle<()>,
}

impl Drop for HeldPool {
    fn drop(&mut self) {
        self.cleaner.abort();
    }
}

/// Runs the bursts against `target`, then reports with the pool's stats, keeping its idle
/// connections in the returned holder.
pub async fn run_client(
    cfg: DbClientConfig,
    target: SocketAddr,
    tracer: Tracer,
) -> (ClientReport, HeldPool) {
    let start = Instant::now();
    let pool: Shared = Arc::new(Mutex::new(Pool::new(cfg.knobs())));
    let report = Arc::new(Mutex::new(ClientReport::default()));
    let cleaner = tokio::spawn(clean(pool.clone(), start));
    let ctx = Arc::new(query::Ctx {
        pool: pool.clone(),
        report: report.clone(),
        tracer,
        target,
        start,
        socket: cfg.socket.clone(),
        login: cfg.login(),
        query: cfg.query.clone(),
    });
    for b in 0..cfg.bursts {
        let due = start + Duration::from_millis(cfg.burst_gap_ms * u64::from(b));
        tokio::time::sleep_until(due).await;
        let queries: Vec<_> = (0..cfg.burst_size)
            .map(|_| tokio::spawn(query::run(ctx.clone())))
            .collect();
        for q in queries {
            let _ = q.await;
        }
    }
    let mut out = report.lock().expect("report").clone();
    out.elapsed_ns = start.elapsed().as_nanos() as u64;
    out.pool = Some(pool.lock().expect("pool").stats());
    (
        out,
        HeldPool {
            _pool: pool,
            cleaner,
        },
    )
}

/// The cleaner: closes what the pool's limits retire, at database/sql's cadence.
async fn clean(pool: Shared, start: Instant) {
    loop {
        let now = start.elapsed().as_nanos() as u64;
        let (closing, next) = pool.lock().expect("pool").clean(now);
        drop(closing);
        let next = next.unwrap_or(now + policy::CLEANER_MIN_NS);
        tokio::time::sleep_until(start + Duration::from_nanos(next)).await;
    }
}
