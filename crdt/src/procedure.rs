//! A procedure's replicated state, and a read-only view with its derived values.

use std::collections::BTreeSet;
use std::sync::Arc;

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use crate::change::Creation;
use crate::clock::{Hlc, Stamp};
use crate::compact;
use crate::contagion::{Neighbours, Prior};
use crate::content::ContentRef;
use crate::crystal::{effective_epoch, is_crystallized};
use crate::digest_cache::DigestCache;
use crate::held::{HeldCreation, HeldLww, merge_held_opt};
use crate::held_tags::HeldTagSet;
use crate::ids::{AgentId, ProcedureId};
use crate::intern::AgentRef;
use crate::kind::ProcedureKind;
use crate::lww::Lww;
use crate::outcome::{Counts, OutcomeSlot};
use crate::settings::SpaceSettings;
use crate::slot_state::SlotState;
use crate::space::bincode_config;
use crate::weights::{EvidenceWeights, WeightedCounts};

/// Everything replicated about one procedure. Every field is a join-semilattice, so the whole
/// is one; a procedure can exist partially (say, outcomes arrived before its creation) and is
/// shown only once its creation is known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProcedureState {
    /// The creation and the registers below are held with their writer interned (see
    /// [`crate::held`]; same order and encoding).
    pub(crate) creation: Option<HeldCreation>,
    pub(crate) name: Option<HeldLww<String>>,
    pub(crate) description: Option<HeldLww<String>>,
    pub(crate) kind: Option<HeldLww<ProcedureKind>>,
    pub(crate) tags: HeldTagSet,
    /// Sorted by stamp; a vector, not a `BTreeMap`: nearly every procedure has one version, and a
    /// `BTreeMap` node for it cost ~1.2 KB (same encoding: a map).
    pub(crate) bodies: LiteMap<Stamp, ContentRef>,
    /// Each agent's slot, keyed by the interned agent id (see [`crate::intern`]): same order
    /// and encoding as by `AgentId`.
    pub(crate) outcomes: LiteMap<AgentRef, SlotState>,
    pub(crate) last_used: Option<Hlc>,
    /// Every crystallization epoch proposed (a grow-only set; see [`crate::crystal`]).
    pub(crate) crystal_proposals: BTreeSet<u32>,
    #[serde(skip)]
    pub(crate) digest: DigestCache,
}

/// Every procedure state of a space by id: a persistent map of shared states, so a copy (for a
/// snapshot, or a frozen space read on another thread) costs O(1) and the writer copies only
/// what it changes while the copy lives.
pub(crate) type ProcedureMap = imbl::OrdMap<ProcedureId, Arc<ProcedureState>>;

/// A read-only view of a procedure with its derived values (rate, confidence, contagion prior,
/// score, crystallized), all computed from replicated state and identical on converged
/// replicas.
#[derive(Clone, Copy, Debug)]
pub struct Procedure<'a> {
    id: ProcedureId,
    state: &'a ProcedureState,
    settings: &'a SpaceSettings,
    contagion: Neighbours<'a>,
    /// The space's evidence weights, when it weights evidence.
    weights: Option<&'a EvidenceWeights>,
}

/// The text of a procedure that search indexes (name, description, tags, current body),
/// borrowed from its state: from a live space ([`Procedure::text`]) or from a frozen copy
/// ([`crate::SpaceSnapshot::texts`]), which an index build reads on another thread without
/// copying 100k procedures' texts first.
#[derive(Clone, Copy, Debug)]
pub struct ProcedureText<'a> {
    state: &'a ProcedureState,
}

impl<'a> ProcedureText<'a> {
    pub(crate) fn of(state: &'a ProcedureState) -> Self {
        ProcedureText { state }
    }

    /// The name.
    pub fn name(&self) -> &'a str {
        self.state.name.as_ref().map_or("", |r| r.value.as_str())
    }

    /// The description.
    pub fn description(&self) -> &'a str {
        self.state
            .description
            .as_ref()
            .map_or("", |r| r.value.as_str())
    }

    /// The tags, in order.
    pub fn tags(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.state.tags.iter()
    }

    /// The current body: the version with the highest stamp.
    pub fn body(&self) -> Option<&'a ContentRef> {
        self.state.bodies.last().map(|(_, content)| content)
    }
}

