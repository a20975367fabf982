//! `/knack/sync/1` as a libp2p behaviour: the protocol crate's sans-IO [`SyncEngine`] driven
//! over request-response. The behaviour owns the engine, the requests in flight, encoding and
//! decoding, the round timeout and the protocol's penalties; its owner provides the op log and
//! who may read a space ([`Host`]) and takes in the ops that arrive ([`Ops`]).
//!
//! Requests and responses need the op log to be answered, which the node's actor owns, so they
//! come out as events holding the decoded message ([`Event::Request`], [`Event::Response`]),
//! which the actor hands back with its [`Host`] ([`Behaviour::answer`],
//! [`Behaviour::take_response`]), as `request_response` hands out a channel to answer on.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Duration;

use knack_crdt::SpaceName;
use knack_protocol::sync::{MAX_SYNC_MESSAGE_BYTES, RefuseReason};
use knack_protocol::{OpLog, SyncConfig, SyncEngine, SyncOutput, SyncRequest, SyncResponse};
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundFailure, ResponseChannel};
use libp2p::swarm::{CloseConnection, THandlerInEvent, ToSwarm};

use super::SYNC_PROTOCOL;
use super::request_response::{Inner, InnerEvent, REQUEST_TIMEOUT, inner, wrap_request_response};
use crate::metrics::Metrics;
use crate::node::wall_ms;

/// First delay after a failed round, doubled at each further failure.
const BACKOFF_BASE_MS: u64 = 500;
/// Longest delay after failed rounds.
const BACKOFF_MAX_MS: u64 = 10_000;

/// What the behaviour needs of its owner: the op log (version vectors and stored envelopes)
/// and which peers may read a space.
pub(crate) trait Host: OpLog {
    /// Whether `peer` may be served `space`'s ops (and be synced with at all).
    fn may_read(&self, space: &SpaceName, peer: &PeerId) -> bool;
}

/// Ops that arrived from a peer, to verify and ingest (through the inbox).
#[derive(Debug)]
pub(crate) struct Ops {
    /// Who sent them.
    pub(crate) peer: PeerId,
    /// The encoded envelopes.
    pub(crate) envelopes: Vec<Vec<u8>>,
}

/// A peer's request, decoded, waiting to be answered with [`Behaviour::answer`].
#[derive(Debug)]
pub(crate) struct InboundRequest {
    peer: PeerId,
    request: SyncRequest,
    channel: ResponseChannel<Vec<u8>>,
}

/// A peer's response to one of our rounds, decoded, waiting for [`Behaviour::take_response`].
#[derive(Debug)]
pub(crate) struct InboundResponse {
    peer: PeerId,
    response: SyncResponse,
}

/// What the sync behaviour reports.
#[derive(Debug)]
pub(crate) enum Event {
    /// A peer asks: answer with [`Behaviour::answer`].
    Request(InboundRequest),
    /// A peer answered one of our rounds: take it in with [`Behaviour::take_response`].
    Response(InboundResponse),
    /// A round with `peer` went unanswered for [`REQUEST_TIMEOUT`]: the connection is stalled
    /// (a partition), and the behaviour is closing every connection to the peer. TCP would
    /// resume it only at its next retransmission, tens of seconds after the network heals;
    /// the owner forgets the peer now, so its next redial opens a fresh connection.
    Stalled {
        /// The peer.
        peer: PeerId,
    },
}

/// The `/knack/sync/1` behaviour.
pub(crate) struct Behaviour {
    inner: Inner,
    engine: SyncEngine<PeerId>,
    metrics: Metrics,
    events: VecDeque<ToSwarm<Event, THandlerInEvent<Inner>>>,
    waker: Option<Waker>,
}

impl Behaviour {
    /// The behaviour with a round per peer and space every `interval_ms` (aiming at the
    /// protocol's default fanout), counting into `metrics`.
    pub(crate) fn new(interval_ms: u64, metrics: Metrics) -> Self {
        Self::with_timeout(interval_ms, metrics, REQUEST_TIMEOUT)
    }

    /// The behaviour with rounds timing out after `timeout` rather than [`REQUEST_TIMEOUT`]
    /// (for tests that wait for a timeout).
    pub(super) fn with_timeout(interval_ms: u64, metrics: Metrics, timeout: Duration) -> Self {
        let engine = SyncEngine::new(SyncConfig {
            interval_ms,
            // A round in flight when a partition starts blocks the next one with that peer
            // until it times out, and failed rounds back off: both bound how long a healed
            // partition waits before anti-entropy resumes.
            request_timeout_ms: timeout.as_millis() as u64,
            backoff_base_ms: BACKOFF_BASE_MS,
            backoff_max_ms: BACKOFF_MAX_MS,
            // The most a response may carry (half a sync message): a node catching up takes
            // as much per round trip as the protocol allows.
            response_budget_bytes: MAX_SYNC_MESSAGE_BYTES / 2,
            fanout: knack_protocol::sync::DEFAULT_SYNC_FANOUT,
        });
        Behaviour {
            inner: inner(SYNC_PROTOCOL, timeout),
            engine,
            metrics,
            events: VecDeque::new(),
            waker: None,
        }
    }

