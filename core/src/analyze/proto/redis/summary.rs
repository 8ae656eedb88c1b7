//! Redis totals over a capture (`"redis"` in the summary), folded from the redis events like
//! every summary, so the live view and a later read agree by construction.

use serde::Serialize;

use super::event::RedisEvent;
use crate::analyze::event::{Event, EventKind};
use crate::analyze::vocabulary::ByName;
use crate::words::plural;
use crate::FastSet;

/// Commands: how many, and by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Commands {
    /// Every command the clients sent.
    pub total: u64,
    /// By name (`GET`, `SET`, `CLIENT`, ...).
    pub by_name: ByName,
}

/// Redis totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RedisSummary {
    /// Connections that spoke RESP.
    pub connections: u64,
    /// The clients' commands.
    pub commands: Commands,
    /// Replies that answered a command.
    pub replies: u64,
    /// Error replies by their first word (`ERR`, `WRONGTYPE`, `NOAUTH`, ...).
    pub errors: ByName,
    /// The most commands sent and not yet answered on one connection (1: no pipelining).
    pub deepest_pipeline: u32,
    /// Connections that subscribed (`SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`).
    pub subscribers: u64,
    /// Messages pushed to subscribers (and RESP3 pushes).
    pub pushes: u64,
    /// Connections that chose RESP3 (`HELLO 3`).
    pub resp3_connections: u64,
    /// Byte runs that break RESP.
    pub protocol_errors: u64,
    /// Directions whose framing was lost to a gap in the capture.
    pub lost_sync: u64,
    /// Open connections already counted (and, with the high bit, as subscribers).
    #[serde(skip)]
    seen: FastSet<u64>,
}

/// The mark of a connection counted as a subscriber in `seen`.
const SUBSCRIBER: u64 = 1 << 63;

impl RedisSummary {
    /// The section in words, for the text summary (None where no Redis was seen): commands,
    /// the busiest names first, the deepest pipeline, errors by prefix, subscribers.
    pub fn text(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut text = format!(
            "redis: {} on {} ({}), deepest pipeline {}, errors {}, subscribers {}",
            plural(self.commands.total, "command", "commands"),
            plural(self.connections, "connection", "connections"),
            self.commands.by_name.busiest(6),
            self.deepest_pipeline,
            self.errors.listed(),
            self.subscribers,
        );
        if self.protocol_errors + self.lost_sync > 0 {
            text.push_str(&format!(
                "; {} protocol errors, {} directions lost to capture gaps",
                self.protocol_errors, self.lost_sync
            ));
        }
        Some(text)
    }

    /// Whether the capture held no Redis at all (the section is then left out).
    pub fn is_empty(&self) -> bool {
        self.connections == 0
    }

    /// Folds a connection's `Closed` event: nothing to do (and no call) where no Redis
    /// connection is open, as in a capture without Redis.
    #[inline]
    pub fn close(&mut self, event: &Event) {
        if !self.seen.is_empty() {
            self.apply(event);
        }
    }

    /// Folds one event (the redis events, and `Closed` to forget a connection).
    pub fn apply(&mut self, event: &Event) {
        let r = match &event.kind {
            EventKind::Redis(r) => r,
            // Every connection's close comes here: a capture without Redis pays no lookup.
            EventKind::Closed { .. } if self.seen.is_empty() => return,
            EventKind::Closed { .. } => {
                if self.seen.remove(&event.conn) {
                    self.seen.remove(&(event.conn | SUBSCRIBER));
                }
                return;
            }
            _ => return,
        };
        if self.seen.insert(event.conn) {
            self.connections += 1;
        }
        match r {
            RedisEvent::Command { name, depth, .. } => {
                self.commands.total += 1;
                self.commands.by_name.add(name);
                self.deepest_pipeline = self.deepest_pipeline.max(*depth);
                let subscribes = matches!(name.as_str(), "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE");
                if subscribes && self.seen.insert(event.conn | SUBSCRIBER) {
                    self.subscribers += 1;
                }
            }
            RedisEvent::Reply { n, error, .. } => {
                self.replies += u64::from(*n > 0);
                if let Some(prefix) = error {
                    self.errors.add(prefix);
                }
            }
            RedisEvent::Push { .. } => self.pushes += 1,
            RedisEvent::Hello { protocol: 3 } => self.resp3_connections += 1,
            RedisEvent::Hello { .. } | RedisEvent::Client { .. } => {}
            RedisEvent::ProtocolError { .. } => self.protocol_errors += 1,
            RedisEvent::LostSync { .. } => self.lost_sync += 1,
        }
    }
}
