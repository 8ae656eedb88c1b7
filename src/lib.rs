//! connlab: a packet-level lab for TCP connection lifecycles.
//!
//! The path of a frame reads off the module names: `net` builds the namespaces and links,
//! `wire` forwards and impairs frames, `capture` records them and hands them to its sinks,
//! `connlab_core` (the pure core, its own crate) turns them into connection lifecycle events,
//! `lab` runs labs and checks their expectations, `actors` are the servers and clients inside
//! the namespaces (HTTP, raw TCP, WebSocket, external programs), `inspect` analyses capture
//! files, and `tui` draws the terminal timeline. `clock`, `paths` and `trace` are the small
//! pieces several layers share, so no layer reaches up into another.

#![warn(missing_docs)]

pub mod actors;
pub mod capture;
pub mod child_run;
pub mod clock;
pub mod inspect;
pub mod lab;
pub mod net;
pub mod paths;
pub mod report;
pub mod suite;
pub mod summary_text;
pub mod sweep;
pub mod trace;
pub mod tui;
pub mod wire;
