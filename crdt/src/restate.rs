//! Restating a state as valid changes: what an author checkpoint carries.

use litemap::LiteMap;

use crate::change::Change;
use crate::limits::MAX_OUTCOME_CONTEXTS;
use crate::outcome::OutcomeSlot;
use crate::space::Space;

impl Space {
    /// The state as changes that rebuild it, each within the limits [`Change::validate`]
    /// checks: [`Space::to_delta`]'s changes, with an outcome slot of more than
    /// [`MAX_OUTCOME_CONTEXTS`] contexts split into several changes (each carrying the slot's
    /// totals and some of its contexts).
    ///
    /// Applying them to any replica joins this state into it. Of a space built from one
    /// author's ops alone, they restate everything that author wrote, as that author: an
    /// author checkpoint (see `knack_protocol::checkpoint`).
    pub fn restatement(&self) -> Vec<Change> {
        let mut out = Vec::new();
        for change in self.to_delta().changes {
            match change {
                Change::Outcome { id, agent, slot }
                    if slot.context_count() > MAX_OUTCOME_CONTEXTS =>
                {
                    for slot in split_slot(slot) {
                        out.push(Change::Outcome { id, agent, slot });
                    }
                }
                other => out.push(other),
            }
        }
        out
    }
}

/// A slot as slots of at most [`MAX_OUTCOME_CONTEXTS`] contexts each, with the same totals.
fn split_slot(slot: OutcomeSlot) -> Vec<OutcomeSlot> {
    let mut parts = Vec::new();
    let mut contexts = LiteMap::new();
    for (tag, counts) in slot.contexts() {
        if contexts.len() == MAX_OUTCOME_CONTEXTS {
            parts.push(std::mem::take(&mut contexts));
        }
        contexts.insert(tag.to_owned(), counts.clone());
    }
    parts.push(contexts);
    parts
        .into_iter()
        .map(|contexts| OutcomeSlot::new(slot.totals.clone(), contexts))
        .collect()
}
