//! [`BlobFetch`]: a sans-IO download of one blob from several peers, chunk by verified chunk.

use std::collections::{BTreeMap, BTreeSet};

use knack_crdt::ContentHash;

use super::{BlobRefuseReason, BlobRequest, BlobResponse, MAX_BLOB_CHUNK_BYTES, verify_chunk};

/// Requests in flight to one peer at a time.
const WINDOW_PER_PEER: usize = 8;
/// Chunks requested beyond the first one not yet verified: bounds the memory of chunks that
/// arrived early (32 x 256 KiB = 8 MiB).
const MAX_AHEAD_CHUNKS: u64 = 32;
/// How long a peer that answered `Busy` is left alone, in milliseconds.
const BUSY_RETRY_MS: u64 = 250;
/// Failed requests (timeouts, closed streams) after which a peer is no longer asked.
const MAX_FAILURES: u32 = 3;

/// Where a [`BlobFetch`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchStatus {
    /// Still fetching: send what [`BlobFetch::poll_request`] gives, take out what
    /// [`BlobFetch::next_verified`] gives.
    InProgress,
    /// Every byte was verified and taken out.
    Done,
    /// No candidate peer is left.
    Exhausted,
}

/// Why a peer was dropped from a download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Penalty {
    /// It sent a chunk that does not verify against the blob's hash.
    Corrupt,
    /// Its requests failed [`MAX_FAILURES`] times.
    Unreliable,
}

#[derive(Clone, Debug)]
struct Candidate<P> {
    peer: P,
    in_flight: usize,
    busy_until_ms: u64,
    failures: u32,
}

/// A download of one blob, known by its blake3 hash and size, from candidate peers.
///
/// Chunks of [`MAX_BLOB_CHUNK_BYTES`] are requested round-robin from every candidate that has
/// room in its window, each verified on arrival against the hash ([`verify_chunk`]) and
/// handed out in order by [`BlobFetch::next_verified`], so the caller appends them to a file
/// and memory stays bounded whatever the blob's size. A peer sending a bad chunk is dropped and
/// reported ([`BlobFetch::take_penalties`]); its chunks go to the others. `NotFound` and
/// `Forbidden` drop a peer quietly; `Busy` rests it for a moment. A download resumes from any
/// verified prefix ([`BlobFetch::new`]'s `resume_from`).
#[derive(Clone, Debug)]
pub struct BlobFetch<P> {
    hash: ContentHash,
    size: u64,
    chunks: u64,
    next_index: u64,
    delivered: u64,
    requeued: BTreeSet<u64>,
    in_flight: BTreeMap<u64, P>,
    ready: BTreeMap<u64, Vec<u8>>,
    candidates: Vec<Candidate<P>>,
    dropped: Vec<P>,
    cursor: usize,
    penalties: Vec<(P, Penalty)>,
}

impl<P: Clone + PartialEq> BlobFetch<P> {
    /// A download of the blob `hash` of `size` bytes from `candidates`, starting at
    /// `resume_from` (rounded down to a chunk boundary: the bytes before it are already held
    /// and verified by the caller).
    pub fn new(
        hash: ContentHash,
        size: u64,
        resume_from: u64,
        candidates: impl IntoIterator<Item = P>,
    ) -> Self {
        let chunk = MAX_BLOB_CHUNK_BYTES as u64;
        // An empty blob is still one (empty) chunk: its proof checks the hash.
        let chunks = size.div_ceil(chunk).max(1);
        let start = if size == 0 {
            0
        } else {
            (resume_from.min(size) / chunk).min(chunks)
        };
        let mut fetch = BlobFetch {
            hash,
            size,
            chunks,
            next_index: start,
            delivered: start,
            requeued: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            ready: BTreeMap::new(),
            candidates: Vec::new(),
            dropped: Vec::new(),
            cursor: 0,
            penalties: Vec::new(),
        };
        for peer in candidates {
            fetch.add_candidate(peer);
        }
        fetch
    }

