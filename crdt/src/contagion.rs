//! Success contagion: how a success spreads to related procedures.
//!
//! When agent A records a success of P, A's replica walks the graph of `similar` and `context`
//! relations (undirected) from P up to `hops` edges. Each procedure Q reached gets
//! `factor * rate(P) * w`, where `w` is the strongest path to Q: the largest product of edge
//! strengths over paths of at most `hops` edges. The boosts are written into A's own boost slots
//! (ordinary owner-only CRDT updates), so they replicate like any other change.

use std::collections::BTreeMap;

use crate::fraction::Fraction;
use crate::ids::ProcedureId;
use crate::relation::RelationKey;

/// The graph contagion walks: for every procedure, its neighbours over contagion-carrying
/// relations with the pair's strongest live strength. Derived from the relation registers and
/// kept up to date as they change; never replicated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContagionGraph {
    adjacency: BTreeMap<ProcedureId, BTreeMap<ProcedureId, Fraction>>,
}

impl ContagionGraph {
    /// Sets the strength between `a` and `b` (both directions); `None` or zero removes the edge.
    pub fn set(&mut self, a: ProcedureId, b: ProcedureId, strength: Option<Fraction>) {
        match strength.filter(|s| *s > Fraction::ZERO) {
            Some(s) => {
                self.adjacency.entry(a).or_default().insert(b, s);
                self.adjacency.entry(b).or_default().insert(a, s);
            }
            None => {
                self.remove_half(a, b);
                self.remove_half(b, a);
            }
        }
    }

    fn remove_half(&mut self, from: ProcedureId, to: ProcedureId) {
        if let Some(neighbours) = self.adjacency.get_mut(&from) {
            neighbours.remove(&to);
            if neighbours.is_empty() {
                self.adjacency.remove(&from);
            }
        }
    }

    /// The neighbours of `id` with their strengths.
    pub fn neighbours(&self, id: &ProcedureId) -> impl Iterator<Item = (&ProcedureId, &Fraction)> {
        self.adjacency.get(id).into_iter().flatten()
    }

    /// Number of undirected edges.
    pub fn edge_count(&self) -> usize {
        self.adjacency.values().map(BTreeMap::len).sum::<usize>() / 2
    }

    /// The strongest path weight from `source` to every procedure within `hops` edges
    /// (excluding `source`), in id order.
    ///
    /// A hop-bounded Bellman-Ford over max-product: after round k, `best` holds the strongest
    /// path of at most k edges; only procedures that improved in a round are expanded in the
    /// next, since a path through a non-improved one is dominated by one already expanded
    /// with more hops left. Costs `O(hops * edges reached)`.
    pub fn strongest_paths(&self, source: ProcedureId, hops: u8) -> BTreeMap<ProcedureId, f64> {
        let mut best: BTreeMap<ProcedureId, f64> = BTreeMap::new();
        let mut frontier: BTreeMap<ProcedureId, f64> = BTreeMap::from([(source, 1.0)]);
        for _ in 0..hops {
            let mut next: BTreeMap<ProcedureId, f64> = BTreeMap::new();
            for (node, weight) in &frontier {
                for (neighbour, strength) in self.neighbours(node) {
                    if *neighbour == source {
                        continue;
                    }
                    let candidate = weight * strength.as_f64();
                    if candidate > best.get(neighbour).copied().unwrap_or(0.0) {
                        best.insert(*neighbour, candidate);
                        next.insert(*neighbour, candidate);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        best
    }
}

/// The pair of procedures a contagion-carrying relation key joins, if it carries contagion.
pub(crate) fn contagion_pair(key: &RelationKey) -> Option<(ProcedureId, ProcedureId)> {
    key.kind.carries_contagion().then_some((key.from, key.to))
}
