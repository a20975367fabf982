//! A learning run inside a [`Simulation`](crate::Simulation): tasks handed to agents, choices
//! made from their memory by the real ranking code, outcomes recorded by the real authoring
//! code, and the measurements (regret, greedy picks, crystallizations) over virtual time.

use std::collections::BTreeSet;
use std::sync::Arc;

use knack_crdt::{Filter, Outcome, Policy, ProcedureId, Space};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::catalogue::Catalogue;
use super::config::{Choice, LearningConfig, Memory};
use crate::error::SimError;
use crate::network::US_PER_MS;
use crate::rng;
use crate::scenario::Scenario;
use crate::world::{Via, World};

/// One measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Point {
    /// Virtual time (ms).
    pub time_ms: u64,
    /// Cumulative regret per honest task agent.
    pub regret: f64,
    /// Share of (honest agent, task type) pairs whose greedy pick from the agent's memory is
    /// the type's best procedure.
    pub best_share: f64,
    /// Procedures crystallized now (in the memory's converged state).
    pub crystallized: u32,
    /// Of which with a true success probability below `crystallize_confidence`.
    pub false_crystallized: u32,
}

/// The state of a learning run.
#[derive(Debug)]
pub(crate) struct Learning {
    pub(crate) cfg: LearningConfig,
    seed: u64,
    pub(crate) catalogue: Catalogue,
    /// Tasks (the workload's updates).
    tasks: u32,
    /// Task agent index and roll of each task (the workload's plan).
    plan: Vec<(u32, f64)>,
    /// Task agents (author indices `0..agents`).
    agents: u32,
    /// Per task agent: whether it lies.
    liar: Vec<bool>,
    /// The node the Sybil identities author from.
    sybil_node: u32,
    /// Times of the Sybil ops (µs).
    pub(crate) sybil_times: Vec<u64>,
    /// The central space (memory `oracle`).
    oracle: Option<Space>,
    /// Cumulative regret per task agent.
    regret: Vec<f64>,
    /// Honest tasks done, and how many picked the best.
    pub(crate) honest_tasks: u64,
    pub(crate) best_picks: u64,
    /// Lies and Sybil ops recorded.
    pub(crate) lies: u64,
    pub(crate) sybil_ops: u64,
    next_measure_us: u64,
    pub(crate) series: Vec<Point>,
    /// Per task type: first time 90 % of honest agents' greedy picks were its best.
    pub(crate) time_to_best: Vec<Option<u64>>,
    pub(crate) ever_crystallized: BTreeSet<usize>,
    pub(crate) first_correct_ms: Option<u64>,
}

/// The wall time of virtual time 0 is the network model's epoch; rankings read wall time.
fn wall_ms(w: &World, node: u32) -> u64 {
    w.net.wall_ms(node, w.now())
}

impl Learning {
    /// The learning state of `cfg` (whose `learning` table is `l`), for task agents
    /// `0..agents` and a plan of `plan.len()` tasks.
    pub(crate) fn new(
        cfg: &Scenario,
        l: &LearningConfig,
        catalogue: Catalogue,
        plan: Vec<(u32, f64)>,
        sybil_node: u32,
        space: &knack_crdt::SpaceName,
    ) -> Result<Self, SimError> {
        let agents = cfg.workload.authors;
        let mut rng = ChaCha8Rng::seed_from_u64(rng::hash(cfg.seed, &[0x11a5]));
        let mut order: Vec<u32> = (0..agents).collect();
        order.shuffle(&mut rng);
        let liars = (l.liars * f64::from(agents)).round() as usize;
        let mut liar = vec![false; agents as usize];
        for &a in order.iter().take(liars) {
            liar[a as usize] = true;
        }
        let start = l.sybil.at_ms * US_PER_MS;
        let sybil_times = (0..u64::from(l.sybil_ops()))
            .map(|j| start + j * 10 * US_PER_MS)
            .collect();
        let oracle = (l.memory == Memory::Oracle).then(|| {
            let mut s = Space::new(space.clone());
            s.apply(&catalogue.setup);
            s.settle();
            s
        });
        Ok(Learning {
            cfg: l.clone(),
            seed: cfg.seed,
            tasks: plan.len() as u32,
            plan,
            agents,
            liar,
            sybil_node,
            sybil_times,
            oracle,
            regret: vec![0.0; agents as usize],
            honest_tasks: 0,
            best_picks: 0,
            lies: 0,
            sybil_ops: 0,
            next_measure_us: l.measure_ms * US_PER_MS,
            series: Vec::new(),
            time_to_best: vec![None; catalogue.types.len()],
            ever_crystallized: BTreeSet::new(),
            first_correct_ms: None,
            catalogue,
        })
    }

