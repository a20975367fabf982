//! Per-agent outcome counters: the evidence every ranking is computed from.

use litemap::LiteMap;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::compact;

/// Success, failure and duration counters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Counts {
    /// Recorded successes.
    pub successes: u64,
    /// Recorded failures.
    pub failures: u64,
    /// Sum of the recorded durations, in milliseconds.
    pub total_duration_ms: u64,
}

/// A value with the owner's sequence number: the higher sequence wins a merge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The owner's sequence number of this value.
    pub seq: u64,
    /// The value.
    pub value: T,
}

/// One agent's outcomes of one procedure, written only by that agent.
///
/// The owner raises `seq` at every write and sends the totals plus the context entries the
/// write touched; merge keeps the higher sequence and the larger of each counter, of the totals
/// and of each context entry. That is a product of max-registers, so merge is a join, global
/// counts are exact sums over agents (no averaging, no double counting under duplication), and
/// no write can lower a counter. Receivers also check that a slot claims at most one outcome per
/// write and at most one write per op its author signed (see `Change::validate`).
///
/// **Memory.** A space holds one slot per (agent, procedure) used: ~890k at 100k procedures
/// and 1M outcomes, most holding one context whose counts are the totals (every outcome the
/// agent recorded for the procedure named that context). Such a slot keeps only the context's
/// name; a map of its own cost 64 more bytes per slot. The slot encodes the same either way
/// (totals, then a map of the contexts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutcomeSlot {
    /// The slot's totals over every context.
    pub totals: Versioned<Counts>,
    /// Counts per context tag (what the procedure was used for), kept in its canonical form.
    contexts: SlotContexts,
}

/// A slot's counts per context, in the smallest form that holds them (only ever in that form,
/// so equal slots are equal values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum SlotContexts {
    /// No context.
    #[default]
    None,
    /// One context, whose counts equal the slot's totals.
    Totals(Box<str>),
    /// Anything else (never empty, never one entry equal to the totals).
    Map(LiteMap<String, Versioned<Counts>>),
}

/// The form a slot is encoded in (and was stored in before [`SlotContexts`]).
#[derive(Serialize)]
struct SlotRef<'a> {
    totals: &'a Versioned<Counts>,
    contexts: ContextsRef<'a>,
}

/// A slot's contexts, encoded as a map.
struct ContextsRef<'a>(&'a OutcomeSlot);

#[derive(Deserialize)]
struct SlotOwned {
    totals: Versioned<Counts>,
    contexts: LiteMap<String, Versioned<Counts>>,
}

impl Serialize for OutcomeSlot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SlotRef {
            totals: &self.totals,
            contexts: ContextsRef(self),
        }
        .serialize(serializer)
    }
}

impl Serialize for ContextsRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.context_count()))?;
        for (tag, counts) in self.0.contexts() {
            map.serialize_entry(tag, counts)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for OutcomeSlot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let slot = SlotOwned::deserialize(deserializer)?;
        Ok(OutcomeSlot::new(slot.totals, slot.contexts))
    }
}

/// What evidence weights read of an outcome slot: an [`OutcomeSlot`] or a space's own copy
/// of one.
pub trait SlotCounts {
    /// The slot's totals.
    fn total_counts(&self) -> &Counts;

    /// The counts of context `tag`, if the slot has any.
    fn context_counts(&self, tag: &str) -> Option<&Counts>;
}

impl SlotCounts for OutcomeSlot {
    fn total_counts(&self) -> &Counts {
        &self.totals.value
    }

    fn context_counts(&self, tag: &str) -> Option<&Counts> {
        self.context(tag).map(|c| &c.value)
    }
}

impl Counts {
    /// Adds one outcome.
    pub fn record(&mut self, success: bool, duration_ms: u64) {
        if success {
            self.successes = self.successes.saturating_add(1);
        } else {
            self.failures = self.failures.saturating_add(1);
        }
        self.total_duration_ms = self.total_duration_ms.saturating_add(duration_ms);
    }

    /// Adds `other` into `self` (for sums over agents).
    pub fn add(&mut self, other: &Counts) {
        self.successes = self.successes.saturating_add(other.successes);
        self.failures = self.failures.saturating_add(other.failures);
        self.total_duration_ms = self
            .total_duration_ms
            .saturating_add(other.total_duration_ms);
    }

    /// Successes plus failures.
    pub fn uses(&self) -> u64 {
        self.successes.saturating_add(self.failures)
    }
}

impl Default for Versioned<Counts> {
    fn default() -> Self {
        Versioned {
            seq: 0,
            value: Counts::default(),
        }
    }
}

impl Counts {
    /// Joins `other` into `self`: the larger of each counter.
    pub fn join(&mut self, other: &Counts) {
        self.successes = self.successes.max(other.successes);
        self.failures = self.failures.max(other.failures);
        self.total_duration_ms = self.total_duration_ms.max(other.total_duration_ms);
    }
}

impl Versioned<Counts> {
    /// Joins `other` into `self`: the higher sequence, and the larger of each counter.
    ///
    /// An honest owner's counters only grow with its sequence, so this is the latest write;
    /// a write that would lower a counter (a higher sequence with smaller totals) cannot: the
    /// join of max-registers never goes down.
    pub fn merge(&mut self, other: &Versioned<Counts>) {
        self.seq = self.seq.max(other.seq);
        self.value.join(&other.value);
    }
}

