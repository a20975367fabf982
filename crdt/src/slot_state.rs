//! An outcome slot as a space holds it: the same value as an [`OutcomeSlot`], in less memory.

use litemap::LiteMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::compact;
use crate::intern::TagRef;
use crate::outcome::{Counts, OutcomeSlot, SlotCounts, Versioned, next_write};

/// One agent's outcome slot of one procedure in a space's state (what [`OutcomeSlot`] says,
/// joined with every write of it the space received).
///
/// **Memory.** A space holds one per (agent, procedure) used: ~890k at 100k procedures and 1M
/// outcomes, most naming one context whose counts are the totals (every outcome the agent
/// recorded for the procedure named it). Such a slot holds its totals and a pointer to the
/// interned tag ([`TagRef`]); any other set of contexts is a map of its own. 48 bytes plus the
/// procedure's 8-byte agent key, where an [`OutcomeSlot`] keyed by its agent id held 88 and
/// allocated 80 more (a map and its tag). It encodes as an `OutcomeSlot` does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SlotState {
    /// The slot's totals over every context.
    pub(crate) totals: Versioned<Counts>,
    contexts: Contexts,
}

/// A slot's counts per context, only ever in the smallest form that holds them (so equal
/// slots are equal values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Contexts {
    /// No context.
    #[default]
    None,
    /// One context, whose counts equal the slot's totals.
    Totals(TagRef),
    /// Anything else (never empty, never one entry equal to the totals).
    Map(Box<LiteMap<TagRef, Versioned<Counts>>>),
}

impl SlotState {
    /// The state of a slot received as `slot` (its tags interned).
    pub(crate) fn of(slot: &OutcomeSlot) -> Self {
        let mut state = SlotState::default();
        state.merge(slot);
        state
    }

    /// Joins `other` into `self` (see [`OutcomeSlot::merge`]).
    pub(crate) fn merge(&mut self, other: &OutcomeSlot) {
        self.join(&other.totals, other.contexts());
    }

    /// Joins another slot state into `self`.
    pub(crate) fn merge_state(&mut self, other: &SlotState) {
        self.join(&other.totals, other.contexts());
    }

    fn join<'a>(
        &mut self,
        totals: &Versioned<Counts>,
        contexts: impl Iterator<Item = (&'a str, &'a Versioned<Counts>)>,
    ) {
        let mut map = self.context_map();
        for (tag, counts) in contexts {
            match map.get_mut(tag) {
                Some(mine) => mine.merge(counts),
                None => {
                    compact::insert(&mut map, TagRef::of(tag), counts.clone());
                }
            }
        }
        self.totals.merge(totals);
        self.set_contexts(map);
    }

    /// The counts of context `tag`, if the slot has any.
    pub(crate) fn context(&self, tag: &str) -> Option<&Versioned<Counts>> {
        match &self.contexts {
            Contexts::None => None,
            Contexts::Totals(only) => (only.as_str() == tag).then_some(&self.totals),
            Contexts::Map(map) => map.get(tag),
        }
    }

    /// Every context's counts, in tag order.
    pub(crate) fn contexts(&self) -> impl Iterator<Item = (&str, &Versioned<Counts>)> {
        let (only, map) = match &self.contexts {
            Contexts::None => (None, None),
            Contexts::Totals(tag) => (Some((tag.as_str(), &self.totals)), None),
            Contexts::Map(map) => (None, Some(map)),
        };
        only.into_iter().chain(
            map.into_iter()
                .flat_map(|m| m.iter().map(|(tag, c)| (tag.as_str(), c))),
        )
    }

    /// The number of contexts.
    fn context_count(&self) -> usize {
        match &self.contexts {
            Contexts::None => 0,
            Contexts::Totals(_) => 1,
            Contexts::Map(map) => map.len(),
        }
    }

    /// The slot as the replicated value (for a restatement or a whole-state delta).
    pub(crate) fn to_slot(&self) -> OutcomeSlot {
        OutcomeSlot::new(
            self.totals.clone(),
            self.contexts()
                .map(|(tag, c)| (tag.to_owned(), c.clone()))
                .collect(),
        )
    }

    /// The owner's next write (see [`OutcomeSlot::next`]).
    pub(crate) fn next(&self, success: bool, duration_ms: u64, contexts: &[String]) -> OutcomeSlot {
        next_write(
            &self.totals,
            |tag| self.context(tag),
            success,
            duration_ms,
            contexts,
        )
    }

    /// The contexts as a map of their own.
    fn context_map(&self) -> LiteMap<TagRef, Versioned<Counts>> {
        match &self.contexts {
            Contexts::None => LiteMap::new(),
            Contexts::Totals(tag) => [(*tag, self.totals.clone())].into_iter().collect(),
            Contexts::Map(map) => (**map).clone(),
        }
    }

    /// Sets the contexts, in their canonical form (the totals must be set first).
    fn set_contexts(&mut self, contexts: LiteMap<TagRef, Versioned<Counts>>) {
        self.contexts = match contexts.len() {
            0 => Contexts::None,
            1 if contexts.first().is_some_and(|(_, c)| *c == self.totals) => {
                Contexts::Totals(contexts.into_tuple_vec()[0].0)
            }
            _ => {
                let mut entries = contexts.into_tuple_vec();
                entries.shrink_to_fit();
                Contexts::Map(Box::new(LiteMap::from_sorted_store_unchecked(entries)))
            }
        };
    }
}

impl SlotCounts for SlotState {
    fn total_counts(&self) -> &Counts {
        &self.totals.value
    }

    fn context_counts(&self, tag: &str) -> Option<&Counts> {
        self.context(tag).map(|c| &c.value)
    }
}

/// The encoding of a slot: its totals, then a map of its contexts (as [`OutcomeSlot`]'s).
#[derive(Serialize)]
struct SlotRef<'a> {
    totals: &'a Versioned<Counts>,
    contexts: ContextsRef<'a>,
}

/// A slot's contexts, encoded as a map.
struct ContextsRef<'a>(&'a SlotState);

impl Serialize for SlotState {
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
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.context_count()))?;
        for (tag, counts) in self.0.contexts() {
            map.serialize_entry(tag, counts)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SlotState {
    /// Interns the tags: decode only a state this process holds (a stored snapshot).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(SlotState::of(&OutcomeSlot::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::bincode_config;

    #[test]
    fn a_slot_state_is_its_slot_in_every_form_and_encodes_as_it() {
        let one = OutcomeSlot::default().next(true, 7, &["deploy".to_owned()]);
        let mut two = one.clone();
        two.merge(&one.next(false, 0, &["review".to_owned()]));
        let mut three = two.clone();
        three.merge(&two.next(true, 1, &[]));
        for slot in [OutcomeSlot::default(), one, two, three] {
            let state = SlotState::of(&slot);
            assert_eq!(state.to_slot(), slot);
            let bytes = bincode::serde::encode_to_vec(&state, bincode_config()).unwrap();
            assert_eq!(
                bytes,
                bincode::serde::encode_to_vec(&slot, bincode_config()).unwrap()
            );
            let (back, _): (SlotState, usize) =
                bincode::serde::decode_from_slice(&bytes, bincode_config()).unwrap();
            assert_eq!(back, state);
            // Joining the slot into its own state changes nothing.
            let mut again = state.clone();
            again.merge(&slot);
            assert_eq!(again, state);
        }
    }
}
