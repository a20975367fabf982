//! `/knack/blob/1`: fetching content by blake3 hash, in chunks, each verified on arrival.
//!
//! A requester asks a peer for up to `max_len` bytes of the blob `hash` from `offset`. The peer
//! answers with a [`BlobResponse::Chunk`] carrying the *bao slice* of that range: the bytes
//! interleaved with the blake3 tree's parent nodes from the root down to them (BLAKE3 verified
//! streaming; the root hash of the tree is the blob's blake3 hash). The requester checks every
//! chunk on its own against the hash it already knows ([`verify_chunk`]), so a corrupt peer is
//! caught at its first bad chunk, a download can resume from any verified prefix and chunks can
//! come from several peers at once. [`BlobFetch`] drives one such download.
//!
//! Serving needs the blob's *outboard* (its tree of parent nodes, 1/16 of its size), made once
//! when the blob is stored ([`write_outboard`]); [`extract_chunk`] builds a response from the
//! blob and its outboard.

mod fetch;
mod slice;

use knack_crdt::ContentHash;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::ProtocolError;

pub use fetch::{BlobFetch, FetchStatus, Penalty};
pub use slice::{extract_chunk, outboard_size, verify_chunk, write_outboard};

/// Most content bytes in one chunk (a multiple of blake3's 1 KiB chunk).
pub const MAX_BLOB_CHUNK_BYTES: usize = 256 << 10;
/// Largest encoded blob message: a chunk's content, its parent nodes (64 bytes per 1 KiB, plus
/// the path from the root, at most 64 levels), and room for the other fields.
pub const MAX_BLOB_MESSAGE_BYTES: usize = MAX_BLOB_CHUNK_BYTES + MAX_BLOB_CHUNK_BYTES / 16 + 8192;

/// A request for part of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRequest {
    /// The blob.
    pub hash: ContentHash,
    /// The first byte wanted.
    pub offset: u64,
    /// How many bytes at most (the responder sends at most [`MAX_BLOB_CHUNK_BYTES`]).
    pub max_len: u32,
}

/// The answer to a [`BlobRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobResponse {
    /// A verifiable range of the blob.
    Chunk {
        /// The blob.
        hash: ContentHash,
        /// Where the range starts in the blob.
        offset: u64,
        /// The bao slice encoding of the range `offset .. offset + chunk_len` (see
        /// [`BlobRequest::chunk_len`], capped at the blob's end): the blob's length, then the
        /// range's bytes interleaved with the parent nodes that prove them.
        #[serde(with = "codec::byte_buf")]
        slice: Vec<u8>,
    },
    /// The responder does not have the blob.
    NotFound {
        /// The blob.
        hash: ContentHash,
    },
    /// The responder will not serve the request.
    Refused {
        /// The blob.
        hash: ContentHash,
        /// Why.
        reason: BlobRefuseReason,
    },
}

/// Why a blob request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobRefuseReason {
    /// The requester may not read the blob.
    Forbidden,
    /// The responder is overloaded, or is fetching the blob itself: retry later.
    Busy,
}

impl BlobRequest {
    /// The wire encoding: a version byte, then bincode (see `WIRE.md`).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a request (at most [`MAX_BLOB_MESSAGE_BYTES`], known version, no trailing bytes,
    /// canonical).
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        codec::decode::<Self, MAX_BLOB_MESSAGE_BYTES>(bytes)
    }

    /// How many bytes a responder should send at most.
    pub fn chunk_len(&self) -> usize {
        (self.max_len as usize).min(MAX_BLOB_CHUNK_BYTES)
    }

    /// The length of the range this request covers in a blob of `size` bytes (0 past its end).
    pub fn range_len(&self, size: u64) -> u64 {
        size.saturating_sub(self.offset)
            .min(self.chunk_len() as u64)
    }
}

impl BlobResponse {
    /// The wire encoding: a version byte, then bincode (see `WIRE.md`).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a response, with the same checks as [`BlobRequest::decode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        codec::decode::<Self, MAX_BLOB_MESSAGE_BYTES>(bytes)
    }

    /// The blob the response is about.
    pub fn hash(&self) -> &ContentHash {
        match self {
            BlobResponse::Chunk { hash, .. }
            | BlobResponse::NotFound { hash }
            | BlobResponse::Refused { hash, .. } => hash,
        }
    }
}
