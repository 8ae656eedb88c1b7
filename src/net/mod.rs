//! Network plumbing for a lab: namespaces, the veth links that join them, sysctls, NIC
//! offloads, cleanup, and the kernel's own view of socket states.
//!
//! Everything here touches the real kernel and needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), or
//! connlab's own user namespace ([`userns`]) when run without root.

pub mod clean;
pub mod ethtool;
pub mod kernel_truth;
pub mod link;
pub mod memory;
pub mod netns;
pub mod netns_dir;
pub mod softnet;
pub mod sysctl;
pub mod topology;
pub mod userns;
