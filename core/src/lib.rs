//! connlab's pure core: everything that turns frames into connection lifecycles and decides
//! what a link does to a frame, with no networking, no files, no threads and no clock.
//!
//! Time only enters as the `t_ns` a caller passes in (the quinn-proto and smoltcp habit), so a
//! live run, a replayed capture and a unit test with built frames give the same events. The
//! crate has no tokio, nix or libc dependency: that promise is kept by the compiler, not by a
//! comment.
//!
//! - [`analyze`]: frame → TCP segment → per-connection state machine → events → summary.
//! - [`diagnose`]: events → findings (cause, evidence, knob), endpoints, distributions.
//! - [`link`]: the wire's link model (delay, jitter, loss, partitions), seeded.
//! - [`timeline`]: the timeline model both the terminal view and the HTML report draw.
//! - `testframes` (feature): frame builders for tests and benches.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod analyze;
pub mod connlog;
pub mod diagnose;
pub mod link;
#[cfg(any(test, feature = "testframes"))]
pub mod testframes;
#[cfg(test)]
mod testtls;
pub mod timeline;
pub mod words;

/// The hash map of every per-connection table: foldhash instead of SipHash, because the tables
/// are looked up once or twice per frame and SipHash was a tenth of `inspect`'s time. Its
/// per-process random seed keeps a crafted capture from forcing collisions.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The set of [`FastMap`].
pub(crate) type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
