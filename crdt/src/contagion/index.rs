//! The contagion index: the graph, every procedure's own evidence and its neighbourhood's,
//! maintained incrementally as changes are applied.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::evidence::{Change, Neighbourhood, Own};
use super::graph::{ContagionGraph, Walk};
use crate::ids::ProcedureId;

/// Derived state of a space: never replicated, rebuilt from the replicated state on decode.
///
/// - An outcome or use of P *pushes* its change to every procedure within the hop limit of P
///   (one strongest-path walk from P): neighbourhood sums stay exact integers, so the result
///   does not depend on the order changes arrived in.
/// - A relation change *marks stale* every procedure whose strongest paths it may change
///   (those within `hops - 1` edges of either end, before and after the change); a stale
///   neighbourhood is recomputed from scratch when read, or by [`ContagionIndex::settle`].
///   Bulk loads (thousands of new edges) so cost one recomputation per procedure, not one
///   per edge.
/// - Past [`PUSHES_BEFORE_RECOMPUTE`] (or the number of procedures, if larger) walks with no
///   settle in between (a replica catching up on a backlog of outcomes or relations, with
///   nobody reading), walking on every change would cost more than recomputing everything
///   once: the index then marks everything stale and stops walking until the next settle. A
///   push is one walk; a relation change is two (the reach of its ends before and after). A
///   fresh node syncing 100k procedures with 480k `similar` edges so pays one recomputation,
///   not two reach walks per edge.
#[derive(Clone, Debug, Default)]
pub(crate) struct ContagionIndex {
    graph: ContagionGraph,
    own: Vec<Own>,
    /// `None`: stale. Persistent (shared by copies, copied on write by chunks of 64), so a
    /// frozen view ([`FrozenNeighbourhoods`]) costs O(1) to take.
    neighbourhoods: imbl::Vector<Option<Neighbourhood>>,
    stale: Vec<u32>,
    contexts: BTreeMap<String, u32>,
    hops: u8,
    walk: Walk,
    /// Walks since the last settle (a push is one, a relation change two).
    pushes: usize,
    /// Every neighbourhood is stale: pushes only update own evidence.
    all_stale: bool,
}

/// Fewest pushes between two settles before the index stops walking (see [`ContagionIndex`]).
pub(crate) const PUSHES_BEFORE_RECOMPUTE: usize = 1024;

/// Fewest stale neighbourhoods summed on every core rather than on the calling thread alone.
const PARALLEL_SETTLE: usize = 4096;

impl ContagionIndex {
    /// An empty index walking `hops` edges.
    pub(crate) fn new(hops: u8) -> Self {
        ContagionIndex {
            hops,
            ..ContagionIndex::default()
        }
    }

    /// An empty index walking `hops` edges, with room for `nodes` procedures: a rebuild knows
    /// how many, and the per-node arrays grown by doubling were up to half empty (4 MB at
    /// 100k procedures).
    pub(crate) fn with_capacity(hops: u8, nodes: usize) -> Self {
        let mut index = ContagionIndex::new(hops);
        index.graph.reserve(nodes);
        index.own.reserve_exact(nodes);
        index
    }

