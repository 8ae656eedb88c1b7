//! Which way a frame travels on the wire: the one word the forwarder, the link's spec and the
//! injected resets all speak, so it sits apart from each of them.

use serde::Serialize;

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Sent by the client side.
    ToServer = 0,
    /// Sent by the server side.
    ToClient = 1,
}

impl Direction {
    /// The way back.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}
