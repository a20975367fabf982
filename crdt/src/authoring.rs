//! Authoring: the methods that turn an agent's action into a [`Delta`] to apply and replicate.
//!
//! Each method reads the space, checks the action, and returns the delta without changing the
//! space: the caller makes the delta durable (and signs and sends it) and then applies it, so a
//! failed write never leaves memory ahead of disk.

use std::collections::BTreeSet;

use crate::change::{Change, Creation, Delta, check_count, check_printable, check_tag, check_text};
use crate::clock::{Hlc, Stamp};
use crate::content::{Body, ContentRef};
use crate::crystal::{effective_epoch, proposal};
use crate::error::CrdtError;
use crate::fraction::Fraction;
use crate::ids::{AgentId, ContentHash, ProcedureId};
use crate::kind::ProcedureKind;
use crate::limits::{
    MAX_CID_BYTES, MAX_DESCRIPTION_BYTES, MAX_NAME_BYTES, MAX_OUTCOME_CONTEXTS, MAX_TAGS,
};
use crate::lww::Lww;
use crate::outcome::OutcomeSlot;
use crate::relation::{RelationKey, RelationKind};
use crate::settings::SpaceSettings;
use crate::slot_state::SlotState;
use crate::space::Space;
use crate::weights::WeightedCounts;

/// A procedure to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewProcedure {
    /// A random number from the caller; with the author and space it makes the id.
    pub nonce: u64,
    /// Short name.
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
    /// How to read the body.
    pub kind: ProcedureKind,
    /// Tags.
    pub tags: Vec<String>,
    /// The body.
    pub body: Body,
}

/// An edit of a procedure: every field optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edit {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New kind.
    pub kind: Option<ProcedureKind>,
    /// Tags to add.
    pub add_tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
    /// New body (refused when the procedure is crystallized).
    pub body: Option<Body>,
}

/// One use of a procedure by an agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Whether it worked.
    pub success: bool,
    /// How long it took.
    pub duration_ms: u64,
    /// What it was used for (context tags).
    pub contexts: Vec<String>,
}

impl Space {
    /// Creates a procedure authored by `by` at `at`. Returns its id and the delta.
    pub fn add_procedure(
        &self,
        by: AgentId,
        at: Hlc,
        new: NewProcedure,
    ) -> Result<(ProcedureId, Delta), CrdtError> {
        let id = ProcedureId::derive(&by, self.name(), new.nonce);
        if self
            .procedure_state(&id)
            .is_some_and(|s| s.creation.is_some())
        {
            return Err(CrdtError::AlreadyExists(id));
        }
        check_text("name", &new.name, MAX_NAME_BYTES, false)?;
        check_printable("name", &new.name, false)?;
        check_text("description", &new.description, MAX_DESCRIPTION_BYTES, true)?;
        check_printable("description", &new.description, true)?;
        new.kind.validate()?;
        let tags = checked_tags(&new.tags)?;
        check_count("tags", tags.len(), MAX_TAGS)?;
        let content = ContentRef::of(new.body, self.settings().inline_max_bytes as usize)?;
        let stamp = Stamp::new(by, at);
        let mut set = crate::tag_set::TagSet::new();
        for tag in tags {
            set.add(by, tag.to_owned());
        }
        let creation = Creation {
            author: by,
            nonce: new.nonce,
            created: at,
        };
        let changes = vec![
            Change::Create { id, creation },
            Change::Name {
                id,
                value: Lww::new(stamp, new.name),
            },
            Change::Description {
                id,
                value: Lww::new(stamp, new.description),
            },
            Change::Kind {
                id,
                value: Lww::new(stamp, new.kind),
            },
            Change::Tags { id, set },
            Change::Body { id, stamp, content },
        ];
        Ok((id, Delta::new(changes)))
    }

