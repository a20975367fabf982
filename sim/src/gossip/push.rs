//! Push and push-pull epidemics in synchronous rounds (Demers et al. 1987; Karp et al. 2000).
//!
//! Every `round_ms` all nodes act at once. Push: every node that knew an update before the
//! round started sends it to `fanout` peers chosen uniformly (among all nodes, the complete
//! graph of the analyses, or among its neighbours). Push-pull: in addition every node asks one
//! random peer for what it lacks, and the peer answers with what it knew before the round.
//! With latencies below half a round, round `k`'s messages land within round `k`, so the
//! number of rounds to reach everyone is comparable with the theory: `log2 N + ln N` for push
//! (Pittel 1987), about `log3 N` for push-pull (Karp et al.).

use crate::engine::Event;
use crate::gossip::Gossip;
use crate::message::Msg;
use crate::network::US_PER_MS;
use crate::scenario::{PeerSampling, Scenario};
use crate::world::World;

/// An update a node is spreading.
#[derive(Clone, Copy, Debug)]
struct Hot {
    update: u32,
    learned_us: u64,
    hops: u16,
    rounds: u32,
}

/// The push (or push-pull) model.
#[derive(Debug)]
pub(crate) struct Push {
    pull: bool,
    round_us: u64,
    fanout: u32,
    push_rounds: u32,
    sampling: PeerSampling,
    hot: Vec<Vec<Hot>>,
    round_start: u64,
}

impl Push {
    /// The model for `cfg`; `pull` selects push-pull.
    pub(crate) fn new(cfg: &Scenario, pull: bool) -> Self {
        Push {
            pull,
            round_us: cfg.gossip.round_ms * US_PER_MS,
            fanout: cfg.gossip.fanout,
            push_rounds: cfg.gossip.push_rounds,
            sampling: cfg.gossip.peer_sampling,
            hot: vec![Vec::new(); cfg.nodes as usize],
            round_start: 0,
        }
    }

    fn partner(&self, w: &mut World, node: u32) -> Option<u32> {
        match self.sampling {
            PeerSampling::Uniform => Some(w.random_other(node)),
            PeerSampling::Neighbors => w.random_neighbor(node),
        }
    }

    fn learn(&mut self, node: u32, u: u32, hops: u16, now: u64) {
        self.hot[node as usize].push(Hot {
            update: u,
            learned_us: now,
            hops,
            rounds: 0,
        });
    }

    fn round(&mut self, w: &mut World) {
        let now = w.now();
        self.round_start = now;
        for node in 0..w.n() {
            let agent = &w.agents[node as usize];
            if !agent.online || !agent.forwards() {
                continue;
            }
            let mut list = std::mem::take(&mut self.hot[node as usize]);
            for h in list.iter_mut().filter(|h| h.learned_us < now) {
                for _ in 0..self.fanout {
                    if let Some(p) = self.partner(w, node) {
                        w.send(
                            node,
                            p,
                            Msg::Publish {
                                update: h.update,
                                hops: h.hops + 1,
                            },
                        );
                    }
                }
                h.rounds += 1;
            }
            if self.push_rounds > 0 {
                list.retain(|h| h.rounds < self.push_rounds);
            }
            self.hot[node as usize] = list;
            if self.pull
                && let Some(p) = self.partner(w, node)
            {
                let ids = self.hot[node as usize].len() as u32;
                w.send(node, p, Msg::PullRequest { ids });
            }
        }
        w.queue.push(now + self.round_us, Event::Round);
    }
}

impl Gossip for Push {
    fn start(&mut self, w: &mut World) {
        w.queue.push(self.round_us, Event::Round);
    }

    fn publish(&mut self, w: &mut World, node: u32, u: u32) {
        self.learn(node, u, 0, w.now());
    }

    fn on_new(&mut self, w: &mut World, node: u32, _from: u32, u: u32, hops: u16) {
        self.learn(node, u, hops, w.now());
    }

    fn on_control(&mut self, w: &mut World, node: u32, from: u32, msg: Msg) {
        if let Msg::PullRequest { .. } = msg {
            if !w.agents[node as usize].forwards() {
                return;
            }
            let start = self.round_start;
            let answers: Vec<(u32, u16)> = self.hot[node as usize]
                .iter()
                .filter(|h| h.learned_us < start && !w.ledger.received(from, h.update))
                .map(|h| (h.update, h.hops))
                .collect();
            for (u, hops) in answers {
                w.send(
                    node,
                    from,
                    Msg::Publish {
                        update: u,
                        hops: hops + 1,
                    },
                );
            }
        }
    }

    fn on_timer(&mut self, w: &mut World, _node: u32) {
        self.round(w);
    }

    fn heap_bytes(&self) -> usize {
        self.hot.capacity() * 24
            + self
                .hot
                .iter()
                .map(|v| v.capacity() * std::mem::size_of::<Hot>())
                .sum::<usize>()
    }
}
