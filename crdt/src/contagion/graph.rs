//! The relation graph contagion walks, and the exact strongest-path walk over it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::fraction::Fraction;
use crate::ids::ProcedureId;

/// Most hops a walk can take with exact integer path weights (see [`Walk`]).
pub(crate) const MAX_EXACT_HOPS: u8 = 6;

/// `1.0` as a path weight: a path weight is the product of its edges' strengths in millionths,
/// scaled to units of `10^-36`, so a path of up to [`MAX_EXACT_HOPS`] edges is an exact integer.
const ONE: u128 = 10u128.pow(6 * MAX_EXACT_HOPS as u32);

/// Divides an exact path weight down to millionths.
const TO_MILLIONTHS: u128 = 10u128.pow(6 * (MAX_EXACT_HOPS as u32 - 1));

/// `Fraction::SCALE` as a path-weight divisor.
const SCALE: u128 = Fraction::SCALE as u128;

/// The graph contagion walks: procedures joined by contagion-carrying relations (`similar`,
/// `context`; undirected) with each pair's strongest live strength. Derived from the relation
/// registers and kept up to date as they change; never replicated.
///
/// Procedures are interned to dense indices so walks run over flat arrays.
#[derive(Clone, Debug, Default)]
pub struct ContagionGraph {
    /// Persistent (shared by copies), so a frozen view of the neighbourhood sums
    /// ([`super::index::FrozenNeighbourhoods`]) takes it in O(1).
    index: imbl::OrdMap<ProcedureId, u32>,
    ids: Vec<ProcedureId>,
    /// Per node: `(neighbour, strength in millionths)`, sorted by neighbour. Shared with a
    /// background settle or a frozen view that sums stale neighbourhoods ([`Adjacency`]),
    /// copied on write only if the graph changes while one holds it.
    adjacency: Arc<Adjacency>,
}

/// The graph's adjacency lists, by dense node index: per node `(neighbour, strength in
/// millionths)`, sorted by neighbour. What a walk reads.
pub(crate) type Adjacency = Vec<Vec<(u32, u32)>>;

/// Reusable scratch space of a strongest-path walk.
#[derive(Clone, Debug, Default)]
pub(crate) struct Walk {
    best: Vec<u128>,
    seen: Vec<u32>,
    generation: u32,
    reached: Vec<u32>,
    frontier: Vec<(u32, u128)>,
    next: Vec<(u32, u128)>,
    slot: Vec<u32>,
    slot_round: Vec<u32>,
    round: u32,
}

impl ContagionGraph {
    /// The dense index of `id`, if it is a node.
    pub(crate) fn node(&self, id: &ProcedureId) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// Every node's dense index, by procedure id.
    pub(crate) fn nodes(&self) -> &imbl::OrdMap<ProcedureId, u32> {
        &self.index
    }

    /// The dense index of `id`, made a node if it was not one.
    pub(crate) fn intern(&mut self, id: ProcedureId) -> u32 {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.index.insert(id, i);
        self.ids.push(id);
        Arc::make_mut(&mut self.adjacency).push(Vec::new());
        i
    }

