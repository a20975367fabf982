//! Deltas: the replicated changes to a space.

use serde::{Deserialize, Serialize};

use crate::clock::{Hlc, Stamp};
use crate::content::ContentRef;
use crate::crystal::MAX_CRYSTAL_EPOCH;
use crate::error::CrdtError;
use crate::fraction::Fraction;
use crate::ids::{AgentId, ContentHash, ProcedureId, SpaceName};
use crate::kind::ProcedureKind;
use crate::limits::{
    MAX_CHANGES_PER_DELTA, MAX_CID_BYTES, MAX_DESCRIPTION_BYTES, MAX_NAME_BYTES,
    MAX_OUTCOME_CONTEXTS, MAX_TAG_BYTES, MAX_TAGS,
};
use crate::lww::Lww;
use crate::membership::MemberRecord;
use crate::outcome::{Counts, OutcomeSlot, Versioned};
use crate::relation::RelationKey;
use crate::settings::SpaceSettings;
use crate::tag_set::TagSet;

/// The fixed facts of a procedure's creation; its id is derived from them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Creation {
    /// The creating agent.
    pub author: AgentId,
    /// The author's random nonce (an input: the caller supplies it).
    pub nonce: u64,
    /// When the procedure was created.
    pub created: Hlc,
}

/// One replicated change: a small piece of state that is *joined* into a space.
///
/// Every variant is an element of a join-semilattice (a register, a max, an owner-sequenced
/// slot, a full tag set), so applying changes in any order, any number of times, gives the
/// same state: no causal delivery is needed for convergence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A procedure came into being.
    Create {
        /// Its id (must equal `ProcedureId::derive(author, space, nonce)`).
        id: ProcedureId,
        /// The creation facts.
        creation: Creation,
    },
    /// The name register.
    Name {
        /// The procedure.
        id: ProcedureId,
        /// The register's new state.
        value: Lww<String>,
    },
    /// The description register.
    Description {
        /// The procedure.
        id: ProcedureId,
        /// The register's new state.
        value: Lww<String>,
    },
    /// The kind register.
    Kind {
        /// The procedure.
        id: ProcedureId,
        /// The register's new state.
        value: Lww<ProcedureKind>,
    },
    /// The whole tag set (see [`TagSet`] for why it travels as full state).
    Tags {
        /// The procedure.
        id: ProcedureId,
        /// The author's tag set after the edit.
        set: TagSet,
    },
    /// A new body version; the version with the highest stamp is the current body.
    Body {
        /// The procedure.
        id: ProcedureId,
        /// Who wrote the version and when.
        stamp: Stamp,
        /// The body.
        content: ContentRef,
    },
    /// An agent's outcome slot (owner-only).
    Outcome {
        /// The procedure.
        id: ProcedureId,
        /// The owner of the slot.
        agent: AgentId,
        /// The slot's totals and the contexts this write touched.
        slot: OutcomeSlot,
    },
    /// The procedure was used at `at` (max-register).
    Used {
        /// The procedure.
        id: ProcedureId,
        /// When.
        at: Hlc,
    },
    /// The crystallization latch: odd epochs are crystallized, even ones melted (max-register).
    Crystal {
        /// The procedure.
        id: ProcedureId,
        /// The epoch.
        epoch: u32,
    },
    /// A relation register; `None` means removed.
    Relation {
        /// Which relation.
        key: RelationKey,
        /// Its strength, or `None` once removed.
        value: Lww<Option<Fraction>>,
    },
    /// Content pinned to IPFS under `cid` by `by` (owner-only: each agent's pins are kept apart,
    /// so a bogus CID cannot hide a good one; readers try each, verifying the content's hash).
    Pin {
        /// The content.
        hash: ContentHash,
        /// Its IPFS CID.
        cid: String,
        /// The agent that pinned it.
        by: AgentId,
    },
    /// The space's settings register.
    Settings {
        /// The register's new state.
        value: Lww<SpaceSettings>,
    },
    /// A membership record of a members-only space (see [`crate::membership`]).
    Member {
        /// The record.
        record: MemberRecord,
    },
}

/// What one action on a space produces: the changes to replicate, applied atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// The changes.
    pub changes: Vec<Change>,
}

