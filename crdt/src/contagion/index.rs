//! The contagion index: the graph, every procedure's own evidence and its neighbourhood's,
//! maintained incrementally as changes are applied.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::evidence::{Change, Neighbourhood, Own};
use super::graph::{Adjacency, ContagionGraph, Walk, walk_over};
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
/// - Many stale neighbourhoods ([`MANY_STALE`] or more) are not summed by the thread that
///   applies changes: [`ContagionIndex::settle_job`] hands them to a [`SettleJob`], which sums
///   them on another thread from shared copies of the graph and the own evidence, and
///   [`ContagionIndex::install`] takes the sums back. Pushes made meanwhile are kept aside per
///   job node and added at install; a node a relation change marks stale meanwhile is not
///   installed (its sum was of the old graph). Frozen views taken meanwhile sum what they lack
///   themselves ([`FrozenNeighbourhoods`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct ContagionIndex {
    graph: ContagionGraph,
    /// Shared with a background settle or a frozen view that sums stale neighbourhoods,
    /// copied on write only if evidence changes while one holds it.
    own: Arc<Vec<Own>>,
    /// `None`: stale. Persistent (shared by copies, copied on write by chunks of 64), so a
    /// frozen view ([`FrozenNeighbourhoods`]) costs O(1) to take.
    neighbourhoods: imbl::Vector<Option<Neighbourhood>>,
    /// Every stale node, and after a settle job's install possibly some fresh ones.
    stale: Vec<u32>,
    contexts: BTreeMap<String, u32>,
    hops: u8,
    walk: Walk,
    /// Walks since the last settle (a push is one, a relation change two).
    pushes: usize,
    /// Every neighbourhood is stale: pushes only update own evidence.
    all_stale: bool,
    /// The settle job summing stale neighbourhoods on another thread, if one is out.
    job: Option<InFlight>,
    /// Pushes and relation changes ever applied: whether the index was quiet between two
    /// looks ([`ContagionIndex::quiet`]).
    changes: u64,
    /// `changes` at the last look.
    looked_at: u64,
    /// Neighbourhoods summed by the calling thread (settles, freezes), ever.
    summed_here: u64,
}

/// Fewest pushes between two settles before the index stops walking (see [`ContagionIndex`]).
pub(crate) const PUSHES_BEFORE_RECOMPUTE: usize = 1024;

/// Fewest stale neighbourhoods summed on every core rather than on one thread, and handed to
/// a [`SettleJob`] rather than summed by the thread that applies changes.
pub(crate) const MANY_STALE: usize = 4096;

/// Numbers settle jobs, so a job's sums are only ever installed into the index that made it
/// (a space rebuilt meanwhile has a new index, and a job discarded meanwhile is gone).
static NEXT_JOB: AtomicU64 = AtomicU64::new(1);

/// A settle job out.
#[derive(Clone, Debug)]
struct InFlight {
    id: u64,
    marks: JobMarks,
}

/// What turns a settle job's sums into current ones: which of its nodes are still wanted and
/// the pushes its sums miss. Persistent (O(1) to copy): a frozen view taken while the job is
/// out keeps them as of then.
#[derive(Clone, Debug)]
struct JobMarks {
    /// Per node (as of the job's start): whether the job's sum is still wanted. Cleared when
    /// a relation change marks the node stale, since the job summed the old graph.
    accepts: Arc<Vec<bool>>,
    /// Per job node: the pushes that reached it since the job started.
    deltas: imbl::HashMap<u32, Neighbourhood>,
    /// Where the job's sums appear, for the frozen views that wait for them.
    output: Arc<JobOutput>,
}

impl JobMarks {
    fn accepts(&self, node: usize) -> bool {
        self.accepts.get(node) == Some(&true)
    }