    /// Makes room for `additional` more nodes.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.ids.reserve_exact(additional);
        Arc::make_mut(&mut self.adjacency).reserve_exact(additional);
    }

    /// Gives back the room the adjacency lists grew into and do not use.
    pub(crate) fn shrink_to_fit(&mut self) {
        for list in Arc::make_mut(&mut self.adjacency) {
            list.shrink_to_fit();
        }
    }

    /// The procedure of dense index `node`.
    pub(crate) fn id(&self, node: u32) -> ProcedureId {
        self.ids[node as usize]
    }

    /// Number of nodes (procedures with a relation or evidence).
    pub(crate) fn node_count(&self) -> usize {
        self.ids.len()
    }

    /// The strength (millionths) of the edge between nodes `a` and `b`, if there is one.
    pub(crate) fn strength(&self, a: u32, b: u32) -> Option<u32> {
        let list = &self.adjacency[a as usize];
        list.binary_search_by_key(&b, |e| e.0)
            .ok()
            .map(|at| list[at].1)
    }

    /// Whether `a` and `b` are joined by an edge (of a strength above zero).
    pub(crate) fn has_edge(&self, a: &ProcedureId, b: &ProcedureId) -> bool {
        match (self.node(a), self.node(b)) {
            (Some(a), Some(b)) => self.strength(a, b).is_some(),
            _ => false,
        }
    }

    /// Sets the strength between `a` and `b` (both directions); `None` or zero removes the edge.
    pub fn set(&mut self, a: ProcedureId, b: ProcedureId, strength: Option<Fraction>) {
        let (a, b) = (self.intern(a), self.intern(b));
        let strength = strength.filter(|s| *s > Fraction::ZERO);
        self.set_half(a, b, strength);
        self.set_half(b, a, strength);
    }

    fn set_half(&mut self, from: u32, to: u32, strength: Option<Fraction>) {
        let list = &mut Arc::make_mut(&mut self.adjacency)[from as usize];
        match (list.binary_search_by_key(&to, |e| e.0), strength) {
            (Ok(at), Some(s)) => list[at].1 = s.millionths(),
            (Ok(at), None) => {
                list.remove(at);
            }
            (Err(at), Some(s)) => list.insert(at, (to, s.millionths())),
            (Err(_), None) => {}
        }
    }

    /// The neighbours of `id` with their strengths, in id order.
    pub fn neighbours(&self, id: &ProcedureId) -> Vec<(ProcedureId, Fraction)> {
        let mut out: Vec<(ProcedureId, Fraction)> = self
            .node(id)
            .map(|i| {
                self.adjacency[i as usize]
                    .iter()
                    .map(|&(n, s)| (self.ids[n as usize], Fraction::const_millionths(s)))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Every undirected edge `(a, b, strength)` with `a < b`, in order.
    pub fn edges(&self) -> Vec<(ProcedureId, ProcedureId, Fraction)> {
        let mut out = Vec::new();
        for (i, list) in self.adjacency.iter().enumerate() {
            let a = self.ids[i];
            for &(n, s) in list {
                let b = self.ids[n as usize];
                if a < b {
                    out.push((a, b, Fraction::const_millionths(s)));
                }
            }
        }
        out.sort();
        out
    }

    /// Number of undirected edges.
    pub fn edge_count(&self) -> usize {
        self.adjacency.iter().map(Vec::len).sum::<usize>() / 2
    }

    /// The strongest path weight from `source` to every procedure within `hops` edges
    /// (excluding `source`), in id order: the largest product of strengths, floored to
    /// millionths. Symmetric: the weight from P to Q is the weight from Q to P.
    pub fn strongest_paths(&self, source: ProcedureId, hops: u8) -> BTreeMap<ProcedureId, f64> {
        let mut out = BTreeMap::new();
        if let Some(s) = self.node(&source) {
            let mut walk = Walk::default();
            self.walk(s, hops, &mut walk, |node, w| {
                out.insert(
                    self.ids[node as usize],
                    w as f64 / f64::from(Fraction::SCALE),
                );
            });
        }
        out
    }

    /// Calls `visit(node, weight in millionths)` for every node within `hops` edges of
    /// `source` (excluding it) whose strongest path weight floors to more than zero millionths.
    ///
    /// A hop-bounded Bellman-Ford over max-product: after round k, `best` holds the strongest
    /// path of at most k edges; only nodes that improved in a round are expanded in the next
    /// (with the weight they reached in that round), since a path through a node that did not
    /// improve is dominated by one already expanded with more hops left. Weights are exact
    /// integers (strengths are millionths, products scaled to `10^-36`), so the result is the
    /// same on every platform and the same walked from either end. Costs
    /// `O(hops * edges reached)`.
    pub(crate) fn walk(&self, source: u32, hops: u8, walk: &mut Walk, visit: impl FnMut(u32, u64)) {
        walk_over(&self.adjacency, source, hops, walk, visit);
    }

    /// The adjacency lists, shared (O(1)): what a walk on another thread reads.
    pub(crate) fn adjacency(&self) -> &Arc<Adjacency> {
        &self.adjacency
    }

    /// Every node within `hops` edges of any of `sources` (by edge count, whatever the
    /// strengths), the sources included, in no particular order. Uses `walk`'s marks as
    /// scratch (no allocation but the answer).
    pub(crate) fn within(&self, sources: &[u32], hops: u8, walk: &mut Walk) -> Vec<u32> {
        walk.begin(self.ids.len());
        let mut seen = Vec::new();
        for &s in sources {
            if walk.seen[s as usize] != walk.generation {
                walk.seen[s as usize] = walk.generation;
                seen.push(s);
            }
        }
        let mut start = 0;
        for _ in 0..hops {
            let end = seen.len();
            for i in start..end {
                let node = seen[i];
                for &(n, _) in &self.adjacency[node as usize] {
                    if walk.seen[n as usize] != walk.generation {
                        walk.seen[n as usize] = walk.generation;
                        seen.push(n);
                    }
                }
            }
            if seen.len() == end {
                break;
            }
            start = end;
        }
        seen
    }
}

/// The walk of [`ContagionGraph::walk`] over bare adjacency lists (a graph's, or a shared copy
/// of them on another thread).
pub(crate) fn walk_over(
    adjacency: &[Vec<(u32, u32)>],
    source: u32,
    hops: u8,
    walk: &mut Walk,
    mut visit: impl FnMut(u32, u64),
) {
    let hops = hops.min(MAX_EXACT_HOPS);
    walk.begin(adjacency.len());
    walk.mark(source, u128::MAX);
    walk.frontier.push((source, ONE));
    for _ in 0..hops {
        walk.round = walk.round.wrapping_add(1);
        if walk.round == 0 {
            walk.slot_round.iter_mut().for_each(|r| *r = 0);
            walk.round = 1;
        }
        walk.next.clear();
        let frontier = std::mem::take(&mut walk.frontier);
        for &(node, weight) in &frontier {
            let base = weight / SCALE;
            for &(neighbour, strength) in &adjacency[node as usize] {
                let candidate = base * u128::from(strength);
                if candidate == 0 {
                    continue;
                }
                walk.relax(neighbour, candidate);
            }
        }
        walk.frontier = frontier;
        std::mem::swap(&mut walk.frontier, &mut walk.next);
        if walk.frontier.is_empty() {
            break;
        }
    }
    walk.frontier.clear();
    for &node in &walk.reached {
        let w = walk.best[node as usize] / TO_MILLIONTHS;
        if w > 0 {
            // At most 10^6: a path weight never exceeds ONE.
            visit(node, u64::try_from(w).unwrap_or(u64::MAX));
        }
    }
}

impl Walk {
    fn begin(&mut self, nodes: usize) {
        if self.best.len() < nodes {
            self.best.resize(nodes, 0);
            self.seen.resize(nodes, 0);
            self.slot.resize(nodes, 0);
            self.slot_round.resize(nodes, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.seen.iter_mut().for_each(|g| *g = 0);
            self.generation = 1;
        }
        self.reached.clear();
        self.frontier.clear();
    }

    fn mark(&mut self, node: u32, weight: u128) {
        self.seen[node as usize] = self.generation;
        self.best[node as usize] = weight;
    }

    /// Offers `candidate` as a path weight to `node`; keeps it (and schedules the node for the
    /// next round, once per round, with its best weight of the round) if it is an improvement.
    fn relax(&mut self, node: u32, candidate: u128) {
        let i = node as usize;
        if self.seen[i] == self.generation {
            if candidate <= self.best[i] {
                return;
            }
        } else {
            self.reached.push(node);
        }
        self.mark(node, candidate);
        if self.slot_round[i] == self.round {
            self.next[self.slot[i] as usize].1 = candidate;
        } else {
            self.slot_round[i] = self.round;
            self.slot[i] = u32::try_from(self.next.len()).unwrap_or(u32::MAX);
            self.next.push((node, candidate));
        }
    }
}

impl PartialEq for ContagionGraph {
    fn eq(&self, other: &Self) -> bool {
        self.edges() == other.edges()
    }
}

impl Eq for ContagionGraph {}
