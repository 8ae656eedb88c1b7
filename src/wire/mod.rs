//! The wire: a userspace forwarder between the client side and the server side.
//!
//! Every frame between the two sides is read from one veth with AF_PACKET and written to the
//! other. That makes the wire the capture point (each frame is seen exactly once, with a kernel
//! timestamp) and the link model (delay, jitter, loss, partitions) in one place, without
//! sch_netem, which many kernels and containers lack. The decisions are pure and live in
//! `connlab_core::link`; this module is the I/O around them.

pub mod direction;
pub mod forwarder;
pub mod inject;
pub mod middlebox;
pub mod packet_socket;
pub mod pressure;
pub mod queues;
pub mod ring;
pub mod spec;

pub use direction::Direction;
pub use forwarder::{
    CaptureLimits, CapturedFrame, Forger, Ports, TapBudget, Wire, WireStats, DROPPED_NOTE,
    FORGED_NOTE, MIDDLEBOX_RST_NOTE, WIRE_LOSS_NOTE,
};
pub use spec::LinkSpec;
