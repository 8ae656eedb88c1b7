//! Connection-lifecycle analysis of captured frames.
//!
//! Pure and streaming, in the style of smoltcp/quinn-proto: no I/O, no clock,
//! no threads. The caller passes each frame with its capture time to
//! [`Analyzer`], which decodes it ([`decode`]), follows every TCP connection
//! through handshake, HTTP requests/responses, keepalive, retransmits and
//! close, and appends [`Event`]s. [`Summary`] folds those events into totals.

mod close;
mod conn;
mod defrag;
#[cfg(test)]
mod defrag_tests;
#[cfg(test)]
mod edge_tests;
mod event;
mod frame;
mod h2_event;
mod index;
pub(crate) mod proto;
mod reassembly;
mod stack;
mod stream;
mod summary;
mod tls_event;
mod tracker;
mod vocabulary;

pub use defrag::{Datagram, Defragmenter, FragmentSummary};
pub use event::{Closing, Event, EventKind, Exchange, RstSender, Side, TimeWaitHolder, Words};
pub use frame::{
    datagram_segment, decode, decode_cut, fragment, DecodeError, Fragment, LinkType, Segment,
    TcpFlags,
};
pub use h2_event::{H2Code, Http2Event};
pub use proto::http2::summary::{GoAways, Http2Summary, StreamsPerConnection};
pub(crate) use proto::registry::KNOBS as PROTOCOL_KNOBS;
pub use proto::registry::SECTIONS as PROTOCOL_SECTIONS;
pub use proto::tls::ahead::{Ahead, KeyNote, Opened, OpenedRecords};
pub use proto::tls::keys::KeyLog;
pub use proto::tls::summary::{Alerts, HandshakeMs, TlsSummary};
pub use stack::{Clue, Stack};
pub use summary::{RstBy, Summary, WebSocketSummary};
pub use tls_event::TlsEvent;
pub use tracker::{Analyzer, Decoded};
pub use vocabulary::BySide;
