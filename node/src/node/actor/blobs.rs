//! `/knack/blob/1` in the actor: serving chunks, running downloads, relaying.
//!
//! Serving reads files, so it runs on the blocking pool and comes back as a [`Completion`].
//! A download ([`knack_protocol::BlobFetch`]) asks every connected peer, appends each verified
//! chunk to the blob's partial file as it arrives (memory stays bounded by the fetch's window),
//! and hands the finished file to the blob store on the blocking pool (which hashes it once
//! more). Asked for a blob it lacks but one of its spaces references, a node starts a download
//! of its own from its other peers and answers `Busy` until it has it: content crosses the mesh
//! hop by hop, cached on the way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use knack_crdt::ContentHash;
use knack_protocol::blob::extract_chunk;
use knack_protocol::{
    BlobFetch, BlobRequest, BlobResponse, FetchStatus, Penalty, blob::BlobRefuseReason,
};
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use tokio::sync::{mpsc, oneshot};

use super::{Actor, Completion, inbound, out, wall_ms};
use crate::content::{BlobStore, ContentError, PartialBlob};
use crate::error::NodeError;
use crate::metrics::Metrics;

/// Longest a download asked for by a reader may take.
const FETCH_DEADLINE: Duration = Duration::from_secs(120);
/// Longest a relayed download (for a peer) may take: short, so relays waiting on each other in
/// a cycle give up soon.
const RELAY_DEADLINE: Duration = Duration::from_secs(20);
/// How long a blob nobody could serve is answered `NotFound` without trying again.
const NOT_FOUND_TTL: Duration = Duration::from_secs(30);
/// Most relayed downloads at once.
const MAX_RELAYS: usize = 8;

/// A reader waiting for a blob to be local.
pub(crate) type BlobWaiter = oneshot::Sender<Result<(), NodeError>>;

/// One download in progress.
struct ActiveFetch {
    fetch: BlobFetch<PeerId>,
    partial: Option<PartialBlob>,
    waiters: Vec<BlobWaiter>,
    deadline: Instant,
    /// The peer a relayed download is for (not asked).
    relay_for: Option<PeerId>,
}

/// The actor's content state.
pub(crate) struct BlobState {
    store: Arc<BlobStore>,
    fetches: HashMap<ContentHash, ActiveFetch>,
    requests: HashMap<OutboundRequestId, (ContentHash, PeerId, BlobRequest)>,
    not_found: HashMap<ContentHash, Instant>,
    completions: mpsc::Sender<Completion>,
}

impl BlobState {
    /// The state over `store`, sending finished work on `completions`.
    pub(crate) fn new(store: Arc<BlobStore>, completions: mpsc::Sender<Completion>) -> Self {
        BlobState {
            store,
            fetches: HashMap::new(),
            requests: HashMap::new(),
            not_found: HashMap::new(),
            completions,
        }
    }

    /// Downloads in progress.
    pub(crate) fn active(&self) -> usize {
        self.fetches.len()
    }

    /// How many blobs are stored, and the bytes they take with their outboards.
    pub(crate) fn usage(&self) -> (u64, u64) {
        let blobs = self.store.list().unwrap_or_default();
        let bytes = blobs
            .iter()
            .map(|b| b.size + knack_protocol::blob::outboard_size(b.size))
            .sum();
        (blobs.len() as u64, bytes)
    }

    /// The blob store.
    pub(crate) fn store(&self) -> &Arc<BlobStore> {
        &self.store
    }

    /// Where work done off the actor reports.
    pub(crate) fn completions(&self) -> mpsc::Sender<Completion> {
        self.completions.clone()
    }
}

