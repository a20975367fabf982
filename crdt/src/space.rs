//! A space: the replicated memory of one team, and its merge, digest and encoding.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::change::{Change, Delta};
use crate::contagion::{
    ContagionGraph, ContagionIndex, EvidenceChange, Neighbours, contagion_pair,
};
use crate::digest_cache::DigestCache;
use crate::error::CrdtError;
use crate::fraction::Fraction;
use crate::held::HeldLww;
use crate::held_tags::HeldTagSet;
use crate::ids::{AgentId, ContentHash, ProcedureId, SpaceName};
use crate::lww::Lww;
use crate::membership::{MemberRecord, MemberRecords, Membership};
use crate::outcome::Counts;
use crate::procedure::{Procedure, ProcedureMap, ProcedureState, ProcedureText};
use crate::relation::{RelationKey, RelationKind};
use crate::relation_map::{RelationMap, RelationRegister};
use crate::settings::SpaceSettings;
use crate::weights::{EvidenceWeights, WeightCache};

/// Domain separator of state digests.
const DIGEST_DOMAIN: &[u8] = b"knack/space-digest/v1";

/// Bytes of a digest's encoding hashed at a time.
const DIGEST_BUFFER_BYTES: usize = 64 << 10;

/// Version byte in front of an encoded space snapshot.
/// Version 2: no boost slots; settings with `contagion_prior_max` (protocol version 2).
/// Version 3: crystallization proposals as a set, pins per agent, settings kept per author
/// with `evidence_weighting`, member records (protocol version 4).
const SNAPSHOT_VERSION: u8 = 3;

/// The bincode configuration of every canonical encoding in knack: little-endian, variable-length
/// integers. Equal states encode to equal bytes because every collection is ordered.
pub(crate) const fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// The replicated state of a space: every field a join-semilattice.
///
/// Procedure states are shared (`Arc`, copied on write) in a persistent map
/// ([`ProcedureMap`]), so cloning the state for a snapshot or a frozen space costs O(1), not a
/// copy of every outcome slot; the encoding is the same as of the plain states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SpaceState {
    name: SpaceName,
    /// Every author's own settings register; the effective one is derived (see
    /// [`Space::settings_register`]).
    settings: BTreeMap<AgentId, Lww<SpaceSettings>>,
    procedures: ProcedureMap,
    relations: RelationMap,
    /// Each agent's CID of each pinned content (see [`Change::Pin`]).
    pins: BTreeMap<ContentHash, BTreeMap<AgentId, String>>,
    /// Membership records (grow-only; they take effect only in a members-only space).
    members: MemberRecords,
}

/// A space: procedures, their relations, pins and settings, as one state-based CRDT.
///
/// Change it by asking an authoring method (`add_procedure`, `record_outcome`, ...) for a
/// [`Delta`] and applying it with [`Space::apply`]; deltas from peers are applied the same way,
/// in any order, any number of times. [`Space::merge`] joins a whole other replica.
#[derive(Clone, Debug)]
pub struct Space {
    state: SpaceState,
    /// Derived from the relations and outcomes; never replicated, rebuilt on decode.
    contagion: ContagionIndex,
    /// Relation keys turned around, `(to, from, kind)`, for the relations the contagion graph
    /// cannot answer from `to`'s end: those of a directed kind, and those of a contagion kind
    /// between two procedures with no edge (removed, or of zero strength). Derived, rebuilt on
    /// decode. The relations of one procedure are its registers as a source, plus its graph
    /// neighbours' registers towards it, plus the range of this set ending at it: found
    /// without a scan of all relations. (Every key turned around cost 32 MB at 100k
    /// procedures, where nearly every relation is a `similar` edge of the graph.)
    relations_to: BTreeSet<(ProcedureId, ProcedureId, RelationKind)>,
    /// The effective settings register's value or the defaults, cached.
    settings: SpaceSettings,
    /// Agents' evidence weights (derived from the outcome slots lazily, and maintained between
    /// reads; see [`crate::weights`]). Used only when `settings.evidence_weighting` is on.
    weights: WeightCache,
    /// The author of the effective settings register (derived).
    settings_author: Option<AgentId>,
    /// The root admin of a members-only space: local configuration, never replicated.
    root: Option<AgentId>,
    /// The effective membership, derived from the records and the root (members-only only).
    membership: Option<Membership>,
    /// Whether the contagion index and the reverse relation keys are kept (not in a space
    /// made by [`Space::for_restatement`]).
    derived: bool,
    /// The digest's hasher past the head (see `Space::hash_head`), until the head changes.
    head_digest: DigestCache<blake3::Hasher>,
    /// How many procedures' creation is known (derived): `len` without a scan of 100k.
    created: usize,
}

/// The blake3 hash of a space's canonical encoding: equal on converged replicas.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StateDigest(pub [u8; 32]);

