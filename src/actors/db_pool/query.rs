//! One query through the pool, retried as database/sql retries: while the driver says the
//! connection is bad, up to `MAX_BAD_CONN_RETRIES` attempts take a cached or new
//! connection, then one more takes a new one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::failure::Failure;
use super::policy::{Pool, Put, Take};
use super::session::{Login, Session};
use crate::actors::client_report::ClientReport;
use crate::actors::socket::SocketOptions;
use crate::trace::{TraceKind, Tracer};

/// database/sql's attempts on a cached-or-new connection before the last on a new one.
const MAX_BAD_CONN_RETRIES: u32 = 2;

/// What a waiting query is given when a connection comes free.
pub(super) enum Given {
    /// A connection handed over, dialed at this time (ns since the start).
    Conn(Session, u64),
    /// A slot to dial in (a connection was closed while it waited).
    Dial,
}

/// The pool shared by the queries and the cleaner.
pub(super) type Shared = Arc<Mutex<Pool<Session, oneshot::Sender<Given>>>>;

/// What every query of the client shares.
pub(super) struct Ctx {
    pub pool: Shared,
    pub report: Arc<Mutex<ClientReport>>,
    pub tracer: Tracer,
    pub target: SocketAddr,
    pub start: Instant,
    pub socket: SocketOptions,
    /// How each new connection's session is opened.
    pub login: Login,
    /// The query's text.
    pub query: String,
}

impl Ctx {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// How one attempt ended.
enum Attempt {
    Done,
    /// The connection was bad (the driver's ErrBadConn): try again.
    BadConn(String),
    /// Failed for good.
    Failed(String),
}

/// Runs one query.
pub(super) async fn run(cx: Arc<Ctx>) {
    let mut why = String::new();
    for attempt in 0..=MAX_BAD_CONN_RETRIES {
        let cached = attempt < MAX_BAD_CONN_RETRIES;
        match once(&cx, cached).await {
            Attempt::Done => {
                cx.report.lock().expect("report").ok += 1;
                return;
            }
            Attempt::BadConn(e) => {
                cx.tracer.error("retry", &e);
                why = e;
            }
            Attempt::Failed(e) => {
                why = e;
                break;
            }
        }
    }
    cx.report.lock().expect("report").failure(why);
}

/// One attempt: a connection (`cached`: an idle one may do), the query, the connection back.
async fn once(cx: &Ctx, cached: bool) -> Attempt {
    let (mut conn, created, reused) = match connection(cx, cached).await {
        Ok(c) => c,
        Err(e) => return Attempt::Failed(e),
    };
    let local = conn.local();
    cx.tracer.emit(TraceKind::GotConn {
        local,
        remote: cx.target,
        reused,
        was_idle: reused,
        idle_ns: 0,
        wait_ns: 0,
    });
    if reused {
        cx.report.lock().expect("report").reused += 1;
    }
    let result = conn.ask(&cx.query).await;
    let broken = matches!(result, Err(Failure::BadConn(_)));
    let put = cx
        .pool
        .lock()
        .expect("pool")
        .put(conn, created, cx.now(), broken);
    settle(cx, put, local, broken);
    match result {
        Ok(()) => Attempt::Done,
        Err(Failure::BadConn(e)) => Attempt::BadConn(e),
        Err(Failure::Query(e)) => Attempt::Failed(e),
    }
}

/// Where a returned connection went: to a waiter, back to idle, or closed; a close while
/// callers wait lets the longest waiter dial.
fn settle(cx: &Ctx, put: Put<Session, oneshot::Sender<Given>>, local: SocketAddr, broken: bool) {
    let (accepted, reason) = match put {
        Put::Handed {
            to,
            conn,
            created_ns,
        } => {
            let _ = to.send(Given::Conn(conn, created_ns));
            return;
        }
        Put::Kept => (true, None),
        Put::Close(conn) => {
            drop(conn);
            if let Some(next) = cx.pool.lock().expect("pool").free_slot(cx.now()) {
                let _ = next.send(Given::Dial);
            }
            let why = if broken {
                "bad connection"
            } else {
                "max idle connections reached, or past its lifetime"
            };
            (false, Some(why.to_owned()))
        }
    };
    cx.tracer.emit(TraceKind::PutIdle {
        local,
        remote: cx.target,
        accepted,
        reason,
    });
}

/// A connection for a query: (its session, when it was dialed, whether it served before).
async fn connection(cx: &Ctx, cached: bool) -> Result<(Session, u64, bool), String> {
    loop {
        let (tx, rx) = oneshot::channel();
        let taken = cx.pool.lock().expect("pool").take(cx.now(), cached, || tx);
        let take = match taken {
            Take::Wait => match rx.await {
                Ok(Given::Conn(conn, created)) => return Ok((conn, created, true)),
                Ok(Given::Dial) => Take::Dial,
                Err(_) => return Err("the pool closed".to_owned()),
            },
            other => other,
        };
        match take {
            Take::Reuse { conn, created_ns } => return Ok((conn, created_ns, true)),
            Take::Expired(conn) => drop(conn),
            Take::Dial => {
                let created = cx.now();
                return match dial(cx).await {
                    Ok(conn) => Ok((conn, created, false)),
                    Err(e) => {
                        cx.pool.lock().expect("pool").dial_failed();
                        Err(e)
                    }
                };
            }
            // A dial slot handed over is never a wait again; ask anew.
            Take::Wait => {}
        }
    }
}

/// Dials the server and opens the protocol's session on the new connection.
async fn dial(cx: &Ctx) -> Result<Session, String> {
    cx.tracer.emit(TraceKind::Dial { remote: cx.target });
    match TcpStream::connect(cx.target).await {
        Ok(stream) => {
            cx.report.lock().expect("report").dialed += 1;
            if let Err(e) = cx.socket.apply(&stream) {
                cx.tracer.error("sockopt", e);
            }
            Session::open(stream, &cx.login).await
        }
        Err(e) => {
            cx.tracer.emit(TraceKind::DialError {
                remote: cx.target,
                error: e.to_string(),
            });
            Err(format!("dialing {}: {e}", cx.target))
        }
    }
}
