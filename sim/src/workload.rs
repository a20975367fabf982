//! The workload: agents adding procedures, recording outcomes (from which every replica derives
//! success contagion) and linking procedures, through the real `knack-crdt` authoring methods.
//!
//! Each update is authored by an agent against its own replica (so it can only record outcomes
//! of procedures it has heard of), sealed once into a signed envelope, applied locally and
//! handed to the gossip model. New procedures are related to known ones, at random or within
//! their cluster, so success contagion has a graph to walk.

use knack_crdt::{Body, Delta, NewProcedure, Outcome, ProcedureId, ProcedureKind, RelationKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::SimError;
use crate::network::US_PER_MS;
use crate::rng::{self, Stream};
use crate::scenario::{Relations, Scenario, WorkloadConfig};
use crate::world::{Via, World};

/// The authoring schedule and its random stream.
#[derive(Debug)]
pub(crate) struct Workload {
    cfg: WorkloadConfig,
    seed: u64,
    /// Authoring times (µs), one per update.
    pub(crate) times: Vec<u64>,
    /// Author index and action roll of each update, drawn up front so that the schedule does
    /// not depend on what happened before (a sweep shares it).
    pub(crate) plan: Vec<(u32, f64)>,
    /// The details of the update being authored (its own stream).
    rng: ChaCha8Rng,
}

impl Workload {
    /// The schedule of `cfg`.
    pub(crate) fn new(cfg: &Scenario) -> Self {
        let mut rng = rng::stream(cfg.seed, Stream::Workload);
        let w = &cfg.workload;
        let mut t = (w.start_ms * US_PER_MS) as f64;
        let mut times = Vec::with_capacity(w.updates as usize);
        let mut plan = Vec::with_capacity(w.updates as usize);
        for _ in 0..w.updates {
            times.push(t as u64);
            plan.push((rng.gen_range(0..w.authors), rng.r#gen::<f64>()));
            if w.interval_ms > 0.0 {
                let u: f64 = rng.r#gen::<f64>().max(1e-12);
                t += -u.ln() * w.interval_ms * US_PER_MS as f64;
            }
        }
        Workload {
            cfg: w.clone(),
            seed: cfg.seed,
            times,
            plan,
            rng,
        }
    }

    /// The node of author `i` among `authors` spread over `n` nodes.
    pub(crate) fn author_node(i: u32, authors: u32, n: u32) -> u32 {
        (u64::from(i) * u64::from(n) / u64::from(authors)) as u32
    }

    /// Authors update `k`: picks an author and an action, builds the delta on the author's
    /// replica, seals it, applies it there and in the reference replica. Returns the node and
    /// the update index.
    pub(crate) fn author(&mut self, w: &mut World, k: u32) -> Result<(u32, u32), SimError> {
        let (a, roll) = self.plan[k as usize];
        self.rng = ChaCha8Rng::seed_from_u64(rng::hash(self.seed, &[0x3017, u64::from(k)]));
        let node = w.updates.authors[a as usize].node;
        let now = w.now();
        let wall = w.net.wall_ms(node, now);
        let hlc = w.updates.authors[a as usize].now(wall);
        let by = w.updates.authors[a as usize].agent;
        let delta = self.action(w, node, by, hlc, k, roll)?;
        w.reference.apply(&delta);
        let u = w.updates.push(a, hlc, delta, now)?;
        w.metrics.authored();
        w.receive(node, u, Via::Local);
        Ok((node, u))
    }

    fn action(
        &mut self,
        w: &World,
        node: u32,
        by: knack_crdt::AgentId,
        hlc: knack_crdt::Hlc,
        k: u32,
        roll: f64,
    ) -> Result<Delta, SimError> {
        let space = w.replicas.get(node).ok_or(SimError::Parameter {
            field: "replicas",
            reason: "an author holds no replica".into(),
        })?;
        let known: Vec<ProcedureId> = space.procedures().map(|p| p.id()).collect();
        let c = &self.cfg;
        let total = c.add_weight + c.outcome_weight + c.link_weight;
        let roll = roll * total.max(f64::MIN_POSITIVE);
        let add = known.is_empty() || total <= 0.0 || roll < c.add_weight;
        if add {
            let body = vec![b'x'; c.body_bytes as usize];
            let (id, mut delta) = space.add_procedure(
                by,
                hlc,
                NewProcedure {
                    nonce: u64::from(k),
                    name: format!("procedure {k}"),
                    description: "simulated".into(),
                    kind: ProcedureKind::Steps,
                    tags: vec!["sim".into()],
                    body: Body::Inline(body),
                },
            )?;
            let cluster = self.cluster(&id);
            let mut candidates: Vec<ProcedureId> = match c.relations {
                Relations::Random => known.clone(),
                Relations::Clustered => known
                    .iter()
                    .copied()
                    .filter(|p| self.cluster(p) == cluster)
                    .collect(),
            };
            for _ in 0..c.links_per_procedure.min(candidates.len() as u32) {
                let i = self.rng.gen_range(0..candidates.len());
                let to = candidates.swap_remove(i);
                let kind = if self.rng.gen_bool(0.5) {
                    RelationKind::Similar
                } else {
                    RelationKind::Context
                };
                let strength = self.rng.gen_range(0.3..1.0);
                let link = space.link(by, hlc, id, to, kind, strength)?;
                delta.changes.extend(link.changes);
            }
            return Ok(delta);
        }
        let p = known[self.rng.gen_range(0..known.len())];
        if roll < c.add_weight + c.outcome_weight || known.len() < 2 {
            let outcome = Outcome {
                success: self.rng.gen_bool(c.success_rate.clamp(0.0, 1.0)),
                duration_ms: self.rng.gen_range(100..10_000),
                contexts: vec![],
            };
            return Ok(space.record_outcome(by, hlc, p, &outcome)?);
        }
        let mut q = p;
        while q == p {
            q = known[self.rng.gen_range(0..known.len())];
        }
        let strength = self.rng.gen_range(0.3..1.0);
        Ok(space.link(by, hlc, p, q, RelationKind::Similar, strength)?)
    }

    /// The cluster of a procedure: a pure function of its id.
    fn cluster(&self, id: &ProcedureId) -> u32 {
        u32::from(id.0[0]) % self.cfg.clusters.max(1)
    }
}
