//! `/knack/blob/1` in the actor: the files behind the blob behaviour (`net::blob`).
//!
//! The behaviour runs the downloads and reports their verified bytes in order; the actor
//! appends them to the blob's partial file (memory stays bounded by the download's window),
//! hands the finished file to the blob store on the blocking pool (which hashes it once more)
//! and answers the readers waiting for it. Serving reads files, so it runs on the blocking pool
//! and comes back as a [`Completion`]. Asked for a blob it lacks but one of its spaces
//! references, a node starts a download of its own from its other peers and answers `Busy`
//! until it has it: content crosses the mesh hop by hop, cached on the way.

use std::collections::HashMap;
use std::sync::Arc;

use knack_crdt::ContentHash;
use knack_protocol::blob::extract_chunk;
use knack_protocol::{BlobResponse, blob::BlobRefuseReason};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use super::{Actor, Completion};
use crate::content::{BlobStore, ContentError, PartialBlob};
use crate::error::NodeError;
use crate::net::blob::{Event, InboundRequest, Responder};

/// A reader waiting for a blob to be local.
pub(crate) type BlobWaiter = oneshot::Sender<Result<(), NodeError>>;

/// The files of one download in progress, and who waits for it.
struct Download {
    /// Taken when the download is complete and the file goes to the blob store.
    partial: Option<PartialBlob>,
    waiters: Vec<BlobWaiter>,
}

/// The actor's content state.
pub(crate) struct BlobState {
    store: Arc<BlobStore>,
    downloads: HashMap<ContentHash, Download>,
    completions: mpsc::Sender<Completion>,
}

impl BlobState {
    /// The state over `store`, sending finished work on `completions`.
    pub(crate) fn new(store: Arc<BlobStore>, completions: mpsc::Sender<Completion>) -> Self {
        BlobState {
            store,
            downloads: HashMap::new(),
            completions,
        }
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
        if self.swarm.behaviour_mut().blob.wait_for(&hash)
            && let Some(download) = self.blobs.downloads.get_mut(&hash)
        {
            download.waiters.push(waiter);
            return;
        }
        self.swarm.behaviour_mut().blob.forget_miss(&hash);
        self.start_fetch(hash, size, None, Some(waiter));
    }

