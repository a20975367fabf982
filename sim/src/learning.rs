//! # Collective learning: does shared memory make agents better? (issue 13)
//!
//! Task types (context tags) each have several candidate procedures with hidden success
//! probabilities; families of related candidates (joined by `similar` / `context` relations)
//! share part of their quality, and some `similar` edges are misleading (a type's worst
//! candidate similar to its best). At the workload's times a task agent gets a task of a random
//! type, picks a procedure **from its own memory** through the real ranking code
//! (`Space::top`, `Space::rank` with Thompson sampling, filtered by the type's tag and ranked by
//! its context's evidence), succeeds with the hidden probability (seeded), and records the
//! outcome through the real authoring code (`Space::record_outcome`). Where memory lives is the
//! experiment's subject ([`Memory`]):
//!
//! - `isolated`: the outcome goes to the agent's own replica only;
//! - `shared` (knack): the delta is sealed into a real signed envelope and published through the
//!   simulator's whole machinery — the gossip model, anti-entropy, latency, partitions, churn;
//! - `oracle`: one central space every agent reads and writes instantly.
//!
//! Memory-level adversaries: liars (a fraction of the task agents reports successes of the
//! worst procedure and failures of the best instead of working) and a Sybil burst (fresh
//! identities all reporting successes of one worst procedure).
//!
//! Measured: cumulative regret per honest agent (`p_best - p_chosen` per task), the share of
//! (agent, type) pairs whose greedy pick from the agent's memory is the type's best, the time
//! until 90 % of agents pick the best, crystallizations of procedures whose true rate is below
//! the crystallization threshold (false ones) and of procedures that are not the best of their
//! type, the time to the first correct one.
//! [`experiment`] runs the variants of a scenario over several seeds and writes the tables and
//! plots (`knack-sim learn`).

mod catalogue;
mod config;
pub mod experiment;
mod seed;
pub(crate) mod state;

pub use catalogue::{Candidate, Catalogue, Edge, TaskType};
pub use config::{Choice, LearningConfig, Memory, SybilConfig, Variant};
pub use state::Point;

use serde::Serialize;

use crate::error::SimError;
use crate::report::Summary;
use crate::scenario::Scenario;
use crate::sim::Simulation;

/// The result of one learning run.
#[derive(Clone, Debug, Serialize)]
pub struct LearningReport {
    /// Seed of the run.
    pub seed: u64,
    /// Where memory lived.
    pub memory: Memory,
    /// How agents chose.
    pub policy: Choice,
    /// Honest task agents.
    pub honest_agents: u32,
    /// Lying task agents.
    pub liars: u32,
    /// Tasks done by honest agents.
    pub honest_tasks: u64,
    /// Lies recorded by liars.
    pub lies: u64,
    /// Ops of the Sybil burst.
    pub sybil_ops: u64,
    /// Mean cumulative regret per honest agent at the end.
    pub regret: f64,
    /// Mean regret per honest task.
    pub regret_per_task: f64,
    /// Share of honest tasks that used the type's best procedure.
    pub best_pick_share: f64,
    /// Share of (honest agent, type) greedy picks that are the best, at the end.
    pub final_best_share: f64,
    /// Per task type: when 90 % of honest agents' greedy picks first were its best (ms).
    pub time_to_best_ms: Vec<Option<u64>>,
    /// Procedures crystallized at some measurement.
    pub ever_crystallized: u32,
    /// Of which with a true success probability below `crystallize_confidence`.
    pub ever_false_crystallized: u32,
    /// Of which not the best procedure of their task type.
    pub ever_not_best_crystallized: u32,
    /// When a procedure whose true rate reaches the threshold first was crystallized (ms).
    pub first_correct_crystallization_ms: Option<u64>,
    /// Payload bytes sent per node (shared memory; 0 otherwise).
    pub payload_bytes_per_node: f64,
    /// Every node holds every op and every replica's digest equals the reference (shared).
    pub converged: Option<bool>,
    /// The measurements.
    pub series: Vec<Point>,
    /// The task world.
    pub candidates: Vec<Candidate>,
}

/// Runs the learning scenario `scenario` (it must have a `[learning]` table) once.
pub fn run(scenario: &Scenario) -> Result<LearningReport, SimError> {
    let mut sim = Simulation::new(scenario)?;
    sim.run(None)?;
    report(&mut sim)
}

/// The report of a finished simulation with a learning workload.
fn report(sim: &mut Simulation) -> Result<LearningReport, SimError> {
    let summary = Summary::of(sim);
    let l = sim.learning.as_mut().ok_or(SimError::Parameter {
        field: "learning",
        reason: "the scenario has no [learning] table".into(),
    })?;
    // A last measurement at the end of the run.
    if l.series.last().map(|p| p.time_ms) != Some(sim.world.now() / 1000) {
        l.measure(&sim.world);
    }
    let threshold = l.cfg.crystallize_confidence;
    let shared = l.cfg.memory == Memory::Shared;
    Ok(LearningReport {
        seed: sim.world.cfg.seed,
        memory: l.cfg.memory,
        policy: l.cfg.policy,
        honest_agents: l.honest_agents(),
        liars: l.liars(),
        honest_tasks: l.honest_tasks,
        lies: l.lies,
        sybil_ops: l.sybil_ops,
        regret: l.mean_regret(),
        regret_per_task: l.mean_regret() * f64::from(l.honest_agents())
            / (l.honest_tasks.max(1) as f64),
        best_pick_share: l.best_picks as f64 / l.honest_tasks.max(1) as f64,
        final_best_share: l.series.last().map_or(0.0, |p| p.best_share),
        time_to_best_ms: l.time_to_best.clone(),
        ever_crystallized: l.ever_crystallized.len() as u32,
        ever_false_crystallized: l
            .ever_crystallized
            .iter()
            .filter(|&&i| l.catalogue.candidates[i].p < threshold)
            .count() as u32,
        ever_not_best_crystallized: l
            .ever_crystallized
            .iter()
            .filter(|&&i| {
                let t = l.catalogue.candidates[i].task_type as usize;
                l.catalogue.types[t].best != i
            })
            .count() as u32,
        first_correct_crystallization_ms: l.first_correct_ms,
        payload_bytes_per_node: if shared {
            summary.traffic.payload_bytes_per_node
        } else {
            0.0
        },
        converged: shared.then(|| {
            summary.convergence.converged_ms.is_some() && summary.convergence.distinct_digests == 1
        }),
        series: l.series.clone(),
        candidates: l.catalogue.candidates.clone(),
    })
}
