//! The `[learning]` table of a scenario: the task world, how agents share memory and choose,
//! the space settings under test, memory-level adversaries, and the variants of an experiment.

use serde::{Deserialize, Serialize};

use knack_crdt::{Fraction, SpaceSettings};

use crate::error::SimError;

/// Where an agent's memory lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Memory {
    /// Each agent learns alone: its outcomes go to its own replica only, nothing is sent.
    Isolated,
    /// knack: each agent reads and writes its own replica; outcomes replicate over the
    /// simulated network (gossip and anti-entropy).
    Shared,
    /// A central database: one space every agent reads and writes instantly (the seed's
    /// design; no network, no delay).
    Oracle,
}

/// How an agent chooses a procedure for a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// The top of `Space::top` (Wilson lower bound plus the contagion prior).
    Greedy,
    /// The top of `Space::rank(.., Policy::Thompson, ..)`: Thompson sampling.
    Thompson,
    /// An emulation (in the simulator, not in knack-crdt) of the seed's additive contagion:
    /// `score = clamp(confidence + factor * sum_P w * s_P * rate_P, 0, 1)` over the
    /// procedures P within `contagion_hops`, greedy on that score.
    SeedAdditive,
}

/// A burst of fresh identities (Sybils) that all report the same lie: successes of the worst
/// procedure of one task type. Each identity is a fresh key on one node; `identities = 1000,
/// ops_each = 1` is issue 15's burst of 1,000 identities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SybilConfig {
    /// Fresh identities (0: no burst).
    pub identities: u32,
    /// Successes each identity reports.
    pub ops_each: u32,
    /// When the burst starts (the ops follow 10 ms apart).
    pub at_ms: u64,
    /// The task type attacked.
    pub task_type: u32,
}

impl Default for SybilConfig {
    fn default() -> Self {
        SybilConfig {
            identities: 0,
            ops_each: 5,
            at_ms: 60_000,
            task_type: 0,
        }
    }
}

/// One variant of a learning experiment: a name and `--set`-style overrides of the base
/// scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Name in tables and plots.
    pub name: String,
    /// Overrides, e.g. `["learning.memory=\"isolated\"", "learning.contagion_hops=0"]`.
    #[serde(default)]
    pub set: Vec<String>,
}

/// The collective-learning workload (issue 13). When a scenario has a `[learning]` table, the
/// workload's `updates` are *tasks*: at each of the workload's times one of its `authors`
/// (the task agents) gets a task of a random type, picks a procedure for it from its memory
/// through the real ranking code, succeeds with the procedure's hidden probability, and records
/// the outcome through the real authoring code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearningConfig {
    /// Where memory lives.
    pub memory: Memory,
    /// How agents choose.
    pub policy: Choice,
    /// Task types (context tags `task-0`, `task-1`, ...).
    pub task_types: u32,
    /// Candidate procedures per task type.
    pub candidates: u32,
    /// Families of related procedures across all task types: members of a family are linked
    /// (`similar` within a task type, `context` across types) and share part of their quality.
    pub families: u32,
    /// Weight of the family's quality in a member's true success probability (the rest is the
    /// member's own): `p = shared * q_family + (1 - shared) * q_own`.
    pub shared_quality: f64,
    /// Probability that a task type gets a misleading edge: its worst candidate linked
    /// `similar` (strength 0.8) to its best.
    pub misleading: f64,
    /// The best candidate of each type is made at least this much better than the second.
    pub best_gap: f64,
    /// Space setting `contagion_factor`.
    pub contagion_factor: f64,
    /// Space setting `contagion_hops` (0: contagion off).
    pub contagion_hops: u8,
    /// Space setting `contagion_prior_max`.
    pub contagion_prior_max: u32,
    /// Space setting `negative_contagion`.
    pub negative_contagion: bool,
    /// Space setting `crystallize_min_outcomes`.
    pub crystallize_min_outcomes: u64,
    /// Space setting `crystallize_confidence`.
    pub crystallize_confidence: f64,
    /// Space setting `crystallize_min_agents`.
    pub crystallize_min_agents: u32,
    /// Space setting `melt_confidence`.
    pub melt_confidence: f64,
    /// Space setting `evidence_weighting`: agents' reports count with weights derived from
    /// their agreement with the others (`knack_crdt::weights`).
    pub evidence_weighting: bool,
    /// Fraction of task agents that lie: each of their tasks reports a success of the type's
    /// worst procedure or a failure of its best (alternately), instead of doing the task.
    pub liars: f64,
    /// A Sybil burst.
    pub sybil: SybilConfig,
    /// Period of the measurements (greedy picks of every agent, crystallizations), ms.
    pub measure_ms: u64,
    /// Runs (seeds `seed`, `seed + 1`, ...) per variant of an experiment (`knack-sim learn`).
    pub runs: u32,
    /// The variants of an experiment (`knack-sim learn`); empty: the scenario itself.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
}