impl Space {
    /// An empty space.
    pub fn new(name: SpaceName) -> Self {
        Space {
            state: SpaceState {
                name,
                settings: BTreeMap::new(),
                procedures: ProcedureMap::new(),
                relations: RelationMap::default(),
                pins: BTreeMap::new(),
                members: MemberRecords::default(),
            },
            contagion: ContagionIndex::new(SpaceSettings::default().contagion_hops),
            relations_to: BTreeSet::new(),
            settings: SpaceSettings::default(),
            weights: WeightCache::default(),
            settings_author: None,
            root: None,
            membership: None,
            derived: true,
            head_digest: DigestCache::default(),
            created: 0,
        }
    }

    /// An empty space that keeps only the replicated state, for restating it
    /// ([`Space::restatement`], [`Space::encode`], [`Space::digest`]): no contagion index nor
    /// reverse relation keys are maintained, so what reads them (priors, scores, rankings,
    /// `relations_of`) answers as if no outcome nor relation had been applied. A node's
    /// checkpoint replays its own ops into one (at 100k procedures, ~50 MB and most of the
    /// replay's time less than a full space).
    pub fn for_restatement(name: SpaceName) -> Self {
        Space {
            derived: false,
            ..Space::new(name)
        }
    }

    /// An empty members-only space whose root admin is `root` (see [`crate::membership`]).
    pub fn with_root(name: SpaceName, root: AgentId) -> Self {
        let mut space = Space::new(name);
        space.set_root(Some(root));
        space
    }

    /// Makes the space members-only with root admin `root` (`None`: open). The root is local
    /// configuration: it is not part of the replicated state nor of the digest.
    pub fn set_root(&mut self, root: Option<AgentId>) {
        self.root = root;
        self.refresh_membership();
    }

    /// The root admin, for a members-only space.
    pub fn root(&self) -> Option<AgentId> {
        self.root
    }

    /// The effective membership of a members-only space (`None` for an open space, which has
    /// no members nor admins: everyone may write it).
    pub fn membership(&self) -> Option<&Membership> {
        self.membership.as_ref()
    }

    /// The member records held (replicated whether or not the space is members-only).
    pub fn member_records(&self) -> &MemberRecords {
        &self.state.members
    }

    /// Whether an op of `author` with sequence number `seq` is acceptable here: always in an
    /// open space, else as [`Membership::accepts`] says.
    pub fn accepts(&self, author: &AgentId, seq: u64) -> bool {
        self.membership
            .as_ref()
            .is_none_or(|m| m.accepts(author, seq))
    }

    fn refresh_membership(&mut self) {
        self.membership = self
            .root
            .map(|root| Membership::derive(root, self.state.members.iter()));
        self.refresh_settings();
    }

    fn merge_member(&mut self, record: &MemberRecord) {
        self.head_digest.clear();
        if self.state.members.insert(record) {
            self.refresh_membership();
        }
    }

    /// The space's name.
    pub fn name(&self) -> &SpaceName {
        &self.state.name
    }

    /// The space's settings (the defaults until someone sets them).
    pub fn settings(&self) -> &SpaceSettings {
        &self.settings
    }

    /// The effective settings register, if anyone entitled has written one: the latest of
    /// the current admins' registers in a members-only space, of every author's in an open
    /// one.
    pub fn settings_register(&self) -> Option<&Lww<SpaceSettings>> {
        self.settings_author
            .as_ref()
            .and_then(|author| self.state.settings.get(author))
    }

    /// Applies a delta: joins each change into the state. Idempotent, commutative and
    /// associative: peers' deltas can arrive in any order, duplicated.
    ///
    /// The delta is applied as it is; check deltas from peers with [`Delta::validate`] first.
    pub fn apply(&mut self, delta: &Delta) {
        let mut evidence = Vec::new();
        for change in &delta.changes {
            self.join(change, &mut evidence);
        }
        self.push_evidence(evidence);
    }

    /// Joins one change into the state.
    pub fn apply_change(&mut self, change: &Change) {
        let mut evidence = Vec::new();
        self.join(change, &mut evidence);
        self.push_evidence(evidence);
    }

    fn push_evidence(&mut self, evidence: Vec<(ProcedureId, EvidenceChange)>) {
        if !self.derived {
            return;
        }
        for (id, change) in evidence {
            self.contagion.push(id, &change);
        }
    }

