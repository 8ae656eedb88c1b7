//! connlab: a packet-level lab for TCP connection lifecycles.
//!
//! The path of a frame reads off the module names: `net` builds the namespaces and links,
//! `wire` forwards and impairs frames, `capture` records them, `analyze` (pure) turns them into
//! connection lifecycle events, `lab` runs labs and checks their expectations, `actors` are the
//! HTTP servers and pooled clients inside the namespaces.

pub mod actors;
pub mod analyze;
pub mod capture;
pub mod inspect;
pub mod lab;
pub mod net;
pub mod tui;
pub mod wire;
