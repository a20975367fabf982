//! Anti-entropy: every agent runs the protocol's real `SyncEngine` (`/knack/sync/1`) with a few
//! of its neighbours, over a view of the shared update table as its op log.
//!
//! The engine pulls (sends the agent's version vector), ingests what it lacks, and pushes back
//! what the peer lacks, every `interval_ms` per partner and at once when a partner (re)connects:
//! so a node coming back from churn catches up. Envelopes arriving this way are recognised by
//! their bytes (looked up in the update table) and taken in like any other, in sequence order.

use std::collections::BTreeSet;

use knack_crdt::{AgentId, SpaceName};
use knack_protocol::sync::Batch;
use knack_protocol::{
    OpLog, SyncConfig, SyncEngine, SyncOutput, SyncRequest, SyncResponse, VersionVector,
};
use rand::Rng;

use crate::engine::Event;
use crate::message::{Msg, Sized};
use crate::network::US_PER_MS;
use crate::rng::{self, Stream};
use crate::scenario::Scenario;
use crate::updates::Updates;
use crate::world::{Via, World};

/// An agent's op log as the sync engine sees it: the shared envelopes up to its version vector.
struct AgentLog<'a> {
    updates: &'a Updates,
    vv: &'a [u32],
}

impl OpLog for AgentLog<'_> {
    fn version_vector(&self, _space: &SpaceName) -> VersionVector {
        self.vv
            .iter()
            .enumerate()
            .filter(|(_, seq)| **seq > 0)
            .map(|(a, seq)| (self.updates.authors[a].agent, u64::from(*seq)))
            .collect()
    }

    fn envelopes_after(
        &self,
        _space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Batch {
        let mut batch = Batch {
            envelopes: Vec::new(),
            upto: after_seq,
        };
        let Some(&a) = self.updates.author_index.get(author) else {
            return batch;
        };
        let upto = u64::from(self.vv[a as usize]);
        let ops = &self.updates.authors[a as usize].ops;
        let mut used = 0;
        for seq in after_seq + 1..=upto {
            let u = ops[(seq - 1) as usize];
            let bytes = self.updates.list[u as usize].envelope.as_bytes();
            if !batch.envelopes.is_empty() && used + bytes.len() > budget_bytes {
                break;
            }
            used += bytes.len();
            batch.envelopes.push(bytes.to_vec());
            batch.upto = seq;
        }
        batch
    }
}

/// Every agent's sync engine and timer.
pub(crate) struct AntiEntropy {
    engines: Vec<SyncEngine<u32>>,
    /// Partners of each agent.
    partners: Vec<Vec<u32>>,
    /// The earliest pending timer of each agent (µs), `u64::MAX` if none.
    scheduled: Vec<u64>,
    on: bool,
}

impl std::fmt::Debug for AntiEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AntiEntropy").field("on", &self.on).finish()
    }
}

impl AntiEntropy {
    /// Engines for every agent, each syncing with `peers` random neighbours.
    pub(crate) fn new(cfg: &Scenario, w: &World) -> Self {
        let ae = &cfg.anti_entropy;
        let on = ae.interval_ms > 0;
        let n = cfg.nodes as usize;
        let config = SyncConfig {
            interval_ms: ae.interval_ms.max(1),
            request_timeout_ms: ae.timeout_ms,
            backoff_base_ms: ae.timeout_ms.min(1000),
            backoff_max_ms: ae.interval_ms.max(1) * 4,
            response_budget_bytes: 1 << 20,
            // The simulator picks each agent's `peers` partners itself: one round per partner
            // per interval, as before the engine's fanout.
            fanout: 0,
        };
        let mut rng = rng::stream(cfg.seed, Stream::Sync);
        let mut engines = Vec::with_capacity(if on { n } else { 0 });
        let mut partners = Vec::with_capacity(if on { n } else { 0 });
        if on {
            for node in 0..cfg.nodes {
                let neighbors = w.topo.neighbors(node);
                let mut chosen = BTreeSet::new();
                let want = (ae.peers as usize).min(neighbors.len());
                while chosen.len() < want {
                    chosen.insert(neighbors[rng.gen_range(0..neighbors.len())]);
                }
                let mut engine = SyncEngine::new(config);
                engine.add_space(w.updates.space.clone());
                partners.push(chosen.into_iter().collect());
                engines.push(engine);
            }
        }
        AntiEntropy {
            engines,
            partners,
            scheduled: vec![u64::MAX; if on { n } else { 0 }],
            on,
        }
    }

    /// Connects every agent to its partners, with a random first round within one interval.
    pub(crate) fn start(&mut self, w: &mut World) {
        if !self.on {
            return;
        }
        let interval = w.cfg.anti_entropy.interval_ms;
        let mut rng = rng::stream(w.cfg.seed ^ 0x5e7c, Stream::Sync);
        for node in 0..w.n() {
            let first = rng.gen_range(0..interval);
            for &p in &self.partners[node as usize] {
                self.engines[node as usize].peer_connected(p, first);
            }
            self.wake(w, node);
        }
    }

