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
/// or none for no changes.
pub fn seal_checkpoint(
    keypair: &Keypair,
    space: &SpaceName,
    first_seq: u64,
    changes: Vec<Change>,
    mut stamp: impl FnMut() -> Hlc,
) -> Result<Vec<Envelope>, ProtocolError> {
    let chunks = chunk(changes);
    let Some(count) = (chunks.len() as u64).checked_sub(1) else {
        return Ok(Vec::new());
    };
    let span = CheckpointSpan {
        first: first_seq,
        last: first_seq
            .checked_add(count)
            .ok_or(ProtocolError::BadSequence {
                first: first_seq,
                count: chunks.len(),
            })?,
    };
    chunks
        .into_iter()
        .zip(first_seq..)
        .map(|(changes, seq)| {
            let entries = vec![(stamp(), Delta::new(changes))];
            Envelope::seal_in(keypair, space.clone(), seq, Some(span), entries)
        })
        .collect()
}

/// Groups changes into deltas of at most [`CHECKPOINT_ENVELOPE_BYTES`] (roughly) and
/// [`MAX_CHANGES_PER_DELTA`] changes, in order.
fn chunk(changes: Vec<Change>) -> Vec<Vec<Change>> {
    let mut chunks: Vec<Vec<Change>> = Vec::new();
    let mut current: Vec<Change> = Vec::new();
    let mut bytes = 0usize;
    for change in changes {
        let len = codec::encoded_len(&change);
        let full = current.len() >= MAX_CHANGES_PER_DELTA
            || (!current.is_empty() && bytes + len > CHECKPOINT_ENVELOPE_BYTES);
        if full {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += len;
        current.push(change);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}
