//! The anti-entropy state machine.

use std::collections::{BTreeMap, BTreeSet};

use knack_crdt::SpaceName;

use crate::sync::log::OpLog;
use crate::sync::message::{
    MAX_ENVELOPES_PER_MESSAGE, MAX_SYNC_MESSAGE_BYTES, RefuseReason, SyncRequest, SyncResponse,
};
use crate::version_vector::SeqRange;

/// Most peers the engine keeps state for; further connections are not synced (and counted).
pub const MAX_SYNC_PEERS: usize = 1_024;
/// Most spaces the engine syncs.
pub const MAX_SYNC_SPACES: usize = 256;

/// Timing and size settings of a [`SyncEngine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// Time between two rounds with the same peer for the same space, in milliseconds.
    pub interval_ms: u64,
    /// A request without a response after this long has failed, in milliseconds.
    pub request_timeout_ms: u64,
    /// First delay after a failed request, doubled at each further failure, in milliseconds.
    pub backoff_base_ms: u64,
    /// Longest delay after failed requests, in milliseconds.
    pub backoff_max_ms: u64,
    /// Envelope bytes in one response or push (one envelope may overshoot it; capped at half of
    /// [`MAX_SYNC_MESSAGE_BYTES`], leaving room for the version vector).
    pub response_budget_bytes: usize,
    /// Rounds per interval a node aims at over all its peers (0: one per peer). With more
    /// peers than this, each peer's next round waits `interval × ceil(peers / fanout)`, so a
    /// node in a large mesh (88 peers each) does not run an anti-entropy round with every peer
    /// every interval; gossip carries the steady state and the rounds repair.
    pub fanout: usize,
}

/// Something the caller must do for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutput<P> {
    /// Verify these encoded envelopes from `peer` and ingest them (through the inbox).
    Ingest {
        /// Who sent them.
        peer: P,
        /// Their space.
        space: SpaceName,
        /// The encoded envelopes.
        envelopes: Vec<Vec<u8>>,
    },
    /// Send `request` to `peer` and hand its response to [`SyncEngine::handle_response`] (or
    /// report a failure with [`SyncEngine::request_failed`]).
    Send {
        /// To whom.
        peer: P,
        /// What.
        request: SyncRequest,
    },
}

/// Counters of a [`SyncEngine`], since its creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Rounds started (pulls sent).
    pub rounds_started: u64,
    /// Rounds completed (a response, and the ack of a push if one was needed).
    pub rounds_completed: u64,
    /// Requests that failed or timed out.
    pub requests_failed: u64,
    /// Of those, requests that timed out.
    pub timeouts: u64,
    /// Requests served (pulls and pushes received).
    pub requests_served: u64,
    /// Requests refused by us.
    pub refused_sent: u64,
    /// Refusals received.
    pub refused_received: u64,
    /// Envelopes sent (in responses and pushes).
    pub envelopes_sent: u64,
    /// Envelopes received (in responses and pushes), before verification.
    pub envelopes_received: u64,
    /// Envelope bytes sent.
    pub bytes_sent: u64,
    /// Envelope bytes received.
    pub bytes_received: u64,
    /// Connections not synced because [`MAX_SYNC_PEERS`] was reached.
    pub peers_refused: u64,
    /// Responses that matched no request in flight (late, after a timeout).
    pub unexpected_responses: u64,
}

/// The sans-IO anti-entropy engine of `/knack/sync/1`, generic over the peer id `P`.
///
/// With each connected peer and each space, it runs a round now and then: pull (send our version
/// vector), receive what we lack plus the peer's vector, push what the peer lacks, receive an
/// ack. One request per peer is in flight at a time; failures back off exponentially.
#[derive(Clone, Debug)]
pub struct SyncEngine<P: Ord + Clone> {
    config: SyncConfig,
    spaces: BTreeSet<SpaceName>,
    peers: BTreeMap<P, PeerState>,
    stats: SyncStats,
}