    /// The blob being fetched.
    pub fn hash(&self) -> &ContentHash {
        &self.hash
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many bytes from the start have been verified and handed out.
    pub fn verified_len(&self) -> u64 {
        (self.delivered * MAX_BLOB_CHUNK_BYTES as u64).min(self.size)
    }

    /// Adds a peer to ask (ignored if it is already a candidate or was dropped).
    pub fn add_candidate(&mut self, peer: P) {
        if self.candidates.iter().any(|c| c.peer == peer) || self.dropped.contains(&peer) {
            return;
        }
        self.candidates.push(Candidate {
            peer,
            in_flight: 0,
            busy_until_ms: 0,
            failures: 0,
        });
    }

    /// Whether `peer` is still a candidate.
    pub fn is_candidate(&self, peer: &P) -> bool {
        self.candidates.iter().any(|c| &c.peer == peer)
    }

    /// The next request to send at `now_ms`, if one is due; call until `None`.
    pub fn poll_request(&mut self, now_ms: u64) -> Option<(P, BlobRequest)> {
        if self.status() != FetchStatus::InProgress {
            return None;
        }
        let index = match self.requeued.first() {
            Some(&index) => index,
            None if self.next_index < self.chunks
                && self.next_index < self.delivered + MAX_AHEAD_CHUNKS =>
            {
                self.next_index
            }
            None => return None,
        };
        let count = self.candidates.len();
        let pick = (0..count).map(|i| (self.cursor + i) % count).find(|&i| {
            let c = &self.candidates[i];
            c.in_flight < WINDOW_PER_PEER && c.busy_until_ms <= now_ms
        })?;
        self.cursor = (pick + 1) % count;
        if !self.requeued.remove(&index) {
            self.next_index += 1;
        }
        let candidate = &mut self.candidates[pick];
        candidate.in_flight += 1;
        self.in_flight.insert(index, candidate.peer.clone());
        Some((candidate.peer.clone(), self.request(index)))
    }

    fn request(&self, index: u64) -> BlobRequest {
        BlobRequest {
            hash: self.hash,
            offset: index * MAX_BLOB_CHUNK_BYTES as u64,
            max_len: MAX_BLOB_CHUNK_BYTES as u32,
        }
    }

    /// Takes in `peer`'s `response` to `request`. Answers to requests no longer in flight (a
    /// dropped peer's late replies) are ignored.
    pub fn handle_response(
        &mut self,
        peer: &P,
        request: &BlobRequest,
        response: BlobResponse,
        now_ms: u64,
    ) {
        let Some(index) = self.take_in_flight(peer, request) else {
            return;
        };
        match response {
            BlobResponse::Chunk {
                hash,
                offset,
                slice,
            } => {
                let verified = (hash == self.hash)
                    .then(|| verify_chunk(request, self.size, offset, &slice).ok())
                    .flatten();
                match verified {
                    Some(data) => {
                        self.ready.insert(index, data);
                    }
                    None => {
                        self.requeued.insert(index);
                        self.penalties.push((peer.clone(), Penalty::Corrupt));
                        self.drop_peer(peer);
                    }
                }
            }
            BlobResponse::Refused {
                reason: BlobRefuseReason::Busy,
                ..
            } => {
                self.requeued.insert(index);
                if let Some(c) = self.candidates.iter_mut().find(|c| &c.peer == peer) {
                    c.busy_until_ms = now_ms + BUSY_RETRY_MS;
                }
            }
            BlobResponse::NotFound { .. } | BlobResponse::Refused { .. } => {
                self.requeued.insert(index);
                self.drop_peer(peer);
            }
        }
    }

    /// The request to `peer` failed (timeout, closed connection): its chunk goes back in the
    /// queue; the peer rests a moment, and is dropped after repeated failures.
    pub fn request_failed(&mut self, peer: &P, request: &BlobRequest, now_ms: u64) {
        let Some(index) = self.take_in_flight(peer, request) else {
            return;
        };
        self.requeued.insert(index);
        let Some(c) = self.candidates.iter_mut().find(|c| &c.peer == peer) else {
            return;
        };
        c.failures += 1;
        c.busy_until_ms = now_ms + (BUSY_RETRY_MS << c.failures.min(4));
        if c.failures >= MAX_FAILURES {
            self.penalties.push((peer.clone(), Penalty::Unreliable));
            self.drop_peer(peer);
        }
    }

    /// The peer left (disconnected): its chunks go to the others.
    pub fn remove_candidate(&mut self, peer: &P) {
        self.drop_peer(peer);
        self.dropped.retain(|p| p != peer);
    }

    fn take_in_flight(&mut self, peer: &P, request: &BlobRequest) -> Option<u64> {
        let chunk = MAX_BLOB_CHUNK_BYTES as u64;
        if request.hash != self.hash || !request.offset.is_multiple_of(chunk) {
            return None;
        }
        let index = request.offset / chunk;
        if self.in_flight.get(&index) != Some(peer) {
            return None;
        }
        self.in_flight.remove(&index);
        if let Some(c) = self.candidates.iter_mut().find(|c| &c.peer == peer) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
        Some(index)
    }

    fn drop_peer(&mut self, peer: &P) {
        let before = self.candidates.len();
        self.candidates.retain(|c| &c.peer != peer);
        if self.candidates.len() == before {
            return;
        }
        self.dropped.push(peer.clone());
        let orphans: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, p)| *p == peer)
            .map(|(i, _)| *i)
            .collect();
        for index in orphans {
            self.in_flight.remove(&index);
            self.requeued.insert(index);
        }
        if self.cursor >= self.candidates.len() {
            self.cursor = 0;
        }
    }

    /// The next verified chunk in order, with its offset: append it to the blob.
    pub fn next_verified(&mut self) -> Option<(u64, Vec<u8>)> {
        let data = self.ready.remove(&self.delivered)?;
        let offset = self.delivered * MAX_BLOB_CHUNK_BYTES as u64;
        self.delivered += 1;
        Some((offset, data))
    }

    /// Peers dropped for misbehaving since the last call.
    pub fn take_penalties(&mut self) -> Vec<(P, Penalty)> {
        std::mem::take(&mut self.penalties)
    }

    /// Where the download stands.
    pub fn status(&self) -> FetchStatus {
        if self.delivered >= self.chunks {
            FetchStatus::Done
        } else if self.candidates.is_empty() {
            FetchStatus::Exhausted
        } else {
            FetchStatus::InProgress
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::blob::{extract_chunk, write_outboard};

    /// How a test peer behaves.
    #[derive(Clone, Copy, PartialEq)]
    enum Peer {
        Good,
        Missing,
        Corrupt,
        Busy,
    }

    struct Served {
        data: Vec<u8>,
        outboard: Vec<u8>,
        hash: ContentHash,
    }

    fn served(len: usize) -> Served {
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8 ^ (i >> 9) as u8).collect();
        let mut outboard = Cursor::new(Vec::new());
        let hash = write_outboard(&data[..], &mut outboard).unwrap();
        Served {
            data,
            outboard: outboard.into_inner(),
            hash,
        }
    }

    fn answer(s: &Served, how: Peer, req: &BlobRequest) -> BlobResponse {
        let size = s.data.len() as u64;
        match how {
            Peer::Missing => BlobResponse::NotFound { hash: req.hash },
            Peer::Busy => BlobResponse::Refused {
                hash: req.hash,
                reason: BlobRefuseReason::Busy,
            },
            Peer::Good | Peer::Corrupt => {
                let mut resp =
                    extract_chunk(Cursor::new(&s.data), Cursor::new(&s.outboard), size, req)
                        .unwrap();
                if how == Peer::Corrupt
                    && let BlobResponse::Chunk { slice, .. } = &mut resp
                {
                    let last = slice.len() - 1;
                    slice[last] ^= 1;
                }
                BlobResponse::decode(&resp.encode()).unwrap()
            }
        }
    }

    /// Runs a fetch to its end, answering requests in a scrambled order; returns the bytes
    /// handed out and the penalties.
    fn run(
        s: &Served,
        peers: &[(u32, Peer)],
        resume_from: u64,
    ) -> (FetchStatus, Vec<u8>, Vec<(u32, Penalty)>, usize) {
        let mut fetch = BlobFetch::new(
            s.hash,
            s.data.len() as u64,
            resume_from,
            peers.iter().map(|p| p.0),
        );
        let start = fetch.verified_len();
        let mut out = Vec::new();
        let mut penalties = Vec::new();
        let mut requests = 0;
        let mut now = 0;
        loop {
            let mut batch = Vec::new();
            while let Some(r) = fetch.poll_request(now) {
                batch.push(r);
            }
            requests += batch.len();
            batch.reverse();
            for (peer, req) in batch {
                let how = peers.iter().find(|p| p.0 == peer).unwrap().1;
                fetch.handle_response(&peer, &req, answer(s, how, &req), now);
            }
            while let Some((offset, data)) = fetch.next_verified() {
                assert_eq!(offset, start + out.len() as u64);
                out.extend(data);
            }
            penalties.extend(fetch.take_penalties());
            if fetch.status() != FetchStatus::InProgress {
                return (fetch.status(), out, penalties, requests);
            }
            now += 100;
            assert!(now < 1_000_000, "the fetch does not end");
        }
    }

    #[test]
    fn fetches_from_several_peers_and_drops_corrupt_ones() {
        let s = served(10 * MAX_BLOB_CHUNK_BYTES + 5);
        let peers = [
            (1, Peer::Missing),
            (2, Peer::Corrupt),
            (3, Peer::Good),
            (4, Peer::Busy),
        ];
        let (status, out, penalties, _) = run(&s, &peers, 0);
        assert_eq!(status, FetchStatus::Done);
        assert_eq!(out, s.data);
        assert_eq!(penalties, vec![(2, Penalty::Corrupt)]);
    }

    #[test]
    fn resumes_from_a_verified_prefix() {
        let s = served(5 * MAX_BLOB_CHUNK_BYTES);
        let from = 2 * MAX_BLOB_CHUNK_BYTES as u64 + 10;
        let (status, out, _, requests) = run(&s, &[(1, Peer::Good)], from);
        assert_eq!(status, FetchStatus::Done);
        let start = 2 * MAX_BLOB_CHUNK_BYTES;
        // The fetch restarts at the chunk boundary below `from`.
        assert_eq!(out, s.data[start..]);
        assert_eq!(requests, 3);
    }

    #[test]
    fn gives_up_when_nobody_has_a_good_copy() {
        let s = served(3 * MAX_BLOB_CHUNK_BYTES);
        let (status, out, penalties, _) = run(&s, &[(1, Peer::Missing), (2, Peer::Corrupt)], 0);
        assert_eq!(status, FetchStatus::Exhausted);
        assert!(out.is_empty());
        assert_eq!(penalties, vec![(2, Penalty::Corrupt)]);
    }

    #[test]
    fn the_empty_blob_is_checked_too() {
        let s = served(0);
        let (status, out, _, requests) = run(&s, &[(1, Peer::Good)], 0);
        assert_eq!((status, out.len(), requests), (FetchStatus::Done, 0, 1));
        let mut wrong = BlobFetch::new(ContentHash::of(b"x"), 0, 0, [1u32]);
        let (p, req) = wrong.poll_request(0).unwrap();
        wrong.handle_response(&p, &req, answer(&s, Peer::Good, &req), 0);
        assert_eq!(wrong.status(), FetchStatus::Exhausted);
    }

    #[test]
    fn memory_ahead_of_the_verified_prefix_is_bounded() {
        let s = served(100 * MAX_BLOB_CHUNK_BYTES);
        let mut fetch = BlobFetch::new(s.hash, s.data.len() as u64, 0, 1u32..=10);
        let mut sent = Vec::new();
        while let Some(r) = fetch.poll_request(0) {
            sent.push(r);
        }
        assert_eq!(sent.len() as u64, MAX_AHEAD_CHUNKS);
        // Answer all but the first: nothing can be handed out, nothing more is requested.
        for (peer, req) in sent.iter().skip(1) {
            fetch.handle_response(peer, req, answer(&s, Peer::Good, req), 0);
        }
        assert_eq!(fetch.next_verified(), None);
        assert_eq!(fetch.poll_request(0), None);
        let (peer, req) = sent[0];
        fetch.handle_response(&peer, &req, answer(&s, Peer::Good, &req), 0);
        let mut n = 0;
        while fetch.next_verified().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_AHEAD_CHUNKS);
    }

    #[test]
    fn failures_requeue_and_drop_unreliable_peers() {
        // Enough chunks that the fetch needs more rounds than the failures it takes to drop a
        // peer (each round can run at most `MAX_AHEAD_CHUNKS` ahead).
        let chunks = (u64::from(MAX_FAILURES) + 1) * MAX_AHEAD_CHUNKS;
        let s = served(chunks as usize * MAX_BLOB_CHUNK_BYTES);
        let mut fetch = BlobFetch::new(s.hash, s.data.len() as u64, 0, [1u32, 2]);
        let mut now = 0;
        let mut out = Vec::new();
        while fetch.status() == FetchStatus::InProgress {
            now += 10_000;
            while let Some((peer, req)) = fetch.poll_request(now) {
                if peer == 1 {
                    fetch.request_failed(&peer, &req, now);
                } else {
                    fetch.handle_response(&peer, &req, answer(&s, Peer::Good, &req), now);
                }
            }
            while let Some((_, d)) = fetch.next_verified() {
                out.extend(d);
            }
        }
        assert!(!fetch.is_candidate(&1));
        assert_eq!(fetch.take_penalties(), vec![(1, Penalty::Unreliable)]);
        assert_eq!(out, s.data);
        assert_eq!(fetch.status(), FetchStatus::Done);
        // A late answer from the dropped peer changes nothing.
        let req = fetch.request(0);
        fetch.handle_response(&1, &req, answer(&s, Peer::Corrupt, &req), now);
        assert_eq!(fetch.status(), FetchStatus::Done);
    }
}
