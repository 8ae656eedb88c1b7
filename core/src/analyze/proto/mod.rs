//! Protocol layers: what a connection's ordered byte streams say, above TCP.
//!
//! Each protocol is one module that reads both directions of a connection as ordered pieces
//! (bytes the capture holds, and gaps it does not: see `reassembly`) and emits events. They
//! all plug in through one interface, [`layer::Layer`]: HTTP/1.1, WebSocket after an upgrade,
//! and whatever comes next. A layer may hand the rest of the stream to another protocol
//! ([`layer::Next`]): HTTP/1.1 does so after a `101 Switching Protocols`. The registry says
//! which protocol reads a connection; the connection keeps one [`Proto`] and never knows which
//! protocol it is.

pub(crate) mod bursts;
pub(crate) mod http1;
pub(crate) mod http2;
mod layer;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod redis;
pub(crate) mod registry;
pub(crate) mod tls;
pub(crate) mod websocket;

pub(crate) use layer::{Cx, Secrets};
pub(crate) use registry::Proto;