    /// Joins one change into the state; what it changed of a procedure's own evidence goes to
    /// `evidence` (one entry per procedure), for the contagion index.
    fn join(&mut self, change: &Change, evidence: &mut Vec<(ProcedureId, EvidenceChange)>) {
        if let Some(id) = change.procedure() {
            let procedure = Arc::make_mut(self.state.procedures.entry(id).or_default());
            procedure.digest.clear();
            match change {
                Change::Create { creation, .. } => {
                    let known = procedure.creation.is_some();
                    procedure.merge_creation(creation);
                    self.created += usize::from(!known && procedure.creation.is_some());
                }
                Change::Name { value, .. } => procedure.merge_name(value),
                Change::Description { value, .. } => procedure.merge_description(value),
                Change::Kind { value, .. } => procedure.merge_kind(value),
                Change::Tags { set, .. } => procedure.tags.merge(set),
                Change::Body { stamp, content, .. } => procedure.merge_body(*stamp, content),
                Change::Outcome { agent, slot, .. } if !self.derived => {
                    procedure.merge_outcome(agent, slot);
                }
                Change::Outcome { agent, slot, .. } => {
                    let before = procedure.outcomes.get(agent);
                    let totals_before = before.map(|s| s.totals.value).unwrap_or_default();
                    let contexts_before: Vec<Counts> = slot
                        .contexts()
                        .map(|(tag, _)| {
                            before
                                .and_then(|s| s.context(tag))
                                .map(|c| c.value)
                                .unwrap_or_default()
                        })
                        .collect();
                    procedure.merge_outcome(agent, slot);
                    let Some(after) = procedure.outcomes.get(agent) else {
                        return; // merged just above
                    };
                    if after.totals.value != totals_before {
                        self.weights.touch(id);
                    }
                    let mut delta = EvidenceChange::default();
                    (delta.successes, delta.failures) =
                        difference(&after.totals.value, &totals_before);
                    for ((tag, _), before) in slot.contexts().zip(&contexts_before) {
                        let now = after.context(tag).map(|c| c.value).unwrap_or_default();
                        let (s, f) = difference(&now, before);
                        if s != 0 || f != 0 {
                            delta.contexts.push((self.contagion.context_id(tag), s, f));
                        }
                    }
                    note(evidence, id, delta);
                }
                Change::Used { at, .. } => {
                    let before = procedure.last_used;
                    procedure.merge_used(*at);
                    if procedure.last_used != before {
                        let delta = EvidenceChange {
                            last_used_ms: at.wall_ms,
                            ..EvidenceChange::default()
                        };
                        note(evidence, id, delta);
                    }
                }
                Change::Crystal { epoch, .. } => procedure.merge_crystal(*epoch),
                Change::Relation { .. }
                | Change::Pin { .. }
                | Change::Settings { .. }
                | Change::Member { .. } => {}
            }
            return;
        }
        match change {
            Change::Relation { key, value } => self.merge_relation(key, value),
            Change::Pin { hash, cid, by } => self.merge_pin(*hash, *by, cid),
            Change::Settings { value } => {
                self.head_digest.clear();
                merge_settings(&mut self.state.settings, value);
                self.refresh_settings();
            }
            Change::Member { record } => self.merge_member(record),
            _ => {}
        }
    }

    /// Recomputes the contagion neighbourhoods that relation changes left stale. Reads are
    /// correct without it (a stale neighbourhood is recomputed when read), only slower: call
    /// it after applying a batch, before ranking.
    pub fn settle(&mut self) {
        self.contagion.settle();
        if self.settings.evidence_weighting {
            self.evidence_weights();
        }
    }

    /// Brings up to date what a read of procedure `id` needs, as [`Space::settle`] does, but
    /// when many contagion neighbourhoods are stale only `id`'s: the rest is left to a
    /// [`Space::settle_job`].
    pub fn settle_for(&mut self, id: &ProcedureId) {
        self.contagion.settle_for(id);
        if self.settings.evidence_weighting {
            self.evidence_weights();
        }
    }

    /// A job summing the space's stale contagion neighbourhoods on another thread, if many
    /// are stale (thousands: after a sync's bulk ingest, a start, or a long run of outcomes
    /// with no ranking read) and no job is out. Run it ([`crate::SettleJob::run`]) anywhere
    /// and give the result back to [`Space::install_settled`]; until then reads stay exact
    /// (a frozen view sums what it lacks) and writes go on.
    pub fn settle_job(&mut self) -> Option<crate::SettleJob> {
        self.contagion.settle_job()
    }

    /// [`Space::settle_job`], if nothing changed the contagion index since the last call
    /// (a space still ingesting a backlog would drop the job's work before it is back).
    pub fn settle_job_if_quiet(&mut self) -> Option<crate::SettleJob> {
        if self.contagion.quiet() {
            self.contagion.settle_job()
        } else {
            None
        }
    }

    /// Takes back the sums of this space's [`Space::settle_job`]: how many neighbourhoods
    /// became fresh (none for a job the space dropped meanwhile, or another space's).
    pub fn install_settled(&mut self, settled: crate::SettledSums) -> usize {
        self.contagion.install(settled)
    }

