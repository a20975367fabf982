//! The simulated world: agents, the network, the update table and the metrics, with the
//! operations every model shares (send a message, take in an op).

use knack_crdt::Space;
use knack_protocol::Envelope;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::agent::{Agent, Role};
use crate::engine::{Event, Queue};
use crate::ledger::Ledger;
use crate::message::Msg;
use crate::metrics::Metrics;
use crate::network::Network;
use crate::replicas::Replicas;
use crate::rng::{self, Stream};
use crate::scenario::Scenario;
use crate::topology::Topology;
use crate::updates::Updates;

/// How an op reached an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Authored here.
    Local,
    /// A gossip message, having travelled this many hops.
    Gossip(u16),
    /// Anti-entropy.
    Sync,
}

/// Everything but the models' own state.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) cfg: Scenario,
    pub(crate) queue: Queue,
    pub(crate) net: Network,
    pub(crate) topo: Topology,
    pub(crate) agents: Vec<Agent>,
    /// What every agent received and applied.
    pub(crate) ledger: Ledger,
    /// The agents' materialised replicas (real `Space`s), for those that hold one.
    pub(crate) replicas: Replicas,
    pub(crate) updates: Updates,
    pub(crate) metrics: Metrics,
    /// A replica that applies every update as it is authored: the converged state.
    pub(crate) reference: Space,
    /// Gossip-model choices.
    pub(crate) gossip_rng: ChaCha8Rng,
    /// Jitter and loss.
    net_rng: ChaCha8Rng,
    /// Signature sampling.
    verify_rng: ChaCha8Rng,
    /// Size of the invalid envelope adversaries send.
    pub(crate) invalid: Vec<u8>,
}

