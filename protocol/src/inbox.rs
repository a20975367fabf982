//! The ordering buffer between verified envelopes and the store.
//!
//! An author's ops must be applied in sequence order with no gap: the version vector says
//! "everything up to n is known", and `crdts`' op-based types silently drop an op that arrives
//! after a later one. Gossip delivers out of order, so the inbox holds envelopes that start past
//! the next expected sequence number until the gap fills, trims ops already known, and hands
//! out ready ops in order. The buffer is bounded per author and in total; on overflow the
//! envelope is dropped visibly (an error and a counter) and anti-entropy fetches it later.
//!
//! One envelope may start past a gap and still be ready: the first of an author checkpoint run
//! (see [`crate::checkpoint`]), which restates every earlier op of its author. The author's
//! known sequence then jumps to the run's start, and held envelopes it makes obsolete are
//! dropped.

use std::collections::BTreeMap;

use knack_crdt::{AgentId, SpaceName};

use crate::envelope::{Envelope, Op};
use crate::error::ProtocolError;
use crate::version_vector::VersionVector;

/// Most ops held for one author while waiting for a gap to fill.
pub const MAX_BUFFERED_OPS_PER_AUTHOR: usize = 4_096;
/// Most ops held in total.
pub const MAX_BUFFERED_OPS: usize = 65_536;
/// Most encoded envelope bytes held for one author.
pub const MAX_BUFFERED_BYTES_PER_AUTHOR: usize = 8 << 20;
/// Most encoded envelope bytes held in total.
pub const MAX_BUFFERED_BYTES: usize = 64 << 20;

/// An envelope whose ops can be applied now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The whole signed envelope, to store and forward as it is.
    pub envelope: Envelope,
    /// Its ops that were not known yet, in sequence order (a prefix already known is trimmed).
    pub ops: Vec<Op>,
}

/// What became of an admitted envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// Envelopes ready to store and apply, in order: the admitted one, then every held one it
    /// unblocked. Apply all of them before admitting anything else.
    Ready(Vec<Ready>),
    /// The envelope starts past the next expected op; it is held until the gap fills.
    Buffered {
        /// The author.
        author: AgentId,
        /// The next sequence number expected of the author.
        expected: u64,
        /// The envelope's first sequence number.
        got: u64,
    },
}

/// Counters of an [`Inbox`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Envelopes held now.
    pub buffered_envelopes: usize,
    /// Ops held now.
    pub buffered_ops: usize,
    /// Encoded bytes held now.
    pub buffered_bytes: usize,
    /// Envelopes dropped because the buffer was full (since creation).
    pub dropped: u64,
    /// Envelopes refused as already known (since creation).
    pub replayed: u64,
    /// Checkpoint runs started past a gap (since creation).
    pub jumps: u64,
}

/// The ordering buffer. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct Inbox {
    held: BTreeMap<(SpaceName, AgentId), Held>,
    ops: usize,
    bytes: usize,
    dropped: u64,
    replayed: u64,
    jumps: u64,
}

