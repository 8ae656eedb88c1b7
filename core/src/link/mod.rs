//! The link model: a pure decision per frame (drop, or deliver after a hold time), seeded so a
//! lab's faults are reproducible. The wire's I/O loop wraps it, the way smoltcp's fault
//! injector wraps a device.

mod middlebox;
mod model;
mod rng;

pub use middlebox::{Action, ForgedRst, Middlebox, MiddleboxStats, OnExpired};
pub use model::{DirectionModel, DropCause, Verdict};
pub use rng::SplitMix64;
