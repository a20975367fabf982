//! The op log as the sync engine sees it, and an in-memory implementation.

use std::collections::BTreeMap;

use knack_crdt::{AgentId, SpaceName};

use crate::envelope::Envelope;
use crate::error::ProtocolError;
use crate::version_vector::VersionVector;

/// Stored envelopes of one author, in sequence order, from one [`OpLog::envelopes_after`] call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Encoded envelopes, as they were received or sealed.
    pub envelopes: Vec<Vec<u8>>,
    /// The last sequence number the batch covers (`after_seq` when it is empty).
    pub upto: u64,
}

/// Read access to the verified, gap-free op log, as the sync engine needs it.
pub trait OpLog {
    /// What the log holds of `space` (empty for a space it does not hold).
    fn version_vector(&self, space: &SpaceName) -> VersionVector;

    /// Stored envelopes of `author` in `space` carrying the ops after `after_seq`, in order:
    /// the first one holds op `after_seq + 1` (or, where the log was compacted past it, starts
    /// the checkpoint run that restates it), each next one continues where the previous one
    /// ends. The first envelope is always included when one exists; further ones only while the
    /// total stays within `budget_bytes`.
    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Batch;
}

/// An in-memory [`OpLog`]: verified encoded envelopes per space and author. Used by tests and
/// the simulator; the node's store implements the same trait.
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    spaces: BTreeMap<SpaceName, SpaceLog>,
}

/// One space's envelopes.
#[derive(Clone, Debug, Default)]
struct SpaceLog {
    known: VersionVector,
    /// Per author, by last sequence number. Each stored envelope extended the author's known
    /// sequence or started a checkpoint run past it, so with `e` the envelope of the smallest
    /// last sequence above `n`, `e.first <= n + 1` or `e` starts a checkpoint run: the chain
    /// has no hole a reader cannot cross.
    authors: BTreeMap<AgentId, BTreeMap<u64, Stored>>,
    envelopes: usize,
    bytes: usize,
}

/// One stored envelope.
#[derive(Clone, Debug)]
struct Stored {
    first: u64,
    starts_checkpoint: bool,
    bytes: Vec<u8>,
}

impl MemoryLog {
    /// An empty log holding no space.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts holding `space` (no effect if it already does).
    pub fn add_space(&mut self, space: SpaceName) {
        self.spaces.entry(space).or_default();
    }

    /// Whether the log holds `space`.
    pub fn holds(&self, space: &SpaceName) -> bool {
        self.spaces.contains_key(space)
    }

    /// What the log holds of `space`, borrowed.
    pub fn known(&self, space: &SpaceName) -> Option<&VersionVector> {
        self.spaces.get(space).map(|s| &s.known)
    }

    /// Stores a *verified* envelope that continues its author's known sequence or starts a
    /// checkpoint run past it (see [`crate::Inbox`], which hands out envelopes in that order).
    /// Returns whether it added ops (`false` when all of them were known).
    pub fn insert(&mut self, envelope: &Envelope) -> Result<bool, ProtocolError> {
        let log = self
            .spaces
            .get_mut(envelope.space())
            .ok_or_else(|| ProtocolError::UnknownSpace(envelope.space().to_string()))?;
        let author = envelope.author();
        let known = log.known.get(&author);
        if envelope.last_seq() <= known {
            return Ok(false);
        }
        if !envelope.follows(known) {
            return Err(ProtocolError::SequenceGap {
                author,
                expected: known.saturating_add(1),
                got: envelope.first_seq(),
            });
        }
        log.authors.entry(author).or_default().insert(
            envelope.last_seq(),
            Stored {
                first: envelope.first_seq(),
                starts_checkpoint: envelope.starts_checkpoint(),
                bytes: envelope.as_bytes().to_vec(),
            },
        );
        log.known.observe(author, envelope.last_seq());
        log.envelopes += 1;
        log.bytes += envelope.encoded_len();
        Ok(true)
    }

    /// Deletes the envelopes of `author` in `space` whose ops all precede `first`: what a
    /// node may do once it holds a whole checkpoint run starting at `first` (see
    /// [`crate::Envelope::ends_checkpoint`]). Returns how many were deleted.
    pub fn compact(&mut self, space: &SpaceName, author: &AgentId, first: u64) -> usize {
        let Some(log) = self.spaces.get_mut(space) else {
            return 0;
        };
        let Some(chain) = log.authors.get_mut(author) else {
            return 0;
        };
        let kept = chain.split_off(&first);
        let removed = std::mem::replace(chain, kept);
        log.envelopes -= removed.len();
        log.bytes -= removed.values().map(|s| s.bytes.len()).sum::<usize>();
        removed.len()
    }

    /// How many envelopes are stored in `space`.
    pub fn envelope_count(&self, space: &SpaceName) -> usize {
        self.spaces.get(space).map_or(0, |s| s.envelopes)
    }

    /// How many encoded bytes are stored in `space`.
    pub fn byte_count(&self, space: &SpaceName) -> usize {
        self.spaces.get(space).map_or(0, |s| s.bytes)
    }
}

impl OpLog for MemoryLog {
    fn version_vector(&self, space: &SpaceName) -> VersionVector {
        self.known(space).cloned().unwrap_or_default()
    }

    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Batch {
        let mut batch = Batch {
            envelopes: Vec::new(),
            upto: after_seq,
        };
        let Some(chain) = self.spaces.get(space).and_then(|s| s.authors.get(author)) else {
            return batch;
        };
        let mut used = 0usize;
        while let Some(next) = batch.upto.checked_add(1) {
            let Some((&last, stored)) = chain.range(next..).next() else {
                break;
            };
            debug_assert!(
                stored.first <= next || stored.starts_checkpoint,
                "hole in the stored chain"
            );
            let len = stored.bytes.len();
            if !batch.envelopes.is_empty() && used.saturating_add(len) > budget_bytes {
                break;
            }
            used = used.saturating_add(len);
            batch.envelopes.push(stored.bytes.clone());
            batch.upto = last;
        }
        batch
    }
}
