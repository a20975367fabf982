//! The node's error type.

use std::path::Path;

use knack_crdt::CrdtError;
use knack_protocol::ProtocolError;
use thiserror::Error;

use crate::store::StoreError;

/// Everything that can go wrong in a node.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("config {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The data directory was never initialised.
    #[error("{0} is not a knack data directory: run `knack init` first")]
    NotInitialised(String),
    /// The identity key cannot be read.
    #[error("identity key {path}: {reason}")]
    Identity {
        /// The key file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A request the memory model refuses (bad input, unknown procedure, frozen body, ...).
    #[error(transparent)]
    Crdt(#[from] CrdtError),
    /// A protocol failure.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The space is not joined by this node.
    #[error("this node has not joined space {0:?}")]
    UnknownSpace(String),
    /// The swarm key file cannot be used (missing, unreadable, malformed).
    #[error(transparent)]
    SwarmKey(#[from] crate::swarm_key::SwarmKeyError),
    /// The libp2p swarm could not start.
    #[error("network: {0}")]
    Network(String),
    /// The content tier failed (blob store, download, IPFS).
    #[error(transparent)]
    Content(#[from] crate::content::ContentError),
    /// A search request the index refuses (empty or huge query, bad limit).
    #[error(transparent)]
    Search(#[from] knack_search::SearchError),
    /// Search cannot answer yet (the index is being built after a start).
    #[error(transparent)]
    SearchUnavailable(#[from] crate::discovery::SearchUnavailable),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// The disk holding the data directory is below its free-space reserve.
    #[error(
        "the disk of {path} has {available} bytes free, under the reserve of {reserve} \
         (min_free_disk_bytes): writes are refused until space is freed"
    )]
    DiskFull {
        /// The data directory.
        path: String,
        /// Bytes free.
        available: u64,
        /// The reserve.
        reserve: u64,
    },
    /// The store cannot be proven intact: the node refuses to start on it.
    #[error("the store {path} is damaged: {reason}; {recovery}", recovery = crate::store::integrity::RECOVERY)]
    StoreDamaged {
        /// The store's directory (or file).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// This node's op log lacks some of its own ops in the space (lost or corrupted): it does
    /// not author there until anti-entropy has brought them back from peers, so it never
    /// signs a second op under a sequence number it already used.
    #[error(
        "this node wrote its own ops up to {written} in space {space:?} but its log holds them \
         only up to {held}: it refuses to write there until peers return the missing ones \
         (connect it to a peer that holds them; see `knack status`)"
    )]
    RecoveringOwnOps {
        /// The space.
        space: String,
        /// The highest own sequence number held.
        held: u64,
        /// The highest own sequence number written.
        written: u64,
    },
    /// This node is not (or no longer) a member of the members-only space.
    #[error(
        "this node is not a member of the members-only space {space:?}: an admin must add it \
         (`knack members add --space {space} <this node's peer id>`)"
    )]
    NotMember {
        /// The space.
        space: String,
    },
    /// A peer id that is not valid here.
    #[error("bad peer id: {0}")]
    BadPeer(String),
    /// A space cannot be joined as asked.
    #[error("cannot join space {space:?}: {reason}")]
    SpaceConflict {
        /// The space.
        space: String,
        /// Why.
        reason: String,
    },
}

impl NodeError {
    /// An IO error about `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        NodeError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