impl Change {
    /// The variant's name, for errors and metrics.
    pub const fn name(&self) -> &'static str {
        match self {
            Change::Create { .. } => "create",
            Change::Name { .. } => "name",
            Change::Description { .. } => "description",
            Change::Kind { .. } => "kind",
            Change::Tags { .. } => "tags",
            Change::Body { .. } => "body",
            Change::Outcome { .. } => "outcome",
            Change::Used { .. } => "used",
            Change::Crystal { .. } => "crystal",
            Change::Relation { .. } => "relation",
            Change::Pin { .. } => "pin",
            Change::Settings { .. } => "settings",
            Change::Member { .. } => "member",
        }
    }

    /// The procedure the change is about, for per-procedure changes.
    pub const fn procedure(&self) -> Option<ProcedureId> {
        match self {
            Change::Create { id, .. }
            | Change::Name { id, .. }
            | Change::Description { id, .. }
            | Change::Kind { id, .. }
            | Change::Tags { id, .. }
            | Change::Body { id, .. }
            | Change::Outcome { id, .. }
            | Change::Used { id, .. }
            | Change::Crystal { id, .. } => Some(*id),
            Change::Relation { .. }
            | Change::Pin { .. }
            | Change::Settings { .. }
            | Change::Member { .. } => None,
        }
    }

    /// Checks a change received from `author` for `space` in the op stamped `at` with the
    /// author's sequence number `seq`: ownership of owner-only slots and registers, derived ids,
    /// field sizes and ranges, inline body hashes, that no timestamp inside is later than the
    /// op's own (so a register cannot be won forever with a stamp from the far future: the op's
    /// stamp is what receivers check against their clocks), that an outcome slot claims at most
    /// one outcome per write and at most one write per op its author has signed (`seq`), and
    /// that a crystallization epoch is within `1..=MAX_CRYSTAL_EPOCH`.
    pub fn validate(
        &self,
        author: &AgentId,
        space: &SpaceName,
        at: Hlc,
        seq: u64,
    ) -> Result<(), CrdtError> {
        if let Change::Member { record } = self {
            return record.validate(author, at);
        }
        let owned = |agent: &AgentId| {
            if agent == author {
                Ok(())
            } else {
                Err(CrdtError::NotOwner {
                    change: self.name(),
                })
            }
        };
        let not_after = |stamp: Hlc| {
            if stamp <= at {
                Ok(())
            } else {
                Err(CrdtError::AfterItsOp {
                    change: self.name(),
                })
            }
        };
        match self {
            Change::Create { creation, .. } => not_after(creation.created)?,
            Change::Name { value, .. } | Change::Description { value, .. } => {
                not_after(value.stamp.hlc)?
            }
            Change::Kind { value, .. } => not_after(value.stamp.hlc)?,
            Change::Body { stamp, .. } => not_after(stamp.hlc)?,
            Change::Used { at: used, .. } => not_after(*used)?,
            Change::Relation { value, .. } => not_after(value.stamp.hlc)?,
            Change::Settings { value } => not_after(value.stamp.hlc)?,
            Change::Tags { .. }
            | Change::Outcome { .. }
            | Change::Crystal { .. }
            | Change::Pin { .. }
            | Change::Member { .. } => {}
        }
        match self {
            Change::Create { id, creation } => {
                owned(&creation.author)?;
                if ProcedureId::derive(&creation.author, space, creation.nonce) != *id {
                    return Err(CrdtError::IdMismatch(*id));
                }
                Ok(())
            }
            Change::Name { value, .. } => {
                owned(&value.stamp.agent)?;
                check_text("name", &value.value, MAX_NAME_BYTES, false)
            }
            Change::Description { value, .. } => {
                owned(&value.stamp.agent)?;
                check_text("description", &value.value, MAX_DESCRIPTION_BYTES, true)
            }
            Change::Kind { value, .. } => {
                owned(&value.stamp.agent)?;
                value.value.validate()
            }
            Change::Tags { set, .. } => {
                check_count("tags", set.len(), MAX_TAGS)?;
                for tag in set.iter() {
                    check_tag(tag)?;
                }
                if !set.is_well_formed() {
                    return Err(CrdtError::OutOfRange {
                        field: "tag set",
                        range: "dots covered by the set's clock",
                        value: "a dot beyond the clock".into(),
                    });
                }
                Ok(())
            }
            Change::Body { stamp, content, .. } => {
                owned(&stamp.agent)?;
                content.validate()
            }
            Change::Outcome { agent, slot, .. } => {
                owned(agent)?;
                check_count(
                    "outcome contexts",
                    slot.context_count(),
                    MAX_OUTCOME_CONTEXTS,
                )?;
                for (tag, counts) in slot.contexts() {
                    check_tag(tag)?;
                    if counts.seq > slot.totals.seq {
                        return Err(CrdtError::OutOfRange {
                            field: "context sequence",
                            range: "0..=slot sequence",
                            value: counts.seq.to_string(),
                        });
                    }
                    check_plausible(counts, "context")?;
                }
                check_plausible(&slot.totals, "totals")?;
                if slot.totals.seq > seq {
                    return Err(CrdtError::ImplausibleOutcome {
                        part: "totals",
                        detail: format!(
                            "{} writes claimed in the author's op {seq}",
                            slot.totals.seq
                        ),
                    });
                }
                Ok(())
            }
            Change::Used { .. } => Ok(()),
            Change::Crystal { epoch, .. } => {
                if (1..=MAX_CRYSTAL_EPOCH).contains(epoch) {
                    Ok(())
                } else {
                    Err(CrdtError::CrystalEpoch(*epoch))
                }
            }
            Change::Relation { key, value } => {
                owned(&value.stamp.agent)?;
                if key.is_normal() {
                    Ok(())
                } else {
                    Err(CrdtError::SelfRelation(key.from))
                }
            }
            Change::Pin { cid, by, .. } => {
                owned(by)?;
                check_text("cid", cid, MAX_CID_BYTES, false)
            }
            Change::Settings { value } => {
                owned(&value.stamp.agent)?;
                value.value.validate()
            }
            Change::Member { .. } => Ok(()), // checked above
        }
    }
}