    /// Fills every stale slot of `slots` the job's `sums` still answer, each with the pushes
    /// kept aside for it: how many.
    fn fill<'a>(
        &self,
        sums: impl IntoIterator<Item = Option<Cow<'a, Neighbourhood>>>,
        slots: &mut imbl::Vector<Option<Neighbourhood>>,
    ) -> usize {
        let mut filled = 0;
        for (node, sum) in sums.into_iter().enumerate() {
            let Some(sum) = sum else { continue };
            if !self.accepts(node) || slots.get(node).is_none_or(Option::is_some) {
                continue;
            }
            let mut sum = sum.into_owned();
            if let Some(delta) = self.deltas.get(&(node as u32)) {
                sum.absorb(delta);
            }
            slots[node] = Some(sum);
            filled += 1;
        }
        filled
    }
}

/// Per node, a settle job's sum (`None`: not in the job).
type JobSums = Vec<Option<Neighbourhood>>;

/// A settle job's sums, shared with the frozen views taken while it is out: a view about to
/// read every procedure waits for them rather than summing everything again.
#[derive(Debug, Default)]
pub(crate) struct JobOutput {
    state: Mutex<JobState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
enum JobState {
    #[default]
    Running,
    Done(Arc<JobSums>),
    /// The job was dropped unrun (or its thread panicked): waiters sum for themselves.
    Abandoned,
}

impl JobOutput {
    fn finish(&self, state: JobState) {
        let mut current = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*current, JobState::Running) {
            *current = state;
        }
        self.changed.notify_all();
    }

    /// The job's sums once it is done (`None`: it never will be).
    fn wait(&self) -> Option<Arc<JobSums>> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = self
            .changed
            .wait_while(state, |s| matches!(s, JobState::Running))
            .unwrap_or_else(|e| e.into_inner());
        match &*state {
            JobState::Done(sums) => Some(Arc::clone(sums)),
            _ => None,
        }
    }
}

/// What summing a neighbourhood reads, shared: the adjacency lists, every procedure's own
/// evidence and the hop limit, as of one moment (O(1) to take).
#[derive(Clone, Debug)]
pub(crate) struct SumParts {
    adjacency: Arc<Adjacency>,
    own: Arc<Vec<Own>>,
    hops: u8,
}

/// Sums neighbourhoods from borrowed parts.
#[derive(Clone, Copy)]
struct Summer<'a> {
    adjacency: &'a [Vec<(u32, u32)>],
    own: &'a [Own],
    hops: u8,
}

impl Summer<'_> {
    fn sum_from(self, node: u32, walk: &mut Walk) -> Neighbourhood {
        let mut sum = Neighbourhood::default();
        walk_over(self.adjacency, node, self.hops, walk, |other, weight| {
            sum.add_own(weight, &self.own[other as usize]);
        });
        sum
    }

    /// The neighbourhood of each of `nodes`, summed afresh on this thread.
    fn sums_of(self, nodes: &[u32], walk: &mut Walk) -> Vec<(u32, Neighbourhood)> {
        nodes
            .iter()
            .map(|&node| (node, self.sum_from(node, walk)))
            .collect()
    }

    /// The neighbourhood of each of `nodes`, summed afresh: on every core when there are
    /// many. Each sum only reads the parts, so the result does not depend on the split.
    fn sums_spread(self, nodes: &[u32], walk: &mut Walk) -> Vec<(u32, Neighbourhood)> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || nodes.len() < MANY_STALE {
            return self.sums_of(nodes, walk);
        }
        let chunk = nodes.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = nodes
                .chunks(chunk)
                .map(|nodes| scope.spawn(move || self.sums_of(nodes, &mut Walk::default())))
                .collect();
            parts
                .into_iter()
                .flat_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }
}

impl SumParts {
    fn summer(&self) -> Summer<'_> {
        Summer {
            adjacency: &self.adjacency,
            own: &self.own,
            hops: self.hops,
        }
    }

    /// The neighbourhood of `node`, summed on the calling thread with its own scratch space.
    fn sum_here(&self, node: u32) -> Neighbourhood {
        thread_local! {
            static WALK: std::cell::RefCell<Walk> = std::cell::RefCell::new(Walk::default());
        }
        WALK.with_borrow_mut(|walk| self.summer().sum_from(node, walk))
    }
}

/// Stale neighbourhoods to sum on another thread ([`SettleJob::run`]), taken from a space by
/// [`crate::Space::settle_job`]; its result goes back by [`crate::Space::install_settled`].
#[derive(Debug)]
pub struct SettleJob {
    id: u64,
    nodes: Vec<u32>,
    parts: SumParts,
    output: Arc<JobOutput>,
}

