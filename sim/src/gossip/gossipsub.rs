//! gossipsub v1.1 (Vyzovitis et al., "GossipSub: Attack-Resilient Message Propagation in the
//! Filecoin and ETH2.0 Networks", 2020), with v1.2's IDONTWANT.
//!
//! Every node keeps a mesh of about D peers among its connections. A new message is forwarded
//! to the mesh (eagerly, full message), and advertised lazily: each heartbeat a node sends
//! IHAVE with the ids of its last `history_gossip` cache windows to D_lazy (or
//! `gossip_factor` of its) non-mesh peers, who ask with IWANT for those they have not seen.
//! The heartbeat also keeps the mesh between D_lo and D_hi with GRAFT and PRUNE (a pruned
//! peer backs off). On receiving a large message a node tells its mesh IDONTWANT, so peers that
//! have not forwarded it yet skip it.
//!
//! Departures from the spec, on purpose: there is one topic (the space), every node is
//! subscribed (so fanout only serves a publisher whose mesh is empty), peer scoring is not
//! modelled (a mesh over-subscription is pruned at random, not by score), the seen cache never
//! expires (the run is shorter than its 2-minute TTL), and IWANT promises are not tracked.

use rand::seq::SliceRandom;

use crate::engine::Event;
use crate::gossip::Gossip;
use crate::gossip::mcache::MessageCache;
use crate::message::Msg;
use crate::network::US_PER_MS;
use crate::rng;
use crate::scenario::{GossipConfig, Scenario, SubscriptionOrder};
use crate::world::World;

/// One node's gossipsub state.
#[derive(Clone, Debug, Default)]
struct Router {
    mesh: Vec<u32>,
    /// Message cache windows.
    mcache: MessageCache,
    /// `(peer, update)`: the peer told us IDONTWANT for an update we have not received yet
    /// (only those can still matter: a node forwards an update once, on first receipt).
    dont_want: Vec<(u32, u32)>,
    /// Peers we may not graft until the time given (µs).
    backoff: Vec<(u32, u64)>,
    /// Ids asked with IWANT since the last heartbeat.
    pending: Vec<u32>,
}

/// The gossipsub model.
#[derive(Debug)]
pub(crate) struct Gossipsub {
    cfg: GossipConfig,
    heartbeat_us: u64,
    routers: Vec<Router>,
}

impl Gossipsub {
    /// The model for `cfg`.
    pub(crate) fn new(cfg: &Scenario) -> Self {
        Gossipsub {
            cfg: cfg.gossip.clone(),
            heartbeat_us: cfg.gossip.heartbeat_ms * US_PER_MS,
            routers: vec![Router::default(); cfg.nodes as usize],
        }
    }

    fn cache(&mut self, node: u32, u: u32, hops: u16) {
        self.routers[node as usize].mcache.put(u, hops);
    }

    /// Sends update `u` to the mesh of `node` (but `except` and peers that said IDONTWANT).
    fn forward(&mut self, w: &mut World, node: u32, except: u32, u: u32, hops: u16) {
        let r = &self.routers[node as usize];
        for &p in &r.mesh {
            if p == except || r.dont_want.contains(&(p, u)) {
                continue;
            }
            w.send(
                node,
                p,
                Msg::Publish {
                    update: u,
                    hops: hops + 1,
                },
            );
        }
    }