    /// Syncs `space` from now on; `false` when the engine syncs as many spaces as it can.
    pub(crate) fn add_space(&mut self, space: SpaceName) -> bool {
        self.engine.add_space(space)
    }

    /// Stops syncing `space`.
    pub(crate) fn remove_space(&mut self, space: &SpaceName) {
        self.engine.remove_space(space);
    }

    /// Makes a round of `space` due now with every peer.
    pub(crate) fn sync_now(&mut self, space: &SpaceName) {
        self.engine.sync_now(space, wall_ms());
    }

    /// Makes a round of every space due now with `peer` (a new peer, or one whose gossip showed
    /// a gap).
    pub(crate) fn sync_with(&mut self, peer: PeerId) {
        self.engine.peer_connected(peer, wall_ms());
    }

    /// Forgets `peer` (a round in flight to it is abandoned).
    pub(crate) fn peer_gone(&mut self, peer: &PeerId) {
        self.engine.peer_disconnected(peer);
    }

    /// Sends the rounds that are due. A members-only space is synced with its members only: a
    /// non-member must not receive our ops (the push after a pull) nor feed us any.
    pub(crate) fn send_due_rounds(&mut self, host: &impl Host) {
        let now = wall_ms();
        for (peer, request) in self.engine.poll_requests(now, host) {
            self.send(peer, &request, host, now);
        }
    }

    /// Answers a peer's request: the ops it pushed (none for a pull), or `None` when it was
    /// refused. A members-only space is answered
    /// only to members; others are told, as for a space this node does not hold, that it is
    /// unknown (a non-member learns nothing of it, not even that it is here).
    pub(crate) fn answer(&mut self, request: InboundRequest, host: &impl Host) -> Option<Ops> {
        let InboundRequest {
            peer,
            request,
            channel,
        } = request;
        if !host.may_read(request.space(), &peer) {
            Metrics::count(&self.metrics.requests_refused, "sync_not_member");
            let response = SyncResponse::Refused {
                space: request.space().clone(),
                reason: RefuseReason::UnknownSpace,
            };
            let _ = self.inner.send_response(channel, response.encode());
            return None;
        }
        let (response, pushed) = self.engine.handle_request(&peer, request, host);
        self.metrics.sync_envelopes_in.inc_by(pushed.len() as u64);
        let _ = self.inner.send_response(channel, response.encode());
        Some(Ops {
            peer,
            envelopes: pushed,
        })
    }

    /// Takes in a peer's response to one of our rounds: the ops it carried, if any (a push of
    /// what the peer lacks goes out at once).
    pub(crate) fn take_response(
        &mut self,
        response: InboundResponse,
        host: &impl Host,
    ) -> Option<Ops> {
        let InboundResponse { peer, response } = response;
        let now = wall_ms();
        let outputs = self.engine.handle_response(&peer, response, now, host);
        self.metrics.sync_rounds.inc();
        let mut ops = None;
        for output in outputs {
            match output {
                SyncOutput::Ingest {
                    peer, envelopes, ..
                } => {
                    self.metrics
                        .sync_envelopes_in
                        .inc_by(envelopes.len() as u64);
                    ops = Some(Ops { peer, envelopes });
                }
                SyncOutput::Send { peer, request } => self.send(peer, &request, host, now),
            }
        }
        ops
    }

    /// Sends `request` to `peer`, or skips the round when `peer` may not read its space.
    fn send(&mut self, peer: PeerId, request: &SyncRequest, host: &impl Host, now: u64) {
        if host.may_read(request.space(), &peer) {
            self.inner.send_request(&peer, request.encode());
        } else {
            self.engine.skip_round(&peer, now);
        }
        self.wake();
    }

    /// Takes in what the inner request-response behaviour reports.
    fn on_inner(&mut self, event: InnerEvent) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => match SyncRequest::decode(&request) {
                    Ok(request) => self.emit(Event::Request(InboundRequest {
                        peer,
                        request,
                        channel,
                    })),
                    Err(e) => {
                        self.metrics.reject(e.reason());
                        tracing::debug!(%peer, error = %e, "bad sync request");
                        // Dropping the channel fails the peer's request.
                    }
                },
                request_response::Message::Response { response, .. } => {
                    match SyncResponse::decode(&response) {
                        Ok(response) => {
                            self.emit(Event::Response(InboundResponse { peer, response }))
                        }
                        Err(e) => {
                            self.metrics.reject(e.reason());
                            self.engine.request_failed(&peer, wall_ms());
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "sync request failed");
                self.engine.request_failed(&peer, wall_ms());
                if matches!(error, OutboundFailure::Timeout) {
                    // The close is graceful and waits on the stalled connection too, so the
                    // owner forgets the peer at once (`Event::Stalled`).
                    self.events.push_back(ToSwarm::CloseConnection {
                        peer_id: peer,
                        connection: CloseConnection::All,
                    });
                    self.emit(Event::Stalled { peer });
                }
            }
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn emit(&mut self, event: Event) {
        self.events.push_back(ToSwarm::GenerateEvent(event));
        self.wake();
    }
}

wrap_request_response!(Behaviour, Event);
