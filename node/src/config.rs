//! The node's configuration: `knack.toml` in the data directory, overridable by `KNACK_*`
//! environment variables ([`env`]) and by flags (flag > environment > file > default).

pub mod env;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use knack_crdt::SpaceName;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;

/// Most snapshot bytes rewritten per applied op (see [`Config::snapshot_every_ops`]).
pub const SNAPSHOT_BYTES_PER_OP: u64 = 1024;

/// The config file's name inside the data directory.
pub const CONFIG_FILE: &str = "knack.toml";
/// The space every node joins.
pub const DEFAULT_SPACE: &str = "default";

/// How a node runs. Every field has a default that keeps the node on loopback, with no
/// discovery beyond the peers it is told about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// libp2p listen addresses (TCP and QUIC). Port 0 picks a free port.
    pub listen: Vec<Multiaddr>,
    /// The HTTP API address (loopback; port 0 picks a free port).
    pub api: SocketAddr,
    /// Peers to dial at start and keep dialing (with or without `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Spaces to join (the `default` space is always joined).
    pub spaces: Vec<SpaceName>,
    /// Find peers on the LAN by mDNS (multicast on every interface): off unless asked for.
    pub mdns: bool,
    /// Run a Kademlia DHT over the known peers (no public bootstrap list, ever).
    pub kademlia: bool,
    /// Listen and dial over QUIC as well as TCP. Off whatever this says when `swarm_key` is
    /// set (QUIC cannot be wrapped in a pre-shared key).
    pub quic: bool,
    /// A swarm key file (the IPFS `swarm.key` format, [`crate::swarm_key`]): the node joins
    /// the private network of that pre-shared key. Every TCP connection is wrapped in libp2p's
    /// `pnet` before noise, so peers without the same key cannot connect; QUIC is off, and
    /// `/quic-v1` listen and bootstrap addresses are skipped with a warning. A relative path
    /// in `knack.toml` is relative to the data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swarm_key: Option<PathBuf>,
    /// Anti-entropy rounds with each peer, in milliseconds.
    pub sync_interval_ms: u64,
    /// Per space, the peer ids allowed to write it. A space not listed is open to every peer
    /// that can reach the node; ops of other authors in a listed space are rejected (reason
    /// `not_member`). This node may always write.
    pub members: BTreeMap<SpaceName, Vec<PeerId>>,
    /// Members-only spaces to join, each with its root admin's peer id (the trust anchor:
    /// `members_only = { team = "12D3..." }`). Membership itself is replicated (see
    /// `knack members`); only members are served the space's ops and blobs. Spaces created or
    /// joined at runtime (`knack space create|join`) are kept in `spaces.json` instead.
    pub members_only: BTreeMap<SpaceName, PeerId>,
    /// Applied ops between two snapshots of the spaces: a restart after a crash replays at most
    /// about this many per space (a clean stop always snapshots). A large space snapshots less
    /// often: at least one op per [`SNAPSHOT_BYTES_PER_OP`] bytes of its last snapshot, so
    /// rewriting snapshots costs at most that much per op.
    pub snapshot_every_ops: u64,
    /// Bytes of this node's own envelopes, per space, after which it seals a checkpoint run of
    /// its own ops (and deletes the ops it restates): at least this much and at least twice
    /// the size of the last run, so checkpoints cost a bounded share of the writes. 0 turns
    /// automatic checkpoints off (`knack checkpoint` still works).
    pub checkpoint_after_bytes: u64,
    /// The Kubo RPC API of an IPFS node (e.g. `http://127.0.0.1:5001`) for the cold tier:
    /// bodies over the inline limit and crystallized bodies are added and pinned there. Without
    /// it the node keeps bodies in its blob store and serves them to peers.
    pub ipfs_api: Option<String>,
    /// Bytes the blob store may hold before evicting bodies that are pinned in IPFS and not
    /// crystallized (least recently used first; others are never evicted).
    pub blob_cache_bytes: u64,
    /// Largest body accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Semantic search: embedder, automatic `similar` edges, ranking weights.
    pub search: crate::discovery::SearchSettings,
    /// Bytes the blob store may hold in all: an upload or download that would pass it is
    /// refused (507 `blob_quota`), nothing is evicted to make room. 0: no quota.
    pub blob_quota_bytes: u64,
    /// Seconds an uploaded blob that no op references is kept before it is deleted (an
    /// upload is referenced by the `add` or `edit` that follows it).
    pub unreferenced_blob_grace_secs: u64,
    /// Bytes that must stay free on the data directory's disk: below it, writes are refused
    /// (507 `disk_full`) and no ops are taken from peers until space returns, so the store is
    /// never driven into a failed write.
    pub min_free_disk_bytes: u64,
    /// The HTTP API's limits: timeouts, connections, request heads.
    pub api_limits: crate::api::ApiLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![
                "/ip4/127.0.0.1/tcp/0"
                    .parse()
                    .expect("a valid literal multiaddr"),
                "/ip4/127.0.0.1/udp/0/quic-v1"
                    .parse()
                    .expect("a valid literal multiaddr"),
            ],
            api: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            bootstrap: Vec::new(),
            spaces: Vec::new(),
            mdns: false,
            kademlia: true,
            quic: true,
            swarm_key: None,
            sync_interval_ms: 5_000,
            members: BTreeMap::new(),
            members_only: BTreeMap::new(),
            snapshot_every_ops: 5_000,
            checkpoint_after_bytes: 16 << 20,
            ipfs_api: None,
            blob_cache_bytes: 8 << 30,
            max_blob_bytes: 4 << 30,
            search: crate::discovery::SearchSettings::default(),
            blob_quota_bytes: 64 << 30,
            unreferenced_blob_grace_secs: 24 * 3600,
            min_free_disk_bytes: 64 << 20,
            api_limits: crate::api::ApiLimits::default(),
        }
    }
}

impl Config {
    /// Reads `knack.toml` from `dir` (the defaults when the file does not exist).
    pub fn load(dir: &Path) -> Result<Config, NodeError> {
        let path = dir.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut config: Config = toml::from_str(&text).map_err(|e| NodeError::Config {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                if let Some(key) = config.swarm_key.take() {
                    config.swarm_key = Some(dir.join(key));
                }
                Ok(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(NodeError::io(&path, e)),
        }
    }

    /// Writes the config to `knack.toml` in `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), NodeError> {
        let path = dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self).map_err(|e| NodeError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|e| NodeError::io(&path, e))
    }

    /// The spaces to join: `default` plus the configured ones, without duplicates, in order.
    pub fn all_spaces(&self) -> Vec<SpaceName> {
        let mut out: Vec<SpaceName> = Vec::new();
        let default = SpaceName::new(DEFAULT_SPACE).expect("a valid literal space name");
        let spaces = self.spaces.iter().chain(self.members_only.keys()).cloned();
        for space in std::iter::once(default).chain(spaces) {
            if !out.contains(&space) {
                out.push(space);
            }
        }
        out
    }
}