    /// Contagion neighbourhoods summed by the calling thread (settles, freezes, reads of
    /// one procedure) since the space was made or decoded: what settle jobs did not take off
    /// it.
    pub fn contagion_summed_here(&self) -> u64 {
        self.contagion.summed_here()
    }

    /// The space's procedures and rankings as they are now, for another thread to read (see
    /// [`crate::FrozenSpace`]): O(1) once settled; a few stale contagion sums and the weights
    /// are brought up to date first, as [`Space::settle`] does, and many are left for the
    /// view to sum when read (see [`Space::settle_job`]).
    pub fn freeze(&mut self) -> crate::FrozenSpace {
        let neighbourhoods = self.contagion.freeze();
        let weights = self
            .settings
            .evidence_weighting
            .then(|| Arc::clone(self.weights.shared(&self.state.procedures)));
        crate::FrozenSpace::new(
            self.state.procedures.clone(),
            neighbourhoods,
            self.settings.clone(),
            weights,
        )
    }

    /// Whether some contagion neighbourhood, or the evidence weights, wait for
    /// [`Space::settle`].
    pub fn needs_settle(&self) -> bool {
        self.contagion.has_stale() || (self.settings.evidence_weighting && self.weights.is_stale())
    }

    /// Every agent's evidence weight (see [`crate::weights`]), brought up to date with the
    /// outcome slots if they changed since the last read: only what the changed slots can have
    /// changed is recomputed (see `crdt/src/weights/index.rs`), with the same result as
    /// [`Space::evidence_weights_from_scratch`]. The same whether or not the space's
    /// `evidence_weighting` setting uses them.
    pub fn evidence_weights(&self) -> &EvidenceWeights {
        self.weights.get(&self.state.procedures)
    }

    /// Every agent's evidence weight derived from scratch from the outcome slots, by the
    /// reference derivation ([`EvidenceWeights::derive`]): equal to
    /// [`Space::evidence_weights`], which is maintained incrementally, unless that is broken
    /// (a check for tests).
    pub fn evidence_weights_from_scratch(&self) -> EvidenceWeights {
        EvidenceWeights::derive(self.state.procedures.values().map(|p| p.slots()))
    }

    /// The weights the space's rankings use: `None` when `evidence_weighting` is off.
    pub(crate) fn ranking_weights(&self) -> Option<&EvidenceWeights> {
        self.settings
            .evidence_weighting
            .then(|| self.evidence_weights())
    }

    /// The weights crystallization proposals use: the current ones if derived, else the last
    /// derived (a write must not pay a derivation); `None` when `evidence_weighting` is off.
    pub(crate) fn proposal_weights(&self) -> Option<&EvidenceWeights> {
        self.settings
            .evidence_weighting
            .then(|| self.weights.latest())
    }

    /// The procedures whose incrementally maintained contagion evidence differs from a
    /// recomputation from scratch: empty unless the index is broken (a check for tests).
    pub fn contagion_drift(&self) -> Vec<ProcedureId> {
        self.contagion.drift()
    }

    /// Rebuilds the contagion index from the replicated state.
    fn rebuild_contagion(&mut self) {
        if !self.derived {
            return;
        }
        let mut index = ContagionIndex::with_capacity(
            self.settings.contagion_hops,
            self.state.procedures.len(),
        );
        for (key, _) in self.state.relations.iter() {
            if let Some((a, b)) = contagion_pair(&key) {
                index.set_edge_unmarked(a, b, self.pair_strength(a, b));
            }
        }
        index.shrink_to_fit();
        self.relations_to = self
            .state
            .relations
            .iter()
            .filter(|(key, _)| !covered_by_graph(key, index.graph()))
            .map(|(k, _)| (k.to, k.from, k.kind))
            .collect();
        for (id, state) in &self.state.procedures {
            let mut change = EvidenceChange::default();
            let totals = state.counts();
            change.successes = i128::from(totals.successes);
            change.failures = i128::from(totals.failures);
            let mut contexts: BTreeMap<&str, Counts> = BTreeMap::new();
            for slot in state.outcomes.values() {
                for (tag, counts) in slot.contexts() {
                    contexts.entry(tag).or_default().add(&counts.value);
                }
            }
            for (tag, counts) in contexts {
                let ctx = index.context_id(tag);
                change.contexts.push((
                    ctx,
                    i128::from(counts.successes),
                    i128::from(counts.failures),
                ));
            }
            change.last_used_ms = state.last_used.map_or(0, |at| at.wall_ms);
            index.set_own(*id, &change);
        }
        index.mark_all_stale();
        self.contagion = index;
    }