    /// What a router does as its peers' subscriptions arrive (rust-libp2p's
    /// `handle_received_subscriptions`): each subscribing peer joins the mesh, with a GRAFT,
    /// while the mesh is below D_lo, peers taken in the order `gossip.subscription_order`
    /// says. The heartbeat tops a mesh up to D only once it falls below
    /// D_lo; grafting up to D at the first heartbeat instead made the simulated meshes larger
    /// than real ones (`knack-sim compare` showed it).
    fn graft_on_subscription(&mut self, w: &mut World, node: u32) {
        if !w.agents[node as usize].online {
            return;
        }
        let d_lo = self.cfg.d_lo() as usize;
        let mut peers: Vec<u32> = w
            .topo
            .neighbors(node)
            .iter()
            .copied()
            .filter(|&p| w.agents[p as usize].online)
            .collect();
        match self.cfg.subscription_order {
            SubscriptionOrder::Random => peers.shuffle(&mut w.gossip_rng),
            SubscriptionOrder::Link => {
                let seed = w.cfg.seed;
                peers.sort_by_key(|&p| {
                    let (lo, hi) = (node.min(p), node.max(p));
                    rng::hash(seed, &[0xc0de, u64::from(lo), u64::from(hi)])
                });
            }
        }
        let r = &mut self.routers[node as usize];
        for p in peers {
            if r.mesh.len() >= d_lo {
                break;
            }
            if !r.mesh.contains(&p) {
                r.mesh.push(p);
                w.send(node, p, Msg::Graft);
            }
        }
    }

    fn heartbeat(&mut self, w: &mut World, node: u32) {
        let now = w.now();
        w.queue
            .push(now + self.heartbeat_us, Event::Heartbeat(node));
        if !w.agents[node as usize].online {
            return;
        }
        let (d, d_lo, d_hi) = (
            self.cfg.d as usize,
            self.cfg.d_lo() as usize,
            self.cfg.d_hi() as usize,
        );
        let backoff_until = now + u64::from(self.cfg.prune_backoff_heartbeats) * self.heartbeat_us;
        let r = &mut self.routers[node as usize];
        r.backoff.retain(|&(_, until)| until > now);
        r.dont_want.clear();
        r.pending.clear();
        r.mesh.retain(|&p| w.agents[p as usize].online);
        // Mesh maintenance.
        if r.mesh.len() < d_lo {
            let mut candidates: Vec<u32> = w
                .topo
                .neighbors(node)
                .iter()
                .copied()
                .filter(|p| {
                    !r.mesh.contains(p)
                        && w.agents[*p as usize].online
                        && !r.backoff.iter().any(|(b, _)| b == p)
                })
                .collect();
            candidates.shuffle(&mut w.gossip_rng);
            candidates.truncate(d - r.mesh.len());
            for &p in &candidates {
                r.mesh.push(p);
            }
            for p in candidates {
                w.send(node, p, Msg::Graft);
            }
        } else if r.mesh.len() > d_hi {
            r.mesh.shuffle(&mut w.gossip_rng);
            let removed: Vec<u32> = r.mesh.split_off(d);
            for &p in &removed {
                r.backoff.push((p, backoff_until));
            }
            for p in removed {
                w.send(node, p, Msg::Prune);
            }
        }
        // Gossip emission.
        let r = &mut self.routers[node as usize];
        if w.agents[node as usize].forwards() {
            let ids = r.mcache.recent(
                self.cfg.history_gossip as usize,
                self.cfg.max_ihave_length as usize,
            );
            if !ids.is_empty() {
                let mut others: Vec<u32> = w
                    .topo
                    .neighbors(node)
                    .iter()
                    .copied()
                    .filter(|p| !r.mesh.contains(p))
                    .collect();
                let lazy = (self.cfg.d_lazy() as usize)
                    .max((self.cfg.gossip_factor * others.len() as f64) as usize);
                others.shuffle(&mut w.gossip_rng);
                others.truncate(lazy);
                let ids = std::rc::Rc::new(ids);
                for p in others {
                    w.send(node, p, Msg::IHave(ids.clone()));
                }
            }
        }
        // Shift the cache.
        let r = &mut self.routers[node as usize];
        r.mcache.shift(self.cfg.history_length as usize);
    }
}

impl Gossip for Gossipsub {
    fn start(&mut self, w: &mut World) {
        for node in 0..w.n() {
            let phase = rand::Rng::gen_range(&mut w.gossip_rng, 0..self.heartbeat_us.max(1));
            w.queue.push(phase, Event::Heartbeat(node));
        }
        for node in 0..w.n() {
            self.graft_on_subscription(w, node);
        }
    }

