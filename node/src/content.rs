//! The content tier: procedure bodies too large to travel inline in ops.
//!
//! A body above the space's inline threshold is stored once in the node's [`BlobStore`] (a
//! file named by its blake3 hash, with its bao outboard beside it), referenced from the
//! procedure by hash and size, and fetched by other nodes on demand over `/knack/blob/1`
//! (`knack_protocol::BlobFetch`: chunks verified on arrival, several peers at once, corrupt
//! peers dropped, resumable). A node asked for a blob it lacks but its spaces reference fetches
//! it itself and answers `Busy` meanwhile, so content crosses the mesh hop by hop and is cached
//! on the way. The cold tier is IPFS (`knack-ipfs`): a persisted queue of pin jobs adds bodies
//! over the inline limit and crystallized bodies there, and readers fall back to it.

mod blob_store;
mod error;
mod pinning;

pub use blob_store::{BlobInfo, BlobStore, PartialBlob};
pub use error::ContentError;
pub(crate) use pinning::{PinQueue, PinWorker};
