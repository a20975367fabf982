//! Anti-entropy over `/knack/sync/1`: the protocol crate's sans-IO engine driven by the swarm.

use std::collections::{BTreeMap, HashMap};

use knack_crdt::{AgentId, SpaceName};
use knack_protocol::sync::Batch;
use knack_protocol::{
    OpLog, SyncConfig, SyncEngine, SyncOutput, SyncRequest, SyncResponse, VersionVector,
};
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId};

use super::{Actor, wall_ms};
use crate::config::Config;
use crate::node::replica::Replica;
use crate::store::Store;

/// The engine and the requests in flight.
pub(crate) struct SyncState {
    engine: SyncEngine<PeerId>,
    in_flight: HashMap<OutboundRequestId, PeerId>,
}

impl SyncState {
    pub(crate) fn new<'a>(config: &Config, spaces: impl Iterator<Item = &'a SpaceName>) -> Self {
        let mut engine = SyncEngine::new(SyncConfig {
            interval_ms: config.sync_interval_ms,
            // A round in flight when a partition starts blocks the next one with that peer
            // until it times out, and failed rounds back off: both bound how long a healed
            // partition waits before anti-entropy resumes.
            request_timeout_ms: crate::net::REQUEST_TIMEOUT.as_millis() as u64,
            backoff_base_ms: 500,
            backoff_max_ms: 10_000,
            // The most a response may carry (half a sync message): a node catching up takes
            // as much per round trip as the protocol allows.
            response_budget_bytes: knack_protocol::sync::MAX_SYNC_MESSAGE_BYTES / 2,
            fanout: knack_protocol::sync::DEFAULT_SYNC_FANOUT,
        });
        for space in spaces {
            engine.add_space(space.clone());
        }
        SyncState {
            engine,
            in_flight: HashMap::new(),
        }
    }

    /// The engine, to add spaces at runtime.
    pub(crate) fn engine_mut(&mut self) -> &mut SyncEngine<PeerId> {
        &mut self.engine
    }

    /// Makes a round of `space` due now with every peer.
    pub(crate) fn sync_now(&mut self, space: &SpaceName, now_ms: u64) {
        self.engine.sync_now(space, now_ms);
    }
}

/// The node's op log as the engine reads it: version vectors from memory, envelopes from the
/// store.
struct NodeLog<'a> {
    store: &'a dyn Store,
    spaces: &'a BTreeMap<SpaceName, Replica>,
}

impl OpLog for NodeLog<'_> {
    fn version_vector(&self, space: &SpaceName) -> VersionVector {
        self.spaces
            .get(space)
            .map(|r| r.vv.clone())
            .unwrap_or_default()
    }

    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Batch {
        match self
            .store
            .envelopes_after(space, author, after_seq, budget_bytes)
        {
            Ok(found) => Batch {
                upto: found.last().map_or(after_seq, |(key, _)| key.last_seq),
                envelopes: found.into_iter().map(|(_, bytes)| bytes).collect(),
            },
            Err(e) => {
                tracing::error!(error = %e, "reading the op log for anti-entropy");
                Batch {
                    envelopes: Vec::new(),
                    upto: after_seq,
                }
            }
        }
    }
}

impl Actor {
    pub(super) fn sync_peer_connected(&mut self, peer: PeerId) {
        self.sync.engine.peer_connected(peer, wall_ms());
    }

    pub(super) fn sync_peer_disconnected(&mut self, peer: &PeerId) {
        self.sync.engine.peer_disconnected(peer);
    }

    /// Sends the rounds that are due.
    pub(super) fn poll_sync(&mut self) {
        let log = NodeLog {
            store: self.store.as_ref(),
            spaces: &self.spaces,
        };
        let now = wall_ms();
        let requests = self.sync.engine.poll_requests(now, &log);
        for (peer, request) in requests {
            if !self.may_read(request.space(), &peer) {
                // A members-only space is synced with its members only: a non-member must
                // not receive our ops (the push after a pull) nor feed us any.
                self.sync.engine.skip_round(&peer, now);
                continue;
            }
            self.send_sync_request(peer, &request);
        }
    }