    fn publish(&mut self, w: &mut World, node: u32, u: u32) {
        self.cache(node, u, 0);
        let r = &self.routers[node as usize];
        let targets: Vec<u32> = if self.cfg.flood_publish {
            w.topo.neighbors(node).to_vec()
        } else if r.mesh.is_empty() {
            // Fanout: D random connected peers.
            let mut peers = w.topo.neighbors(node).to_vec();
            peers.shuffle(&mut w.gossip_rng);
            peers.truncate(self.cfg.d as usize);
            peers
        } else {
            r.mesh.clone()
        };
        for p in targets {
            w.send(node, p, Msg::Publish { update: u, hops: 1 });
        }
    }

    fn on_new(&mut self, w: &mut World, node: u32, from: u32, u: u32, hops: u16) {
        self.cache(node, u, hops);
        if !w.agents[node as usize].forwards() {
            return;
        }
        let threshold = self.cfg.idontwant_threshold;
        if threshold > 0 && w.updates.size(u) >= threshold {
            let mesh: Vec<u32> = self.routers[node as usize]
                .mesh
                .iter()
                .copied()
                .filter(|&p| p != from)
                .collect();
            for p in mesh {
                w.send(node, p, Msg::IDontWant(u));
            }
        }
        self.forward(w, node, from, u, hops);
    }

    fn on_control(&mut self, w: &mut World, node: u32, from: u32, msg: Msg) {
        let now = w.now();
        let d_hi = self.cfg.d_hi() as usize;
        let backoff_until = now + u64::from(self.cfg.prune_backoff_heartbeats) * self.heartbeat_us;
        let forwards = w.agents[node as usize].forwards();
        let r = &mut self.routers[node as usize];
        match msg {
            Msg::Graft => {
                if r.mesh.contains(&from) {
                    return;
                }
                let backed_off = r.backoff.iter().any(|&(p, _)| p == from);
                if backed_off || r.mesh.len() >= d_hi {
                    r.backoff.push((from, backoff_until));
                    w.send(node, from, Msg::Prune);
                } else {
                    r.mesh.push(from);
                }
            }
            Msg::Prune => {
                r.mesh.retain(|&p| p != from);
                r.backoff.push((from, backoff_until));
            }
            Msg::IHave(ids) => {
                let want: Vec<u32> = ids
                    .iter()
                    .copied()
                    .filter(|&u| !w.ledger.received(node, u) && !r.pending.contains(&u))
                    .collect();
                if !want.is_empty() {
                    r.pending.extend_from_slice(&want);
                    w.send(node, from, Msg::IWant(std::rc::Rc::new(want)));
                }
            }
            Msg::IWant(ids) => {
                if !forwards {
                    return;
                }
                for &u in ids.iter() {
                    let Some(hops) = r.mcache.get(u) else {
                        continue;
                    };
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
            Msg::IDontWant(u) if !w.ledger.received(node, u) => r.dont_want.push((from, u)),
            _ => {}
        }
    }

    fn on_timer(&mut self, w: &mut World, node: u32) {
        self.heartbeat(w, node);
    }

    fn on_leave(&mut self, w: &mut World, node: u32) {
        // Peers see the connection close and drop the node from their mesh.
        for &p in w.topo.neighbors(node) {
            self.routers[p as usize].mesh.retain(|&x| x != node);
        }
    }

    fn on_join(&mut self, w: &mut World, node: u32) {
        // A restarted router starts with an empty mesh and cache, then hears its peers'
        // subscriptions again.
        self.routers[node as usize] = Router::default();
        self.graft_on_subscription(w, node);
    }

    fn heap_bytes(&self) -> usize {
        self.routers.capacity() * std::mem::size_of::<Router>()
            + self
                .routers
                .iter()
                .map(|r| {
                    r.mesh.capacity() * 4
                        + r.mcache.heap_bytes()
                        + r.dont_want.capacity() * 8
                        + r.backoff.capacity() * 16
                        + r.pending.capacity() * 4
                })
                .sum::<usize>()
    }

    fn mean_mesh(&self) -> Option<f64> {
        let total: usize = self.routers.iter().map(|r| r.mesh.len()).sum();
        Some(total as f64 / self.routers.len().max(1) as f64)
    }
}
