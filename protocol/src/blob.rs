//! `/knack/blob/1`: fetching content by blake3 hash, in chunks, verified on arrival.
//!
//! The requester asks a peer for up to `max_len` bytes of the blob `hash` from `offset`; the
//! peer answers with a chunk (and the blob's total size), `NotFound` or `Refused`. The
//! requester checks each chunk against its request and the whole blob against its hash.
//! [`BlobFetch`] drives one download over a list of candidate peers.

use std::collections::VecDeque;

use knack_crdt::ContentHash;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::ProtocolError;

/// Largest chunk of a blob in one response.
pub const MAX_BLOB_CHUNK_BYTES: usize = 256 << 10;
/// Largest encoded blob message: a chunk plus room for the other fields.
pub const MAX_BLOB_MESSAGE_BYTES: usize = MAX_BLOB_CHUNK_BYTES + 1024;

/// A request for part of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Bytes of the blob.
    Chunk {
        /// The blob.
        hash: ContentHash,
        /// Where `data` starts in the blob.
        offset: u64,
        /// The blob's size.
        total_size: u64,
        /// The bytes.
        #[serde(with = "codec::byte_buf")]
        data: Vec<u8>,
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
    /// The responder is overloaded; retry later.
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

    /// Checks that a chunk answers `request`: same blob and offset, at most the requested
    /// length, within the blob's size, and not empty unless the blob ends there.
    pub fn check(&self, request: &BlobRequest) -> Result<(), ProtocolError> {
        let BlobResponse::Chunk {
            hash,
            offset,
            total_size,
            data,
        } = self
        else {
            return if self.hash() == &request.hash {
                Ok(())
            } else {
                Err(ProtocolError::Malformed(
                    "response names another blob".into(),
                ))
            };
        };
        let bad = |what: &str| Err(ProtocolError::Malformed(format!("blob chunk {what}")));
        if hash != &request.hash {
            return bad("names another blob");
        }
        if *offset != request.offset {
            return bad("starts at another offset");
        }
        if data.len() > request.chunk_len() {
            return bad("is longer than requested");
        }
        let end = offset.checked_add(data.len() as u64);
        if end.is_none_or(|end| end > *total_size) {
            return bad("goes past the blob's end");
        }
        if data.is_empty() && offset < total_size {
            return bad("is empty before the blob's end");
        }
        Ok(())
    }
}

/// Where a [`BlobFetch`] stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchStatus {
    /// Still fetching: call [`BlobFetch::poll_request`].
    InProgress,
    /// The whole blob, verified against its hash.
    Done(Vec<u8>),
    /// Every candidate failed.
    Exhausted,
}

/// A sans-IO download of one blob: chunks requested one at a time from the first candidate
/// peer, moving to the next on `NotFound`, refusal, failure, a bad chunk or a hash mismatch.
#[derive(Clone, Debug)]
pub struct BlobFetch<P> {
    hash: ContentHash,
    max_size: u64,
    candidates: VecDeque<P>,
    data: Vec<u8>,
    total_size: Option<u64>,
    in_flight: Option<BlobRequest>,
    finished: bool,
}

impl<P: Clone + PartialEq> BlobFetch<P> {
    /// A download of `hash` (refusing blobs larger than `max_size`) from `candidates`, in order.
    pub fn new(hash: ContentHash, max_size: u64, candidates: impl IntoIterator<Item = P>) -> Self {
        BlobFetch {
            hash,
            max_size,
            candidates: candidates.into_iter().collect(),
            data: Vec::new(),
            total_size: None,
            in_flight: None,
            finished: false,
        }
    }

    /// The next request to send, if one is due (one at a time).
    pub fn poll_request(&mut self) -> Option<(P, BlobRequest)> {
        if self.finished || self.in_flight.is_some() {
            return None;
        }
        let peer = self.candidates.front()?.clone();
        let request = BlobRequest {
            hash: self.hash,
            offset: self.data.len() as u64,
            max_len: MAX_BLOB_CHUNK_BYTES as u32,
        };
        self.in_flight = Some(request);
        Some((peer, request))
    }

    /// Takes in `peer`'s response.
    pub fn handle_response(&mut self, peer: &P, response: BlobResponse) -> FetchStatus {
        let Some(request) = self.in_flight.take() else {
            return self.status();
        };
        if self.candidates.front() != Some(peer) {
            return self.status();
        }
        if response.check(&request).is_err() {
            return self.next_peer(true);
        }
        let BlobResponse::Chunk {
            total_size, data, ..
        } = response
        else {
            return self.next_peer(false);
        };
        if total_size > self.max_size || self.total_size.is_some_and(|t| t != total_size) {
            return self.next_peer(true);
        }
        self.total_size = Some(total_size);
        self.data.extend_from_slice(&data);
        if self.data.len() as u64 == total_size {
            if ContentHash::of(&self.data) == self.hash {
                self.finished = true;
                return FetchStatus::Done(std::mem::take(&mut self.data));
            }
            return self.next_peer(true);
        }
        FetchStatus::InProgress
    }