/// The envelopes held for one author, by first sequence number.
#[derive(Clone, Debug, Default)]
struct Held {
    envelopes: BTreeMap<u64, Envelope>,
    ops: usize,
    bytes: usize,
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits a *verified* envelope, given what is known of its space.
    ///
    /// Returns the envelopes ready to apply (their new ops only), or that the envelope is held
    /// for a gap; fails with [`ProtocolError::Replayed`] when every op is known already, and with
    /// [`ProtocolError::SequenceGap`] when it would have to be held but the buffer is full (the
    /// envelope is dropped and counted).
    pub fn admit(
        &mut self,
        known: &VersionVector,
        envelope: Envelope,
    ) -> Result<Admitted, ProtocolError> {
        let author = envelope.author();
        let key = (envelope.space().clone(), author);
        let mut next = known.get(&author).saturating_add(1);
        if envelope.last_seq() < next {
            self.replayed += 1;
            return Err(ProtocolError::Replayed {
                author,
                seq: envelope.last_seq(),
            });
        }
        if envelope.first_seq() > next {
            if !envelope.starts_checkpoint() {
                return self.hold(key, next, envelope);
            }
            // The run restates every op before it: start there.
            self.jumps += 1;
            next = envelope.first_seq();
        }
        let mut ready = vec![take(envelope, next - 1)];
        next = ready[0].envelope.last_seq().saturating_add(1);
        if let Some(held) = self.held.get_mut(&key) {
            while let Some(entry) = held.envelopes.first_entry() {
                if *entry.key() > next {
                    break;
                }
                let envelope = entry.remove();
                held.ops -= envelope.len();
                held.bytes -= envelope.encoded_len();
                self.ops -= envelope.len();
                self.bytes -= envelope.encoded_len();
                if envelope.last_seq() >= next {
                    let r = take(envelope, next - 1);
                    next = r.envelope.last_seq().saturating_add(1);
                    ready.push(r);
                }
            }
            if held.envelopes.is_empty() {
                self.held.remove(&key);
            }
        }
        Ok(Admitted::Ready(ready))
    }

    /// Forgets every envelope held for `space` (when the space is left).
    pub fn forget_space(&mut self, space: &SpaceName) {
        let keys: Vec<_> = self
            .held
            .keys()
            .filter(|(s, _)| s == space)
            .cloned()
            .collect();
        for key in keys {
            if let Some(held) = self.held.remove(&key) {
                self.ops -= held.ops;
                self.bytes -= held.bytes;
            }
        }
    }

    /// The inbox's counters.
    pub fn stats(&self) -> InboxStats {
        InboxStats {
            buffered_envelopes: self.held.values().map(|h| h.envelopes.len()).sum(),
            buffered_ops: self.ops,
            buffered_bytes: self.bytes,
            dropped: self.dropped,
            replayed: self.replayed,
            jumps: self.jumps,
        }
    }

    /// Holds an envelope that starts past `expected`, if the bounds allow.
    fn hold(
        &mut self,
        key: (SpaceName, AgentId),
        expected: u64,
        envelope: Envelope,
    ) -> Result<Admitted, ProtocolError> {
        let author = key.1;
        let got = envelope.first_seq();
        let buffered = Admitted::Buffered {
            author,
            expected,
            got,
        };
        let held = self.held.entry(key).or_default();
        // The same or a longer envelope from this sequence number is held already.
        let replaced = match held.envelopes.get(&got) {
            Some(old) if old.last_seq() >= envelope.last_seq() => return Ok(buffered),
            Some(old) => (old.len(), old.encoded_len()),
            None => (0, 0),
        };
        let (ops, bytes) = (envelope.len(), envelope.encoded_len());
        let fits = held.ops - replaced.0 + ops <= MAX_BUFFERED_OPS_PER_AUTHOR
            && held.bytes - replaced.1 + bytes <= MAX_BUFFERED_BYTES_PER_AUTHOR
            && self.ops - replaced.0 + ops <= MAX_BUFFERED_OPS
            && self.bytes - replaced.1 + bytes <= MAX_BUFFERED_BYTES;
        if !fits {
            self.dropped += 1;
            if held.envelopes.is_empty() {
                self.held.remove(&(envelope.space().clone(), author));
            }
            return Err(ProtocolError::SequenceGap {
                author,
                expected,
                got,
            });
        }
        held.ops = held.ops - replaced.0 + ops;
        held.bytes = held.bytes - replaced.1 + bytes;
        self.ops = self.ops - replaced.0 + ops;
        self.bytes = self.bytes - replaced.1 + bytes;
        held.envelopes.insert(got, envelope);
        Ok(buffered)
    }
}

/// The ready part of an envelope: its ops above `known`.
fn take(envelope: Envelope, known: u64) -> Ready {
    let ops = envelope.ops_after(known).collect();
    Ready { envelope, ops }
}