impl World {
    /// Assembles a world.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        cfg: Scenario,
        net: Network,
        topo: Topology,
        agents: Vec<Agent>,
        replicas: Replicas,
        updates: Updates,
        metrics: Metrics,
        invalid: Vec<u8>,
    ) -> Self {
        let seed = cfg.seed;
        let ledger = Ledger::new(
            agents.len() as u32,
            cfg.workload.updates + cfg.learning.as_ref().map_or(0, |l| l.sybil_ops()),
            updates.authors.len() as u32,
        );
        World {
            ledger,
            replicas,
            reference: Space::new(updates.space.clone()),
            cfg,
            queue: Queue::default(),
            net,
            topo,
            agents,
            updates,
            metrics,
            gossip_rng: rng::stream(seed, Stream::Gossip),
            net_rng: rng::stream(seed, Stream::Network),
            verify_rng: rng::stream(seed, Stream::Verify),
            invalid,
        }
    }

    /// Virtual time now (µs).
    pub(crate) fn now(&self) -> u64 {
        self.queue.now()
    }

    /// Number of agents.
    pub(crate) fn n(&self) -> u32 {
        self.agents.len() as u32
    }

    /// Sends `msg` from `from` to `to` through the network model.
    pub(crate) fn send(&mut self, from: u32, to: u32, msg: Msg) {
        if !self.agents[from as usize].online {
            self.metrics.counters.offline += 1;
            return;
        }
        let now = self.now();
        let updates = &self.updates;
        let bytes = msg.bytes(|u| updates.size(u), self.invalid.len() as u32);
        if matches!(msg, Msg::Publish { .. }) {
            self.metrics.counters.transmissions += 1;
        }
        self.metrics.sent(now, from, msg.is_payload(), bytes);
        if self.net.lost(&mut self.net_rng) {
            self.metrics.counters.lost += 1;
            return;
        }
        if self.net.separated(from, to) {
            self.metrics.counters.cut += 1;
            return;
        }
        let at = self
            .net
            .transit(now, from, to, bytes.0 + bytes.1, &mut self.net_rng);
        let event = if self.net.download_limited() {
            Event::Arrive { to, from, msg }
        } else {
            Event::Deliver { to, from, msg }
        };
        self.queue.push(at, event);
    }

    /// A message reached `to`'s download queue.
    pub(crate) fn arrive(&mut self, to: u32, from: u32, msg: Msg) {
        let updates = &self.updates;
        let (p, c) = msg.bytes(|u| updates.size(u), self.invalid.len() as u32);
        let at = self.net.download(self.now(), to, p + c);
        self.queue.push(at, Event::Deliver { to, from, msg });
    }

    /// Whether a message from `from` can be handed to `to` now (online, not cut off).
    pub(crate) fn deliverable(&mut self, to: u32, from: u32) -> bool {
        if !self.agents[to as usize].online {
            self.metrics.counters.offline += 1;
            return false;
        }
        if self.net.separated(from, to) {
            self.metrics.counters.cut += 1;
            return false;
        }
        self.metrics.counters.delivered += 1;
        true
    }

    /// Takes in update `u` at `node`. Returns whether it was new to the node.
    ///
    /// A sample of first receptions decodes and verifies the envelope bytes for real. Ops are
    /// applied to the node's real space in each author's sequence order; one that arrives
    /// past a gap is held (as the protocol's inbox does) until the gap fills.
    pub(crate) fn receive(&mut self, node: u32, u: u32, via: Via) -> bool {
        if !self.ledger.receive(node, u) {
            match via {
                Via::Gossip(_) => self.metrics.duplicate(self.queue.now()),
                Via::Sync => self.metrics.counters.sync_ops_redundant += 1,
                Via::Local => {}
            }
            return false;
        }
        if via == Via::Sync {
            self.metrics.counters.sync_ops_new += 1;
        }
        if via != Via::Local && self.sample_verify() {
            self.metrics.counters.verified += 1;
            let bytes = self.updates.list[u as usize].envelope.as_bytes();
            // Honest envelopes always verify; a failure here is a simulator bug worth seeing.
            if Envelope::decode(bytes).and_then(|e| e.verify()).is_err() {
                self.metrics.counters.invalid_verified += 1;
                return true;
            }
        }
        let update = &self.updates.list[u as usize];
        let a = update.author;
        if update.seq != self.ledger.applied(node, a) + 1 {
            self.metrics.counters.buffered += 1;
            return true;
        }
        let hops = match via {
            Via::Gossip(h) => Some(h),
            _ => None,
        };
        self.apply(node, u, hops);
        // Apply what this op unblocked.
        loop {
            let next = self.ledger.applied(node, a) as usize;
            match self.updates.authors[a as usize].ops.get(next) {
                Some(&v) if self.ledger.received(node, v) => self.apply(node, v, None),
                _ => break,
            }
        }
        true
    }

    /// Applies update `u` to `node`'s space (its predecessors are applied).
    fn apply(&mut self, node: u32, u: u32, hops: Option<u16>) {
        let now = self.queue.now();
        let update = &self.updates.list[u as usize];
        let created = update.created_us;
        let a = update.author;
        self.replicas.apply(node, self.updates.delta(u));
        self.agents[node as usize].applied += 1;
        self.ledger.advance(node, a);
        loop {
            let p = self.agents[node as usize].prefix;
            if (p as usize) < self.updates.list.len() && self.is_applied(node, p) {
                self.agents[node as usize].prefix += 1;
            } else {
                break;
            }
        }
        let agent = &self.agents[node as usize];
        if agent.honest() {
            self.metrics.applied(now, u, created, hops);
        }
    }

    /// Whether the next reception is one whose signature is checked for real.
    pub(crate) fn sample_verify(&mut self) -> bool {
        let sample = self.cfg.verify.sample;
        sample >= 1.0 || (sample > 0.0 && self.verify_rng.r#gen::<f64>() < sample)
    }

    /// Whether `node` has applied update `u`.
    pub(crate) fn is_applied(&self, node: u32, u: u32) -> bool {
        let update = &self.updates.list[u as usize];
        self.ledger.applied(node, update.author) >= update.seq
    }

    /// A uniformly random node other than `node`.
    pub(crate) fn random_other(&mut self, node: u32) -> u32 {
        let n = self.n();
        let r = self.gossip_rng.gen_range(0..n - 1);
        if r >= node { r + 1 } else { r }
    }

    /// A uniformly random neighbour of `node`, if it has one.
    pub(crate) fn random_neighbor(&mut self, node: u32) -> Option<u32> {
        let peers = self.topo.neighbors(node);
        if peers.is_empty() {
            return None;
        }
        let i = self.gossip_rng.gen_range(0..peers.len());
        Some(peers[i])
    }

    /// Whether `node` is an honest node that counts for convergence.
    pub(crate) fn counts_for_convergence(&self, node: u32) -> bool {
        let agent = &self.agents[node as usize];
        agent.online && agent.role == Role::Honest
    }
}