/// The sums a [`SettleJob`] made, for the space that gave it out.
#[derive(Debug)]
pub struct SettledSums {
    id: u64,
    sums: Arc<JobSums>,
    count: usize,
}

impl Drop for SettleJob {
    fn drop(&mut self) {
        // Run, this is a no-op; dropped unrun (or unwinding), views stop waiting for it.
        self.output.finish(JobState::Abandoned);
    }
}

impl SettleJob {
    /// How many neighbourhoods the job sums.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the job sums nothing.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Sums the job's neighbourhoods, on every core of the machine: the slow part, for a
    /// thread other than the one applying changes.
    pub fn run(self) -> SettledSums {
        let mut sums: JobSums = vec![None; self.parts.adjacency.len()];
        let count = self.nodes.len();
        for (node, sum) in self
            .parts
            .summer()
            .sums_spread(&self.nodes, &mut Walk::default())
        {
            sums[node as usize] = Some(sum);
        }
        let sums = Arc::new(sums);
        self.output.finish(JobState::Done(Arc::clone(&sums)));
        SettledSums {
            id: self.id,
            sums,
            count,
        }
    }
}

impl SettledSums {
    /// How many neighbourhoods were summed.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing was summed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

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
        Arc::make_mut(&mut index.own).reserve_exact(nodes);
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
        if self.own.len() < self.graph.node_count() {
            let own = Arc::make_mut(&mut self.own);
            while own.len() < self.graph.node_count() {
                own.push(Own::default());
                if self.all_stale {
                    self.stale.push(self.neighbourhoods.len() as u32);
                    self.neighbourhoods.push_back(None);
                } else {
                    // A new node has no neighbours yet: an empty neighbourhood is exact.
                    self.neighbourhoods
                        .push_back(Some(Neighbourhood::default()));
                }
            }
        }
        node
    }

    fn summer(&self) -> Summer<'_> {
        Summer {
            adjacency: self.graph.adjacency(),
            own: &self.own,
            hops: self.hops,
        }
    }

    fn parts(&self) -> SumParts {
        SumParts {
            adjacency: Arc::clone(self.graph.adjacency()),
            own: Arc::clone(&self.own),
            hops: self.hops,
        }
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
        Arc::make_mut(&mut self.own)[node as usize].apply(change);
    }

    /// Marks every neighbourhood stale (and drops a settle job out: everything is summed
    /// again by the next).
    pub(crate) fn mark_all_stale(&mut self) {
        self.job = None;
        for node in 0..self.neighbourhoods.len() {
            self.mark_stale(node as u32);
        }
        self.all_stale = true;
    }

    fn mark_stale(&mut self, node: u32) {
        if let Some(job) = &mut self.job
            && job.marks.accepts(node as usize)
        {
            Arc::make_mut(&mut job.marks.accepts)[node as usize] = false;
        }
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
            self.changes += 1;
            self.graph.set(a, b, strength);
            return;
        }
        let wanted = strength
            .filter(|s| *s > crate::fraction::Fraction::ZERO)
            .map(|s| s.millionths());
        if self.graph.strength(ends[0], ends[1]) == wanted {
            return;
        }
        self.changes += 1;
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
    /// within reach (and into the kept-aside sums of a settle job's nodes).
    pub(crate) fn push(&mut self, id: ProcedureId, change: &Change) {
        if change.is_empty() {
            return;
        }
        let source = self.node(id);
        Arc::make_mut(&mut self.own)[source as usize].apply(change);
        self.changes += 1;
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
            job,
            ..
        } = self;
        graph.walk(
            source,
            *hops,
            walk,
            |node, weight| match &mut neighbourhoods[node as usize] {
                Some(n) => n.add(weight, change),
                None => {
                    if let Some(job) = job
                        && job.marks.accepts(node as usize)
                    {
                        match job.marks.deltas.get_mut(&node) {
                            Some(delta) => delta.add(weight, change),
                            None => {
                                let mut delta = Neighbourhood::default();
                                delta.add(weight, change);
                                job.marks.deltas.insert(node, delta);
                            }
                        }
                    }
                }
            },
        );
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

    /// How many neighbourhoods are stale (dropping fresh ones from the list).
    fn stale_count(&mut self) -> usize {
        let neighbourhoods = &self.neighbourhoods;
        self.stale
            .retain(|&node| neighbourhoods[node as usize].is_none());
        self.stale.len()
    }

    /// Recomputes every stale neighbourhood on the calling thread (on every core when there
    /// are many: a restored space's, or all of them after the push budget ran out). A settle
    /// job out is dropped: its sums would be of what this recomputes.
    pub(crate) fn settle(&mut self) {
        self.pushes = 0;
        self.all_stale = false;
        self.job = None;
        self.stale_count();
        let stale = std::mem::take(&mut self.stale);
        let mut walk = std::mem::take(&mut self.walk);
        let sums = self.summer().sums_spread(&stale, &mut walk);
        self.walk = walk;
        self.summed_here += sums.len() as u64;
        for (node, sum) in sums {
            self.neighbourhoods[node as usize] = Some(sum);
        }
    }

    /// Brings what a read of `id` needs up to date on the calling thread: everything if few
    /// neighbourhoods are stale, else `id`'s alone (the others are left to a settle job).
    pub(crate) fn settle_for(&mut self, id: &ProcedureId) {
        if self.job.is_none() && self.stale_count() < MANY_STALE {
            self.settle();
            return;
        }
        // With every neighbourhood stale, pushes do not walk: a lone fresh one would miss them.
        if self.all_stale {
            return;
        }
        if let Some(node) = self.graph.node(id)
            && self.neighbourhoods[node as usize].is_none()
        {
            let mut walk = std::mem::take(&mut self.walk);
            let sum = self.summer().sum_from(node, &mut walk);
            self.walk = walk;
            self.summed_here += 1;
            self.neighbourhoods[node as usize] = Some(sum);
        }
    }

    /// A job summing every stale neighbourhood on another thread, if there are many and no job
    /// is out. From now on pushes walk again, keeping aside what reaches the job's nodes.
    pub(crate) fn settle_job(&mut self) -> Option<SettleJob> {
        if self.job.is_some() || self.stale_count() < MANY_STALE {
            return None;
        }
        let id = NEXT_JOB.fetch_add(1, Ordering::Relaxed);
        let mut accepts = vec![false; self.neighbourhoods.len()];
        for &node in &self.stale {
            accepts[node as usize] = true;
        }
        let output = Arc::new(JobOutput::default());
        self.job = Some(InFlight {
            id,
            marks: JobMarks {
                accepts: Arc::new(accepts),
                deltas: imbl::HashMap::new(),
                output: Arc::clone(&output),
            },
        });
        self.pushes = 0;
        self.all_stale = false;
        Some(SettleJob {
            id,
            nodes: self.stale.clone(),
            parts: self.parts(),
            output,
        })
    }

    /// Whether nothing was pushed and no relation changed since the last look.
    pub(crate) fn quiet(&mut self) -> bool {
        let quiet = self.changes == self.looked_at;
        self.looked_at = self.changes;
        quiet
    }

    /// Installs the sums of the settle job out, with the pushes kept aside for them: how many
    /// neighbourhoods became fresh (none if the job is not this index's current one).
    pub(crate) fn install(&mut self, settled: SettledSums) -> usize {
        let Some(job) = self.job.take_if(|job| job.id == settled.id) else {
            return 0;
        };
        // Moved out when no frozen view holds the sums still (the usual case), else copied.
        let installed = match Arc::try_unwrap(settled.sums) {
            Ok(sums) => job.marks.fill(
                sums.into_iter().map(|s| s.map(Cow::Owned)),
                &mut self.neighbourhoods,
            ),
            Err(shared) => job.marks.fill(borrowed(&shared), &mut self.neighbourhoods),
        };
        self.stale_count();
        installed
    }

    /// Neighbourhoods summed by the calling thread (settles, freezes) since the index was
    /// made: what a settle job did not take off it.
    pub(crate) fn summed_here(&self) -> u64 {
        self.summed_here
    }

    /// Whether some neighbourhood is stale.
    pub(crate) fn has_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// The neighbourhood sums as they are now, shared with the index: O(1) to take, and the
    /// index copies on write only what it changes while the view lives. With few stale
    /// neighbourhoods they are recomputed first; with many (or a settle job out), the view
    /// holds the graph and the own evidence as of now and sums a stale one when it is read,
    /// on the reading thread, so it answers as the index does.
    pub(crate) fn freeze(&mut self) -> FrozenNeighbourhoods {
        let lazy = if self.job.is_some() || self.stale_count() >= MANY_STALE {
            Some(self.parts())
        } else {
            self.settle();
            None
        };
        FrozenNeighbourhoods {
            nodes: self.graph.nodes().clone(),
            sums: self.neighbourhoods.clone(),
            contexts: self.contexts.clone(),
            lazy,
            pending: self.job.as_ref().map(|job| job.marks.clone()),
        }
    }

    /// The neighbourhood of `id` (empty when it has no relation).
    pub(crate) fn neighbourhood(&self, id: &ProcedureId) -> Cow<'_, Neighbourhood> {
        match self.graph.node(id) {
            None => Cow::Owned(Neighbourhood::default()),
            Some(node) => match &self.neighbourhoods[node as usize] {
                Some(n) => Cow::Borrowed(n),
                None => Cow::Owned(self.summer().sum_from(node, &mut Walk::default())),
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
                let fresh = self.summer().sum_from(node as u32, &mut walk);
                if !same(kept, &fresh) {
                    out.push(self.graph.id(node as u32));
                }
            }
        }
        out
    }
}

