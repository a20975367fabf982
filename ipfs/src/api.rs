//! [`IpfsApi`]: the few IPFS calls knack makes, behind a trait.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

use crate::cid::Cid;
use crate::error::IpfsError;

/// An IPFS node, as knack uses it: add and pin content, and fetch content back verified.
///
/// Object safe, `Send + Sync` and with `Send` futures, so a node holds an `Arc<dyn IpfsApi>` and
/// calls it from any tokio task; tests can swap in a fake. Every call has a time limit: an
/// implementation returns [`IpfsError::Timeout`] rather than waiting forever (a `cat` of content
/// nobody serves never ends by itself).
#[async_trait]
pub trait IpfsApi: Send + Sync {
    /// The node's version string; a cheap health check.
    async fn version(&self) -> Result<String, IpfsError>;

    /// Adds the file at `path` and pins it (CIDv1, raw leaves), streaming it from disk: a file
    /// of any size is never held in memory.
    async fn add_file(&self, path: &Path) -> Result<Cid, IpfsError>;

    /// Adds `bytes` and pins them (CIDv1, raw leaves).
    async fn add_bytes(&self, bytes: Vec<u8>) -> Result<Cid, IpfsError>;

    /// Pins `cid` recursively (fetching its blocks if the node lacks them).
    async fn pin_add(&self, cid: &Cid) -> Result<(), IpfsError>;

    /// Whether `cid` is pinned (directly, recursively, or as part of a pinned DAG).
    async fn is_pinned(&self, cid: &Cid) -> Result<bool, IpfsError>;

    /// Fetches the content of `cid` into `dest`, verified.
    ///
    /// Streams the content to a temporary file beside `dest` while hashing it, stops as soon as
    /// it grows past `expected_size` ([`IpfsError::TooLarge`]), and renames it to `dest` only
    /// when its size and blake3 match ([`IpfsError::Mismatch`] otherwise). On any error, the
    /// temporary file is deleted and `dest` is untouched. The whole fetch must finish within
    /// `timeout` ([`IpfsError::Timeout`]).
    async fn fetch_verified(
        &self,
        cid: &Cid,
        expected_blake3: [u8; 32],
        expected_size: u64,
        dest: &Path,
        timeout: Duration,
    ) -> Result<(), IpfsError>;
}