    /// Honest task agents.
    pub(crate) fn honest_agents(&self) -> u32 {
        self.liar.iter().filter(|l| !**l).count() as u32
    }

    /// Task agents that lie.
    pub(crate) fn liars(&self) -> u32 {
        self.liar.iter().filter(|l| **l).count() as u32
    }

    /// Handles event `k`: task `k`, or Sybil op `k - tasks`. Returns the node and update to
    /// publish, for shared memory.
    pub(crate) fn event(&mut self, w: &mut World, k: u32) -> Result<Option<(u32, u32)>, SimError> {
        let (author, node, tag, id, success) = if k < self.tasks {
            let (a, roll) = self.plan[k as usize];
            let t = ((roll * self.catalogue.types.len() as f64) as usize)
                .min(self.catalogue.types.len() - 1);
            let node = w.updates.authors[a as usize].node;
            let mut rng = ChaCha8Rng::seed_from_u64(rng::hash(self.seed, &[0x7a5c, u64::from(k)]));
            let u: f64 = rng.r#gen();
            let ty = self.catalogue.types[t].clone();
            let (id, success) = if self.liar[a as usize] {
                self.lies += 1;
                if self.lies % 2 == 1 {
                    (self.catalogue.candidates[ty.worst].id, true)
                } else {
                    (self.catalogue.candidates[ty.best].id, false)
                }
            } else {
                let now_ms = wall_ms(w, node);
                let id = self.choose(w, node, t, now_ms, &mut rng)?;
                let p = self.catalogue.p(&id);
                let best = self.catalogue.candidates[ty.best].p;
                self.regret[a as usize] += best - p;
                self.honest_tasks += 1;
                if self.catalogue.is_best(t, &id) {
                    self.best_picks += 1;
                }
                (id, u < p)
            };
            (a, node, ty.tag, id, success)
        } else {
            let j = k - self.tasks;
            let a = self.agents + j / self.cfg.sybil.ops_each;
            let ty = &self.catalogue.types[self.cfg.sybil.task_type as usize];
            self.sybil_ops += 1;
            (
                a,
                self.sybil_node,
                ty.tag.clone(),
                self.catalogue.candidates[ty.worst].id,
                true,
            )
        };
        if self.cfg.memory == Memory::Isolated && k >= self.tasks {
            return Ok(None);
        }
        let now = w.now();
        let wall = wall_ms(w, node);
        let hlc = w.updates.authors[author as usize].now(wall);
        let by = w.updates.authors[author as usize].agent;
        let outcome = Outcome {
            success,
            duration_ms: 1000,
            contexts: vec![tag],
        };
        match self.cfg.memory {
            Memory::Oracle => {
                let oracle = self.oracle.as_mut().ok_or(SimError::Parameter {
                    field: "learning.memory",
                    reason: "no oracle space".into(),
                })?;
                let delta = oracle.record_outcome(by, hlc, id, &outcome)?;
                oracle.apply(&delta);
                Ok(None)
            }
            Memory::Isolated => {
                let delta = {
                    let space = replica(w, node)?;
                    space.record_outcome(by, hlc, id, &outcome)?
                };
                w.replicas.apply(node, &Arc::new(delta));
                Ok(None)
            }
            Memory::Shared => {
                let delta = {
                    let space = replica(w, node)?;
                    space.record_outcome(by, hlc, id, &outcome)?
                };
                w.reference.apply(&delta);
                let u = w.updates.push(author, hlc, delta, now)?;
                w.metrics.authored();
                w.receive(node, u, Via::Local);
                Ok(Some((node, u)))
            }
        }
    }

    /// The procedure agent `node` picks for task type `t` from its memory.
    fn choose(
        &mut self,
        w: &World,
        node: u32,
        t: usize,
        now_ms: u64,
        rng: &mut ChaCha8Rng,
    ) -> Result<ProcedureId, SimError> {
        let filter = filter(&self.catalogue.types[t].tag);
        let policy = self.cfg.policy;
        let pick = |space: &mut Space, rng: &mut ChaCha8Rng| {
            if space.needs_settle() {
                space.settle();
            }
            match policy {
                Choice::Greedy => space.top(1, &filter, now_ms).first().map(|r| r.id),
                Choice::Thompson => space
                    .rank(1, &filter, now_ms, Policy::Thompson, rng)
                    .first()
                    .map(|r| r.id),
                Choice::SeedAdditive => super::seed::pick(space, &filter, now_ms, &self.cfg),
            }
        };
        let id = match &mut self.oracle {
            Some(space) => pick(space, rng),
            None => {
                let mut space = replica(w, node)?;
                pick(&mut space, rng)
            }
        };
        id.ok_or(SimError::Parameter {
            field: "learning",
            reason: "a task type without candidates".into(),
        })
    }

