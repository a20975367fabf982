//! Add-wins observed-remove set of tags.

use std::collections::BTreeMap;

use crdts::{CmRDT, CvRDT, Dot, VClock};
use serde::{Deserialize, Serialize};

use crate::ids::AgentId;

/// An add-wins observed-remove set (ORSWOT: Bieniusa et al., "An optimized conflict-free
/// replicated set", 2012), replicated by full state.
///
/// Each element carries, per agent, the dot of that agent's latest add; the set's clock is the
/// causal context of everything the replica has seen. A remove drops the element's dots, and a
/// merge keeps a dot unless the other side has seen it and no longer holds it. An add concurrent
/// with a remove survives (add wins).
///
/// Departure from `crdts::Orswot`: that type stores its entries in `HashMap`s, whose encoding
/// order varies from process to process, and knack's state digest needs a canonical,
/// byte-identical encoding; so the set is kept here in `BTreeMap`s, with `crdts::VClock` (a
/// `BTreeMap`) as the causal context. It is replicated as full state, never as op-based deltas:
/// a delta whose causal context is a version vector would claim dots it never carried (see the
/// note on `crdts` in the project's ARCHITECTURE.md). Tag sets are small (at most
/// [`crate::limits::MAX_TAGS`]), so shipping the whole set on an edit costs little.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSet {
    clock: VClock<AgentId>,
    entries: BTreeMap<String, VClock<AgentId>>,
}

impl TagSet {
    /// An empty set.
    pub fn new() -> Self {
        TagSet::default()
    }

    /// Adds `tag` as `agent` (a no-op for the value if present, but a new dot all the same, so
    /// the add wins over concurrent removes).
    pub fn add(&mut self, agent: AgentId, tag: String) {
        let dot = self.clock.inc(agent);
        self.clock.apply(dot);
        let dots = self.entries.entry(tag).or_default();
        dots.dots.insert(dot.actor, dot.counter);
    }

    /// Removes `tag` (only the adds this replica has observed).
    pub fn remove(&mut self, tag: &str) {
        self.entries.remove(tag);
    }

    /// Whether `tag` is present.
    pub fn contains(&self, tag: &str) -> bool {
        self.entries.contains_key(tag)
    }

    /// The tags, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The number of tags.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Joins `other` into `self`.
    pub fn merge(&mut self, other: &TagSet) {
        let mut merged: BTreeMap<String, VClock<AgentId>> = BTreeMap::new();
        let tags = self.entries.keys().chain(other.entries.keys());
        for tag in tags {
            if merged.contains_key(tag) {
                continue;
            }
            let empty = VClock::new();
            let mine = self.entries.get(tag).unwrap_or(&empty);
            let theirs = other.entries.get(tag).unwrap_or(&empty);
            let dots = merge_dots(mine, &self.clock, theirs, &other.clock);
            if !dots.is_empty() {
                merged.insert(tag.clone(), dots);
            }
        }
        self.entries = merged;
        self.clock.merge(other.clock.clone());
    }

    /// Whether every dot an element holds is covered by the set's clock (the invariant of every
    /// state reachable by `add`, `remove` and `merge`).
    pub fn is_well_formed(&self) -> bool {
        self.entries.values().all(|dots| {
            !dots.is_empty()
                && dots
                    .dots
                    .iter()
                    .all(|(agent, &counter)| counter > 0 && counter <= self.clock.get(agent))
        })
    }
}

/// Keeps, per agent, a dot both sides hold, or a dot one side holds that the other has not seen.
fn merge_dots(
    mine: &VClock<AgentId>,
    my_clock: &VClock<AgentId>,
    theirs: &VClock<AgentId>,
    their_clock: &VClock<AgentId>,
) -> VClock<AgentId> {
    let mut out = VClock::new();
    let agents = mine.dots.keys().chain(theirs.dots.keys());
    for agent in agents {
        let m = mine.get(agent);
        let t = theirs.get(agent);
        let keep_mine = m > 0 && (m == t || m > their_clock.get(agent));
        let keep_theirs = t > 0 && (t == m || t > my_clock.get(agent));
        let kept = match (keep_mine, keep_theirs) {
            (true, true) => m.max(t),
            (true, false) => m,
            (false, true) => t,
            (false, false) => 0,
        };
        if kept > 0 {
            out.apply(Dot::new(*agent, kept));
        }
    }
    out
}
