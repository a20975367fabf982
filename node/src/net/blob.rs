//! `/knack/blob/1` as a libp2p behaviour: downloads run by the protocol crate's sans-IO
//! [`BlobFetch`] over request-response, and requests from peers handed to the owner.
//!
//! The behaviour owns the downloads' engines, the requests in flight, encoding and decoding,
//! the deadlines, the memory of recent misses and the penalties of peers that send bad chunks
//! or keep failing. It reports verified bytes in order ([`Event::Bytes`]), the end of a
//! download ([`Event::Complete`], [`Event::Failed`]) and requests to serve
//! ([`Event::Request`]); its owner keeps the files (partial downloads, the blob store), decides
//! who may be served what, and answers with [`Behaviour::respond`].

use std::collections::{HashMap, VecDeque};
use std::task::Waker;
use std::time::{Duration, Instant};

use knack_crdt::ContentHash;
use knack_protocol::{BlobFetch, BlobRequest, BlobResponse, FetchStatus, Penalty};
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::{THandlerInEvent, ToSwarm};

use super::BLOB_PROTOCOL;
use super::request_response::{Inner, InnerEvent, REQUEST_TIMEOUT, inner, wrap_request_response};
use crate::metrics::{DirectionLabel, Metrics};
use crate::node::wall_ms;

/// Longest a download asked for by a reader may take.
const FETCH_DEADLINE: Duration = Duration::from_secs(120);
/// Longest a relayed download (for a peer) may take: short, so relays waiting on each other in
/// a cycle give up soon.
const RELAY_DEADLINE: Duration = Duration::from_secs(20);
/// How long a blob nobody could serve is answered `NotFound` without trying again.
const NOT_FOUND_TTL: Duration = Duration::from_secs(30);
/// Most downloads at once before a node stops relaying.
const MAX_RELAYS: usize = 8;

/// A peer's request for a chunk, decoded, waiting for an answer ([`Behaviour::respond`]).
#[derive(Debug)]
pub(crate) struct InboundRequest {
    /// Who asks.
    pub(crate) peer: PeerId,
    /// What it asks for.
    pub(crate) request: BlobRequest,
    /// Where the answer goes.
    pub(crate) responder: Responder,
}

/// Where the answer to a peer's request goes (it may travel to a blocking thread that reads
/// the chunk, and back).
#[derive(Debug)]
pub(crate) struct Responder(ResponseChannel<Vec<u8>>);

/// What the blob behaviour reports.
#[derive(Debug)]
pub(crate) enum Event {
    /// A peer asks for a chunk: answer with [`Behaviour::respond`].
    Request(InboundRequest),
    /// The next verified bytes of a download, in order from `offset`: append them.
    Bytes {
        /// The blob.
        hash: ContentHash,
        /// Where they start.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Every byte of a download arrived and was verified: store the blob, then end the
    /// download with [`Behaviour::finish`].
    Complete {
        /// The blob.
        hash: ContentHash,
    },
    /// A download ended without the blob (no peer left to ask, or past its deadline).
    Failed {
        /// The blob.
        hash: ContentHash,
        /// Why.
        reason: String,
    },
}

/// One download in progress.
struct Fetch {
    fetch: BlobFetch<PeerId>,
    deadline: Instant,
    /// The peer a relayed download is for (not asked).
    relay_for: Option<PeerId>,
    /// Whether [`Event::Complete`] was reported.
    complete: bool,
}

/// The `/knack/blob/1` behaviour.
pub(crate) struct Behaviour {
    inner: Inner,
    fetches: HashMap<ContentHash, Fetch>,
    requests: HashMap<OutboundRequestId, (ContentHash, PeerId, BlobRequest)>,
    not_found: HashMap<ContentHash, Instant>,
    metrics: Metrics,
    events: VecDeque<ToSwarm<Event, THandlerInEvent<Inner>>>,
    waker: Option<Waker>,
}

impl Behaviour {
    /// The behaviour, counting into `metrics`.
    pub(crate) fn new(metrics: Metrics) -> Self {
        Behaviour {
            inner: inner(BLOB_PROTOCOL, REQUEST_TIMEOUT),
            fetches: HashMap::new(),
            requests: HashMap::new(),
            not_found: HashMap::new(),
            metrics,
            events: VecDeque::new(),
            waker: None,
        }
    }

