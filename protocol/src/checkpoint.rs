//! Author checkpoints: how an op log stays small.
//!
//! Every change is a join-semilattice element, so what an author contributed to a space is the
//! join of its changes, and that join can be restated as a few changes (its latest register
//! writes, its outcome slots, its creations and relations: [`knack_crdt::Space::restatement`]
//! of a space built from the author's ops alone). The author signs that restatement as a
//! *checkpoint run*: ordinary ops with the next sequence numbers, each envelope marked with the
//! run's [`CheckpointSpan`]. Applying the run to any replica changes nothing the author's
//! earlier ops did not already say, so:
//! - a node holding the whole run deletes the author's envelopes below it;
//! - a replica lacking earlier ops starts at the run instead (the inbox lets its version vector
//!   jump to the run's start), verifying a few large envelopes instead of every small one.
//!
//! Only the author can checkpoint its ops (it signs them). A receiver cannot check that a run
//! restates everything (it may not hold the earlier ops): a dishonest author could leave a
//! creation out of its checkpoint, and fresh replicas would then lack it. Honest authors'
//! checkpoints keep every replica converging to the same state.

use std::borrow::Borrow;

use knack_crdt::limits::MAX_CHANGES_PER_DELTA;
use knack_crdt::{Change, Delta, Hlc, SpaceName};
use libp2p_identity::Keypair;

use crate::codec;
use crate::envelope::{CheckpointSpan, Envelope};
use crate::error::ProtocolError;

/// Target encoded size of one envelope of a checkpoint run (a single larger change gets an
/// envelope of its own, within [`crate::MAX_ENVELOPE_BYTES`]).
pub const CHECKPOINT_ENVELOPE_BYTES: usize = 256 << 10;

/// Seals `changes` (a restatement of everything the keypair's agent wrote to `space`) as a
/// checkpoint run of the sequence numbers `first_seq..`: one op per envelope, each op's
/// timestamp taken from `stamp` (which must strictly increase and be no earlier than any
/// timestamp inside the changes, as a node's clock is). Returns the run's envelopes in order,
/// or none for no changes. (A large restatement is better sealed with [`CheckpointPlan`] and
/// [`seal_checkpoint_into`], which hold neither it nor its run whole.)
pub fn seal_checkpoint(
    keypair: &Keypair,
    space: &SpaceName,
    first_seq: u64,
    changes: Vec<Change>,
    stamp: impl FnMut() -> Hlc,
) -> Result<Vec<Envelope>, ProtocolError> {
    let plan = CheckpointPlan::of(&changes);
    let mut run = Vec::with_capacity(plan.envelopes());
    seal_checkpoint_into(
        keypair,
        space,
        first_seq,
        &plan,
        changes,
        stamp,
        |envelope| {
            run.push(envelope);
            Ok::<(), ProtocolError>(())
        },
    )?;
    Ok(run)
}

/// How a restatement splits into the envelopes of its checkpoint run: the number of changes
/// in each, in order. Each envelope holds at most [`CHECKPOINT_ENVELOPE_BYTES`] (roughly) and
/// [`MAX_CHANGES_PER_DELTA`] changes. The run's span (written into every envelope) needs the
/// number of envelopes before the first is sealed, so a run is planned in one walk over the
/// restatement and sealed in a second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointPlan {
    sizes: Vec<usize>,
}

impl CheckpointPlan {
    /// Plans the run of `changes` (nothing of them is kept but the split).
    pub fn of<C: Borrow<Change>>(changes: impl IntoIterator<Item = C>) -> Self {
        let mut sizes = Vec::new();
        let (mut count, mut bytes) = (0usize, 0usize);
        for change in changes {
            let len = codec::encoded_len(change.borrow());
            let full = count >= MAX_CHANGES_PER_DELTA
                || (count > 0 && bytes + len > CHECKPOINT_ENVELOPE_BYTES);
            if full {
                sizes.push(count);
                (count, bytes) = (0, 0);
            }
            count += 1;
            bytes += len;
        }
        if count > 0 {
            sizes.push(count);
        }
        CheckpointPlan { sizes }
    }

    /// This plan followed by `next`: the run of this plan's changes, then `next`'s, each
    /// envelope holding changes of one side only. A restatement topped up with the author's
    /// later ops, raw, is still a restatement (every change is a join: what the later ops
    /// said, restated whole or not, is the same), so a run can be planned over the bulk of a
    /// restatement on one thread and extended with the few ops written meanwhile on another.
    pub fn followed_by(mut self, next: CheckpointPlan) -> CheckpointPlan {
        self.sizes.extend(next.sizes);
        self
    }

    /// The number of envelopes of the run.
    pub fn envelopes(&self) -> usize {
        self.sizes.len()
    }

    /// The number of changes restated.
    pub fn changes(&self) -> usize {
        self.sizes.iter().sum()
    }
}

/// Seals the run `plan` describes, of `changes` (the same changes, in the same order, as the
/// plan was made of), handing each envelope to `sink` as soon as it is sealed: neither the
/// restatement nor the run is ever held whole. Returns the run's span, or `None` for no
/// changes. Sealing stops at the first error of `sink`; changes that do not match the plan
/// give [`ProtocolError::RestatementChanged`].
pub fn seal_checkpoint_into<E: From<ProtocolError>>(
    keypair: &Keypair,
    space: &SpaceName,
    first_seq: u64,
    plan: &CheckpointPlan,
    changes: impl IntoIterator<Item = Change>,
    mut stamp: impl FnMut() -> Hlc,
    mut sink: impl FnMut(Envelope) -> Result<(), E>,
) -> Result<Option<CheckpointSpan>, E> {
    let Some(count) = (plan.envelopes() as u64).checked_sub(1) else {
        return Ok(None);
    };
    let span = CheckpointSpan {
        first: first_seq,
        last: first_seq
            .checked_add(count)
            .ok_or(ProtocolError::BadSequence {
                first: first_seq,
                count: plan.envelopes(),
            })?,
    };
    let mut changes = changes.into_iter();
    for (&size, seq) in plan.sizes.iter().zip(first_seq..) {
        let chunk: Vec<Change> = changes.by_ref().take(size).collect();
        if chunk.len() != size {
            return Err(ProtocolError::RestatementChanged(format!(
                "envelope {seq} was planned with {size} changes, {} were left",
                chunk.len()
            ))
            .into());
        }
        let entries = vec![(stamp(), Delta::new(chunk))];
        sink(Envelope::seal_in(
            keypair,
            space.clone(),
            seq,
            Some(span),
            entries,
        )?)?;
    }
    if changes.next().is_some() {
        return Err(ProtocolError::RestatementChanged(format!(
            "more changes than the {} planned",
            plan.changes()
        ))
        .into());
    }
    Ok(Some(span))
}
