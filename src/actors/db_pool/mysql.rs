//! A MySQL client session written by hand, for `protocol = "mysql"`: enough of the client/server
//! protocol (which MariaDB speaks too) for a pool's story against the real server. The crate
//! mysql_async was tried and taken out again: it brought about 40 crates and some 5 minutes to
//! CI's debug build, which must stay under its time limit, for a client that only logs in and
//! runs one text query at a time.
//!
//! What it does, as go-sql-driver/mysql does it: reads the server's greeting (HandshakeV10),
//! answers with HandshakeResponse41 (protocol 4.1, plugin authentication, connection attributes
//! naming it `_client_name=connlab`) as `user` with an empty password, whose answer is empty
//! for mysql_native_password and for an AuthSwitchRequest to any plugin (the labs run mariadbd
//! with `--skip-grant-tables`, so any user logs in; a password would need SHA-1, and no knob
//! asks for one). Then each query is a COM_QUERY read to the end of its answer: an OK, an ERR,
//! or result sets (column count, definitions, the EOF between unless CLIENT_DEPRECATE_EOF was
//! agreed, rows, the closing EOF or OK, again while it says more results follow). The pool
//! closes a connection with COM_QUIT and its FIN in one segment (see [`MySql`]'s `Drop`).

use std::net::Shutdown;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::failure::Failure;
use super::mysql_wire::{self as wire, Packet};

const LONG_PASSWORD: u32 = 0x1;
const CONNECT_WITH_DB: u32 = 0x8;
const PROTOCOL_41: u32 = 0x200;
const TRANSACTIONS: u32 = 0x2000;
const SECURE_CONNECTION: u32 = 0x8000;
const MULTI_RESULTS: u32 = 1 << 17;
const PLUGIN_AUTH: u32 = 1 << 19;
const CONNECT_ATTRS: u32 = 1 << 20;
const DEPRECATE_EOF: u32 = 1 << 24;
/// What the client asks for, of what the server offers.
const WANTED: u32 = LONG_PASSWORD
    | PROTOCOL_41
    | TRANSACTIONS
    | SECURE_CONNECTION
    | MULTI_RESULTS
    | PLUGIN_AUTH
    | CONNECT_ATTRS
    | DEPRECATE_EOF;
/// The login's largest packet (go-sql-driver's too).
const MAX_PACKET: u32 = 16 << 20;
/// utf8mb4_general_ci.
const UTF8MB4: u8 = 45;
const COM_QUERY: u8 = 0x03;
/// COM_QUIT with its header: length 1, sequence 0.
const COM_QUIT: [u8; 5] = [1, 0, 0, 0, 0x01];
/// The status flag that says another result set follows.
const MORE_RESULTS: u16 = 0x8;
/// Errors after which the server closes the session, so the connection is bad (database/sql
/// retries the query on another), not just the query refused: MySQL 8.0.24's idle-session
/// 4031 (ER_CLIENT_INTERACTION_TIMEOUT), and 1053 (ER_SERVER_SHUTDOWN).
const CLOSING: [u16; 2] = [4031, 1053];
/// Authentication exchanges before the client gives up on a server that keeps asking.
const AUTH_ROUNDS: usize = 3;

/// One logged-in session.
pub(super) struct MySql {
    stream: BufReader<TcpStream>,
    /// The capabilities both sides agreed.
    caps: u32,
}

impl MySql {
    /// Logs in on a dialed stream as `user`, into `database` where one is named.
    pub async fn open(
        stream: TcpStream,
        user: &str,
        database: Option<&str>,
    ) -> Result<MySql, String> {
        let mut stream = BufReader::new(stream);
        let hello = wire::read(&mut stream)
            .await
            .map_err(|e| format!("MySQL greeting: {e}"))?;
        let offered = wire::greeting_caps(&hello.body)?;
        if offered & PROTOCOL_41 == 0 {
            return Err("the MySQL server does not speak protocol 4.1".to_owned());
        }
        let mut caps = WANTED & offered;
        if database.is_some() {
            caps |= CONNECT_WITH_DB & offered;
        }
        let mut session = MySql { stream, caps };
        let login = handshake_response(caps, user, database);
        session
            .write(hello.seq.wrapping_add(1), &login)
            .await
            .map_err(|e| format!("MySQL login: {e}"))?;
        session.authenticated().await?;
        Ok(session)
    }

    /// Reads the login's answer, answering an AuthSwitchRequest with the empty password's
    /// empty response.
    async fn authenticated(&mut self) -> Result<(), String> {
        for _ in 0..AUTH_ROUNDS {
            let answer = self.read().await.map_err(|e| format!("MySQL login: {e}"))?;
            match answer.body.first() {
                Some(0x00) => return Ok(()),
                Some(0xff) => return Err(format!("MySQL login: {}", wire::err_text(&answer.body))),
                Some(0xfe) => self
                    .write(answer.seq.wrapping_add(1), &[])
                    .await
                    .map_err(|e| format!("MySQL login: {e}"))?,
                _ => break,
            }
        }
        Err("MySQL login: the server asked for more than an empty password".to_owned())
    }