    /// Joins a whole other replica of the same space into this one.
    pub fn merge(&mut self, other: &Space) {
        self.head_digest.clear();
        for (id, theirs) in &other.state.procedures {
            if !theirs.outcomes.is_empty() {
                self.weights.touch(*id);
            }
            let known = self
                .procedure_state(id)
                .is_some_and(|p| p.creation.is_some());
            match self.state.procedures.get_mut(id) {
                Some(mine) => Arc::make_mut(mine).merge(theirs),
                None => {
                    self.state.procedures.insert(*id, theirs.clone());
                }
            }
            self.created += usize::from(!known && theirs.creation.is_some());
        }
        for (key, value) in other.state.relations.iter() {
            self.merge_relation(&key, &value.to_lww());
        }
        for (hash, by_agent) in &other.state.pins {
            for (by, cid) in by_agent {
                self.merge_pin(*hash, *by, cid);
            }
        }
        for value in other.state.settings.values() {
            merge_settings(&mut self.state.settings, value);
        }
        self.state.members.merge(&other.state.members);
        self.refresh_membership();
        self.rebuild_contagion();
    }

    fn merge_relation(&mut self, key: &RelationKey, value: &RelationRegister) {
        self.head_digest.clear();
        let new = self.state.relations.merge(key, value);
        if !self.derived {
            return;
        }
        match contagion_pair(key) {
            Some((a, b)) => {
                let strength = self.pair_strength(a, b);
                self.contagion.set_edge(a, b, strength);
                self.refile_pair(a, b);
            }
            None if new => {
                self.relations_to.insert((key.to, key.from, key.kind));
            }
            None => {}
        }
    }

    /// Files the contagion-kind registers between `a < b` in `relations_to` if the graph has
    /// no edge between them, and takes them out if it has one (see `relations_to`).
    fn refile_pair(&mut self, a: ProcedureId, b: ProcedureId) {
        for kind in [RelationKind::Similar, RelationKind::Context] {
            let key = RelationKey {
                from: a,
                to: b,
                kind,
            };
            if self.state.relations.get(&key).is_none() {
                continue;
            }
            if covered_by_graph(&key, self.contagion.graph()) {
                self.relations_to.remove(&(b, a, kind));
            } else {
                self.relations_to.insert((b, a, kind));
            }
        }
    }

    /// The strongest live contagion-carrying relation between `a < b`.
    fn pair_strength(&self, a: ProcedureId, b: ProcedureId) -> Option<Fraction> {
        [RelationKind::Similar, RelationKind::Context]
            .into_iter()
            .filter_map(|kind| {
                let key = RelationKey {
                    from: a,
                    to: b,
                    kind,
                };
                self.state.relations.get(&key).and_then(|reg| reg.value)
            })
            .max()
    }

    /// Joins `by`'s pin of `hash`: per agent, the smallest CID it has recorded wins (one
    /// agent normally records one CID per content; the rule only makes the join total).
    fn merge_pin(&mut self, hash: ContentHash, by: AgentId, cid: &str) {
        self.head_digest.clear();
        let by_agent = self.state.pins.entry(hash).or_default();
        match by_agent.get_mut(&by) {
            Some(mine) if cid < mine.as_str() => *mine = cid.to_owned(),
            Some(_) => {}
            None => {
                by_agent.insert(by, cid.to_owned());
            }
        }
    }

    fn refresh_settings(&mut self) {
        let membership = self.membership.as_ref();
        let effective = self
            .state
            .settings
            .iter()
            .filter(|(author, _)| membership.is_none_or(|m| m.is_admin(author)))
            .max_by(|(_, a), (_, b)| (&a.stamp, &a.value).cmp(&(&b.stamp, &b.value)));
        self.settings_author = effective.map(|(author, _)| *author);
        self.settings = effective
            .map(|(_, reg)| reg.value.clone())
            .unwrap_or_default();
        self.contagion.set_hops(self.settings.contagion_hops);
    }