impl ProcedureState {
    pub(crate) fn merge_creation(&mut self, creation: &Creation) {
        // Equal for every honest replica (the id is derived from it); max keeps merge a join
        // even for a forged duplicate.
        if self
            .creation
            .is_none_or(|mine| *creation > mine.to_creation())
        {
            self.creation = Some(HeldCreation::of(creation));
        }
    }

    pub(crate) fn merge_name(&mut self, value: &Lww<String>) {
        merge_held_opt(&mut self.name, value);
    }

    pub(crate) fn merge_description(&mut self, value: &Lww<String>) {
        merge_held_opt(&mut self.description, value);
    }

    pub(crate) fn merge_kind(&mut self, value: &Lww<ProcedureKind>) {
        merge_held_opt(&mut self.kind, value);
    }

    /// Joins an optional held register of another state into `mine`.
    fn merge_held_register<V: Ord + Clone>(mine: &mut Option<HeldLww<V>>, theirs: &HeldLww<V>) {
        match mine {
            Some(reg) => reg.merge_held(theirs),
            None => *mine = Some(theirs.clone()),
        }
    }

    pub(crate) fn merge_body(&mut self, stamp: Stamp, content: &ContentRef) {
        match self.bodies.get_mut(&stamp) {
            Some(mine) if content > mine => *mine = content.clone(),
            Some(_) => {}
            None => {
                compact::insert(&mut self.bodies, stamp, content.clone());
            }
        }
    }

    pub(crate) fn merge_outcome(&mut self, agent: &AgentId, slot: &OutcomeSlot) {
        match self.outcomes.get_mut(agent) {
            Some(mine) => mine.merge(slot),
            None => {
                compact::insert(&mut self.outcomes, AgentRef::of(agent), SlotState::of(slot));
            }
        }
    }

    fn merge_slot_state(&mut self, agent: AgentRef, slot: &SlotState) {
        match self.outcomes.get_mut(&*agent) {
            Some(mine) => mine.merge_state(slot),
            None => {
                compact::insert(&mut self.outcomes, agent, slot.clone());
            }
        }
    }

    pub(crate) fn merge_used(&mut self, at: Hlc) {
        self.last_used = self.last_used.max(Some(at));
    }

    pub(crate) fn merge_crystal(&mut self, epoch: u32) {
        self.crystal_proposals.insert(epoch);
    }

    /// Joins a whole other state into this one.
    pub(crate) fn merge(&mut self, other: &ProcedureState) {
        self.digest.clear();
        if let Some(creation) = &other.creation {
            self.merge_creation(&creation.to_creation());
        }
        if let Some(v) = &other.name {
            Self::merge_held_register(&mut self.name, v);
        }
        if let Some(v) = &other.description {
            Self::merge_held_register(&mut self.description, v);
        }
        if let Some(v) = &other.kind {
            Self::merge_held_register(&mut self.kind, v);
        }
        self.tags.merge_held(&other.tags);
        for (stamp, content) in &other.bodies {
            self.merge_body(*stamp, content);
        }
        for (agent, slot) in &other.outcomes {
            self.merge_slot_state(*agent, slot);
        }
        if let Some(at) = other.last_used {
            self.merge_used(at);
        }
        self.crystal_proposals
            .extend(other.crystal_proposals.iter().copied());
    }

    /// blake3 of the canonical encoding of this state (cached until the next change).
    pub(crate) fn hash(&self) -> [u8; 32] {
        *self.digest.get_or_compute(|| {
            let mut hasher = blake3::Hasher::new();
            let bytes = bincode::serde::encode_to_vec(self, bincode_config());
            // Encoding into memory cannot fail, and every field is serializable.
            #[allow(clippy::expect_used)]
            hasher.update(&bytes.expect("encoding a procedure into memory cannot fail"));
            *hasher.finalize().as_bytes()
        })
    }