    /// Downloads in progress.
    pub(crate) fn active(&self) -> usize {
        self.fetches.len()
    }

    /// Whether `hash` is being downloaded.
    pub(crate) fn is_fetching(&self, hash: &ContentHash) -> bool {
        self.fetches.contains_key(hash)
    }

    /// A reader waits for the download of `hash`: it gets the reader's deadline (if that is
    /// later). `false` when no such download runs.
    pub(crate) fn wait_for(&mut self, hash: &ContentHash) -> bool {
        let Some(fetch) = self.fetches.get_mut(hash) else {
            return false;
        };
        fetch.deadline = fetch.deadline.max(Instant::now() + FETCH_DEADLINE);
        true
    }

    /// A reader asks for `hash` afresh: a recent miss no longer counts.
    pub(crate) fn forget_miss(&mut self, hash: &ContentHash) {
        self.not_found.remove(hash);
    }

    /// Whether a request for `hash`, which this node lacks, may start a relayed download with
    /// `connected` peers: not after a recent miss, not past the relays' limit, and only with
    /// another peer to ask.
    pub(crate) fn may_relay(&self, hash: &ContentHash, connected: usize) -> bool {
        !self.not_found.contains_key(hash) && self.fetches.len() < MAX_RELAYS && connected >= 2
    }

    /// Starts downloading the blob `hash` of `size` bytes from `candidates`, resuming after
    /// the `resume_from` bytes already held; for a reader, or relayed for the peer `relay_for`
    /// (with a shorter deadline).
    pub(crate) fn fetch(
        &mut self,
        hash: ContentHash,
        size: u64,
        resume_from: u64,
        candidates: Vec<PeerId>,
        relay_for: Option<PeerId>,
    ) {
        let fetch = BlobFetch::new(hash, size, resume_from, candidates);
        let deadline = Instant::now()
            + if relay_for.is_some() {
                RELAY_DEADLINE
            } else {
                FETCH_DEADLINE
            };
        tracing::debug!(%hash, size, resume = resume_from, relay = relay_for.is_some(), "blob download started");
        self.fetches.insert(
            hash,
            Fetch {
                fetch,
                deadline,
                relay_for,
                complete: false,
            },
        );
        self.pump(&hash);
    }

    /// Ends the download of `hash` (stored, or failed on the owner's side): counted, and a
    /// failure remembered for a while. Nothing when it ended already.
    pub(crate) fn finish(&mut self, hash: &ContentHash, stored: bool) {
        if self.fetches.remove(hash).is_none() {
            return;
        }
        self.requests.retain(|_, (h, _, _)| h != hash);
        // What the download reported and the owner has not taken yet is of no use now.
        self.events.retain(|e| {
            !matches!(e, ToSwarm::GenerateEvent(Event::Bytes { hash: h, .. } | Event::Complete { hash: h }) if h == hash)
        });
        Metrics::count(
            &self.metrics.blob_fetches,
            if stored { "done" } else { "failed" },
        );
        if !stored {
            self.not_found.insert(*hash, Instant::now());
        }
    }

    /// A newly connected peer is asked by every download it `may_serve` (not by the one
    /// relayed for it).
    pub(crate) fn peer_connected(
        &mut self,
        peer: PeerId,
        may_serve: impl Fn(&ContentHash) -> bool,
    ) {
        let hashes: Vec<ContentHash> = self
            .fetches
            .iter_mut()
            .filter(|(h, f)| f.relay_for != Some(peer) && may_serve(h))
            .map(|(h, f)| {
                f.fetch.add_candidate(peer);
                *h
            })
            .collect();
        for hash in hashes {
            self.pump(&hash);
        }
    }

    /// A peer that left is no longer asked.
    pub(crate) fn peer_gone(&mut self, peer: &PeerId) {
        let hashes: Vec<ContentHash> = self.fetches.keys().copied().collect();
        for hash in hashes {
            if let Some(f) = self.fetches.get_mut(&hash) {
                f.fetch.remove_candidate(peer);
            }
            self.pump(&hash);
        }
    }

