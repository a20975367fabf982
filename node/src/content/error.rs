//! The content tier's errors.

use knack_crdt::ContentHash;
use thiserror::Error;

/// What can go wrong storing, fetching or pinning a body.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ContentError {
    /// A file of the blob store could not be read or written.
    #[error("blob store {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Bytes that do not hash to what was expected.
    #[error("content does not match its blake3 hash {expected} (got {actual}, {size} bytes)")]
    Mismatch {
        /// The hash the bytes should have.
        expected: ContentHash,
        /// The hash they have.
        actual: ContentHash,
        /// How many bytes were checked.
        size: u64,
    },
    /// A blob larger than allowed.
    #[error("blob of {size} bytes is over the limit of {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Storing the blob would take the blob store past its quota (`blob_quota_bytes`).
    #[error(
        "the blob store holds {used} bytes; {incoming} more would pass its quota of {quota} \
         (blob_quota_bytes in knack.toml)"
    )]
    QuotaExceeded {
        /// Bytes stored now (blobs and outboards).
        used: u64,
        /// Bytes the new blob needs.
        incoming: u64,
        /// The quota.
        quota: u64,
    },
    /// The IPFS node failed, or gave content that does not match the body's hash.
    #[error(transparent)]
    Ipfs(#[from] knack_ipfs::IpfsError),
    /// An IPFS operation was asked of a node with no IPFS endpoint.
    #[error("this node has no IPFS endpoint configured (knack run --ipfs-api URL)")]
    NoIpfs,
    /// The blob is not held here and could not be fetched.
    #[error("body {hash} is not available: {reason}")]
    Unavailable {
        /// The blob.
        hash: ContentHash,
        /// Where it was looked for.
        reason: String,
    },
}

impl ContentError {
    /// An IO error about `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ContentError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