/// What the engine knows of one peer.
#[derive(Clone, Debug, Default)]
struct PeerState {
    /// When the next round of each space is due.
    due: BTreeMap<SpaceName, u64>,
    in_flight: Option<InFlight>,
    /// Failures in a row.
    failures: u32,
    /// No request before this time.
    backoff_until: u64,
}

/// The request in flight to a peer.
#[derive(Clone, Debug)]
struct InFlight {
    space: SpaceName,
    sent_ms: u64,
    /// Whether to start another round right after this one (a budget was exhausted).
    more: bool,
}

/// Default [`SyncConfig::fanout`].
pub const DEFAULT_SYNC_FANOUT: usize = 8;

impl SyncConfig {
    /// Time until a peer's next round after one that completed, with `peers` peers: the
    /// interval, stretched by `ceil(peers / fanout)` past the fanout.
    pub fn round_gap_ms(&self, peers: usize) -> u64 {
        let stretch = match self.fanout {
            0 => 1,
            fanout => peers.div_ceil(fanout).max(1),
        };
        self.interval_ms.saturating_mul(stretch as u64)
    }

    /// The budget actually used: [`SyncConfig::response_budget_bytes`], at least 1, at most half
    /// of [`MAX_SYNC_MESSAGE_BYTES`].
    pub fn budget(&self) -> usize {
        self.response_budget_bytes
            .clamp(1, MAX_SYNC_MESSAGE_BYTES / 2)
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval_ms: 30_000,
            request_timeout_ms: 10_000,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            response_budget_bytes: 1 << 20,
            fanout: DEFAULT_SYNC_FANOUT,
        }
    }
}