impl Default for LearningConfig {
    fn default() -> Self {
        let d = SpaceSettings::default();
        LearningConfig {
            memory: Memory::Shared,
            policy: Choice::Thompson,
            task_types: 6,
            candidates: 6,
            families: 8,
            shared_quality: 0.7,
            misleading: 0.5,
            best_gap: 0.05,
            contagion_factor: d.contagion_factor.as_f64(),
            contagion_hops: d.contagion_hops,
            contagion_prior_max: d.contagion_prior_max,
            negative_contagion: d.negative_contagion,
            crystallize_min_outcomes: d.crystallize_min_outcomes,
            crystallize_confidence: d.crystallize_confidence.as_f64(),
            crystallize_min_agents: d.crystallize_min_agents,
            melt_confidence: d.melt_confidence.as_f64(),
            evidence_weighting: d.evidence_weighting,
            liars: 0.0,
            sybil: SybilConfig::default(),
            measure_ms: 5000,
            runs: 1,
            variants: Vec::new(),
        }
    }
}

impl LearningConfig {
    /// The space settings under test (the rest are knack's defaults; the contagion half-life
    /// is knack's seven days, far longer than a run).
    pub fn settings(&self) -> Result<SpaceSettings, SimError> {
        let settings = SpaceSettings {
            contagion_factor: Fraction::from_f64("contagion_factor", self.contagion_factor)?,
            contagion_hops: self.contagion_hops,
            negative_contagion: self.negative_contagion,
            contagion_prior_max: self.contagion_prior_max,
            crystallize_min_outcomes: self.crystallize_min_outcomes,
            crystallize_confidence: Fraction::from_f64(
                "crystallize_confidence",
                self.crystallize_confidence,
            )?,
            crystallize_min_agents: self.crystallize_min_agents,
            melt_confidence: Fraction::from_f64("melt_confidence", self.melt_confidence)?,
            evidence_weighting: self.evidence_weighting,
            ..SpaceSettings::default()
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks ranges the types cannot express.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |field, reason: &str| {
            Err(SimError::Parameter {
                field,
                reason: reason.into(),
            })
        };
        if self.task_types == 0 || self.candidates < 2 {
            return bad("learning", "at least 1 task type and 2 candidates");
        }
        if self.families == 0 {
            return bad("learning.families", "at least 1");
        }
        let unit = |x: f64| (0.0..=1.0).contains(&x);
        if !unit(self.shared_quality) || !unit(self.misleading) || !unit(self.liars) {
            return bad(
                "learning",
                "shared_quality, misleading and liars within 0..=1",
            );
        }
        if !(0.0..0.5).contains(&self.best_gap) {
            return bad("learning.best_gap", "within 0..0.5");
        }
        if self.measure_ms == 0 || self.runs == 0 {
            return bad("learning", "positive measure_ms and runs");
        }
        if self.sybil.identities > 0
            && (self.sybil.ops_each == 0 || self.sybil.task_type >= self.task_types)
        {
            return bad("learning.sybil", "ops_each > 0 and an existing task_type");
        }
        self.settings().map(|_| ())
    }

    /// Ops the Sybil burst authors.
    pub fn sybil_ops(&self) -> u32 {
        self.sybil.identities * self.sybil.ops_each
    }
}
