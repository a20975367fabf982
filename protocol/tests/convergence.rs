//! Anti-entropy converges: sync engines, each with a log, an inbox and a space, driven against
//! each other over a lossy in-memory network, end with equal version vectors and equal space
//! digests, for many random seeds.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use std::collections::VecDeque;

use common::{Author, Replica, space};
use knack_protocol::{
    ProtocolError, SyncConfig, SyncEngine, SyncOutput, SyncRequest, VersionVector,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Simulated time step.
const TICK_MS: u64 = 100;
/// Give up after this much simulated time.
const DEADLINE_MS: u64 = 300_000;

struct Node {
    engine: SyncEngine<u32>,
    replica: Replica,
}

struct World {
    nodes: Vec<Node>,
    rng: StdRng,
    drop: f64,
    expected: Replica,
}

fn config() -> SyncConfig {
    SyncConfig {
        interval_ms: 2_000,
        request_timeout_ms: 500,
        backoff_base_ms: 200,
        backoff_max_ms: 4_000,
        response_budget_bytes: 3_000,
        fanout: 0,
    }
}

impl World {
    /// `nodes` nodes, `links` between them, random ops by several authors scattered over the
    /// nodes (mostly on the author's home node, sometimes elsewhere, even past a gap).
    fn new(seed: u64, nodes: usize, links: &[(u32, u32)], drop: f64) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut world = World {
            nodes: (0..nodes)
                .map(|_| Node {
                    engine: SyncEngine::new(config()),
                    replica: Replica::default(),
                })
                .collect(),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            drop,
            expected: Replica::default(),
        };
        for author in 1..=4u8 {
            let mut a = Author::new(author);
            let home = rng.gen_range(0..nodes);
            for _ in 0..rng.gen_range(1..8) {
                let n = rng.gen_range(1..4);
                let bytes = a.envelope(&mut rng, n).encode();
                let at = if rng.gen_bool(0.75) {
                    home
                } else {
                    rng.gen_range(0..nodes)
                };
                world.nodes[at].replica.ingest(&bytes).unwrap();
                // The expected state, without paying for a second signature check.
                let e = knack_protocol::Envelope::decode(&bytes).unwrap();
                world.expected.log.insert(&e).unwrap();
                for op in e.ops() {
                    world.expected.space.apply(&op.body);
                }
            }
        }
        for node in &mut world.nodes {
            assert!(node.engine.add_space(space()));
        }
        for &(a, b) in links {
            world.nodes[a as usize].engine.peer_connected(b, 0);
            world.nodes[b as usize].engine.peer_connected(a, 0);
        }
        world
    }

    fn known(&self, i: usize) -> VersionVector {
        self.nodes[i]
            .replica
            .log
            .known(&space())
            .cloned()
            .unwrap_or_default()
    }

    fn converged(&self) -> bool {
        let vv = self
            .expected
            .log
            .known(&space())
            .cloned()
            .unwrap_or_default();
        let digest = self.expected.space.digest();
        (0..self.nodes.len())
            .all(|i| self.known(i) == vv && self.nodes[i].replica.space.digest() == digest)
    }

    /// Runs until convergence; returns the simulated time it took.
    fn run(&mut self) -> Option<u64> {
        let mut now = 0;
        while now <= DEADLINE_MS {
            for i in 0..self.nodes.len() {
                let node = &mut self.nodes[i];
                let requests = node.engine.poll_requests(now, &node.replica.log);
                for (peer, request) in requests {
                    self.deliver(i as u32, peer, request, now);
                }
            }
            if self.converged() {
                return Some(now);
            }
            now += TICK_MS;
        }
        None
    }

    /// Delivers a request and its response (and any push it leads to), each message lost with
    /// probability `drop`; a lost message is noticed by the requester's timeout.
    fn deliver(&mut self, from: u32, to: u32, request: SyncRequest, now: u64) {
        let mut queue = VecDeque::from([(from, to, request)]);
        while let Some((from, to, request)) = queue.pop_front() {
            // Encode and decode like the network would.
            let request = SyncRequest::decode(&request.encode()).unwrap();
            if self.rng.gen_bool(self.drop) {
                continue;
            }
            let responder = &mut self.nodes[to as usize];
            let (response, pushed) =
                responder
                    .engine
                    .handle_request(&from, request, &responder.replica.log);
            for e in pushed {
                ingest(&mut responder.replica, &e);
            }
            if self.rng.gen_bool(self.drop) {
                continue;
            }
            let response = knack_protocol::SyncResponse::decode(&response.encode()).unwrap();
            let requester = &mut self.nodes[from as usize];
            let outputs =
                requester
                    .engine
                    .handle_response(&to, response, now, &requester.replica.log);
            for output in outputs {
                match output {
                    SyncOutput::Ingest { envelopes, .. } => {
                        for e in envelopes {
                            ingest(&mut requester.replica, &e);
                        }
                    }
                    SyncOutput::Send { peer, request } => queue.push_back((from, peer, request)),
                }
            }
        }
    }
}

/// Ingests one envelope; duplicates are expected, anything else is a bug.
fn ingest(replica: &mut Replica, bytes: &[u8]) {
    match replica.ingest(bytes) {
        Ok(_) | Err(ProtocolError::Replayed { .. }) => {}
        Err(e) => panic!("envelope refused: {e}"),
    }
}

fn check(seeds: std::ops::Range<u64>, nodes: usize, links: &[(u32, u32)], drop: f64) {
    for seed in seeds {
        let mut world = World::new(seed, nodes, links, drop);
        let took = world.run();
        assert!(
            took.is_some(),
            "seed {seed}: no convergence by {DEADLINE_MS} ms"
        );
        for node in &world.nodes {
            assert_eq!(node.replica.inbox.stats().buffered_ops, 0, "seed {seed}");
            assert_eq!(node.replica.inbox.stats().dropped, 0, "seed {seed}");
        }
    }
}

#[test]
fn two_nodes_converge_over_a_lossy_link() {
    check(0..20, 2, &[(0, 1)], 0.3);
}

#[test]
fn three_nodes_converge_in_a_mesh() {
    check(100..120, 3, &[(0, 1), (1, 2), (0, 2)], 0.3);
}

#[test]
fn three_nodes_converge_in_a_line() {
    // 0 and 2 never talk: ops travel through 1.
    check(200..210, 3, &[(0, 1), (1, 2)], 0.3);
}

#[test]
fn without_loss_one_round_trip_suffices() {
    let mut world = World::new(7, 2, &[(0, 1)], 0.0);
    let took = world.run().expect("converges");
    assert!(
        took < config().interval_ms,
        "rounds continue at once while `more` is set"
    );
    let stats = world.nodes[0].engine.stats();
    assert!(stats.rounds_started >= 1 && stats.envelopes_sent + stats.envelopes_received > 0);
    assert_eq!(stats.requests_failed, 0);
}