impl Actor {
    /// Makes the blob `hash` of `size` bytes local, answering `waiter` when it is (or when no
    /// peer could serve it).
    pub(super) fn fetch_blob(&mut self, hash: ContentHash, size: u64, waiter: BlobWaiter) {
        if self.blobs.store.size_of(&hash).is_some() {
            let _ = waiter.send(Ok(()));
            return;
        }
        if let Some(active) = self.blobs.fetches.get_mut(&hash) {
            active.waiters.push(waiter);
            active.deadline = active.deadline.max(Instant::now() + FETCH_DEADLINE);
            return;
        }
        self.blobs.not_found.remove(&hash);
        if let Err(e) = self.start_fetch(hash, size, None, Some(waiter)) {
            tracing::warn!(%hash, error = %e, "blob download not started");
        }
    }

    fn start_fetch(
        &mut self,
        hash: ContentHash,
        size: u64,
        relay_for: Option<PeerId>,
        waiter: Option<BlobWaiter>,
    ) -> Result<(), NodeError> {
        let partial = match self.blobs.store.partial(&hash) {
            Ok(partial) => partial,
            Err(e) => {
                if let Some(w) = waiter {
                    let _ = w.send(Err(e.into()));
                }
                return Ok(());
            }
        };
        // A blob of a members-only space is asked of its members only (others would refuse,
        // and would learn what this node looks for).
        let candidates: Vec<PeerId> = self
            .connected
            .keys()
            .filter(|p| Some(**p) != relay_for && self.may_serve_blob(p, &hash))
            .copied()
            .collect();
        let fetch = BlobFetch::new(hash, size, partial.len(), candidates);
        let deadline = Instant::now()
            + if relay_for.is_some() {
                RELAY_DEADLINE
            } else {
                FETCH_DEADLINE
            };
        tracing::debug!(%hash, size, resume = partial.len(), relay = relay_for.is_some(), "blob download started");
        self.blobs.fetches.insert(
            hash,
            ActiveFetch {
                fetch,
                partial: Some(partial),
                waiters: waiter.into_iter().collect(),
                deadline,
                relay_for,
            },
        );
        self.pump_fetch(&hash);
        Ok(())
    }

    /// Sends what the download of `hash` has due, writes what it verified, and ends it when it
    /// is done or exhausted.
    fn pump_fetch(&mut self, hash: &ContentHash) {
        let now = wall_ms();
        let Some(active) = self.blobs.fetches.get_mut(hash) else {
            return;
        };
        while let Some((peer, request)) = active.fetch.poll_request(now) {
            let id = self
                .swarm
                .behaviour_mut()
                .blob
                .send_request(&peer, request.encode());
            self.blobs.requests.insert(id, (*hash, peer, request));
        }
        let mut write_error = None;
        while let Some((offset, data)) = active.fetch.next_verified() {
            self.metrics
                .blob_bytes
                .get_or_create(&inbound())
                .inc_by(data.len() as u64);
            if let Some(partial) = active.partial.as_mut()
                && let Err(e) = partial.append(offset, &data)
            {
                write_error = Some(e);
                break;
            }
        }
        for (peer, penalty) in active.fetch.take_penalties() {
            let reason = match penalty {
                Penalty::Corrupt => "corrupt",
                Penalty::Unreliable => "unreliable",
            };
            tracing::warn!(%peer, %hash, reason, "peer dropped from a blob download");
            Metrics::count(&self.metrics.blob_peers_penalised, reason);
        }
        let status = active.fetch.status();
        if let Some(e) = write_error {
            self.end_fetch(hash, Err(e.into()));
            return;
        }
        match status {
            FetchStatus::InProgress => {}
            FetchStatus::Done => {
                let Some(partial) = active.partial.take() else {
                    return;
                };
                let store = self.blobs.store.clone();
                let completions = self.blobs.completions.clone();
                let hash = *hash;
                tokio::task::spawn_blocking(move || {
                    let result = store.finish(partial, &hash);
                    let _ = completions.blocking_send(Completion::Stored { hash, result });
                });
            }
            FetchStatus::Exhausted => {
                let reason = "no connected peer could serve it".to_owned();
                self.end_fetch(
                    hash,
                    Err(ContentError::Unavailable {
                        hash: *hash,
                        reason,
                    }
                    .into()),
                );
            }
        }
    }

