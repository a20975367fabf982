//! A simulation: builds the world from a scenario and runs the event loop.

use std::collections::BTreeSet;

use indicatif::ProgressBar;
use knack_crdt::{Space, SpaceName};
use rand::Rng;

use crate::adversary::{self, Adversaries};
use crate::agent::Agent;
use crate::convergence::Convergence;
use crate::engine::Event;
use crate::error::SimError;
use crate::gossip::{self, Gossip};
use crate::learning::{Catalogue, state::Learning};
use crate::message::Msg;
use crate::metrics::Metrics;
use crate::network::{Network, US_PER_MS};
use crate::replicas::Replicas;
use crate::rng::{self, Stream};
use crate::scenario::Scenario;
use crate::sync::AntiEntropy;
use crate::topology::Topology;
use crate::updates::{Author, Updates};
use crate::workload::Workload;
use crate::world::{Via, World};

/// A simulation ready to run.
pub struct Simulation {
    pub(crate) world: World,
    pub(crate) model: Box<dyn Gossip>,
    pub(crate) sync: AntiEntropy,
    workload: Workload,
    pub(crate) adversaries: Adversaries,
    pub(crate) convergence: Convergence,
    churning: Vec<u32>,
    churn_rng: rand_chacha::ChaCha8Rng,
    /// The collective-learning workload, when the scenario has a `[learning]` table.
    pub(crate) learning: Option<Learning>,
    authored: u32,
    stopped_early: bool,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("nodes", &self.world.n())
            .finish()
    }
}