/// The neighbourhood sums of a [`ContagionIndex`], frozen (see [`ContagionIndex::freeze`]):
/// what a ranking read on another thread needs of the index.
#[derive(Clone, Debug)]
pub(crate) struct FrozenNeighbourhoods {
    nodes: imbl::OrdMap<ProcedureId, u32>,
    sums: imbl::Vector<Option<Neighbourhood>>,
    contexts: BTreeMap<String, u32>,
    /// When some sums are stale: what summing them reads, as of the freeze.
    lazy: Option<SumParts>,
    /// The settle job out when the view was taken, if any.
    pending: Option<JobMarks>,
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

    /// Sums every stale neighbourhood of the view (a read about to score every procedure),
    /// so each is not summed alone when read. With a settle job out when the view was taken,
    /// the view waits for the job's sums (with the pushes made between the job's start and
    /// the view) rather than summing them again; what is left is summed on every core.
    pub(crate) fn settle(&mut self) {
        let Some(parts) = self.lazy.take() else {
            return;
        };
        if let Some(pending) = self.pending.take()
            && let Some(sums) = pending.output.wait()
        {
            pending.fill(borrowed(&sums), &mut self.sums);
        }
        let stale: Vec<u32> = (0..self.sums.len() as u32)
            .filter(|&node| self.sums[node as usize].is_none())
            .collect();
        for (node, sum) in parts.summer().sums_spread(&stale, &mut Walk::default()) {
            self.sums[node as usize] = Some(sum);
        }
    }

    fn sums_of(&self, node: Option<u32>) -> Cow<'_, Neighbourhood> {
        let Some(node) = node else {
            return Cow::Owned(Neighbourhood::default());
        };
        match (self.sums.get(node as usize), &self.lazy) {
            (Some(Some(sum)), _) => Cow::Borrowed(sum),
            (Some(None), Some(parts)) => Cow::Owned(parts.sum_here(node)),
            _ => Cow::Owned(Neighbourhood::default()),
        }
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
            Neighbours::Frozen(frozen) => frozen.sums_of(frozen.nodes.get(id).copied()),
            Neighbours::Resolved(frozen, node) => frozen.sums_of(node),
        }
    }
}

/// A settle job's sums, borrowed.
fn borrowed(sums: &JobSums) -> impl Iterator<Item = Option<Cow<'_, Neighbourhood>>> {
    sums.iter().map(|s| s.as_ref().map(Cow::Borrowed))
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