    /// The request in flight to `peer` failed: try the next candidate, keeping the bytes so far
    /// (they are verified with the whole blob).
    pub fn request_failed(&mut self, peer: &P) -> FetchStatus {
        if self.in_flight.is_some() && self.candidates.front() == Some(peer) {
            self.in_flight = None;
            return self.next_peer(false);
        }
        self.status()
    }

    fn next_peer(&mut self, corrupt: bool) -> FetchStatus {
        self.candidates.pop_front();
        if corrupt {
            self.data.clear();
            self.total_size = None;
        }
        self.status()
    }

    fn status(&mut self) -> FetchStatus {
        if self.candidates.is_empty() && !self.finished {
            self.finished = true;
        }
        if self.finished {
            FetchStatus::Exhausted
        } else {
            FetchStatus::InProgress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer's answer to a request for `blob` (or `NotFound` when it has none).
    fn serve(blob: Option<&[u8]>, req: &BlobRequest) -> BlobResponse {
        match blob {
            None => BlobResponse::NotFound { hash: req.hash },
            Some(b) => {
                let start = (req.offset as usize).min(b.len());
                let end = (start + req.chunk_len()).min(b.len());
                BlobResponse::Chunk {
                    hash: req.hash,
                    offset: req.offset,
                    total_size: b.len() as u64,
                    data: b[start..end].to_vec(),
                }
            }
        }
    }

    #[test]
    fn fetches_across_peers_and_skips_corrupt_ones() {
        let blob: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let mut corrupt = blob.clone();
        corrupt[599_999] ^= 1;
        let hash = ContentHash::of(&blob);
        let peers: Vec<(u32, Option<&[u8]>)> =
            vec![(1, None), (2, Some(&corrupt)), (3, Some(&blob))];
        let mut fetch = BlobFetch::new(hash, 1 << 20, peers.iter().map(|p| p.0));
        let mut requests = 0;
        let result = loop {
            let (peer, req) = fetch.poll_request().expect("a request is due");
            requests += 1;
            let answer = serve(peers.iter().find(|p| p.0 == peer).unwrap().1, &req);
            let answer = BlobResponse::decode(&answer.encode()).unwrap();
            match fetch.handle_response(&peer, answer) {
                FetchStatus::InProgress => continue,
                other => break other,
            }
        };
        assert_eq!(result, FetchStatus::Done(blob));
        // 1 not found, 3 chunks from the corrupt peer, 3 from the good one.
        assert_eq!(requests, 7);
    }

    #[test]
    fn gives_up_when_every_peer_fails() {
        let hash = ContentHash::of(b"x");
        let mut fetch = BlobFetch::new(hash, 10, [1u32, 2]);
        let (p, _) = fetch.poll_request().unwrap();
        assert_eq!(fetch.request_failed(&p), FetchStatus::InProgress);
        let (p, req) = fetch.poll_request().unwrap();
        let too_big = BlobResponse::Chunk {
            hash,
            offset: 0,
            total_size: 11,
            data: vec![1],
        };
        assert!(too_big.check(&req).is_ok());
        assert_eq!(fetch.handle_response(&p, too_big), FetchStatus::Exhausted);
        assert_eq!(fetch.poll_request(), None);
    }

    #[test]
    fn chunks_are_checked_against_their_request() {
        let hash = ContentHash::of(b"abc");
        let req = BlobRequest {
            hash,
            offset: 1,
            max_len: 1,
        };
        let chunk = |offset, total_size, data: &[u8]| BlobResponse::Chunk {
            hash,
            offset,
            total_size,
            data: data.to_vec(),
        };
        assert!(chunk(1, 3, b"b").check(&req).is_ok());
        assert!(chunk(0, 3, b"b").check(&req).is_err());
        assert!(chunk(1, 3, b"bc").check(&req).is_err());
        assert!(chunk(1, 1, b"b").check(&req).is_err());
        assert!(chunk(1, 3, b"").check(&req).is_err());
        assert!(
            BlobResponse::NotFound {
                hash: ContentHash([0; 32])
            }
            .check(&req)
            .is_err()
        );
    }
}