    /// Starts downloading `hash` from the connected peers that may serve it (but `relay_for`),
    /// resuming from its partial file.
    fn start_fetch(
        &mut self,
        hash: ContentHash,
        size: u64,
        relay_for: Option<PeerId>,
        waiter: Option<BlobWaiter>,
    ) {
        // A download that failed a moment ago may not be ended here yet (its `Failed` waits in
        // the queue): its waiters wait for this one, and its file handle goes first.
        let mut waiters = self
            .blobs
            .downloads
            .remove(&hash)
            .map(|d| d.waiters)
            .unwrap_or_default();
        let partial = match self.blobs.store.partial(&hash) {
            Ok(partial) => partial,
            Err(e) => {
                tracing::warn!(%hash, error = %e, "blob download not started");
                for w in waiters {
                    let _ = w.send(Err(NodeError::Content(ContentError::Unavailable {
                        hash,
                        reason: e.to_string(),
                    })));
                }
                if let Some(w) = waiter {
                    let _ = w.send(Err(e.into()));
                }
                return;
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
        waiters.extend(waiter);
        let resume_from = partial.len();
        self.blobs.downloads.insert(
            hash,
            Download {
                partial: Some(partial),
                waiters,
            },
        );
        self.swarm
            .behaviour_mut()
            .blob
            .fetch(hash, size, resume_from, candidates, relay_for);
    }

    /// What the blob behaviour reports: requests to serve, and the downloads' bytes and ends.
    pub(super) fn on_blob_event(&mut self, event: Event) {
        match event {
            Event::Request(request) => self.serve_blob(request),
            Event::Bytes { hash, offset, data } => {
                let appended = match self.blobs.downloads.get_mut(&hash) {
                    Some(Download {
                        partial: Some(partial),
                        ..
                    }) => partial.append(offset, &data),
                    _ => return,
                };
                if let Err(e) = appended {
                    self.end_download(&hash, Err(e.into()));
                }
            }
            Event::Complete { hash } => {
                let Some(partial) = self
                    .blobs
                    .downloads
                    .get_mut(&hash)
                    .and_then(|d| d.partial.take())
                else {
                    return;
                };
                let store = self.blobs.store.clone();
                let completions = self.blobs.completions.clone();
                tokio::task::spawn_blocking(move || {
                    let result = store.finish(partial, &hash);
                    let _ = completions.blocking_send(Completion::Stored { hash, result });
                });
            }
            Event::Failed { hash, reason } => {
                if self.swarm.behaviour().blob.is_fetching(&hash) {
                    return; // a new download of it runs already, with the waiters of this one
                }
                self.end_download(
                    &hash,
                    Err(ContentError::Unavailable { hash, reason }.into()),
                );
            }
        }
    }

    /// Ends the download of `hash`, answering its waiters.
    fn end_download(&mut self, hash: &ContentHash, result: Result<(), NodeError>) {
        self.swarm.behaviour_mut().blob.finish(hash, result.is_ok());
        let Some(download) = self.blobs.downloads.remove(hash) else {
            return;
        };
        if let Err(e) = &result {
            tracing::info!(%hash, error = %e, "blob download failed");
        }
        for waiter in download.waiters {
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
    pub(super) fn blob_served(&mut self, responder: Responder, response: BlobResponse) {
        self.swarm
            .behaviour_mut()
            .blob
            .respond(responder, &response);
    }

    /// A finished download, stored off the actor (or refused by the final check).
    pub(super) fn blob_stored(&mut self, hash: &ContentHash, result: Result<u64, ContentError>) {
        let result = result.map(|size| {
            tracing::info!(%hash, size, "blob downloaded and verified");
        });
        self.end_download(hash, result.map_err(NodeError::from));
    }

    /// Serves a peer's request: a held blob's chunk (read off the actor), or, for a blob a
    /// joined space references, `Busy` while this node fetches it for the peer.
    fn serve_blob(&mut self, request: InboundRequest) {
        let InboundRequest {
            peer,
            request,
            responder,
        } = request;
        let hash = request.hash;
        if !self.may_serve_blob(&peer, &hash) {
            // A blob of a members-only space is served to its members only.
            self.refuse_request("blob_not_member");
            let refused = BlobResponse::Refused {
                hash,
                reason: BlobRefuseReason::Forbidden,
            };
            self.swarm.behaviour_mut().blob.respond(responder, &refused);
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
                let _ = completions.blocking_send(Completion::Served {
                    responder,
                    response,
                });
            });
            return;
        }
        let blob = &self.swarm.behaviour().blob;
        if blob.is_fetching(&hash) {
            self.answer_relay(hash, responder);
            return;
        }
        if !blob.may_relay(&hash, self.connected.len()) {
            let response = BlobResponse::NotFound { hash };
            self.swarm
                .behaviour_mut()
                .blob
                .respond(responder, &response);
            return;
        }
        // Only a blob a body version of a joined space points at is relayed: looked for off
        // the actor, over every procedure of the spaces frozen now.
        let frozen = self.frozen_spaces();
        let completions = self.blobs.completions.clone();
        tokio::task::spawn_blocking(move || {
            let size = frozen.iter().find_map(|(_, space)| {
                space.procedures().find_map(|p| {
                    p.versions()
                        .find(|(_, c)| c.hash == hash && c.inline.is_none())
                        .map(|(_, c)| c.size)
                })
            });
            let _ = completions.blocking_send(Completion::RelayLookedUp {
                hash,
                peer,
                responder,
                size,
            });
        });
    }

    /// A peer asked for a blob this node does not hold: `size` is the blob's if a joined space
    /// references it. Fetches it for the peer, who is told `Busy` meanwhile (retry), or
    /// `NotFound`.
    pub(super) fn relay_looked_up(
        &mut self,
        hash: ContentHash,
        peer: PeerId,
        responder: Responder,
        size: Option<u64>,
    ) {
        if let Some(size) = size
            && !self.swarm.behaviour().blob.is_fetching(&hash)
        {
            self.start_fetch(hash, size, Some(peer), None);
        }
        self.answer_relay(hash, responder);
    }

    /// `Busy` while this node fetches `hash` (the asker retries), else `NotFound`.
    fn answer_relay(&mut self, hash: ContentHash, responder: Responder) {
        let response = if self.swarm.behaviour().blob.is_fetching(&hash) {
            BlobResponse::Refused {
                hash,
                reason: BlobRefuseReason::Busy,
            }
        } else {
            BlobResponse::NotFound { hash }
        };
        self.swarm
            .behaviour_mut()
            .blob
            .respond(responder, &response);
    }
}