    /// Schedules `node`'s next timer if the engine wants one earlier than the pending one.
    fn wake(&mut self, w: &mut World, node: u32) {
        if let Some(ms) = self.engines[node as usize].next_wakeup_ms() {
            let at = (ms * US_PER_MS).max(w.now());
            if at < self.scheduled[node as usize] {
                self.scheduled[node as usize] = at;
                w.queue.push(at, Event::Sync(node));
            }
        }
    }

    /// `node`'s timer fired.
    pub(crate) fn on_timer(&mut self, w: &mut World, node: u32) {
        if !self.on || w.now() != self.scheduled[node as usize] {
            return;
        }
        self.scheduled[node as usize] = u64::MAX;
        // Droppers start no round: a round pushes what the peer lacks, which is forwarding.
        if w.agents[node as usize].online && w.agents[node as usize].forwards() {
            let now_ms = w.now() / US_PER_MS;
            let log = AgentLog {
                updates: &w.updates,
                vv: w.ledger.version_vector(node),
            };
            let requests = self.engines[node as usize].poll_requests(now_ms, &log);
            for (peer, request) in requests {
                send_request(w, node, peer, request);
            }
            self.wake(w, node);
        }
        // An offline agent's engine sleeps until it joins again (`on_join` wakes it).
    }

    /// A request reached `node` from `from`.
    pub(crate) fn on_request(&mut self, w: &mut World, node: u32, from: u32, request: SyncRequest) {
        if !self.on || !w.agents[node as usize].forwards() {
            return;
        }
        let log = AgentLog {
            updates: &w.updates,
            vv: w.ledger.version_vector(node),
        };
        let (response, pushed) = self.engines[node as usize].handle_request(&from, request, &log);
        ingest(w, node, &pushed);
        let payload = envelope_bytes(&response);
        let total = response.encoded_len() as u32;
        w.send(
            node,
            from,
            Msg::SyncResponse(Box::new(Sized {
                message: response,
                payload,
                control: total - payload,
            })),
        );
        self.wake(w, node);
    }

    /// A response reached `node` from `from`.
    pub(crate) fn on_response(
        &mut self,
        w: &mut World,
        node: u32,
        from: u32,
        response: SyncResponse,
    ) {
        if !self.on {
            return;
        }
        let now_ms = w.now() / US_PER_MS;
        // Ingest first, so a push computed from the log is after what was just received.
        if let SyncResponse::Envelopes { envelopes, .. } = &response {
            ingest(w, node, envelopes);
        }
        let log = AgentLog {
            updates: &w.updates,
            vv: w.ledger.version_vector(node),
        };
        let outputs = self.engines[node as usize].handle_response(&from, response, now_ms, &log);
        for output in outputs {
            match output {
                // Already ingested above.
                SyncOutput::Ingest { .. } => {}
                SyncOutput::Send { peer, request } => send_request(w, node, peer, request),
            }
        }
        self.wake(w, node);
    }

    /// `node` left: its partners see the connection close.
    pub(crate) fn on_leave(&mut self, w: &mut World, node: u32) {
        if !self.on {
            return;
        }
        for &p in &self.partners[node as usize].clone() {
            self.engines[p as usize].peer_disconnected(&node);
        }
        let _ = w;
    }

    /// `node` came back: it and its partners reconnect and sync at once.
    pub(crate) fn on_join(&mut self, w: &mut World, node: u32) {
        if !self.on || !w.cfg.anti_entropy.on_join {
            return;
        }
        let now_ms = w.now() / US_PER_MS;
        for p in self.partners[node as usize].clone() {
            self.engines[node as usize].peer_disconnected(&p);
            self.engines[node as usize].peer_connected(p, now_ms);
            if w.agents[p as usize].online {
                self.engines[p as usize].peer_connected(node, now_ms);
            }
        }
        self.wake(w, node);
    }

    /// Heap bytes of the engines (an estimate: the engine's maps are opaque).
    pub(crate) fn heap_bytes(&self) -> usize {
        const ENGINE_BYTES: usize = 160;
        const PEER_BYTES: usize = 160;
        self.engines.len() * ENGINE_BYTES
            + self
                .partners
                .iter()
                .map(|p| p.len() * (PEER_BYTES + 4))
                .sum::<usize>()
            + self.scheduled.capacity() * 8
    }
}

/// Sends a sync request, with its real encoded size.
fn send_request(w: &mut World, node: u32, peer: u32, request: SyncRequest) {
    let payload = match &request {
        SyncRequest::Push { envelopes, .. } => envelopes.iter().map(|e| e.len() as u32).sum(),
        SyncRequest::Pull { .. } => 0,
    };
    let total = request.encoded_len() as u32;
    w.send(
        node,
        peer,
        Msg::SyncRequest(Box::new(Sized {
            message: request,
            payload,
            control: total - payload,
        })),
    );
}

/// Envelope bytes in a response.
fn envelope_bytes(response: &SyncResponse) -> u32 {
    match response {
        SyncResponse::Envelopes { envelopes, .. } => envelopes.iter().map(|e| e.len() as u32).sum(),
        _ => 0,
    }
}

/// Takes in envelopes received through anti-entropy.
fn ingest(w: &mut World, node: u32, envelopes: &[Vec<u8>]) {
    for bytes in envelopes {
        if let Some(u) = w.updates.find(bytes) {
            w.receive(node, u, Via::Sync);
        }
    }
}
