//! The node's status report (`knack status`, `GET /v1/status`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything a test, the testnet or a user needs to see how a node is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// The libp2p peer id.
    pub peer_id: String,
    /// The agent id (hex ed25519 public key).
    pub agent_id: String,
    /// Addresses the swarm listens on.
    pub listen_addrs: Vec<String>,
    /// The HTTP API address.
    pub api: Option<String>,
    /// Connected peers.
    pub peers: Vec<String>,
    /// One entry per joined space.
    pub spaces: Vec<SpaceStatus>,
    /// Bytes the store uses on disk.
    pub store_bytes: u64,
    /// The content tier.
    pub content: ContentStatus,
}

/// The state of one space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceStatus {
    /// The space's name.
    pub name: String,
    /// The state digest (hex): equal on converged replicas.
    pub digest: String,
    /// Ops held (sum of the version vector).
    pub ops: u64,
    /// Procedures known.
    pub procedures: usize,
    /// Author (hex agent id) -> highest contiguous sequence number held.
    pub version_vector: BTreeMap<String, u64>,
    /// Ops received out of order, waiting for a gap to fill.
    pub buffered_ops: usize,
}

/// The content tier's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentStatus {
    /// Where bodies are read from.
    pub mode: String,
    /// The IPFS endpoint, if configured.
    pub ipfs: Option<String>,
}

/// A connected peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// The peer id.
    pub peer_id: String,
    /// Its known addresses.
    pub addrs: Vec<String>,
}