    /// Timers: downloads resting on busy peers resume, late ones end, old misses expire.
    pub(crate) fn on_tick(&mut self) {
        let now = Instant::now();
        self.not_found
            .retain(|_, at| now.duration_since(*at) < NOT_FOUND_TTL);
        let hashes: Vec<(ContentHash, bool)> = self
            .fetches
            .iter()
            .map(|(h, f)| (*h, f.deadline <= now))
            .collect();
        for (hash, late) in hashes {
            if late {
                self.fail(&hash, "the download took too long");
            } else {
                self.pump(&hash);
            }
        }
    }

    /// Answers a peer's request.
    pub(crate) fn respond(&mut self, responder: Responder, response: &BlobResponse) {
        if let BlobResponse::Chunk { slice, .. } = response {
            self.metrics
                .blob_bytes
                .get_or_create(&DirectionLabel { direction: "out" })
                .inc_by(slice.len() as u64);
        }
        let _ = self.inner.send_response(responder.0, response.encode());
    }

    /// Sends what the download of `hash` has due, reports what it verified, counts the peers
    /// it dropped, and ends it when it is done or exhausted.
    fn pump(&mut self, hash: &ContentHash) {
        let now = wall_ms();
        let Some(f) = self.fetches.get_mut(hash) else {
            return;
        };
        while let Some((peer, request)) = f.fetch.poll_request(now) {
            let id = self.inner.send_request(&peer, request.encode());
            self.requests.insert(id, (*hash, peer, request));
        }
        while let Some((offset, data)) = f.fetch.next_verified() {
            self.metrics
                .blob_bytes
                .get_or_create(&DirectionLabel { direction: "in" })
                .inc_by(data.len() as u64);
            self.events.push_back(ToSwarm::GenerateEvent(Event::Bytes {
                hash: *hash,
                offset,
                data,
            }));
        }
        for (peer, penalty) in f.fetch.take_penalties() {
            let reason = match penalty {
                Penalty::Corrupt => "corrupt",
                Penalty::Unreliable => "unreliable",
            };
            tracing::warn!(%peer, %hash, reason, "peer dropped from a blob download");
            Metrics::count(&self.metrics.blob_peers_penalised, reason);
        }
        match f.fetch.status() {
            FetchStatus::InProgress => {}
            FetchStatus::Done if !f.complete => {
                f.complete = true;
                self.events
                    .push_back(ToSwarm::GenerateEvent(Event::Complete { hash: *hash }));
            }
            FetchStatus::Done => {}
            FetchStatus::Exhausted => self.fail(hash, "no connected peer could serve it"),
        }
        self.wake();
    }

    /// Ends the download of `hash` without the blob, and reports it.
    fn fail(&mut self, hash: &ContentHash, reason: &str) {
        if !self.fetches.contains_key(hash) {
            return;
        }
        self.finish(hash, false);
        self.events.push_back(ToSwarm::GenerateEvent(Event::Failed {
            hash: *hash,
            reason: reason.to_owned(),
        }));
        self.wake();
    }

    /// Takes in what the inner request-response behaviour reports.
    fn on_inner(&mut self, event: InnerEvent) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => match BlobRequest::decode(&request) {
                    Ok(request) => self.events.push_back(ToSwarm::GenerateEvent(Event::Request(
                        InboundRequest {
                            peer,
                            request,
                            responder: Responder(channel),
                        },
                    ))),
                    // Dropping the channel fails the peer's request.
                    Err(e) => self.metrics.reject(e.reason()),
                },
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    let Some((hash, from, request)) = self.requests.remove(&request_id) else {
                        return;
                    };
                    let Some(f) = self.fetches.get_mut(&hash) else {
                        return;
                    };
                    let response = BlobResponse::decode(&response).unwrap_or_else(|e| {
                        self.metrics.reject(e.reason());
                        // Undecodable is as bad as unverifiable: a corrupt chunk.
                        BlobResponse::Chunk {
                            hash,
                            offset: request.offset,
                            slice: Vec::new(),
                        }
                    });
                    f.fetch
                        .handle_response(&from, &request, response, wall_ms());
                    self.pump(&hash);
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((hash, peer, request)) = self.requests.remove(&request_id) {
                    tracing::debug!(%peer, %hash, %error, "blob request failed");
                    if let Some(f) = self.fetches.get_mut(&hash) {
                        f.fetch.request_failed(&peer, &request, wall_ms());
                    }
                    self.pump(&hash);
                }
            }
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => {}
        }
    }
}

wrap_request_response!(Behaviour, Event);