    /// Sum of every agent's totals.
    pub(crate) fn counts(&self) -> Counts {
        let mut sum = Counts::default();
        for slot in self.outcomes.values() {
            sum.add(&slot.totals.value);
        }
        sum
    }

    /// Sum of every agent's counts for one context tag.
    pub(crate) fn context_counts(&self, context: &str) -> Counts {
        let mut sum = Counts::default();
        for slot in self.outcomes.values() {
            if let Some(counts) = slot.context(context) {
                sum.add(&counts.value);
            }
        }
        sum
    }

    /// The crystallization latch's epoch, derived from the proposals and the counts (see
    /// [`crate::crystal::effective_epoch`]).
    pub(crate) fn crystal_epoch(&self, settings: &SpaceSettings) -> u32 {
        effective_epoch(
            &self.crystal_proposals,
            &self.counts(),
            self.success_agents(),
            settings,
        )
    }

    /// Each agent's slot, by agent id.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (&AgentId, &SlotState)> + Clone {
        self.outcomes.iter().map(|(agent, slot)| (&**agent, slot))
    }

    /// How many agents have recorded at least one success.
    pub(crate) fn success_agents(&self) -> usize {
        self.outcomes
            .values()
            .filter(|slot| slot.totals.value.successes > 0)
            .count()
    }

    /// The totals (`context` `None`) or one context's counts, weighted by `weights`, or raw
    /// with weight one without weights.
    pub(crate) fn weighted_counts(
        &self,
        weights: Option<&EvidenceWeights>,
        context: Option<&str>,
    ) -> WeightedCounts {
        match weights {
            Some(w) => w.weigh(self.slots(), context),
            None => WeightedCounts::unweighted(
                &context.map_or_else(|| self.counts(), |c| self.context_counts(c)),
            ),
        }
    }

    /// How many agents have recorded at least one success, counting only agents `weights`
    /// trusts (all of them without weights).
    pub(crate) fn trusted_success_agents(&self, weights: Option<&EvidenceWeights>) -> usize {
        self.outcomes
            .iter()
            .filter(|(agent, slot)| {
                slot.totals.value.successes > 0 && weights.is_none_or(|w| w.trusted(agent))
            })
            .count()
    }
}

impl<'a> Procedure<'a> {
    pub(crate) fn new(
        id: ProcedureId,
        state: &'a ProcedureState,
        settings: &'a SpaceSettings,
        contagion: Neighbours<'a>,
        weights: Option<&'a EvidenceWeights>,
    ) -> Self {
        Procedure {
            id,
            state,
            settings,
            contagion,
            weights,
        }
    }

    /// The procedure's id.
    pub fn id(&self) -> ProcedureId {
        self.id
    }

    /// Who created it, when, with which nonce.
    pub fn creation(&self) -> Option<Creation> {
        self.state.creation.map(HeldCreation::to_creation)
    }