impl Delta {
    /// A delta of `changes`.
    pub fn new(changes: Vec<Change>) -> Self {
        Delta { changes }
    }

    /// Whether the delta carries no change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Checks every change of a delta received from `author` for `space` in the op stamped `at`
    /// with the author's sequence number `seq` (see [`Change::validate`]), and the delta's own
    /// size.
    pub fn validate(
        &self,
        author: &AgentId,
        space: &SpaceName,
        at: Hlc,
        seq: u64,
    ) -> Result<(), CrdtError> {
        if self.changes.is_empty() {
            return Err(CrdtError::EmptyDelta);
        }
        check_count("delta changes", self.changes.len(), MAX_CHANGES_PER_DELTA)?;
        self.changes
            .iter()
            .try_for_each(|change| change.validate(author, space, at, seq))
    }
}

/// Checks a text field's length (and emptiness when `may_be_empty` is false).
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<(), CrdtError> {
    if !may_be_empty && value.trim().is_empty() {
        return Err(CrdtError::Empty(field));
    }
    if value.len() > max {
        return Err(CrdtError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

/// Checks text an agent authors for control characters (a terminal escape in a name would
/// be printed raw by every reader's CLI): none at all in one-line fields, only newline and tab
/// in multi-line ones. Checked when authoring, not on received ops (older nodes may have
/// written some; readers escape them when printing).
pub(crate) fn check_printable(
    field: &'static str,
    value: &str,
    multi_line: bool,
) -> Result<(), CrdtError> {
    let allowed = |c: char| multi_line && matches!(c, '\n' | '\t' | '\r');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(CrdtError::OutOfRange {
            field,
            range: if multi_line {
                "text without control characters (other than newline and tab)"
            } else {
                "text without control characters"
            },
            value: value
                .chars()
                .take(40)
                .collect::<String>()
                .escape_debug()
                .to_string(),
        });
    }
    Ok(())
}

/// Checks a tag: non-empty, at most [`MAX_TAG_BYTES`], no whitespace or control characters.
pub(crate) fn check_tag(tag: &str) -> Result<(), CrdtError> {
    check_text("tag", tag, MAX_TAG_BYTES, false)?;
    if tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CrdtError::OutOfRange {
            field: "tag",
            range: "text without spaces or control characters",
            value: tag.chars().take(40).collect(),
        });
    }
    Ok(())
}

/// Checks that a versioned counter claims at most one outcome per write: an owner's write
/// records one outcome and raises the sequence by one.
fn check_plausible(counts: &Versioned<Counts>, part: &'static str) -> Result<(), CrdtError> {
    if counts.value.uses() > counts.seq {
        return Err(CrdtError::ImplausibleOutcome {
            part,
            detail: format!(
                "{} outcomes claimed in {} writes",
                counts.value.uses(),
                counts.seq
            ),
        });
    }
    Ok(())
}

/// Checks a count against its limit.
pub(crate) fn check_count(field: &'static str, count: usize, max: usize) -> Result<(), CrdtError> {
    if count > max {
        return Err(CrdtError::TooMany { field, count, max });
    }
    Ok(())
}
