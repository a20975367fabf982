//! Per-agent outcome counters: the evidence every ranking is computed from.

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

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
/// This is the replicated value (what a change carries); a space holds its slots in less
/// memory as `SlotState`s (`crdt/src/slot_state.rs`), which encode the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeSlot {
    /// The slot's totals over every context.
    pub totals: Versioned<Counts>,
    /// Counts per context tag (what the procedure was used for).
    contexts: LiteMap<String, Versioned<Counts>>,
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
        OutcomeSlot { totals, contexts }
    }

    /// The counts of context `tag`, if the slot has any.
    pub fn context(&self, tag: &str) -> Option<&Versioned<Counts>> {
        self.contexts.get(tag)
    }

    /// Every context's counts, in tag order.
    pub fn contexts(&self) -> impl Iterator<Item = (&str, &Versioned<Counts>)> {
        self.contexts.iter().map(|(tag, c)| (tag.as_str(), c))
    }

    /// The number of contexts.
    pub fn context_count(&self) -> usize {
        self.contexts.len()
    }

    /// Joins `other` into `self`.
    pub fn merge(&mut self, other: &OutcomeSlot) {
        self.totals.merge(&other.totals);
        for (tag, counts) in &other.contexts {
            match self.contexts.get_mut(tag) {
                Some(mine) => mine.merge(counts),
                None => {
                    compact::insert(&mut self.contexts, tag.clone(), counts.clone());
                }
            }
        }
    }

    /// The owner's next write: one outcome recorded into the totals and into each context.
    /// Returns the delta slot (totals and the touched contexts only).
    pub fn next(&self, success: bool, duration_ms: u64, contexts: &[String]) -> OutcomeSlot {
        next_write(
            &self.totals,
            |tag| self.context(tag),
            success,
            duration_ms,
            contexts,
        )
    }
}

/// The next write of a slot of `totals` whose context counts `context_of` gives: one outcome
/// recorded into the totals and into each of `contexts` (the delta slot: totals and the
/// touched contexts only).
pub(crate) fn next_write<'a>(
    totals: &Versioned<Counts>,
    context_of: impl Fn(&str) -> Option<&'a Versioned<Counts>>,
    success: bool,
    duration_ms: u64,
    contexts: &[String],
) -> OutcomeSlot {
    let seq = totals.seq + 1;
    let mut new_totals = totals.value;
    new_totals.record(success, duration_ms);
    let mut touched = LiteMap::with_capacity(contexts.len());
    for tag in contexts {
        let mut counts = context_of(tag).map(|c| c.value).unwrap_or_default();
        counts.record(success, duration_ms);
        touched.insert(tag.clone(), Versioned { seq, value: counts });
    }
    OutcomeSlot::new(
        Versioned {
            seq,
            value: new_totals,
        },
        touched,
    )
}