    /// Runs `sql` as a COM_QUERY and reads its whole answer.
    pub async fn query(&mut self, sql: &str) -> Result<(), Failure> {
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(COM_QUERY);
        payload.extend_from_slice(sql.as_bytes());
        self.write(0, &payload).await.map_err(bad)?;
        loop {
            let first = self.read().await.map_err(bad)?;
            let status = match first.body.first() {
                Some(0x00) => wire::ok_status(&first.body),
                Some(0xff) => return Err(refusal(&first.body)),
                _ => self.result_set(&first.body).await?,
            };
            if status & MORE_RESULTS == 0 {
                return Ok(());
            }
        }
    }

    /// Reads a result set after its column count (`first`) to its closing EOF or OK: that
    /// packet's status flags.
    async fn result_set(&mut self, first: &[u8]) -> Result<u16, Failure> {
        let (columns, _) = wire::lenenc(first)
            .ok_or_else(|| Failure::BadConn("MySQL: an answer that is no result set".into()))?;
        for _ in 0..columns {
            self.read().await.map_err(bad)?;
        }
        let deprecate_eof = self.caps & DEPRECATE_EOF != 0;
        if !deprecate_eof {
            let eof = self.read().await.map_err(bad)?;
            if eof.body.first() != Some(&0xfe) {
                return Err(Failure::BadConn(
                    "MySQL: no EOF after the column definitions".into(),
                ));
            }
        }
        loop {
            let row = self.read().await.map_err(bad)?;
            match row.body.first() {
                Some(0xff) => return Err(refusal(&row.body)),
                // A row beginning 0xfe (an 8-byte length) fills a whole packet: a shorter one
                // is the end, an OK where CLIENT_DEPRECATE_EOF was agreed, else an EOF.
                Some(0xfe) if deprecate_eof && row.body.len() < 0xff_ffff => {
                    return Ok(wire::ok_status(&row.body))
                }
                Some(0xfe) if row.body.len() < 9 => return Ok(wire::eof_status(&row.body)),
                _ => {}
            }
        }
    }

    async fn read(&mut self) -> std::io::Result<Packet> {
        wire::read(&mut self.stream).await
    }

    async fn write(&mut self, seq: u8, payload: &[u8]) -> std::io::Result<()> {
        self.stream
            .get_mut()
            .write_all(&wire::frame(seq, payload))
            .await
    }
}

impl Drop for MySql {
    /// Ends the session as go-sql-driver's Close does, COM_QUIT then the client's FIN, corked
    /// into one segment for the reason the PostgreSQL session's Terminate is (`session.rs`): two
    /// syscalls apart, a busy machine let the server, which closes on COM_QUIT, send its FIN
    /// first and take the TIME_WAIT. Written on the socket itself, so it goes out even where
    /// the pool is dropped after the runtime stopped.
    fn drop(&mut self) {
        // The session is idle in the pool (nothing in flight), so 5 bytes fit at once; on a
        // connection already broken these fail, and there is nothing left to end.
        let socket = socket2::SockRef::from(self.stream.get_ref());
        let _ = socket.set_cork(true);
        let _ = socket.send(&COM_QUIT);
        let _ = socket.shutdown(Shutdown::Write);
    }
}

/// HandshakeResponse41 with an empty password's empty auth response.
fn handshake_response(caps: u32, user: &str, database: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&caps.to_le_bytes());
    out.extend_from_slice(&MAX_PACKET.to_le_bytes());
    out.push(UTF8MB4);
    out.extend_from_slice(&[0; 23]);
    put_cstring(&mut out, user);
    // The auth response's length: an empty password answers nothing.
    out.push(0);
    if let (true, Some(db)) = (caps & CONNECT_WITH_DB != 0, database) {
        put_cstring(&mut out, db);
    }
    if caps & PLUGIN_AUTH != 0 {
        put_cstring(&mut out, "mysql_native_password");
    }
    if caps & CONNECT_ATTRS != 0 {
        let mut attrs = Vec::new();
        for (key, value) in [
            ("_client_name", "connlab"),
            ("_client_version", env!("CARGO_PKG_VERSION")),
        ] {
            wire::put_lenenc_str(&mut attrs, key.as_bytes());
            wire::put_lenenc_str(&mut attrs, value.as_bytes());
        }
        wire::put_lenenc_str(&mut out, &attrs);
    }
    out
}

/// Appends `text` NUL-terminated (a NUL inside it would end it early, so none is kept).
fn put_cstring(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().filter(|b| *b != 0));
    out.push(0);
}

/// A broken read or write: the connection is bad.
fn bad(e: std::io::Error) -> Failure {
    Failure::BadConn(format!("MySQL: {e}"))
}

/// An ERR answering a query: the query refused, unless the server closes the session with it.
fn refusal(body: &[u8]) -> Failure {
    let text = wire::err_text(body);
    if CLOSING.contains(&wire::err_code(body)) {
        Failure::BadConn(text)
    } else {
        Failure::Query(text)
    }
}
