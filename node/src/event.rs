//! Change events a node publishes to subscribers (`knack tail`, `GET /v1/events`).

use serde::{Deserialize, Serialize};

/// Something that changed in a space or in the mesh.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Ops were applied to a space (own or a peer's).
    Applied {
        /// The space.
        space: String,
        /// The author (hex agent id).
        author: String,
        /// First sequence number applied.
        first_seq: u64,
        /// Last sequence number applied.
        last_seq: u64,
        /// Procedures the ops touched (hex ids).
        procedures: Vec<String>,
        /// Whether this node authored the ops.
        local: bool,
        /// When the ops were written (author's wall clock, ms).
        written_ms: u64,
        /// When this node applied them (ms).
        applied_ms: u64,
    },
    /// A peer connected.
    PeerConnected {
        /// The peer id.
        peer: String,
    },
    /// A peer disconnected.
    PeerDisconnected {
        /// The peer id.
        peer: String,
    },
    /// The subscriber fell behind and missed events.
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
}