    fn send_sync_request(&mut self, peer: PeerId, request: &SyncRequest) {
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, request.encode());
        self.sync.in_flight.insert(id, peer);
    }

    pub(super) fn on_sync_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let request = match SyncRequest::decode(&request) {
                        Ok(r) => r,
                        Err(e) => {
                            self.metrics.reject(e.reason());
                            tracing::debug!(%peer, error = %e, "bad sync request");
                            return; // dropping the channel fails the peer's request
                        }
                    };
                    if !self.may_read(request.space(), &peer) {
                        // Answered as for a space this node does not hold: a non-member
                        // learns nothing of a members-only space, not even that it is here.
                        self.refuse_request("sync_not_member");
                        let response = knack_protocol::SyncResponse::Refused {
                            space: request.space().clone(),
                            reason: knack_protocol::sync::RefuseReason::UnknownSpace,
                        };
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .sync
                            .send_response(channel, response.encode());
                        return;
                    }
                    let log = NodeLog {
                        store: self.store.as_ref(),
                        spaces: &self.spaces,
                    };
                    let (response, pushed) = self.sync.engine.handle_request(&peer, request, &log);
                    self.metrics.sync_envelopes_in.inc_by(pushed.len() as u64);
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response.encode());
                    self.ingest_all(peer, pushed);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.sync.in_flight.remove(&request_id);
                    let response = match SyncResponse::decode(&response) {
                        Ok(r) => r,
                        Err(e) => {
                            self.metrics.reject(e.reason());
                            self.sync.engine.request_failed(&peer, wall_ms());
                            return;
                        }
                    };
                    let log = NodeLog {
                        store: self.store.as_ref(),
                        spaces: &self.spaces,
                    };
                    let outputs =
                        self.sync
                            .engine
                            .handle_response(&peer, response, wall_ms(), &log);
                    self.metrics.sync_rounds.inc();
                    for output in outputs {
                        match output {
                            SyncOutput::Ingest {
                                peer, envelopes, ..
                            } => {
                                self.metrics
                                    .sync_envelopes_in
                                    .inc_by(envelopes.len() as u64);
                                self.ingest_all(peer, envelopes);
                            }
                            SyncOutput::Send { peer, request } => {
                                if self.may_read(request.space(), &peer) {
                                    self.send_sync_request(peer, &request)
                                } else {
                                    self.sync.engine.skip_round(&peer, wall_ms());
                                }
                            }
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.sync.in_flight.remove(&request_id);
                tracing::debug!(%peer, %error, "sync request failed");
                self.sync.engine.request_failed(&peer, wall_ms());
                if matches!(error, request_response::OutboundFailure::Timeout) {
                    // An unanswered round means the connection is stalled (a partition): TCP
                    // would resume it only at its next retransmission, tens of seconds after
                    // the network heals. Drop it; the redial opens a fresh one and syncs.
                    // The close is graceful and waits on the stalled connection too, so forget
                    // the peer now: the next redial tick dials it afresh.
                    let _ = self.swarm.disconnect_peer_id(peer);
                    self.peer_gone(&peer);
                }
            }
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn ingest_all(&mut self, peer: PeerId, envelopes: Vec<Vec<u8>>) {
        let mut waiting = envelopes;
        // A member's ops may come before the record that made it a member (another author's
        // ops, later in the same batch): those refused as `not_member` are tried again while
        // the batch makes progress, rather than at the next round.
        loop {
            let mut refused = Vec::new();
            let mut applied = false;
            for bytes in waiting {
                match self.ingest(&bytes) {
                    Ok(super::ingest::Ingested::Applied) => applied = true,
                    Ok(_) => {}
                    Err(super::ingest::Refused::NotMember) => refused.push(bytes),
                    Err(e) => {
                        // Replays are counted too (reason `replayed`), though two overlapping
                        // rounds produce them without any misbehaviour.
                        self.metrics.reject(e.reason());
                        tracing::debug!(%peer, error = %e, "envelope from anti-entropy rejected");
                    }
                }
            }
            if !applied || refused.is_empty() {
                for _ in &refused {
                    self.metrics.reject("not_member");
                }
                break;
            }
            waiting = refused;
        }
        self.commit();
        // A round that ran out of budget is due again at once: send it now rather than at the
        // next tick, so a node catching up is not paced by the tick.
        self.poll_sync();
    }
}
