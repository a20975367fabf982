//! The task world: task types, their candidate procedures with hidden success probabilities,
//! and the relations between them, installed in every space before the run.

use std::collections::BTreeMap;

use knack_crdt::{
    AgentId, Body, Delta, Hlc, NewProcedure, ProcedureId, ProcedureKind, RelationKind, Space,
    SpaceName,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::config::LearningConfig;
use crate::error::SimError;
use crate::rng;

/// One candidate procedure.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    /// Its id in the space.
    #[serde(skip)]
    pub id: ProcedureId,
    /// Task type.
    pub task_type: u32,
    /// Family (related procedures share part of their quality).
    pub family: u32,
    /// True success probability, hidden from agents.
    pub p: f64,
}

/// One task type.
#[derive(Clone, Debug, Serialize)]
pub struct TaskType {
    /// The context tag (and procedure tag) of the type.
    pub tag: String,
    /// Indices of its candidates in [`Catalogue::candidates`].
    pub candidates: Vec<usize>,
    /// The candidate with the highest probability.
    pub best: usize,
    /// The candidate with the lowest probability.
    pub worst: usize,
}

/// A relation of the catalogue.
#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    /// One end (candidate index).
    pub a: usize,
    /// The other end.
    pub b: usize,
    /// `similar` (same task type) or `context` (across types).
    pub similar: bool,
    /// Strength.
    pub strength: f64,
    /// A misleading edge: a weak procedure similar to a strong one.
    pub misleading: bool,
}

/// The whole task world and the delta that installs it.
#[derive(Clone, Debug)]
pub struct Catalogue {
    /// Candidates, by index.
    pub candidates: Vec<Candidate>,
    /// Task types, by index.
    pub types: Vec<TaskType>,
    /// Relations.
    pub edges: Vec<Edge>,
    /// Candidate index by procedure id.
    pub by_id: BTreeMap<ProcedureId, usize>,
    /// Settings, procedures and relations, authored by a curator identity.
    pub setup: Delta,
}

/// Wall time of the catalogue's authoring (before the run's epoch).
const CURATED_MS: u64 = 1_735_689_000_000;

/// Uniform in `lo..hi`.
fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.r#gen::<f64>()
}

impl Catalogue {
    /// The catalogue of `cfg` for `seed` (its own random stream: every variant of an
    /// experiment with the same seed gets the same world).
    pub fn new(cfg: &LearningConfig, seed: u64, space: &SpaceName) -> Result<Self, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(rng::hash(seed, &[0x1ea7_ca7a]));
        let family_q: Vec<f64> = (0..cfg.families)
            .map(|_| uniform(&mut rng, 0.1, 1.0))
            .collect();
        let mut candidates = Vec::new();
        let mut types = Vec::new();
        for t in 0..cfg.task_types {
            let mut members = Vec::new();
            for _ in 0..cfg.candidates {
                let family = rng.gen_range(0..cfg.families);
                let own = uniform(&mut rng, 0.1, 1.0);
                let p = cfg.shared_quality * family_q[family as usize]
                    + (1.0 - cfg.shared_quality) * own;
                members.push(candidates.len());
                candidates.push(Candidate {
                    id: ProcedureId([0; 32]),
                    task_type: t,
                    family,
                    p: p.clamp(0.02, 0.99),
                });
            }
            // The best must stand out by `best_gap`, so "picks the best" is well defined.
            let mut order = members.clone();
            order.sort_by(|&a, &b| candidates[b].p.total_cmp(&candidates[a].p));
            let (best, second) = (order[0], order[1]);
            let floor = candidates[second].p + cfg.best_gap;
            if candidates[best].p < floor {
                candidates[best].p = floor.min(0.99);
                candidates[second].p = candidates[second].p.min(candidates[best].p - cfg.best_gap);
            }
            let worst = *order.last().unwrap_or(&best);
            types.push(TaskType {
                tag: format!("task-{t}"),
                candidates: members,
                best,
                worst,
            });
        }
        // Relations: each family is a chain in creation order; the odd misleading edge.
        let mut edges = Vec::new();
        for f in 0..cfg.families {
            let members: Vec<usize> = (0..candidates.len())
                .filter(|&i| candidates[i].family == f)
                .collect();
            for pair in members.windows(2) {
                let similar = candidates[pair[0]].task_type == candidates[pair[1]].task_type;
                let strength = if similar {
                    uniform(&mut rng, 0.5, 0.9)
                } else {
                    uniform(&mut rng, 0.3, 0.7)
                };
                edges.push(Edge {
                    a: pair[0],
                    b: pair[1],
                    similar,
                    strength,
                    misleading: false,
                });
            }
        }
        for ty in &types {
            if rng.r#gen::<f64>() < cfg.misleading && ty.best != ty.worst {
                edges.push(Edge {
                    a: ty.worst,
                    b: ty.best,
                    similar: true,
                    strength: 0.8,
                    misleading: true,
                });
            }
        }
        // Install it: settings, procedures, relations, by a curator.
        let curator = AgentId([0xc0; 32]);
        let mut space = Space::new(space.clone());
        let mut clock = CURATED_MS;
        let mut at = || {
            clock += 1;
            Hlc::at(clock)
        };
        let mut changes = Vec::new();
        let settings = space.update_settings(curator, at(), cfg.settings()?)?;
        space.apply(&settings);
        changes.extend(settings.changes);
        let mut nonces: Vec<u64> = (0..candidates.len() as u64).collect();
        nonces.shuffle(&mut rng);
        let mut by_id = BTreeMap::new();
        for (i, c) in candidates.iter_mut().enumerate() {
            let (id, delta) = space.add_procedure(
                curator,
                at(),
                NewProcedure {
                    nonce: nonces[i],
                    name: format!("t{}-candidate-{i}", c.task_type),
                    description: "a candidate procedure of the learning experiment".into(),
                    kind: ProcedureKind::Steps,
                    tags: vec![format!("task-{}", c.task_type)],
                    body: Body::Inline(format!("do task {} the way {i}", c.task_type).into()),
                },
            )?;
            space.apply(&delta);
            changes.extend(delta.changes);
            c.id = id;
            by_id.insert(id, i);
        }
        for e in &edges {
            let kind = if e.similar {
                RelationKind::Similar
            } else {
                RelationKind::Context
            };
            let delta = space.link(
                curator,
                at(),
                candidates[e.a].id,
                candidates[e.b].id,
                kind,
                e.strength,
            )?;
            space.apply(&delta);
            changes.extend(delta.changes);
        }
        Ok(Catalogue {
            candidates,
            types,
            edges,
            by_id,
            setup: Delta::new(changes),
        })
    }

    /// The true success probability of procedure `id` (0 for an unknown one).
    pub fn p(&self, id: &ProcedureId) -> f64 {
        self.by_id.get(id).map_or(0.0, |&i| self.candidates[i].p)
    }

    /// Whether `id` is the best procedure of task type `t`.
    pub fn is_best(&self, t: usize, id: &ProcedureId) -> bool {
        self.candidates[self.types[t].best].id == *id
    }
}
