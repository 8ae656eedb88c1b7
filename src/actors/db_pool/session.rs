//! A pooled connection: the socket the pool dialed and the protocol's session over it. The
//! pool's policy never looks inside; a query only asks it for an answer and learns whether a
//! failure left the connection bad (database/sql's `driver.ErrBadConn`, which retries) or
//! only the query (an SQL error, after which the connection goes back to the pool).

use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::failure::Failure;
use super::mysql::MySql;

/// The wire protocol of the queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DbProtocol {
    /// A line per query, a line per answer (`[tcp_server]` echoes).
    #[default]
    Line,
    /// PostgreSQL's protocol (tokio-postgres): a startup per connection, then each query as a
    /// simple Query; Terminate when the pool closes the connection.
    Postgres,
    /// MySQL's protocol (MariaDB's too), by a client of connlab's own ([`super::mysql`]): a
    /// login per connection, then each query as a COM_QUERY; COM_QUIT when the pool closes
    /// the connection.
    Mysql,
}

/// The driver's settings a session is opened with.
#[derive(Debug, Clone)]
pub(super) struct Login {
    pub protocol: DbProtocol,
    /// The user the session logs in as.
    pub user: String,
    /// The database it opens, where one is named.
    pub database: Option<String>,
}

/// One connection of the pool.
pub(super) struct Session {
    local: SocketAddr,
    talk: Talk,
}

enum Talk {
    /// A line out, a line back.
    Line(BufReader<TcpStream>),
    /// tokio-postgres's client, whose connection runs as a task of its own, and the same
    /// socket, to close it as lib/pq's Close does (see [`Session`]'s `Drop`).
    Postgres(tokio_postgres::Client, std::net::TcpStream),
    /// connlab's own MySQL client, which ends its session itself when dropped.
    Mysql(MySql),
}

/// PostgreSQL's Terminate message: 'X' and its length, 4.
const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

impl Session {
    /// Opens the protocol's session on a dialed stream: PostgreSQL's startup or MySQL's login,
    /// nothing for lines.
    pub async fn open(stream: TcpStream, login: &Login) -> Result<Session, String> {
        let local = stream.local_addr().map_err(|e| e.to_string())?;
        let talk = match login.protocol {
            DbProtocol::Line => Talk::Line(BufReader::new(stream)),
            DbProtocol::Postgres => {
                let socket = stream
                    .as_fd()
                    .try_clone_to_owned()
                    .map(std::net::TcpStream::from)
                    .map_err(|e| e.to_string())?;
                let mut config = tokio_postgres::Config::new();
                config.user(&login.user);
                if let Some(database) = &login.database {
                    config.dbname(database);
                }
                let (client, connection) = config
                    .connect_raw(stream, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| format!("PostgreSQL startup: {e}"))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Talk::Postgres(client, socket)
            }
            DbProtocol::Mysql => {
                Talk::Mysql(MySql::open(stream, &login.user, login.database.as_deref()).await?)
            }
        };
        Ok(Session { local, talk })
    }

    /// The connection's own address, which names it in the trace.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Sends the query and waits for its whole answer.
    pub async fn ask(&mut self, query: &str) -> Result<(), Failure> {
        match &mut self.talk {
            Talk::Line(reader) => ask_line(reader, query)
                .await
                .map_err(|e| Failure::BadConn(e.to_string())),
            Talk::Postgres(client, _) => match client.simple_query(query).await {
                Ok(_) => Ok(()),
                Err(e) if refused_only(&e) && !client.is_closed() => {
                    Err(Failure::Query(e.to_string()))
                }
                Err(e) => Err(Failure::BadConn(e.to_string())),
            },
            Talk::Mysql(session) => session.query(query).await,
        }
    }
}

impl Drop for Session {
    /// Ends a PostgreSQL session at once, as lib/pq's Close does: Terminate, then the client's
    /// FIN. Left to tokio-postgres's task (which sends its own Terminate when the client is
    /// dropped), the FIN came milliseconds after Terminate in a burst of closes, and the
    /// server's backend, exiting on Terminate, sometimes closed first and took the TIME_WAIT.
    /// Two syscalls apart the same race remains on a busy machine, so the socket is corked:
    /// Terminate and the FIN leave in one segment. The task's own Terminate then meets a shut
    /// socket and is never sent.
    fn drop(&mut self) {
        if let Talk::Postgres(_, socket) = &mut self.talk {
            // The socket is idle in the pool (nothing in flight), so 5 bytes fit at once; on
            // a connection already broken these fail, and there is nothing left to end.
            let _ = socket2::SockRef::from(&*socket).set_cork(true);
            let _ = socket.write_all(&TERMINATE);
            let _ = socket.shutdown(Shutdown::Write);
        }
    }
}

/// The server answered the query with an error that leaves the session open: an ERROR, not
/// a FATAL (PostgreSQL's idle_session_timeout says FATAL and closes) nor a broken socket.
fn refused_only(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| !matches!(db.severity(), "FATAL" | "PANIC"))
}

/// Writes the query as one line and reads the answer line.
async fn ask_line(reader: &mut BufReader<TcpStream>, query: &str) -> std::io::Result<()> {
    let line = format!("{}\n", query.replace('\n', " "));
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
