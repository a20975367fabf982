//! A frozen space: a space's procedures and rankings as of one moment, read on another thread.
//!
//! A ranking scores every procedure of the space (42 ms at 100k procedures), and a search, a
//! blob collection or a cold-tier pass reads every procedure too; a node's actor, which
//! applies every write, must not do that. A [`FrozenSpace`] shares the space's persistent
//! procedure map and contagion sums (O(1) to take: no procedure is copied), so the actor takes
//! one and hands it to another thread, which reads from it while the actor goes on writing.
//! What the actor changes meanwhile is copied on write (the changed procedure's state, the
//! map's and the sums' chunks on its path), never seen by the frozen copy.

use std::sync::Arc;

use rand::Rng;

use crate::contagion::{FrozenNeighbourhoods, Neighbours};
use crate::explore::{Policy, rank_of};
use crate::ids::ProcedureId;
use crate::procedure::{Procedure, ProcedureMap};
use crate::ranking::{Filter, Ranked, top_of};
use crate::settings::SpaceSettings;
use crate::weights::EvidenceWeights;

/// A space's procedures and rankings as of the moment [`crate::Space::freeze`] took it:
/// `Send + Sync`, answering exactly as the space did then.
#[derive(Clone, Debug)]
pub struct FrozenSpace {
    procedures: ProcedureMap,
    neighbourhoods: FrozenNeighbourhoods,
    settings: SpaceSettings,
    /// The evidence weights, when the space weights evidence.
    weights: Option<Arc<EvidenceWeights>>,
}

impl FrozenSpace {
    pub(crate) fn new(
        procedures: ProcedureMap,
        neighbourhoods: FrozenNeighbourhoods,
        settings: SpaceSettings,
        weights: Option<Arc<EvidenceWeights>>,
    ) -> Self {
        FrozenSpace {
            procedures,
            neighbourhoods,
            settings,
            weights,
        }
    }

    /// Sums the contagion neighbourhoods the space had left stale when it was frozen (many,
    /// after a bulk ingest), on every core: a read about to score every procedure calls it
    /// first, or each is summed alone as it is read. Answers do not change.
    pub fn settle(&mut self) {
        self.neighbourhoods.settle();
    }

    /// A procedure whose creation is known, with its derived values as of the freeze.
    pub fn procedure(&self, id: &ProcedureId) -> Option<Procedure<'_>> {
        self.procedures
            .get(id)
            .filter(|state| state.creation.is_some())
            .map(|state| self.view_of(*id, state))
    }

    /// Every procedure whose creation is known, in id order.
    pub fn procedures(&self) -> impl Iterator<Item = Procedure<'_>> {
        // The contagion nodes are in id order too: walked beside the procedures, each
        // procedure's node is found without a lookup (a ranking reads every procedure's).
        let mut nodes = self.neighbourhoods.nodes().peekable();
        self.procedures
            .iter()
            .filter(|(_, state)| state.creation.is_some())
            .map(move |(id, state)| {
                let mut node = None;
                while let Some((other, n)) = nodes.peek() {
                    match (*other).cmp(id) {
                        std::cmp::Ordering::Less => {}
                        std::cmp::Ordering::Equal => node = Some(**n),
                        std::cmp::Ordering::Greater => break,
                    }
                    nodes.next();
                }
                Procedure::new(
                    *id,
                    state,
                    &self.settings,
                    Neighbours::Resolved(&self.neighbourhoods, node),
                    self.weights.as_deref(),
                )
            })
    }

    fn view_of<'a>(
        &'a self,
        id: ProcedureId,
        state: &'a crate::procedure::ProcedureState,
    ) -> Procedure<'a> {
        Procedure::new(
            id,
            state,
            &self.settings,
            Neighbours::Frozen(&self.neighbourhoods),
            self.weights.as_deref(),
        )
    }

    /// The `n` best procedures admitted by `filter` at `now_ms`, best first: what
    /// [`crate::Space::top`] answered when it was frozen.
    pub fn top(&self, n: usize, filter: &Filter, now_ms: u64) -> Vec<Ranked> {
        top_of(self.procedures(), n, filter, now_ms)
    }

    /// The `n` procedures admitted by `filter`, ordered by `policy` at `now_ms`: what
    /// [`crate::Space::rank`] answered when it was frozen.
    pub fn rank<R: Rng + ?Sized>(
        &self,
        n: usize,
        filter: &Filter,
        now_ms: u64,
        policy: Policy,
        rng: &mut R,
    ) -> Vec<Ranked> {
        rank_of(|n| self.top(n, filter, now_ms), n, policy, rng)
    }
}