    /// The procedure `id`, if its creation is known.
    pub fn procedure(&self, id: &ProcedureId) -> Option<Procedure<'_>> {
        self.state
            .procedures
            .get(id)
            .filter(|state| state.creation.is_some())
            .map(|state| {
                Procedure::new(
                    *id,
                    state,
                    &self.settings,
                    Neighbours::Live(&self.contagion),
                    self.ranking_weights(),
                )
            })
    }

    /// Every procedure whose creation is known, in id order.
    pub fn procedures(&self) -> impl Iterator<Item = Procedure<'_>> {
        let weights = self.ranking_weights();
        self.state
            .procedures
            .iter()
            .filter(|(_, state)| state.creation.is_some())
            .map(move |(id, state)| {
                Procedure::new(
                    *id,
                    state,
                    &self.settings,
                    Neighbours::Live(&self.contagion),
                    weights,
                )
            })
    }

    /// Number of procedures whose creation is known.
    pub fn len(&self) -> usize {
        self.created
    }

    /// Whether the space has no known procedure.
    pub fn is_empty(&self) -> bool {
        self.created == 0
    }

    pub(crate) fn procedure_state(&self, id: &ProcedureId) -> Option<&ProcedureState> {
        self.state.procedures.get(id).map(Arc::as_ref)
    }

    /// The live relations (strength present) touching `id`, in key order.
    pub fn relations_of(&self, id: &ProcedureId) -> impl Iterator<Item = (RelationKey, Fraction)> {
        let id = *id;
        let lowest = ProcedureId([0; 32]);
        let mut keys: Vec<RelationKey> = self.state.relations.from(&id).map(|(k, _)| k).collect();
        // Towards `id` over a graph edge: the neighbour is the source (undirected keys go from
        // the smaller id).
        for (neighbour, _) in self.contagion.graph().neighbours(&id) {
            if neighbour < id {
                for kind in [RelationKind::Similar, RelationKind::Context] {
                    keys.push(RelationKey {
                        from: neighbour,
                        to: id,
                        kind,
                    });
                }
            }
        }
        keys.extend(
            self.relations_to
                .range((id, lowest, RelationKind::Similar)..)
                .take_while(|(to, _, _)| *to == id)
                .map(|&(to, from, kind)| RelationKey { from, to, kind }),
        );
        keys.sort();
        keys.dedup();
        let relations = &self.state.relations;
        keys.into_iter()
            .filter_map(move |key| relations.get(&key)?.value.map(|s| (key, s)))
    }

    /// The live relations, in key order.
    pub fn relations(&self) -> impl Iterator<Item = (RelationKey, Fraction)> + '_ {
        self.state
            .relations
            .iter()
            .filter_map(|(key, reg)| reg.value.map(|s| (key, s)))
    }

    /// The relation register at `key`, if it was ever written.
    pub fn relation(&self, key: &RelationKey) -> Option<Lww<Option<Fraction>>> {
        self.state.relations.get(key).map(HeldLww::to_lww)
    }

    /// The contagion graph derived from the relations.
    pub fn contagion_graph(&self) -> &ContagionGraph {
        self.contagion.graph()
    }

    /// Every IPFS CID some agent recorded for the content `hash`, sorted, without duplicates
    /// (none may be trusted: a reader tries each and verifies what it reads against `hash`).
    pub fn cids(&self, hash: &ContentHash) -> Vec<&str> {
        let mut cids: Vec<&str> = self
            .state
            .pins
            .get(hash)
            .into_iter()
            .flat_map(|by_agent| by_agent.values().map(String::as_str))
            .collect();
        cids.sort_unstable();
        cids.dedup();
        cids
    }

    /// The CID `agent` recorded for the content `hash`, if any.
    pub fn pin_by(&self, hash: &ContentHash, agent: &AgentId) -> Option<&str> {
        self.state.pins.get(hash)?.get(agent).map(String::as_str)
    }

    /// Every content hash some agent recorded a CID for.
    pub fn pinned(&self) -> impl Iterator<Item = &ContentHash> {
        self.state.pins.keys()
    }

    /// The state digest: equal on converged replicas, and (up to hash collisions) only on them.
    ///
    /// A two-level hash tree over the canonical encoding: blake3 of the space's name, settings,
    /// relations and pins, and of `(id, hash)` for every procedure, where a procedure's hash is
    /// blake3 of its own canonical encoding. Procedure hashes are cached and cleared by every
    /// change to the procedure, so after a few changes the digest of a large space costs one
    /// re-encoding per changed procedure plus 64 bytes of hashing per procedure.
    pub fn digest(&self) -> StateDigest {
        let mut hasher = self.head_digest.get_or_compute(|| self.hash_head()).clone();
        hasher.update(&(self.state.procedures.len() as u64).to_le_bytes());
        // One buffer and one update: blake3 is far faster on large inputs than on 32-byte ones.
        let mut leaves = Vec::with_capacity(self.state.procedures.len() * 64);
        for (id, procedure) in &self.state.procedures {
            leaves.extend_from_slice(&id.0);
            leaves.extend_from_slice(&procedure.hash());
        }
        hasher.update(&leaves);
        StateDigest(*hasher.finalize().as_bytes())
    }

    /// A hasher that has taken the digest's domain and head (name, settings, relations, pins,
    /// members): ~100 ms at 100k procedures, so it is kept until the head changes (outcomes,
    /// the frequent writes, do not change it).
    fn hash_head(&self) -> blake3::Hasher {
        let mut hasher = blake3::Hasher::new();
        hasher.update(DIGEST_DOMAIN);
        let head = (
            &self.state.name,
            &self.state.settings,
            &self.state.relations,
            &self.state.pins,
            &self.state.members,
        );
        // Streamed into the hasher through a small buffer: the relations alone encode to ~50 MB
        // at 100k procedures (and blake3 is slow on the few bytes of each field written alone).
        // Hashing cannot fail, and every field of the state is serializable.
        let mut buffered = std::io::BufWriter::with_capacity(DIGEST_BUFFER_BYTES, &mut hasher);
        #[allow(clippy::expect_used)]
        bincode::serde::encode_into_std_write(head, &mut buffered, bincode_config())
            .expect("encoding a space into a hasher cannot fail");
        #[allow(clippy::expect_used)]
        buffered
            .into_inner()
            .expect("flushing into a hasher cannot fail");
        hasher
    }

    /// The hash of one procedure's replicated state (also for procedures whose creation is not
    /// known yet): compare it across replicas to find where two digests differ.
    pub fn procedure_digest(&self, id: &ProcedureId) -> Option<StateDigest> {
        self.state.procedures.get(id).map(|p| StateDigest(p.hash()))
    }

    /// The canonical encoding of the space (a version byte, then bincode): a snapshot that
    /// [`Space::decode`] restores.
    pub fn encode(&self) -> Vec<u8> {
        encode_state(&self.state)
    }

    /// A frozen copy of the replicated state, cheap to take (procedure states are shared) and
    /// `Send`: encode it on another thread while this space goes on changing.
    pub fn snapshot(&self) -> SpaceSnapshot {
        SpaceSnapshot(self.state.clone())
    }

    /// Restores a snapshot made by [`Space::encode`] (or [`SpaceSnapshot::encode_to`]) from
    /// `reader`, reading exactly its bytes: whatever follows is left in the reader. The bytes
    /// are never held whole (a 100k-procedure snapshot is ~200 MB).
    pub fn decode_from(reader: &mut impl std::io::Read) -> Result<Space, CrdtError> {
        let mut version = [0u8; 1];
        reader
            .read_exact(&mut version)
            .map_err(|e| CrdtError::Decode(format!("snapshot version: {e}")))?;
        if version[0] != SNAPSHOT_VERSION {
            return Err(CrdtError::Decode(format!(
                "snapshot version {}, this build reads {SNAPSHOT_VERSION}",
                version[0]
            )));
        }
        let state: SpaceState = bincode::serde::decode_from_std_read(reader, bincode_config())
            .map_err(|e| CrdtError::Decode(e.to_string()))?;
        Ok(Space::restored(state))
    }

    /// The space of a decoded state, its derived indexes rebuilt.
    fn restored(state: SpaceState) -> Space {
        let mut space = Space::new(state.name.clone());
        space.created = state
            .procedures
            .values()
            .filter(|p| p.creation.is_some())
            .count();
        space.state = state;
        space.weights.reset();
        space.refresh_membership();
        space.rebuild_contagion();
        space
    }

    /// Restores a snapshot made by [`Space::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Space, CrdtError> {
        let (version, rest) = bytes
            .split_first()
            .ok_or_else(|| CrdtError::Decode("empty snapshot".into()))?;
        if *version != SNAPSHOT_VERSION {
            return Err(CrdtError::Decode(format!(
                "snapshot version {version}, this build reads {SNAPSHOT_VERSION}"
            )));
        }
        let (state, used): (SpaceState, usize) =
            bincode::serde::decode_from_slice(rest, bincode_config())
                .map_err(|e| CrdtError::Decode(e.to_string()))?;
        if used != rest.len() {
            return Err(CrdtError::Decode(format!(
                "{} trailing bytes after the snapshot",
                rest.len() - used
            )));
        }
        Ok(Space::restored(state))
    }

    /// The whole state as one delta (for a full-state transfer through the delta path).
    pub fn to_delta(&self) -> Delta {
        Delta::new(self.changes().collect())
    }

    /// [`Space::to_delta`]'s changes one at a time, made as they are read.
    pub(crate) fn changes(&self) -> impl Iterator<Item = Change> + '_ {
        let settings = self.state.settings.values().map(|value| Change::Settings {
            value: value.clone(),
        });
        let members = self.state.members.iter().map(|record| Change::Member {
            record: record.clone(),
        });
        let procedures = self.state.procedures.iter().flat_map(|(id, state)| {
            let mut changes = Vec::new();
            procedure_changes(*id, state, &mut changes);
            changes
        });
        let relations = self
            .state
            .relations
            .iter()
            .map(|(key, value)| Change::Relation {
                key,
                value: value.to_lww(),
            });
        let pins = self.state.pins.iter().flat_map(|(hash, by_agent)| {
            by_agent.iter().map(|(by, cid)| Change::Pin {
                hash: *hash,
                cid: cid.clone(),
                by: *by,
            })
        });
        settings
            .chain(members)
            .chain(procedures)
            .chain(relations)
            .chain(pins)
    }
}