    /// Gives back the room the adjacency lists grew into (a rebuild adds edges one at a time).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.graph.shrink_to_fit();
    }

    /// The graph.
    pub(crate) fn graph(&self) -> &ContagionGraph {
        &self.graph
    }

    /// The id of context tag `tag`, made one if it had none.
    pub(crate) fn context_id(&mut self, tag: &str) -> u32 {
        if let Some(&id) = self.contexts.get(tag) {
            return id;
        }
        let id = u32::try_from(self.contexts.len()).unwrap_or(u32::MAX);
        self.contexts.insert(tag.to_owned(), id);
        id
    }

    /// The id of context tag `tag`, if any evidence named it.
    pub(crate) fn known_context(&self, tag: &str) -> Option<u32> {
        self.contexts.get(tag).copied()
    }

    fn node(&mut self, id: ProcedureId) -> u32 {
        let node = self.graph.intern(id);
        while self.own.len() < self.graph.node_count() {
            self.own.push(Own::default());
            if self.all_stale {
                self.stale.push(self.neighbourhoods.len() as u32);
                self.neighbourhoods.push_back(None);
            } else {
                // A new node has no neighbours yet: an empty neighbourhood is exact.
                self.neighbourhoods
                    .push_back(Some(Neighbourhood::default()));
            }
        }
        node
    }

    /// Changes the hop limit; every neighbourhood becomes stale.
    pub(crate) fn set_hops(&mut self, hops: u8) {
        if hops != self.hops {
            self.hops = hops;
            self.mark_all_stale();
        }
    }

    /// Sets the strength between `a` and `b` without marking anything stale (for a rebuild,
    /// which marks everything stale at the end).
    pub(crate) fn set_edge_unmarked(
        &mut self,
        a: ProcedureId,
        b: ProcedureId,
        strength: Option<crate::fraction::Fraction>,
    ) {
        self.node(a);
        self.node(b);
        self.graph.set(a, b, strength);
    }

    /// Applies a change of `id`'s own evidence without pushing it anywhere (for a rebuild).
    pub(crate) fn set_own(&mut self, id: ProcedureId, change: &Change) {
        let node = self.node(id);
        self.own[node as usize].apply(change);
    }

    /// Marks every neighbourhood stale.
    pub(crate) fn mark_all_stale(&mut self) {
        for node in 0..self.neighbourhoods.len() {
            self.mark_stale(node as u32);
        }
        self.all_stale = true;
    }

    fn mark_stale(&mut self, node: u32) {
        if let Some(slot) = self.neighbourhoods.get_mut(node as usize)
            && slot.take().is_some()
        {
            self.stale.push(node);
        }
    }

    /// Sets the strength between `a` and `b` and marks stale what it may change.
    pub(crate) fn set_edge(
        &mut self,
        a: ProcedureId,
        b: ProcedureId,
        strength: Option<crate::fraction::Fraction>,
    ) {
        let ends = [self.node(a), self.node(b)];
        if self.all_stale {
            self.graph.set(a, b, strength);
            return;
        }
        let wanted = strength
            .filter(|s| *s > crate::fraction::Fraction::ZERO)
            .map(|s| s.millionths());
        if self.graph.strength(ends[0], ends[1]) == wanted {
            return;
        }
        if self.over_budget(2) {
            self.graph.set(a, b, strength);
            return;
        }
        let reach = self.hops.saturating_sub(1);
        let before = self.graph.within(&ends, reach, &mut self.walk);
        self.graph.set(a, b, strength);
        let after = self.graph.within(&ends, reach, &mut self.walk);
        for node in before.into_iter().chain(after) {
            self.mark_stale(node);
        }
    }

    /// Applies a change of `id`'s own evidence and pushes it into every fresh neighbourhood
    /// within reach.
    pub(crate) fn push(&mut self, id: ProcedureId, change: &Change) {
        if change.is_empty() {
            return;
        }
        let source = self.node(id);
        self.own[source as usize].apply(change);
        if self.all_stale {
            return;
        }
        if self.over_budget(1) {
            return;
        }
        let Self {
            graph,
            neighbourhoods,
            walk,
            hops,
            ..
        } = self;
        graph.walk(source, *hops, walk, |node, weight| {
            if let Some(n) = &mut neighbourhoods[node as usize] {
                n.add(weight, change);
            }
        });
    }

    /// Counts `walks` more walks since the last settle; past the budget, marks everything stale
    /// (and says so: the caller then does not walk).
    fn over_budget(&mut self, walks: usize) -> bool {
        self.pushes += walks;
        if self.pushes > PUSHES_BEFORE_RECOMPUTE.max(self.own.len()) {
            self.mark_all_stale();
            return true;
        }
        false
    }

    /// Recomputes every stale neighbourhood. Many (a restored space's, or all of them after
    /// the push budget ran out) are summed on every core: each sum only reads the graph and
    /// the procedures' own evidence, so the result does not depend on how the work is split.
    pub(crate) fn settle(&mut self) {
        self.pushes = 0;
        self.all_stale = false;
        let mut stale = std::mem::take(&mut self.stale);
        stale.retain(|&node| self.neighbourhoods[node as usize].is_none());
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let sums: Vec<(u32, Neighbourhood)> = if threads > 1 && stale.len() >= PARALLEL_SETTLE {
            let chunk = stale.len().div_ceil(threads);
            let this = &*self;
            std::thread::scope(|scope| {
                let parts: Vec<_> = stale
                    .chunks(chunk)
                    .map(|nodes| scope.spawn(move || this.sums_of(nodes, &mut Walk::default())))
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        } else {
            let mut walk = std::mem::take(&mut self.walk);
            let sums = self.sums_of(&stale, &mut walk);
            self.walk = walk;
            sums
        };
        for (node, sum) in sums {
            self.neighbourhoods[node as usize] = Some(sum);
        }
    }

    /// Whether some neighbourhood is stale.
    pub(crate) fn has_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// The neighbourhood of each of `nodes`, summed afresh.
    fn sums_of(&self, nodes: &[u32], walk: &mut Walk) -> Vec<(u32, Neighbourhood)> {
        nodes
            .iter()
            .map(|&node| (node, self.sum_from(node, walk)))
            .collect()
    }

    fn sum_from(&self, node: u32, walk: &mut Walk) -> Neighbourhood {
        let mut sum = Neighbourhood::default();
        self.graph.walk(node, self.hops, walk, |other, weight| {
            sum.add_own(weight, &self.own[other as usize]);
        });
        sum
    }

    /// The neighbourhood sums as they are now, shared with the index: O(1) to take, and the
    /// index copies on write only what it changes while the view lives. Every stale
    /// neighbourhood is recomputed first, so the view answers as the index does.
    pub(crate) fn freeze(&mut self) -> FrozenNeighbourhoods {
        self.settle();
        FrozenNeighbourhoods {
            nodes: self.graph.nodes().clone(),
            sums: self.neighbourhoods.clone(),
            contexts: self.contexts.clone(),
        }
    }

    /// The neighbourhood of `id` (empty when it has no relation).
    pub(crate) fn neighbourhood(&self, id: &ProcedureId) -> Cow<'_, Neighbourhood> {
        match self.graph.node(id) {
            None => Cow::Owned(Neighbourhood::default()),
            Some(node) => match &self.neighbourhoods[node as usize] {
                Some(n) => Cow::Borrowed(n),
                None => Cow::Owned(self.sum_from(node, &mut Walk::default())),
            },
        }
    }

    /// Recomputes everything from scratch and checks it against the maintained state: the
    /// test of the incremental maintenance. Returns the ids whose neighbourhood differs.
    pub(crate) fn drift(&self) -> Vec<ProcedureId> {
        let mut walk = Walk::default();
        let mut out = Vec::new();
        for (node, kept) in self.neighbourhoods.iter().enumerate() {
            if let Some(kept) = kept {
                let fresh = self.sum_from(node as u32, &mut walk);
                if !same(kept, &fresh) {
                    out.push(self.graph.id(node as u32));
                }
            }
        }
        out
    }
}