    /// Edits a procedure. A body edit of a crystallized procedure is refused.
    pub fn edit(
        &self,
        by: AgentId,
        at: Hlc,
        id: ProcedureId,
        edit: Edit,
    ) -> Result<Delta, CrdtError> {
        let procedure = self.procedure(&id).ok_or(CrdtError::UnknownProcedure(id))?;
        let stamp = Stamp::new(by, at);
        let mut changes = Vec::new();
        if let Some(name) = edit.name {
            check_text("name", &name, MAX_NAME_BYTES, false)?;
            check_printable("name", &name, false)?;
            changes.push(Change::Name {
                id,
                value: Lww::new(stamp, name),
            });
        }
        if let Some(description) = edit.description {
            check_text("description", &description, MAX_DESCRIPTION_BYTES, true)?;
            check_printable("description", &description, true)?;
            changes.push(Change::Description {
                id,
                value: Lww::new(stamp, description),
            });
        }
        if let Some(kind) = edit.kind {
            kind.validate()?;
            changes.push(Change::Kind {
                id,
                value: Lww::new(stamp, kind),
            });
        }
        if !edit.add_tags.is_empty() || !edit.remove_tags.is_empty() {
            let add = checked_tags(&edit.add_tags)?;
            let mut set = self
                .procedure_state(&id)
                .map(|s| s.tags.to_tag_set())
                .unwrap_or_default();
            for tag in &edit.remove_tags {
                set.remove(tag);
            }
            for tag in add {
                set.add(by, tag.to_owned());
            }
            check_count("tags", set.len(), MAX_TAGS)?;
            changes.push(Change::Tags { id, set });
        }
        if let Some(body) = edit.body {
            if procedure.crystallized() {
                return Err(CrdtError::Crystallized(id));
            }
            let content = ContentRef::of(body, self.settings().inline_max_bytes as usize)?;
            changes.push(Change::Body { id, stamp, content });
        }
        if changes.is_empty() {
            return Err(CrdtError::EmptyDelta);
        }
        Ok(Delta::new(changes))
    }

    /// Records one use of `id` by `by` at `at`: the agent's outcome slot, `last_used`, and the
    /// crystallization transition the new counts call for. Contagion is derived from the
    /// outcomes by every replica (see [`crate::contagion`]), so the delta's size does not
    /// depend on the relation graph.
    pub fn record_outcome(
        &self,
        by: AgentId,
        at: Hlc,
        id: ProcedureId,
        outcome: &Outcome,
    ) -> Result<Delta, CrdtError> {
        let state = self
            .procedure_state(&id)
            .filter(|s| s.creation.is_some())
            .ok_or(CrdtError::UnknownProcedure(id))?;
        let contexts = checked_tags(&outcome.contexts)?;
        check_count("outcome contexts", contexts.len(), MAX_OUTCOME_CONTEXTS)?;
        let contexts: Vec<String> = contexts.into_iter().map(str::to_owned).collect();

        let slot = match state.outcomes.get(&by) {
            Some(own) => own.next(outcome.success, outcome.duration_ms, &contexts),
            None => OutcomeSlot::default().next(outcome.success, outcome.duration_ms, &contexts),
        };
        // The counts after this write: every other agent's totals plus this slot's new ones,
        // weighted when the space weights evidence (no clone of the procedure's state, whose
        // body may be large).
        let weights = self.proposal_weights();
        let own = SlotState::of(&slot);
        let mine = std::iter::once((&by, &own));
        let others = state.slots().filter(|(agent, _)| **agent != by);
        let counts = match weights {
            Some(w) => w.weigh(mine.clone().chain(others.clone()), None),
            None => {
                let mut raw = slot.totals.value;
                for (_, other) in others.clone() {
                    raw.add(&other.totals.value);
                }
                WeightedCounts::unweighted(&raw)
            }
        };
        let success_agents = mine
            .chain(others)
            .filter(|(agent, s)| {
                s.totals.value.successes > 0 && weights.is_none_or(|w| w.trusted(agent))
            })
            .count();
        // The latch now, on the raw counts after this write (its preconditions are monotone).
        let mut raw = slot.totals.value;
        let mut raw_agents = usize::from(raw.successes > 0);
        for (agent, other) in state.slots() {
            if *agent != by {
                raw.add(&other.totals.value);
                raw_agents += usize::from(other.totals.value.successes > 0);
            }
        }
        let epoch = effective_epoch(&state.crystal_proposals, &raw, raw_agents, self.settings());
        let mut changes = vec![
            Change::Outcome {
                id,
                agent: by,
                slot,
            },
            Change::Used { id, at },
        ];
        if let Some(epoch) = proposal(
            &state.crystal_proposals,
            epoch,
            &counts,
            success_agents,
            self.settings(),
        ) {
            changes.push(Change::Crystal { id, epoch });
        }
        Ok(Delta::new(changes))
    }