/// A frozen copy of a space's replicated state (see [`Space::snapshot`]).
#[derive(Clone, Debug)]
pub struct SpaceSnapshot(SpaceState);

impl SpaceSnapshot {
    /// The same bytes as [`Space::encode`] of the space it was taken from.
    pub fn encode(&self) -> Vec<u8> {
        encode_state(&self.0)
    }

    /// Every procedure whose creation is known, with its searchable text, in id order (as
    /// [`Space::procedures`] of the space it was taken from).
    pub fn texts(&self) -> impl Iterator<Item = (ProcedureId, ProcedureText<'_>)> + '_ {
        self.0
            .procedures
            .iter()
            .filter(|(_, state)| state.creation.is_some())
            .map(|(id, state)| (*id, ProcedureText::of(state)))
    }

    /// Number of procedures whose creation is known.
    pub fn len(&self) -> usize {
        self.0
            .procedures
            .values()
            .filter(|state| state.creation.is_some())
            .count()
    }

    /// Whether no procedure's creation is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the bytes of [`SpaceSnapshot::encode`] to `writer` as they are made, without
    /// holding them (a 100k-procedure snapshot is ~200 MB). Fails only as `writer` does.
    pub fn encode_to(&self, writer: &mut impl std::io::Write) -> std::io::Result<()> {
        write_state(&self.0, writer)
    }
}

/// The canonical encoding of a state (a version byte, then bincode).
fn encode_state(state: &SpaceState) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every field of the state is serializable.
    #[allow(clippy::expect_used)]
    write_state(state, &mut out).expect("encoding a space into memory cannot fail");
    out
}

