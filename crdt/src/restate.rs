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
        self.restatement_changes().collect()
    }

    /// [`Space::restatement`]'s changes one at a time, made as they are read: a checkpoint
    /// of 100k procedures (over a million changes, ~200 MB) is sealed without holding them
    /// all at once. Two walks over an unchanged space give the same changes in the same order.
    pub fn restatement_changes(&self) -> impl Iterator<Item = Change> + '_ {
        self.changes().flat_map(|change| match change {
            Change::Outcome { id, agent, slot } if slot.context_count() > MAX_OUTCOME_CONTEXTS => {
                split_slot(slot)
                    .into_iter()
                    .map(|slot| Change::Outcome { id, agent, slot })
                    .collect::<Vec<_>>()
            }
            other => vec![other],
        })
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