impl OutcomeSlot {
    /// A slot of `totals` and the counts per context `contexts`.
    pub fn new(totals: Versioned<Counts>, contexts: LiteMap<String, Versioned<Counts>>) -> Self {
        let mut slot = OutcomeSlot {
            totals,
            contexts: SlotContexts::None,
        };
        slot.set_contexts(contexts);
        slot
    }

    /// The counts of context `tag`, if the slot has any.
    pub fn context(&self, tag: &str) -> Option<&Versioned<Counts>> {
        match &self.contexts {
            SlotContexts::None => None,
            SlotContexts::Totals(only) => (**only == *tag).then_some(&self.totals),
            SlotContexts::Map(map) => map.get(tag),
        }
    }

    /// Every context's counts, in tag order.
    pub fn contexts(&self) -> impl Iterator<Item = (&str, &Versioned<Counts>)> {
        let (only, map) = match &self.contexts {
            SlotContexts::None => (None, None),
            SlotContexts::Totals(tag) => (Some((&**tag, &self.totals)), None),
            SlotContexts::Map(map) => (None, Some(map)),
        };
        only.into_iter().chain(
            map.into_iter()
                .flat_map(|m| m.iter().map(|(tag, c)| (tag.as_str(), c))),
        )
    }

    /// The number of contexts.
    pub fn context_count(&self) -> usize {
        match &self.contexts {
            SlotContexts::None => 0,
            SlotContexts::Totals(_) => 1,
            SlotContexts::Map(map) => map.len(),
        }
    }

    /// The contexts as a map of their own.
    fn context_map(&self) -> LiteMap<String, Versioned<Counts>> {
        match &self.contexts {
            SlotContexts::Map(map) => map.clone(),
            _ => self
                .contexts()
                .map(|(tag, c)| (tag.to_owned(), c.clone()))
                .collect(),
        }
    }

    /// Sets the contexts, in their canonical form (the totals must be set first).
    fn set_contexts(&mut self, mut contexts: LiteMap<String, Versioned<Counts>>) {
        self.contexts = match contexts.len() {
            0 => SlotContexts::None,
            1 if contexts.first().is_some_and(|(_, c)| *c == self.totals) => {
                let (tag, _) = contexts.into_tuple_vec().swap_remove(0);
                SlotContexts::Totals(tag.into_boxed_str())
            }
            _ => {
                let mut entries = contexts.into_tuple_vec();
                entries.shrink_to_fit();
                contexts = LiteMap::from_sorted_store_unchecked(entries);
                SlotContexts::Map(contexts)
            }
        };
    }

    /// Joins `other` into `self`.
    pub fn merge(&mut self, other: &OutcomeSlot) {
        let mut contexts = self.context_map();
        for (tag, counts) in other.contexts() {
            match contexts.get_mut(tag) {
                Some(mine) => mine.merge(counts),
                None => {
                    compact::insert(&mut contexts, tag.to_owned(), counts.clone());
                }
            }
        }
        self.totals.merge(&other.totals);
        self.set_contexts(contexts);
    }

    /// The owner's next write: one outcome recorded into the totals and into each context.
    /// Returns the delta slot (totals and the touched contexts only).
    pub fn next(&self, success: bool, duration_ms: u64, contexts: &[String]) -> OutcomeSlot {
        let seq = self.totals.seq + 1;
        let mut totals = self.totals.value;
        totals.record(success, duration_ms);
        let mut touched = LiteMap::with_capacity(contexts.len());
        for tag in contexts {
            let mut counts = self.context(tag).map(|c| c.value).unwrap_or_default();
            counts.record(success, duration_ms);
            touched.insert(tag.clone(), Versioned { seq, value: counts });
        }
        OutcomeSlot::new(Versioned { seq, value: totals }, touched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::bincode_config;

    /// The encoding of a slot with its contexts in a map of their own, as before
    /// [`SlotContexts`].
    #[derive(Serialize)]
    struct Plain {
        totals: Versioned<Counts>,
        contexts: LiteMap<String, Versioned<Counts>>,
    }

    fn counts(successes: u64, failures: u64) -> Counts {
        Counts {
            successes,
            failures,
            total_duration_ms: 7,
        }
    }

    #[test]
    fn a_slot_takes_its_smallest_form_and_encodes_as_a_map_in_every_form() {
        let one = OutcomeSlot::default().next(true, 7, &["deploy".to_owned()]);
        assert!(matches!(one.contexts, SlotContexts::Totals(_)));
        // A write naming no context: the context's counts are no longer the totals.
        let mut two = one.clone();
        two.merge(&one.next(false, 0, &[]));
        assert!(matches!(two.contexts, SlotContexts::Map(_)));
        assert_eq!(two.context("deploy"), one.context("deploy"));
        assert_eq!(two.context("deploy").map(|c| c.value), Some(counts(1, 0)));
        let none = OutcomeSlot::default().next(true, 7, &[]);
        assert_eq!(none.contexts, SlotContexts::None);
        for slot in [&one, &two, &none] {
            let plain = Plain {
                totals: slot.totals.clone(),
                contexts: slot
                    .contexts()
                    .map(|(tag, c)| (tag.to_owned(), c.clone()))
                    .collect(),
            };
            let bytes = bincode::serde::encode_to_vec(slot, bincode_config()).unwrap();
            assert_eq!(
                bytes,
                bincode::serde::encode_to_vec(&plain, bincode_config()).unwrap()
            );
            let (back, _): (OutcomeSlot, usize) =
                bincode::serde::decode_from_slice(&bytes, bincode_config()).unwrap();
            assert_eq!(&back, slot, "decodes to the same form");
        }
    }
}