/// Writes [`encode_state`]'s bytes to `writer`; fails only as `writer` does.
fn write_state(state: &SpaceState, writer: &mut impl std::io::Write) -> std::io::Result<()> {
    writer.write_all(&[SNAPSHOT_VERSION])?;
    bincode::serde::encode_into_std_write(state, writer, bincode_config()).map_err(
        |e| match e {
            bincode::error::EncodeError::Io { inner, .. } => inner,
            other => std::io::Error::other(other.to_string()),
        },
    )?;
    Ok(())
}

/// Joins a settings register into its author's register.
fn merge_settings(
    registers: &mut BTreeMap<AgentId, Lww<SpaceSettings>>,
    value: &Lww<SpaceSettings>,
) {
    match registers.get_mut(&value.stamp.agent) {
        Some(mine) => mine.merge(value),
        None => {
            registers.insert(value.stamp.agent, value.clone());
        }
    }
}

/// Whether the contagion graph answers for `key` from its `to` end: a contagion-kind key
/// whose two procedures have an edge.
fn covered_by_graph(key: &RelationKey, graph: &ContagionGraph) -> bool {
    key.kind.carries_contagion() && graph.has_edge(&key.from, &key.to)
}

/// `a - b` as signed `(successes, failures)`.
fn difference(a: &Counts, b: &Counts) -> (i128, i128) {
    (
        i128::from(a.successes) - i128::from(b.successes),
        i128::from(a.failures) - i128::from(b.failures),
    )
}

/// Folds an evidence change of `id` into `evidence` (one entry per procedure).
fn note(
    evidence: &mut Vec<(ProcedureId, EvidenceChange)>,
    id: ProcedureId,
    change: EvidenceChange,
) {
    match evidence.iter_mut().find(|(p, _)| *p == id) {
        Some((_, pending)) => pending.add(&change),
        None => evidence.push((id, change)),
    }
}

/// The changes that rebuild one procedure's state.
fn procedure_changes(id: ProcedureId, state: &ProcedureState, out: &mut Vec<Change>) {
    if let Some(creation) = &state.creation {
        out.push(Change::Create {
            id,
            creation: creation.to_creation(),
        });
    }
    if let Some(value) = &state.name {
        out.push(Change::Name {
            id,
            value: value.to_lww(),
        });
    }
    if let Some(value) = &state.description {
        out.push(Change::Description {
            id,
            value: value.to_lww(),
        });
    }
    if let Some(value) = &state.kind {
        out.push(Change::Kind {
            id,
            value: value.to_lww(),
        });
    }
    if state.tags != HeldTagSet::default() {
        out.push(Change::Tags {
            id,
            set: state.tags.to_tag_set(),
        });
    }
    for (stamp, content) in &state.bodies {
        out.push(Change::Body {
            id,
            stamp: *stamp,
            content: content.clone(),
        });
    }
    for (agent, slot) in state.slots() {
        out.push(Change::Outcome {
            id,
            agent: *agent,
            slot: slot.to_slot(),
        });
    }
    if let Some(at) = state.last_used {
        out.push(Change::Used { id, at });
    }
    for epoch in &state.crystal_proposals {
        out.push(Change::Crystal { id, epoch: *epoch });
    }
}

impl PartialEq for Space {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
    }
}

impl Eq for Space {}

impl fmt::Display for StateDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for StateDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateDigest({})", &hex::encode(self.0)[..12])
    }
}