impl Simulation {
    /// Builds the world of `cfg`: topology, agents with empty spaces, authors' keys, roles.
    pub fn new(cfg: &Scenario) -> Result<Self, SimError> {
        cfg.validate()?;
        let n = cfg.nodes;
        let space = SpaceName::new("sim").map_err(SimError::Crdt)?;
        let mut topo_rng = rng::stream(cfg.seed, Stream::Topology);
        let topo = Topology::random(n, cfg.topology.connections, &mut topo_rng);
        let authors_n = cfg.workload.authors;
        let mut authors = Vec::with_capacity(authors_n as usize);
        for i in 0..authors_n {
            authors.push(Author::new(
                cfg.seed,
                i,
                Workload::author_node(i, authors_n, n),
            )?);
        }
        // A learning run: the catalogue every space starts with, and the Sybil identities (all
        // authoring from the first task agent's node).
        let catalogue = match &cfg.learning {
            Some(l) => {
                l.validate()?;
                let sybil_node = Workload::author_node(0, authors_n, n);
                for j in 0..l.sybil.identities {
                    authors.push(Author::new(cfg.seed, authors_n + j, sybil_node)?);
                }
                Some((Catalogue::new(l, cfg.seed, &space)?, sybil_node))
            }
            None => None,
        };
        let author_nodes: BTreeSet<u32> = authors.iter().map(|a| a.node).collect();
        let mut replica_rng = rng::stream(cfg.seed, Stream::Replicas);
        let spaces: Vec<Option<Space>> = (0..n)
            .map(|i| {
                let holds = author_nodes.contains(&i) || replica_rng.r#gen::<f64>() < cfg.replicas;
                holds.then(|| {
                    let mut s = Space::new(space.clone());
                    if let Some((c, _)) = &catalogue {
                        s.apply(&c.setup);
                        s.settle();
                    }
                    s
                })
            })
            .collect();
        let replicas = Replicas::new(spaces, true);
        let mut agents: Vec<Agent> = (0..n).map(|_| Agent::new()).collect();
        let (topo, adversaries) = adversary::assign(cfg, &mut agents, topo, &author_nodes);
        let honest = agents.iter().filter(|a| a.honest()).count() as u32;
        let updates = Updates::new(space.clone(), authors);
        let invalid = updates.invalid()?;
        let net = Network::new(&cfg.network, n, cfg.seed);
        let metrics = Metrics::new(n, honest, cfg.sample_ms);
        let mut world = World::new(
            cfg.clone(),
            net,
            topo,
            agents,
            replicas,
            updates,
            metrics,
            invalid,
        );
        let workload = Workload::new(cfg);
        let learning = match (&cfg.learning, catalogue) {
            (Some(l), Some((c, sybil_node))) => {
                world.reference.apply(&c.setup);
                Some(Learning::new(
                    cfg,
                    l,
                    c,
                    workload.plan.clone(),
                    sybil_node,
                    &space,
                )?)
            }
            _ => None,
        };
        let mut churn_rng = rng::stream(cfg.seed, Stream::Churn);
        // Authors do not churn, except in a learning run (every agent there is a task agent,
        // working from its own replica while offline).
        let churning: Vec<u32> = (0..n)
            .filter(|i| learning.is_some() || !author_nodes.contains(i))
            .filter(|_| churn_rng.r#gen::<f64>() < cfg.network.churn.fraction)
            .collect();
        let sync = AntiEntropy::new(cfg, &world);
        Ok(Simulation {
            model: gossip::build(cfg),
            workload,
            learning,
            sync,
            world,
            adversaries,
            convergence: Convergence::default(),
            churning,
            churn_rng,
            authored: 0,
            stopped_early: false,
        })
    }

    fn exp_us(&mut self, mean_ms: f64) -> u64 {
        let u: f64 = self.churn_rng.r#gen::<f64>().max(1e-12);
        (-u.ln() * mean_ms * US_PER_MS as f64) as u64
    }

    /// Runs to the end (or to full reach), updating `progress` with virtual milliseconds.
    pub fn run(&mut self, progress: Option<&ProgressBar>) -> Result<(), SimError> {
        let end = self.world.cfg.duration_ms * US_PER_MS;
        let sample = self.world.cfg.sample_ms * US_PER_MS;
        self.model.start(&mut self.world);
        self.sync.start(&mut self.world);
        adversary::start(&mut self.world, &self.adversaries);
        for (k, &t) in self.workload.times.iter().enumerate() {
            self.world.queue.push(t, Event::Author(k as u32));
        }
        if let Some(l) = &self.learning {
            let tasks = self.workload.times.len() as u32;
            for (j, &t) in l.sybil_times.iter().enumerate() {
                self.world.queue.push(t, Event::Author(tasks + j as u32));
            }
        }
        for (i, p) in self.world.net.partitions().to_vec().iter().enumerate() {
            self.world
                .queue
                .push(p.start_ms * US_PER_MS, Event::Partition(i, true));
            self.world
                .queue
                .push(p.heal_ms * US_PER_MS, Event::Partition(i, false));
        }
        let mean_online = self.world.cfg.network.churn.mean_online_ms;
        for node in self.churning.clone() {
            let t = self.exp_us(mean_online);
            self.world.queue.push(t, Event::Churn(node));
        }
        self.world.queue.push(sample, Event::Sample);
        while let Some(event) = self.world.queue.pop(end) {
            if self.step(event, progress)? {
                self.stopped_early = true;
                break;
            }
        }
        self.convergence.finish(&self.world);
        Ok(())
    }

    /// Handles one event; returns whether the run should stop.
    fn step(&mut self, event: Event, progress: Option<&ProgressBar>) -> Result<bool, SimError> {
        let w = &mut self.world;
        match event {
            Event::Arrive { to, from, msg } => w.arrive(to, from, msg),
            Event::Deliver { to, from, msg } => {
                if w.deliverable(to, from) {
                    self.deliver(to, from, msg);
                }
            }
            Event::Heartbeat(node) => self.model.on_timer(w, node),
            Event::Round => self.model.on_timer(w, u32::MAX),
            Event::Sync(node) => self.sync.on_timer(w, node),
            Event::Author(k) => {
                self.authored += 1;
                if let Some(l) = &mut self.learning {
                    if let Some((node, u)) = l.event(w, k)? {
                        self.model.publish(w, node, u);
                    }
                } else {
                    let (node, u) = self.workload.author(w, k)?;
                    self.model.publish(w, node, u);
                }
            }
            Event::Partition(i, on) => {
                w.net.set_partition(i, on);
                if !on {
                    self.convergence.healed(w);
                }
            }
            Event::Churn(node) => self.churn(node),
            Event::Flood(node) => {
                if w.agents[node as usize].online {
                    adversary::flood(w, node);
                } else {
                    let period = w.now() + 1000 * US_PER_MS;
                    w.queue.push(period, Event::Flood(node));
                }
            }
            Event::Sample => {
                let planned = self.workload.times.len()
                    + self.learning.as_ref().map_or(0, |l| l.sybil_times.len());
                let done = self.authored as usize >= planned;
                self.convergence.sample(w, done);
                if let Some(l) = &mut self.learning {
                    l.sample(w);
                }
                let now = w.now();
                if let Some(p) = progress {
                    p.set_position(now / US_PER_MS);
                }
                if w.cfg.stop_at_full_reach && done && w.metrics.all_reached() {
                    return Ok(true);
                }
                w.queue
                    .push(now + w.cfg.sample_ms * US_PER_MS, Event::Sample);
            }
        }
        Ok(false)
    }

    fn deliver(&mut self, to: u32, from: u32, msg: Msg) {
        let w = &mut self.world;
        match msg {
            Msg::Publish { update, hops } => {
                if w.receive(to, update, Via::Gossip(hops)) {
                    self.model.on_new(w, to, from, update, hops);
                }
            }
            Msg::SyncRequest(m) => self.sync.on_request(w, to, from, m.message),
            Msg::SyncResponse(m) => self.sync.on_response(w, to, from, m.message),
            Msg::Invalid => {
                let sampled = w.sample_verify();
                adversary::receive_invalid(w, sampled);
            }
            other => self.model.on_control(w, to, from, other),
        }
    }

    fn churn(&mut self, node: u32) {
        let online = self.world.agents[node as usize].online;
        let churn = self.world.cfg.network.churn.clone();
        let w = &mut self.world;
        if online {
            w.agents[node as usize].online = false;
            self.model.on_leave(w, node);
            self.sync.on_leave(w, node);
            let t = w.now() + self.exp_us(churn.mean_offline_ms);
            self.world.queue.push(t, Event::Churn(node));
        } else {
            w.agents[node as usize].online = true;
            self.model.on_join(w, node);
            self.sync.on_join(w, node);
            let t = w.now() + self.exp_us(churn.mean_online_ms);
            self.world.queue.push(t, Event::Churn(node));
        }
    }

    /// Whether the run stopped at full reach before its end.
    pub fn stopped_early(&self) -> bool {
        self.stopped_early
    }

    /// Events processed.
    pub fn events(&self) -> u64 {
        self.world.queue.processed()
    }

    /// Messages delivered.
    pub fn deliveries(&self) -> u64 {
        self.world.metrics.counters.delivered
    }
}
