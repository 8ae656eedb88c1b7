//! One query through the pool, retried as database/sql retries: while the driver says the
//! connection is bad, up to `MAX_BAD_CONN_RETRIES` attempts take a cached or new
//! connection, then one more takes a new one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::policy::{Pool, Put, Take};
use crate::actors::client_report::ClientReport;
use crate::actors::socket::SocketOptions;
use crate::trace::{TraceKind, Tracer};

/// database/sql's attempts on a cached-or-new connection before the last on a new one.
const MAX_BAD_CONN_RETRIES: u32 = 2;

/// What a waiting query is given when a connection comes free.
pub(super) enum Given {
    /// A connection handed over, dialed at this time (ns since the start).
    Conn(TcpStream, u64),
    /// A slot to dial in (a connection was closed while it waited).
    Dial,
}

/// The pool shared by the queries and the cleaner.
pub(super) type Shared = Arc<Mutex<Pool<TcpStream, oneshot::Sender<Given>>>>;

/// What every query of the client shares.
pub(super) struct Ctx {
    pub pool: Shared,
    pub report: Arc<Mutex<ClientReport>>,
    pub tracer: Tracer,
    pub target: SocketAddr,
    pub start: Instant,
    pub socket: SocketOptions,
    /// The query, as the line written.
    pub line: String,
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
    let (conn, created, reused) = match connection(cx, cached).await {
        Ok(c) => c,
        Err(e) => return Attempt::Failed(e),
    };
    let local = conn.local_addr().unwrap_or(cx.target);
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
    let (conn, result) = ask(conn, &cx.line).await;
    let broken = result.is_err();
    let put = cx
        .pool
        .lock()
        .expect("pool")
        .put(conn, created, cx.now(), broken);
    settle(cx, put, local, broken);
    match result {
        Ok(()) => Attempt::Done,
        Err(e) => Attempt::BadConn(e),
    }
}

/// Where a returned connection went: to a waiter, back to idle, or closed; a close while
/// callers wait lets the longest waiter dial.
fn settle(cx: &Ctx, put: Put<TcpStream, oneshot::Sender<Given>>, local: SocketAddr, broken: bool) {
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

/// A connection for a query: (the stream, when it was dialed, whether it served before).
async fn connection(cx: &Ctx, cached: bool) -> Result<(TcpStream, u64, bool), String> {
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

async fn dial(cx: &Ctx) -> Result<TcpStream, String> {
    cx.tracer.emit(TraceKind::Dial { remote: cx.target });
    match TcpStream::connect(cx.target).await {
        Ok(stream) => {
            cx.report.lock().expect("report").dialed += 1;
            if let Err(e) = cx.socket.apply(&stream) {
                cx.tracer.error("sockopt", e);
            }
            Ok(stream)
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

/// Writes the query and reads its answer line; an error means the connection is bad.
async fn ask(conn: TcpStream, line: &str) -> (TcpStream, Result<(), String>) {
    let mut reader = BufReader::new(conn);
    let result = async {
        reader.get_mut().write_all(line.as_bytes()).await?;
        let mut answer = String::new();
        match reader.read_line(&mut answer).await? {
            0 => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )),
            _ => Ok(()),
        }
    }
    .await
    .map_err(|e| e.to_string());
    (reader.into_inner(), result)
}
