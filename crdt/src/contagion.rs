//! Success contagion, derived: a procedure's ranking starts from its neighbours' evidence.
//!
//! The seed's idea: a success of P is evidence for the procedures related to P over `similar`
//! and `context` relations, up to 3 hops, weighted by the strongest path `w` (product of
//! strengths) and a factor 0.1, fading with time. knack's first version wrote that evidence as
//! replicated boosts into every procedure reached, added without bound; at 10k procedures in
//! dense clusters an outcome op carried hundreds of KB and every clustered procedure's score
//! sat at 1.0. Here contagion is **derived** on each replica from replicated outcomes and
//! relations, like `rate` and `confidence`, and **bounded**:
//!
//! - an outcome op carries only the author's own slot: its size never depends on the graph;
//! - a procedure's neighbourhood evidence `Σ_P w(P) · (s_P, f_P)` is kept by an index
//!   ([`index`]) as exact integers, pushed from P on every outcome (one walk of at most `hops`
//!   edges), recomputed lazily after relation changes;
//! - it enters the score as a [`Prior`]: `factor · w` pseudo-counts per neighbour use, capped
//!   at `contagion_prior_max` pseudo-uses in all, so it lifts the unproven and a procedure's own
//!   outcomes outweigh it as they accumulate ([`score`]).

mod evidence;
mod graph;
pub(crate) mod index;
mod prior;

pub(crate) use evidence::Change as EvidenceChange;
pub use graph::ContagionGraph;
pub(crate) use graph::MAX_EXACT_HOPS;
pub(crate) use index::{ContagionIndex, FrozenNeighbourhoods, Neighbours};
pub use index::{SettleJob, SettledSums};
pub use prior::{Prior, score, score_weighted};

use crate::ids::ProcedureId;
use crate::relation::RelationKey;

/// The pair of procedures a contagion-carrying relation key joins, if it carries contagion.
pub(crate) fn contagion_pair(key: &RelationKey) -> Option<(ProcedureId, ProcedureId)> {
    key.kind.carries_contagion().then_some((key.from, key.to))
}