    /// Its searchable text: name, description, tags and current body.
    pub fn text(&self) -> ProcedureText<'a> {
        ProcedureText::of(self.state)
    }

    /// Its name.
    pub fn name(&self) -> &'a str {
        self.text().name()
    }

    /// Its description.
    pub fn description(&self) -> &'a str {
        self.text().description()
    }

    /// Its kind (`steps` until one is known).
    pub fn kind(&self) -> &'a ProcedureKind {
        const DEFAULT: &ProcedureKind = &ProcedureKind::Steps;
        self.state.kind.as_ref().map_or(DEFAULT, |r| &r.value)
    }

    /// Its tags, in order.
    pub fn tags(&self) -> impl Iterator<Item = &'a str> {
        self.text().tags()
    }

    /// Whether it carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.state.tags.contains(tag)
    }

    /// The current body: the version with the highest stamp.
    pub fn body(&self) -> Option<&'a ContentRef> {
        self.text().body()
    }

    /// Every body version, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = (&'a Stamp, &'a ContentRef)> {
        self.state.bodies.iter()
    }

    /// Outcome counts summed over agents.
    pub fn counts(&self) -> Counts {
        self.state.counts()
    }

    /// Outcome counts for one context tag, summed over agents.
    pub fn context_counts(&self, context: &str) -> Counts {
        self.state.context_counts(context)
    }

    /// Each agent's own totals.
    pub fn counts_by_agent(&self) -> impl Iterator<Item = (&'a AgentId, &'a Counts)> {
        self.state
            .slots()
            .map(|(agent, slot)| (agent, &slot.totals.value))
    }

    /// How many agents have recorded a success.
    pub fn success_agents(&self) -> usize {
        self.state.success_agents()
    }

    /// The counts rankings and crystallization use: every agent's counts weighted by its
    /// evidence weight when the space weights evidence (see [`crate::weights`]), else the raw
    /// counts with weight one; all evidence (`context` `None`) or one context's.
    pub fn weighted_counts(&self, context: Option<&str>) -> WeightedCounts {
        self.state.weighted_counts(self.weights, context)
    }

    /// How many agents crystallization counts: agents with a success and, when the space
    /// weights evidence, a weight of at least ½.
    pub fn trusted_success_agents(&self) -> usize {
        self.state.trusted_success_agents(self.weights)
    }

    /// The context tags any agent has recorded outcomes for (may repeat across agents).
    pub fn context_tags(&self) -> impl Iterator<Item = &'a str> {
        self.state
            .outcomes
            .values()
            .flat_map(|slot| slot.contexts().map(|(tag, _)| tag))
    }

    /// `(s + 1) / (s + f + 2)` of the weighted counts ([`Procedure::weighted_counts`]).
    pub fn rate(&self) -> f64 {
        self.weighted_counts(None).rate()
    }

    /// Wilson lower bound of the success proportion of the weighted counts.
    pub fn confidence(&self) -> f64 {
        self.weighted_counts(None).confidence()
    }

    /// The contagion prior at `now_ms`: neighbours' evidence as bounded pseudo-counts (see
    /// [`Prior`]), for all evidence or for one context tag's.
    pub fn prior(&self, context: Option<&str>, now_ms: u64) -> Prior {
        let context = match context {
            None => None,
            Some(tag) => match self.contagion.known_context(tag) {
                Some(id) => Some(id),
                None => return Prior::default(),
            },
        };
        let neighbourhood = self.contagion.neighbourhood(&self.id);
        Prior::of(
            neighbourhood.sums(context),
            neighbourhood.last_used_ms,
            now_ms,
            self.settings,
        )
    }

    /// The ranking score at `now_ms` (see [`crate::contagion::score`]): the Wilson lower bound
    /// of the own counts plus the contagion prior, for all evidence or one context's.
    pub fn score_in(&self, context: Option<&str>, now_ms: u64) -> f64 {
        crate::contagion::score_weighted(
            &self.weighted_counts(context),
            &self.prior(context, now_ms),
            self.settings.negative_contagion,
        )
    }

    /// Whether the space counts neighbours' failures against this procedure.
    pub(crate) fn negative_contagion(&self) -> bool {
        self.settings.negative_contagion
    }

    /// The ranking score over all evidence at `now_ms`.
    pub fn score(&self, now_ms: u64) -> f64 {
        self.score_in(None, now_ms)
    }

    /// What contagion adds to the score at `now_ms`: `score - confidence` (negative only with
    /// failure contagion on).
    pub fn boost(&self, now_ms: u64) -> f64 {
        self.score(now_ms) - self.confidence()
    }

    /// Whether the procedure is crystallized (proven; body frozen).
    pub fn crystallized(&self) -> bool {
        is_crystallized(self.crystal_epoch())
    }

    /// The crystallization latch's epoch (odd: crystallized), derived from the proposed epochs
    /// and the counts (see [`crate::crystal`]).
    pub fn crystal_epoch(&self) -> u32 {
        self.state.crystal_epoch(self.settings)
    }

    /// When the procedure was last used.
    pub fn last_used(&self) -> Option<Hlc> {
        self.state.last_used
    }
}