/// The neighbourhood sums of a settled [`ContagionIndex`], frozen (see
/// [`ContagionIndex::freeze`]): what a ranking read on another thread needs of the index.
#[derive(Clone, Debug)]
pub(crate) struct FrozenNeighbourhoods {
    nodes: imbl::OrdMap<ProcedureId, u32>,
    sums: imbl::Vector<Option<Neighbourhood>>,
    contexts: BTreeMap<String, u32>,
}

/// Where a procedure's neighbourhood sums are read from: the live index, or a frozen view.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Neighbours<'a> {
    /// The space's own index.
    Live(&'a ContagionIndex),
    /// A view taken by [`ContagionIndex::freeze`].
    Frozen(&'a FrozenNeighbourhoods),
    /// A view, with the procedure's node already found (`None`: it has none), as a walk over
    /// the view's procedures in id order finds it beside the id → node map, with no lookup.
    Resolved(&'a FrozenNeighbourhoods, Option<u32>),
}

impl FrozenNeighbourhoods {
    /// Every node's dense index, by procedure id, in id order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = (&ProcedureId, &u32)> {
        self.nodes.iter()
    }

    fn sums_of(&self, node: Option<u32>) -> Cow<'_, Neighbourhood> {
        node.and_then(|node| self.sums.get(node as usize))
            .and_then(Option::as_ref)
            .map_or_else(|| Cow::Owned(Neighbourhood::default()), Cow::Borrowed)
    }
}

impl<'a> Neighbours<'a> {
    /// The id of context tag `tag`, if any evidence named it.
    pub(crate) fn known_context(self, tag: &str) -> Option<u32> {
        match self {
            Neighbours::Live(index) => index.known_context(tag),
            Neighbours::Frozen(frozen) | Neighbours::Resolved(frozen, _) => {
                frozen.contexts.get(tag).copied()
            }
        }
    }

    /// The neighbourhood of `id` (empty when it has no relation).
    pub(crate) fn neighbourhood(self, id: &ProcedureId) -> Cow<'a, Neighbourhood> {
        match self {
            Neighbours::Live(index) => index.neighbourhood(id),
            // Frozen settled: never stale.
            Neighbours::Frozen(frozen) => frozen.sums_of(frozen.nodes.get(id).copied()),
            Neighbours::Resolved(frozen, node) => frozen.sums_of(node),
        }
    }
}

/// Equal sums, ignoring context entries that are all zero.
fn same(a: &Neighbourhood, b: &Neighbourhood) -> bool {
    let nonzero = |n: &Neighbourhood| -> Vec<(u32, u128, u128)> {
        n.contexts
            .iter()
            .map(|&(ctx, s, f)| (ctx, s.get(), f.get()))
            .filter(|&(_, s, f)| s != 0 || f != 0)
            .collect()
    };
    a.successes == b.successes
        && a.failures == b.failures
        && a.last_used_ms == b.last_used_ms
        && nonzero(a) == nonzero(b)
}
