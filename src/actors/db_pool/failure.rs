//! Why a query failed, as database/sql sorts it: the connection is bad (the driver's
//! `driver.ErrBadConn`, after which the pool retries on another) or only the query was refused
//! (an SQL error, after which the connection goes back to the pool). Its own file because both
//! the session and each hand-written protocol say it.

/// Why a query failed.
pub(super) enum Failure {
    /// The connection is unusable (closed, reset, or the protocol broke): try another.
    BadConn(String),
    /// The server refused the query; the connection is fine.
    Query(String),
}