    /// Relates `from` to `to` with `strength` in `0..=1`.
    pub fn link(
        &self,
        by: AgentId,
        at: Hlc,
        from: ProcedureId,
        to: ProcedureId,
        kind: RelationKind,
        strength: f64,
    ) -> Result<Delta, CrdtError> {
        let key = RelationKey::new(from, to, kind)?;
        let strength = Fraction::from_f64("strength", strength)?;
        Ok(Delta::new(vec![Change::Relation {
            key,
            value: Lww::new(Stamp::new(by, at), Some(strength)),
        }]))
    }

    /// Removes the relation of `kind` between `from` and `to`.
    pub fn unlink(
        &self,
        by: AgentId,
        at: Hlc,
        from: ProcedureId,
        to: ProcedureId,
        kind: RelationKind,
    ) -> Result<Delta, CrdtError> {
        let key = RelationKey::new(from, to, kind)?;
        Ok(Delta::new(vec![Change::Relation {
            key,
            value: Lww::new(Stamp::new(by, at), None),
        }]))
    }

    /// Records that `by` pinned content `hash` to IPFS under `cid`.
    pub fn pin_content(
        &self,
        by: AgentId,
        hash: ContentHash,
        cid: String,
    ) -> Result<Delta, CrdtError> {
        check_text("cid", &cid, MAX_CID_BYTES, false)?;
        Ok(Delta::new(vec![Change::Pin { hash, cid, by }]))
    }

    /// Replaces the space's settings.
    pub fn update_settings(
        &self,
        by: AgentId,
        at: Hlc,
        settings: SpaceSettings,
    ) -> Result<Delta, CrdtError> {
        settings.validate()?;
        if self.membership().is_some_and(|m| !m.is_admin(&by)) {
            return Err(CrdtError::NotAdmin(by));
        }
        Ok(Delta::new(vec![Change::Settings {
            value: Lww::new(Stamp::new(by, at), settings),
        }]))
    }

    /// The crystallization transitions the current counts call for (after merging peers'
    /// outcomes, say). Empty when every latch agrees with its counts.
    pub fn crystal_transitions(&self) -> Delta {
        let ids: Vec<ProcedureId> = self.procedures().map(|p| p.id()).collect();
        self.crystal_transitions_of(&ids)
    }

    /// [`Space::crystal_transitions`] for the procedures `ids` only (those a batch of ops
    /// touched): what a replica checks after applying peers' ops.
    pub fn crystal_transitions_of(&self, ids: &[ProcedureId]) -> Delta {
        let settings = self.settings();
        let weights = self.proposal_weights();
        let changes = ids
            .iter()
            .filter_map(|id| {
                let state = self.procedure_state(id).filter(|s| s.creation.is_some())?;
                let epoch = proposal(
                    &state.crystal_proposals,
                    state.crystal_epoch(settings),
                    &state.weighted_counts(weights, None),
                    state.trusted_success_agents(weights),
                    settings,
                )?;
                Some(Change::Crystal { id: *id, epoch })
            })
            .collect();
        Delta::new(changes)
    }
}

/// Checks tags and removes duplicates, keeping their order.
fn checked_tags(tags: &[String]) -> Result<Vec<&str>, CrdtError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for tag in tags {
        check_tag(tag)?;
        if seen.insert(tag.as_str()) {
            out.push(tag.as_str());
        }
    }
    Ok(out)
}
