//! The node's status report (`knack status`, `GET /v1/status`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything a test, the testnet or a user needs to see how a node is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Semantic search.
    pub search: SearchStatus,
    /// Set when the node runs in a private network (a swarm key): only peers with the same
    /// key can connect, over TCP only.
    #[serde(default)]
    pub private_network: Option<PrivateNetworkStatus>,
}

/// The private network a node runs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrivateNetworkStatus {
    /// The swarm key's fingerprint (hex; the same as go-libp2p's): equal on nodes holding the
    /// same key. The key itself is never shown.
    pub fingerprint: String,
}

/// Semantic search's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchStatus {
    /// The embedder in use.
    pub embedder: String,
    /// Why it is not the configured one, if it is not (a missing or wrong model).
    pub fallback: Option<String>,
    /// Spaces whose search index is still being built after the start (search answers 503
    /// `index_building` for them meanwhile).
    #[serde(default)]
    pub building: Vec<String>,
}

/// The state of one space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Set while this node's log lacks some of its own ops here (lost or corrupted): it does
    /// not write in this space until peers have returned them.
    #[serde(default)]
    pub own_ops_missing: Option<OwnOpsMissing>,
    /// Authors seen signing two different envelopes for one sequence number here: their
    /// later envelopes are refused (never merged).
    #[serde(default)]
    pub forked_authors: Vec<ForkedAuthor>,
}

/// This node's own ops missing from its log in a space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OwnOpsMissing {
    /// The highest own sequence number the log holds.
    pub held: u64,
    /// The highest own sequence number this node wrote (its high-water mark, or what a peer
    /// holds of it).
    pub written: u64,
}

/// An author that signed two different envelopes for one sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForkedAuthor {
    /// The author (hex agent id).
    pub author: String,
    /// The first sequence number seen signed twice.
    pub seq: u64,
}

/// The content tier's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContentStatus {
    /// Where bodies are read from.
    pub mode: String,
    /// Bodies in the local blob store.
    pub blobs: u64,
    /// Bytes they take (content and outboards).
    pub blob_bytes: u64,
    /// Bytes the blob store may hold before evicting pinned, cold bodies.
    pub blob_budget_bytes: u64,
    /// Downloads from peers in progress.
    pub downloads: usize,
    /// Bodies of the joined spaces with an IPFS CID recorded.
    pub pinned: usize,
    /// The IPFS tier, when an endpoint is configured.
    pub ipfs: Option<IpfsStatus>,
}

/// The IPFS tier's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IpfsStatus {
    /// The Kubo RPC API address.
    pub endpoint: String,
    /// Whether its last health check answered.
    pub healthy: bool,
    /// The version it reported.
    pub version: Option<String>,
    /// The last error talking to it.
    pub last_error: Option<String>,
    /// Pin jobs waiting (persisted; retried with backoff).
    pub pending_jobs: usize,
    /// Bodies this node added and pinned since it started.
    pub pinned_by_this_node: u64,
}

/// A connected peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerView {
    /// The peer id.
    pub peer_id: String,
    /// Its known addresses.
    pub addrs: Vec<String>,
}