impl<P: Ord + Clone> SyncEngine<P> {
    /// An engine syncing no space with no peer.
    pub fn new(config: SyncConfig) -> Self {
        SyncEngine {
            config,
            spaces: BTreeSet::new(),
            peers: BTreeMap::new(),
            stats: SyncStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Starts syncing `space` with every peer, right away. Returns `false` when
    /// [`MAX_SYNC_SPACES`] spaces are synced already.
    pub fn add_space(&mut self, space: SpaceName) -> bool {
        if self.spaces.contains(&space) {
            return true;
        }
        if self.spaces.len() >= MAX_SYNC_SPACES {
            return false;
        }
        for state in self.peers.values_mut() {
            state.due.insert(space.clone(), 0);
        }
        self.spaces.insert(space);
        true
    }

    /// Stops syncing `space`.
    pub fn remove_space(&mut self, space: &SpaceName) {
        self.spaces.remove(space);
        for state in self.peers.values_mut() {
            state.due.remove(space);
        }
    }

    /// The spaces synced.
    pub fn spaces(&self) -> impl Iterator<Item = &SpaceName> {
        self.spaces.iter()
    }

    /// A peer connected: sync every space with it right away. Returns `false` (and counts it)
    /// when [`MAX_SYNC_PEERS`] peers are tracked already.
    pub fn peer_connected(&mut self, peer: P, now_ms: u64) -> bool {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_SYNC_PEERS {
            self.stats.peers_refused += 1;
            return false;
        }
        let state = self.peers.entry(peer).or_default();
        for space in &self.spaces {
            state.due.insert(space.clone(), now_ms);
        }
        state.failures = 0;
        state.backoff_until = now_ms;
        true
    }

    /// A peer disconnected: forget it (a request in flight to it is abandoned).
    pub fn peer_disconnected(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// The peers tracked.
    pub fn peers(&self) -> impl Iterator<Item = &P> {
        self.peers.keys()
    }

    /// The requests due at `now_ms`: a pull to each peer whose next round is due and that has
    /// nothing in flight (requests in flight past their timeout fail here first).
    pub fn poll_requests(&mut self, now_ms: u64, log: &impl OpLog) -> Vec<(P, SyncRequest)> {
        let timeout = self.config.request_timeout_ms;
        let timed_out: Vec<P> = self
            .peers
            .iter()
            .filter(|(_, s)| {
                s.in_flight
                    .as_ref()
                    .is_some_and(|f| now_ms >= f.sent_ms.saturating_add(timeout))
            })
            .map(|(p, _)| p.clone())
            .collect();
        for peer in timed_out {
            self.stats.timeouts += 1;
            self.request_failed(&peer, now_ms);
        }
        let mut requests = Vec::new();
        for (peer, state) in &mut self.peers {
            if state.in_flight.is_some() || now_ms < state.backoff_until {
                continue;
            }
            let Some((space, _)) = state
                .due
                .iter()
                .filter(|(_, due)| **due <= now_ms)
                .min_by_key(|(_, due)| **due)
            else {
                continue;
            };
            let space = space.clone();
            state.in_flight = Some(InFlight {
                space: space.clone(),
                sent_ms: now_ms,
                more: false,
            });
            self.stats.rounds_started += 1;
            let have = log.version_vector(&space);
            requests.push((peer.clone(), SyncRequest::Pull { space, have }));
        }
        requests
    }

    /// Serves a request from `peer`: returns the response to send, and the envelopes the peer
    /// pushed, for the caller to verify and ingest.
    pub fn handle_request(
        &mut self,
        peer: &P,
        request: SyncRequest,
        log: &impl OpLog,
    ) -> (SyncResponse, Vec<Vec<u8>>) {
        let space = request.space().clone();
        if !self.spaces.contains(&space) {
            self.stats.refused_sent += 1;
            let reason = RefuseReason::UnknownSpace;
            return (SyncResponse::Refused { space, reason }, Vec::new());
        }
        self.stats.requests_served += 1;
        let ours = log.version_vector(&space);
        match request {
            SyncRequest::Pull { space, have } => {
                // The peer has ops we lack: our own round with it is due now.
                if !ours.missing(&have).is_empty()
                    && let Some(state) = self.peers.get_mut(peer)
                {
                    state.due.insert(space.clone(), 0);
                }
                let (envelopes, more) = self.collect(log, &space, &have.missing(&ours));
                let response = SyncResponse::Envelopes {
                    space,
                    have: ours,
                    envelopes,
                    more,
                };
                (response, Vec::new())
            }
            SyncRequest::Push {
                space, envelopes, ..
            } => {
                self.count_received(&envelopes);
                (SyncResponse::Ack { space, have: ours }, envelopes)
            }
        }
    }

    /// Takes in `peer`'s response to our request: envelopes to ingest, and a push of what the
    /// peer lacks when its version vector shows it.
    pub fn handle_response(
        &mut self,
        peer: &P,
        response: SyncResponse,
        now_ms: u64,
        log: &impl OpLog,
    ) -> Vec<SyncOutput<P>> {
        let mut outputs = Vec::new();
        let expected = self
            .peers
            .get(peer)
            .and_then(|s| s.in_flight.as_ref())
            .is_some_and(|f| &f.space == response.space());
        if !expected {
            self.stats.unexpected_responses += 1;
        }
        match response {
            SyncResponse::Envelopes {
                space,
                have,
                envelopes,
                more,
            } => {
                self.count_received(&envelopes);
                if !envelopes.is_empty() {
                    outputs.push(SyncOutput::Ingest {
                        peer: peer.clone(),
                        space: space.clone(),
                        envelopes,
                    });
                }
                if !expected || !self.spaces.contains(&space) {
                    return outputs;
                }
                let ours = log.version_vector(&space);
                let (push, push_more) = self.collect(log, &space, &have.missing(&ours));
                if push.is_empty() {
                    self.complete(peer, &space, now_ms, more);
                } else if let Some(f) = self.peers.get_mut(peer).and_then(|s| s.in_flight.as_mut())
                {
                    f.sent_ms = now_ms;
                    f.more = more || push_more;
                    let request = SyncRequest::Push {
                        space,
                        have: ours,
                        envelopes: push,
                    };
                    outputs.push(SyncOutput::Send {
                        peer: peer.clone(),
                        request,
                    });
                }
            }
            SyncResponse::Ack { space, .. } => {
                if expected {
                    let more = self
                        .peers
                        .get(peer)
                        .and_then(|s| s.in_flight.as_ref())
                        .is_some_and(|f| f.more);
                    self.complete(peer, &space, now_ms, more);
                }
            }
            SyncResponse::Refused { space, .. } => {
                self.stats.refused_received += 1;
                if expected {
                    self.complete(peer, &space, now_ms, false);
                }
            }
        }
        outputs
    }

    /// The caller did not send the request [`SyncEngine::poll_requests`] returned for `peer`
    /// (it does not serve that space to that peer): the round ends without failure or
    /// backoff, and the next one is due after the usual gap.
    pub fn skip_round(&mut self, peer: &P, now_ms: u64) {
        let Some(space) = self
            .peers
            .get(peer)
            .and_then(|s| s.in_flight.as_ref())
            .map(|f| f.space.clone())
        else {
            return;
        };
        self.complete(peer, &space, now_ms, false);
        self.stats.rounds_completed = self.stats.rounds_completed.saturating_sub(1);
    }

    /// Makes a round of `space` due now with every peer (new ops to deliver without gossip).
    pub fn sync_now(&mut self, space: &SpaceName, now_ms: u64) {
        if !self.spaces.contains(space) {
            return;
        }
        for state in self.peers.values_mut() {
            state.due.insert(space.clone(), now_ms);
        }
    }

    /// The request in flight to `peer` failed (connection error, timeout): back off.
    pub fn request_failed(&mut self, peer: &P, now_ms: u64) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        if state.in_flight.take().is_none() {
            return;
        }
        self.stats.requests_failed += 1;
        state.failures = state.failures.saturating_add(1);
        let shift = (state.failures - 1).min(32);
        let delay = self
            .config
            .backoff_base_ms
            .saturating_mul(1u64 << shift)
            .min(self.config.backoff_max_ms);
        state.backoff_until = now_ms.saturating_add(delay);
    }

    /// When [`SyncEngine::poll_requests`] next has something to do (a round due or a request
    /// timing out); `None` when nothing is scheduled.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        self.peers
            .values()
            .filter_map(|s| match &s.in_flight {
                Some(f) => Some(f.sent_ms.saturating_add(self.config.request_timeout_ms)),
                None => s.due.values().min().map(|due| (*due).max(s.backoff_until)),
            })
            .min()
    }

    /// The engine's counters.
    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// Ends the round in flight to `peer`; the next one is due now if `more`, else after the
    /// interval.
    fn complete(&mut self, peer: &P, space: &SpaceName, now_ms: u64, more: bool) {
        let peers = self.peers.len();
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        state.in_flight = None;
        state.failures = 0;
        if self.spaces.contains(space) {
            let due = if more {
                now_ms
            } else {
                now_ms.saturating_add(self.config.round_gap_ms(peers))
            };
            state.due.insert(space.clone(), due);
        }
        self.stats.rounds_completed += 1;
    }

    /// The envelopes covering `ranges`, within the budget; `true` if some did not fit.
    fn collect(
        &mut self,
        log: &impl OpLog,
        space: &SpaceName,
        ranges: &[SeqRange],
    ) -> (Vec<Vec<u8>>, bool) {
        let budget = self.config.budget();
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut used = 0usize;
        let mut more = false;
        for range in ranges {
            if used >= budget || out.len() >= MAX_ENVELOPES_PER_MESSAGE {
                more = true;
                break;
            }
            let batch = log.envelopes_after(space, &range.author, range.after, budget - used);
            // An empty batch means the log cannot serve the range: no use asking again now.
            if !batch.envelopes.is_empty() && batch.upto < range.upto {
                more = true;
            }
            let room = MAX_ENVELOPES_PER_MESSAGE - out.len();
            if batch.envelopes.len() > room {
                more = true;
            }
            for envelope in batch.envelopes.into_iter().take(room) {
                used = used.saturating_add(envelope.len());
                out.push(envelope);
            }
        }
        self.stats.envelopes_sent += out.len() as u64;
        self.stats.bytes_sent += used as u64;
        (out, more)
    }

    fn count_received(&mut self, envelopes: &[Vec<u8>]) {
        self.stats.envelopes_received += envelopes.len() as u64;
        self.stats.bytes_received += envelopes.iter().map(|e| e.len() as u64).sum::<u64>();
    }
}
