//! Where each tracked connection sits, by its unordered 4-tuple.
//!
//! Looked up for every frame, so an IPv4 pair (nearly every capture's) is packed into two
//! words: a 24-byte entry, compared in two instructions, instead of two 32-byte
//! `SocketAddr`s. Other pairs (IPv6, or mixed) have a table of their own.

use std::net::{SocketAddr, SocketAddrV4};

use crate::FastMap;

use super::frame::Segment;

/// A connection's 4-tuple, the same for both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// Two IPv4 ends, each packed as address << 16 | port, the lower first.
    V4(u64, u64),
    /// Any other pair, the lower first.
    Other(SocketAddr, SocketAddr),
}

impl Key {
    /// The key of the connection `seg` belongs to.
    pub fn of(seg: &Segment) -> Key {
        Key::of_pair(seg.src, seg.dst)
    }

    /// The key of the connection between `a` and `b`.
    pub fn of_pair(a: SocketAddr, b: SocketAddr) -> Key {
        let packed = |s: SocketAddrV4| u64::from(s.ip().to_bits()) << 16 | u64::from(s.port());
        match (a, b) {
            (SocketAddr::V4(a), SocketAddr::V4(b)) => {
                let (a, b) = (packed(a), packed(b));
                Key::V4(a.min(b), a.max(b))
            }
            (a, b) => Key::Other(a.min(b), a.max(b)),
        }
    }
}

/// Connection slots by key.
#[derive(Debug, Default)]
pub(super) struct Index {
    v4: FastMap<(u64, u64), u32>,
    other: FastMap<(SocketAddr, SocketAddr), u32>,
}

impl Index {
    /// The slot of the connection with this key, if one is tracked.
    pub fn get(&self, key: &Key) -> Option<u32> {
        match *key {
            Key::V4(a, b) => self.v4.get(&(a, b)).copied(),
            Key::Other(a, b) => self.other.get(&(a, b)).copied(),
        }
    }

    /// Tracks the connection with this key in `slot`.
    pub fn insert(&mut self, key: Key, slot: u32) {
        match key {
            Key::V4(a, b) => self.v4.insert((a, b), slot),
            Key::Other(a, b) => self.other.insert((a, b), slot),
        };
    }

    /// How many connections are tracked.
    pub fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }

    /// The slots of every tracked connection.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.v4.values().chain(self.other.values()).copied()
    }

    /// Keeps the connections whose slot `keep` says to keep.
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.v4.retain(|_, slot| keep(*slot));
        self.other.retain(|_, slot| keep(*slot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::frame::TcpFlags;

    fn seg(src: &str, dst: &str) -> Segment<'static> {
        Segment {
            src: src.parse().expect("addr"),
            dst: dst.parse().expect("addr"),
            seq: 0,
            ack: 0,
            flags: TcpFlags::default(),
            window: 0,
            payload: b"",
            len: 0,
            headers: 40,
        }
    }

    #[test]
    fn both_directions_share_a_key_and_other_tuples_do_not() {
        let there = Key::of(&seg("10.0.0.1:40000", "10.0.0.2:80"));
        assert_eq!(there, Key::of(&seg("10.0.0.2:80", "10.0.0.1:40000")));
        assert!(matches!(there, Key::V4(..)));
        let v6 = Key::of(&seg("[fd00::1]:40000", "[fd00::2]:80"));
        assert_eq!(v6, Key::of(&seg("[fd00::2]:80", "[fd00::1]:40000")));
        assert!(matches!(v6, Key::Other(..)));
        let others = [
            seg("10.0.0.1:40001", "10.0.0.2:80"),
            seg("10.0.0.1:40000", "10.0.0.2:81"),
            seg("10.0.0.3:40000", "10.0.0.2:80"),
            // Address and port must not blur into each other when packed.
            seg("10.0.0.1:80", "10.0.0.2:40000"),
        ];
        for other in &others {
            assert_ne!(Key::of(other), there, "{other:?}");
        }
    }

    #[test]
    fn slots_are_found_kept_and_dropped_per_family() {
        let mut index = Index::default();
        let (a, b) = (
            Key::of(&seg("10.0.0.1:40000", "10.0.0.2:80")),
            Key::of(&seg("[fd00::1]:40000", "[fd00::2]:80")),
        );
        index.insert(a, 7);
        index.insert(b, 9);
        assert_eq!(
            (index.get(&a), index.get(&b), index.len()),
            (Some(7), Some(9), 2)
        );
        let mut slots: Vec<u32> = index.slots().collect();
        slots.sort();
        assert_eq!(slots, [7, 9]);
        index.retain(|slot| slot == 9);
        assert_eq!(
            (index.get(&a), index.get(&b), index.len()),
            (None, Some(9), 1)
        );
    }
}
