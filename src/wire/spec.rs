//! How a lab describes its link, as written in the lab file's `[link]` table.

use std::num::NonZeroU64;

use connlab_core::link::{Middlebox, OnExpired};
use serde::{Deserialize, Serialize};

use super::inject::InjectRst;
use super::Direction;
use connlab_core::link::DirectionModel;

/// The `[link]` table: impairments for both directions, optional per-direction overrides, and
/// partition windows.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Seed of the fault injector: the same seed gives the same drops and jitter.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// One-way delay in milliseconds, each direction.
    #[serde(default)]
    pub delay_ms: f64,
    /// Uniform extra delay in [0, jitter_ms) per frame; frames may reorder, as on a real path.
    #[serde(default)]
    pub jitter_ms: f64,
    /// Share of frames dropped at random, in percent.
    #[serde(default)]
    pub loss_pct: f64,
    /// Overrides for frames travelling client → server.
    #[serde(default)]
    pub to_server: Option<DirectionOverride>,
    /// Overrides for frames travelling server → client.
    #[serde(default)]
    pub to_client: Option<DirectionOverride>,
    /// Windows during which every frame (of one direction or both) is dropped.
    #[serde(default)]
    pub partition: Vec<Partition>,
    /// Forged resets the wire sends into chosen connections (`[[link.inject_rst]]`).
    #[serde(default)]
    pub inject_rst: Vec<InjectRst>,
    /// A stateful middlebox that forgets idle flows (`[link.middlebox]`).
    #[serde(default)]
    pub middlebox: Option<MiddleboxSpec>,
}

/// `[link.middlebox]`: a load balancer or NAT gateway on the path, forgetting idle flows.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MiddleboxSpec {
    /// A flow unseen for this long is forgotten, ms (AWS NLB and NAT gateway: 350 s; ALB:
    /// 60 s; Azure: 240 s; labs scale it down to seconds).
    pub idle_timeout_ms: NonZeroU64,
    /// What a segment of a forgotten flow gets: "rst" (an RST back to its sender, as AWS does)
    /// or "drop" (nothing, as Azure does).
    #[serde(default)]
    pub on_expired: OnExpiredSpec,
}

/// `on_expired`, as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExpiredSpec {
    /// Answer with an RST to the sender.
    #[default]
    Rst,
    /// Drop silently.
    Drop,
}

impl MiddleboxSpec {
    /// The core's flow table for this spec.
    pub fn table(&self) -> Middlebox {
        let on_expired = match self.on_expired {
            OnExpiredSpec::Rst => OnExpired::Rst,
            OnExpiredSpec::Drop => OnExpired::Drop,
        };
        Middlebox::new(
            self.idle_timeout_ms.get().saturating_mul(1_000_000),
            on_expired,
        )
    }
}

fn default_seed() -> u64 {
    1
}

/// Per-direction values that replace the shared ones.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionOverride {
    /// One-way delay in milliseconds.
    pub delay_ms: Option<f64>,
    /// Jitter in milliseconds.
    pub jitter_ms: Option<f64>,
    /// Loss in percent.
    pub loss_pct: Option<f64>,
}

/// A time window, relative to the start of the lab, during which the link drops everything.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// Start, in ms after the lab started.
    pub from_ms: u64,
    /// End (exclusive), in ms after the lab started.
    pub to_ms: u64,
    /// Which way is cut: "both" (default), "to_server" or "to_client".
    #[serde(default)]
    pub direction: PartitionDirection,
}

/// Which direction a partition cuts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionDirection {
    /// Both directions.
    #[default]
    Both,
    /// Only frames going to the server.
    ToServer,
    /// Only frames going to the client.
    ToClient,
}

impl LinkSpec {
    /// The model for frames travelling in `dir`, seeded differently per direction.
    pub fn model(&self, dir: Direction) -> DirectionModel {
        let over = match dir {
            Direction::ToServer => self.to_server.as_ref(),
            Direction::ToClient => self.to_client.as_ref(),
        };
        let pick = |shared: f64, o: Option<f64>| o.unwrap_or(shared);
        let delay = pick(self.delay_ms, over.and_then(|o| o.delay_ms));
        let jitter = pick(self.jitter_ms, over.and_then(|o| o.jitter_ms));
        let loss = pick(self.loss_pct, over.and_then(|o| o.loss_pct));
        let windows = self
            .partition
            .iter()
            .filter(|p| match p.direction {
                PartitionDirection::Both => true,
                PartitionDirection::ToServer => dir == Direction::ToServer,
                PartitionDirection::ToClient => dir == Direction::ToClient,
            })
            .map(|p| (p.from_ms * 1_000_000, p.to_ms * 1_000_000))
            .collect();
        let seed = self.seed.wrapping_mul(2).wrapping_add(dir as u64);
        DirectionModel::new(
            ms_to_ns(delay),
            ms_to_ns(jitter),
            loss / 100.0,
            windows,
            seed,
        )
    }

    /// True when the link forwards everything at once: no model work per frame.
    pub fn is_transparent(&self) -> bool {
        self.inject_rst.is_empty() && self.middlebox.is_none() && self.is_unimpaired()
    }

    /// True when no frame is delayed or dropped (injection aside).
    pub fn is_unimpaired(&self) -> bool {
        self.delay_ms == 0.0
            && self.jitter_ms == 0.0
            && self.loss_pct == 0.0
            && self.to_server.is_none()
            && self.to_client.is_none()
            && self.partition.is_empty()
    }

    /// One line for the summary header, e.g. `delay 5 ms, loss 1 %, 1 partition`.
    pub fn describe(&self) -> String {
        if self.is_transparent() {
            return "transparent".to_owned();
        }
        let mut parts = Vec::new();
        if self.delay_ms > 0.0 {
            parts.push(format!("delay {} ms", self.delay_ms));
        }
        if self.jitter_ms > 0.0 {
            parts.push(format!("jitter {} ms", self.jitter_ms));
        }
        if self.loss_pct > 0.0 {
            parts.push(format!("loss {} %", self.loss_pct));
        }
        if self.to_server.is_some() || self.to_client.is_some() {
            parts.push("per-direction overrides".to_owned());
        }
        if let Some(m) = &self.middlebox {
            let action = match m.on_expired {
                OnExpiredSpec::Rst => "resets",
                OnExpiredSpec::Drop => "drops",
            };
            parts.push(format!(
                "a middlebox forgets flows idle {} ms and {action} them",
                m.idle_timeout_ms
            ));
        }
        for r in &self.inject_rst {
            parts.push(format!("RST into conn {} at {} ms", r.conn, r.at_ms));
        }
        for p in &self.partition {
            let direction = match p.direction {
                PartitionDirection::Both => "both ways",
                PartitionDirection::ToServer => "to the server",
                PartitionDirection::ToClient => "to the client",
            };
            parts.push(format!(
                "partition {direction} {}-{} ms",
                p.from_ms, p.to_ms
            ));
        }
        parts.join(", ")
    }
}

fn ms_to_ns(ms: f64) -> u64 {
    (ms.max(0.0) * 1_000_000.0) as u64
}
