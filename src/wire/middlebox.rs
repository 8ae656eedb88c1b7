//! The middlebox on the wire: each frame is shown to the core's flow table
//! (`connlab_core::link::Middlebox`) before the link model; a segment of a forgotten flow is not
//! forwarded, and with `on_expired = "rst"` the RST the table names is built here and sent back
//! toward the segment's sender, as a load balancer or NAT gateway would.

use std::sync::Mutex;

use connlab_core::analyze::{decode, LinkType};
use connlab_core::link::{Action, Middlebox};

use super::inject::rst_frame;

/// What the middlebox did to a frame it stopped.
pub struct Stopped {
    /// The first frame since its flow was forgotten.
    pub forgot_now: bool,
    /// The RST to send back toward the frame's sender, as an Ethernet frame.
    pub reset: Option<Vec<u8>>,
}

/// Shows `frame` (seen at `t_ns`) to the middlebox: None when it may pass.
pub fn screen(middlebox: &Mutex<Middlebox>, t_ns: u64, frame: &[u8]) -> Option<Stopped> {
    let seg = decode(LinkType::Ethernet, frame).ok().flatten()?;
    let action = middlebox.lock().ok()?.decide(t_ns, &seg);
    let Action::Expired { forgot_now, reset } = action else {
        return None;
    };
    // Back toward the sender: from the frame's destination MAC to its source MAC.
    let reset = reset.and_then(|r| {
        let dst_mac: [u8; 6] = frame.get(0..6)?.try_into().ok()?;
        let src_mac: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
        rst_frame(dst_mac, src_mac, r.from, r.to, r.seq)
    });
    Some(Stopped { forgot_now, reset })
}