    /// A measurement, if one is due.
    pub(crate) fn sample(&mut self, w: &World) {
        let now = w.now();
        while self.next_measure_us <= now {
            self.next_measure_us += self.cfg.measure_ms * US_PER_MS;
            self.measure(w);
        }
    }

    /// Measures now: regret, greedy picks of every honest agent, crystallizations.
    pub(crate) fn measure(&mut self, w: &World) {
        let time_ms = w.now() / US_PER_MS;
        let honest: Vec<u32> = (0..self.agents)
            .filter(|&a| !self.liar[a as usize])
            .collect();
        let regret = honest.iter().map(|&a| self.regret[a as usize]).sum::<f64>()
            / honest.len().max(1) as f64;
        let types = self.catalogue.types.len();
        let mut best_counts = vec![0u32; types];
        let greedy_best = |space: &mut Space, now_ms: u64, counts: &mut [u32]| {
            if space.needs_settle() {
                space.settle();
            }
            for (t, ty) in self.catalogue.types.iter().enumerate() {
                let top = space.top(1, &filter(&ty.tag), now_ms);
                if top
                    .first()
                    .is_some_and(|r| self.catalogue.is_best(t, &r.id))
                {
                    counts[t] += 1;
                }
            }
        };
        let mut oracle = self.oracle.take();
        for &a in &honest {
            let node = w.updates.authors[a as usize].node;
            let now_ms = wall_ms(w, node);
            match &mut oracle {
                Some(space) => greedy_best(space, now_ms, &mut best_counts),
                None => {
                    if let Some(mut space) = w.replicas.get(node) {
                        greedy_best(&mut space, now_ms, &mut best_counts);
                    }
                }
            }
        }
        let n = honest.len().max(1) as f64;
        for (t, &c) in best_counts.iter().enumerate() {
            if self.time_to_best[t].is_none() && f64::from(c) >= 0.9 * n {
                self.time_to_best[t] = Some(time_ms);
            }
        }
        let best_share = f64::from(best_counts.iter().sum::<u32>()) / (n * types as f64);
        // Crystallizations in the memory's converged state: the oracle, the reference replica
        // (every op authored so far), or, isolated, any agent's replica.
        let mut crystallized = BTreeSet::new();
        let mut collect = |space: &Space| {
            for p in space.procedures().filter(|p| p.crystallized()) {
                if let Some(&i) = self.catalogue.by_id.get(&p.id()) {
                    crystallized.insert(i);
                }
            }
        };
        match (&oracle, self.cfg.memory) {
            (Some(space), _) => collect(space),
            (None, Memory::Shared) => collect(&w.reference),
            (None, _) => {
                for &a in &honest {
                    if let Some(space) = w.replicas.get(w.updates.authors[a as usize].node) {
                        collect(&space);
                    }
                }
            }
        }
        self.oracle = oracle;
        let threshold = self.cfg.crystallize_confidence;
        let false_ = crystallized
            .iter()
            .filter(|&&i| self.catalogue.candidates[i].p < threshold)
            .count() as u32;
        if self.first_correct_ms.is_none()
            && crystallized
                .iter()
                .any(|&i| self.catalogue.candidates[i].p >= threshold)
        {
            self.first_correct_ms = Some(time_ms);
        }
        self.ever_crystallized.extend(crystallized.iter().copied());
        self.series.push(Point {
            time_ms,
            regret,
            best_share,
            crystallized: crystallized.len() as u32,
            false_crystallized: false_,
        });
    }

    /// Mean cumulative regret per honest task agent now.
    pub(crate) fn mean_regret(&self) -> f64 {
        let honest: Vec<f64> = (0..self.agents as usize)
            .filter(|&a| !self.liar[a])
            .map(|a| self.regret[a])
            .collect();
        honest.iter().sum::<f64>() / honest.len().max(1) as f64
    }
}

/// The ranking filter of a task type: its candidates, ranked by the evidence of its context.
pub(crate) fn filter(tag: &str) -> Filter {
    Filter {
        tag: Some(tag.to_owned()),
        context: Some(tag.to_owned()),
        ..Filter::default()
    }
}

fn replica(w: &World, node: u32) -> Result<std::sync::MutexGuard<'_, Space>, SimError> {
    w.replicas.get(node).ok_or(SimError::Parameter {
        field: "replicas",
        reason: "a task agent holds no replica".into(),
    })
}