    /// Ends the download of `hash`, answering its waiters.
    fn end_fetch(&mut self, hash: &ContentHash, result: Result<(), NodeError>) {
        let Some(active) = self.blobs.fetches.remove(hash) else {
            return;
        };
        self.blobs.requests.retain(|_, (h, _, _)| h != hash);
        let outcome = if result.is_ok() { "done" } else { "failed" };
        Metrics::count(&self.metrics.blob_fetches, outcome);
        if let Err(e) = &result {
            tracing::info!(%hash, error = %e, "blob download failed");
            self.blobs.not_found.insert(*hash, Instant::now());
        }
        for waiter in active.waiters {
            let _ = waiter.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(NodeError::Content(ContentError::Unavailable {
                    hash: *hash,
                    reason: e.to_string(),
                })),
            });
        }
    }

    /// A chunk read for a peer off the actor: sent.
    pub(super) fn blob_served(
        &mut self,
        channel: ResponseChannel<Vec<u8>>,
        response: Vec<u8>,
        bytes: u64,
    ) {
        self.metrics.blob_bytes.get_or_create(&out()).inc_by(bytes);
        let _ = self
            .swarm
            .behaviour_mut()
            .blob
            .send_response(channel, response);
    }

    /// A finished download, stored off the actor (or refused by the final check).
    pub(super) fn blob_stored(&mut self, hash: &ContentHash, result: Result<u64, ContentError>) {
        let result = result.map(|size| {
            tracing::info!(%hash, size, "blob downloaded and verified");
        });
        self.end_fetch(hash, result.map_err(NodeError::from));
    }

    /// A newly connected peer is asked by every download in progress.
    pub(super) fn blobs_peer_connected(&mut self, peer: PeerId) {
        let allowed: Vec<ContentHash> = self
            .blobs
            .fetches
            .keys()
            .filter(|h| self.may_serve_blob(&peer, h))
            .copied()
            .collect();
        let hashes: Vec<ContentHash> = self
            .blobs
            .fetches
            .iter_mut()
            .filter(|(h, a)| a.relay_for != Some(peer) && allowed.contains(h))
            .map(|(h, a)| {
                a.fetch.add_candidate(peer);
                *h
            })
            .collect();
        for hash in hashes {
            self.pump_fetch(&hash);
        }
    }

    /// A peer that left is no longer asked.
    pub(super) fn blobs_peer_disconnected(&mut self, peer: &PeerId) {
        let hashes: Vec<ContentHash> = self.blobs.fetches.keys().copied().collect();
        for hash in hashes {
            if let Some(a) = self.blobs.fetches.get_mut(&hash) {
                a.fetch.remove_candidate(peer);
            }
            self.pump_fetch(&hash);
        }
    }

    /// Timers: downloads resting on busy peers resume, late ones end, old misses expire.
    pub(super) fn blobs_on_tick(&mut self) {
        let now = Instant::now();
        self.blobs
            .not_found
            .retain(|_, at| now.duration_since(*at) < NOT_FOUND_TTL);
        let hashes: Vec<(ContentHash, bool)> = self
            .blobs
            .fetches
            .iter()
            .map(|(h, a)| (*h, a.deadline <= now))
            .collect();
        for (hash, late) in hashes {
            if late {
                let reason = "the download took too long".to_owned();
                self.end_fetch(
                    &hash,
                    Err(ContentError::Unavailable { hash, reason }.into()),
                );
            } else {
                self.pump_fetch(&hash);
            }
        }
    }

    /// `/knack/blob/1` events: requests to serve, responses to downloads.
    pub(super) fn on_blob_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.serve_blob(peer, &request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    let Some((hash, from, request)) = self.blobs.requests.remove(&request_id)
                    else {
                        return;
                    };
                    let Some(active) = self.blobs.fetches.get_mut(&hash) else {
                        return;
                    };
                    match BlobResponse::decode(&response) {
                        Ok(response) => {
                            active
                                .fetch
                                .handle_response(&from, &request, response, wall_ms())
                        }
                        Err(e) => {
                            self.metrics.reject(e.reason());
                            // Undecodable is as bad as unverifiable: a corrupt chunk.
                            let garbage = BlobResponse::Chunk {
                                hash,
                                offset: request.offset,
                                slice: Vec::new(),
                            };
                            active
                                .fetch
                                .handle_response(&from, &request, garbage, wall_ms());
                        }
                    }
                    self.pump_fetch(&hash);
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((hash, peer, request)) = self.blobs.requests.remove(&request_id) {
                    tracing::debug!(%peer, %hash, %error, "blob request failed");
                    if let Some(active) = self.blobs.fetches.get_mut(&hash) {
                        active.fetch.request_failed(&peer, &request, wall_ms());
                    }
                    self.pump_fetch(&hash);
                }
            }
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve_blob(&mut self, peer: PeerId, request: &[u8], channel: ResponseChannel<Vec<u8>>) {
        let request = match BlobRequest::decode(request) {
            Ok(request) => request,
            Err(e) => {
                self.metrics.reject(e.reason());
                return;
            }
        };
        let hash = request.hash;
        if !self.may_serve_blob(&peer, &hash) {
            // A blob of a members-only space is served to its members only.
            self.refuse_request("blob_not_member");
            let refused = BlobResponse::Refused {
                hash,
                reason: BlobRefuseReason::Forbidden,
            };
            let _ = self
                .swarm
                .behaviour_mut()
                .blob
                .send_response(channel, refused.encode());
            return;
        }
        if self.blobs.store.size_of(&hash).is_some() {
            let store = self.blobs.store.clone();
            let completions = self.blobs.completions.clone();
            tokio::task::spawn_blocking(move || {
                let response = match store.open_for_serving(&hash) {
                    Ok(Some((content, outboard, size))) => {
                        // bao reads 1 KiB chunks and 64-byte parents: buffer both files.
                        let content = std::io::BufReader::with_capacity(1 << 18, content);
                        let outboard = std::io::BufReader::with_capacity(1 << 15, outboard);
                        extract_chunk(content, outboard, size, &request).unwrap_or(
                            // A request past the end: nothing to prove, so nothing served.
                            BlobResponse::NotFound { hash },
                        )
                    }
                    _ => BlobResponse::NotFound { hash },
                };
                let bytes = match &response {
                    BlobResponse::Chunk { slice, .. } => slice.len() as u64,
                    _ => 0,
                };
                let _ = completions.blocking_send(Completion::Served {
                    channel,
                    response: response.encode(),
                    bytes,
                });
            });
            return;
        }
        let busy = BlobResponse::Refused {
            hash,
            reason: BlobRefuseReason::Busy,
        };
        let response = if self.blobs.fetches.contains_key(&hash) {
            busy
        } else if self.blobs.not_found.contains_key(&hash)
            || self.blobs.fetches.len() >= MAX_RELAYS
            || self.connected.len() < 2
        {
            BlobResponse::NotFound { hash }
        } else if let Some(size) = self.referenced_blob_size(&hash) {
            match self.start_fetch(hash, size, Some(peer), None) {
                Ok(()) if self.blobs.fetches.contains_key(&hash) => busy,
                _ => BlobResponse::NotFound { hash },
            }
        } else {
            BlobResponse::NotFound { hash }
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .blob
            .send_response(channel, response.encode());
    }

    /// The size of the blob `hash` if a body version of a procedure in a joined space points at
    /// it (only such blobs are relayed).
    pub(super) fn referenced_blob_size(&self, hash: &ContentHash) -> Option<u64> {
        self.spaces.values().find_map(|replica| {
            replica.space.procedures().find_map(|p| {
                p.versions()
                    .find(|(_, c)| c.hash == *hash && c.inline.is_none())
                    .map(|(_, c)| c.size)
            })
        })
    }
}
