//! Add-wins observed-remove set of tags.

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use crate::compact;

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
/// byte-identical encoding; so the set is kept here in sorted maps. It is replicated as full
/// state, never as op-based deltas: a delta whose causal context is a version vector would
/// claim dots it never carried (see the note on `crdts` in the project's ARCHITECTURE.md). Tag
/// sets are small (at most [`crate::limits::MAX_TAGS`]), so shipping the whole set on an edit
/// costs little.
///
/// **Memory.** Every procedure has a tag set, so its layout matters at 100k procedures: the
/// maps are sorted vectors ([`LiteMap`]), a few dozen bytes for a set of a few tags, where
/// `BTreeMap`s (as in `crdts::VClock`) allocate a whole node (~500 bytes) for one entry; that
/// was 2.4 KB per procedure. The encoding is unchanged: a sorted map encodes as a map, and
/// [`Dots`] as `crdts::VClock` did (a struct of one map named `dots`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSet {
    clock: Dots,
    entries: LiteMap<String, Dots>,
}

/// A vector clock: per agent, the highest counter seen (absent: zero).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Dots {
    dots: LiteMap<AgentId, u64>,
}

impl Dots {
    fn get(&self, agent: &AgentId) -> u64 {
        self.dots.get(agent).copied().unwrap_or(0)
    }

    /// Raises `agent`'s counter to `counter` (never lowers it).
    fn raise(&mut self, agent: AgentId, counter: u64) {
        if counter > self.get(&agent) {
            compact::insert(&mut self.dots, agent, counter);
        }
    }

    /// The per-agent maximum of both.
    fn join(&mut self, other: &Dots) {
        for (agent, &counter) in other.dots.iter() {
            self.raise(*agent, counter);
        }
    }

    fn is_empty(&self) -> bool {
        self.dots.is_empty()
    }
}

impl TagSet {
    /// An empty set.
    pub fn new() -> Self {
        TagSet::default()
    }

    /// Adds `tag` as `agent` (a no-op for the value if present, but a new dot all the same, so
    /// the add wins over concurrent removes).
    pub fn add(&mut self, agent: AgentId, tag: String) {
        let counter = self.clock.get(&agent).saturating_add(1);
        self.clock.raise(agent, counter);
        match self.entries.get_mut(&tag) {
            Some(dots) => dots.raise(agent, counter),
            None => {
                let mut dots = Dots::default();
                dots.raise(agent, counter);
                compact::insert(&mut self.entries, tag, dots);
            }
        }
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
        let mut merged: LiteMap<String, Dots> = LiteMap::new();
        let tags = self.entries.keys().chain(other.entries.keys());
        for tag in tags {
            if merged.contains_key(tag) {
                continue;
            }
            let empty = Dots::default();
            let mine = self.entries.get(tag).unwrap_or(&empty);
            let theirs = other.entries.get(tag).unwrap_or(&empty);
            let dots = merge_dots(mine, &self.clock, theirs, &other.clock);
            if !dots.is_empty() {
                compact::insert(&mut merged, tag.clone(), dots);
            }
        }
        self.entries = merged;
        self.clock.join(&other.clock);
    }

    /// The set's clock, by agent (for [`crate::held_tags`]).
    pub(crate) fn clock(&self) -> impl Iterator<Item = (&AgentId, u64)> {
        self.clock.dots.iter().map(|(agent, &n)| (agent, n))
    }

    /// Each tag with its dots (for [`crate::held_tags`]).
    pub(crate) fn entries(
        &self,
    ) -> impl Iterator<Item = (&str, impl Iterator<Item = (&AgentId, u64)>)> {
        self.entries
            .iter()
            .map(|(tag, dots)| (tag.as_str(), dots.dots.iter().map(|(agent, &n)| (agent, n))))
    }

    /// A set of `clock` and `entries`, each sorted (for [`crate::held_tags`]).
    pub(crate) fn from_parts(
        clock: Vec<(AgentId, u64)>,
        entries: Vec<(String, Vec<(AgentId, u64)>)>,
    ) -> TagSet {
        let dots = |d: Vec<(AgentId, u64)>| Dots {
            dots: LiteMap::from_sorted_store_unchecked(d),
        };
        TagSet {
            clock: dots(clock),
            entries: LiteMap::from_sorted_store_unchecked(
                entries.into_iter().map(|(tag, d)| (tag, dots(d))).collect(),
            ),
        }
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
fn merge_dots(mine: &Dots, my_clock: &Dots, theirs: &Dots, their_clock: &Dots) -> Dots {
    let mut out = Dots::default();
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
        out.raise(*agent, kept);
    }
    out
}
