//! The update table: every op authored in the run, sealed once into a real signed envelope.
//!
//! The author signs an envelope once and every peer stores and forwards the same bytes (what
//! the real node does), so agents refer to updates by index. Receivers apply the envelope's
//! decoded delta; a sample of receptions also decodes and verifies the bytes for real.

use knack_crdt::{AgentId, Delta, Hlc, SpaceName};
use std::collections::BTreeMap;
use std::sync::Arc;

use knack_protocol::{Envelope, HybridClock};
use libp2p_identity::Keypair;

use crate::error::SimError;
use crate::rng;

/// One authored op.
#[derive(Debug)]
pub(crate) struct Update {
    /// Author index.
    pub(crate) author: u32,
    /// The author's sequence number (from 1).
    pub(crate) seq: u32,
    /// The authoring node.
    pub(crate) node: u32,
    /// When it was authored (µs).
    pub(crate) created_us: u64,
    /// The signed envelope (bytes and decoded ops).
    pub(crate) envelope: Envelope,
    /// The envelope's one delta, shared with the replica thread.
    pub(crate) delta: Arc<Delta>,
}

/// An authoring identity: a deterministic ed25519 key and its clock.
#[derive(Debug)]
pub(crate) struct Author {
    /// The node that authors with this key.
    pub(crate) node: u32,
    /// The agent id (public key).
    pub(crate) agent: AgentId,
    keypair: Keypair,
    clock: HybridClock,
    /// Update indices in sequence order.
    pub(crate) ops: Vec<u32>,
}

/// Every update of the run and its authors.
#[derive(Debug)]
pub(crate) struct Updates {
    /// The space every agent shares.
    pub(crate) space: SpaceName,
    /// Updates in authoring order.
    pub(crate) list: Vec<Update>,
    /// Authors by index.
    pub(crate) authors: Vec<Author>,
    /// Author index by agent id.
    pub(crate) author_index: BTreeMap<AgentId, u32>,
    /// Update indices by a cheap key of their envelope bytes (see [`envelope_key`]), to
    /// recognise envelopes received through anti-entropy without decoding or hashing them.
    by_key: BTreeMap<u64, Vec<u32>>,
}

/// Bytes at the start of an envelope that [`envelope_key`] reads: the version, the space, the
/// author and the first sequence number are there, so keys rarely collide.
const KEY_PREFIX_BYTES: usize = 64;

/// A cheap key of envelope bytes: their length and first bytes, mixed. Only an index: a match
/// is confirmed by comparing the whole bytes.
fn envelope_key(bytes: &[u8]) -> u64 {
    let prefix = &bytes[..bytes.len().min(KEY_PREFIX_BYTES)];
    let mut parts = [0u64; KEY_PREFIX_BYTES / 8 + 1];
    parts[0] = bytes.len() as u64;
    for (i, chunk) in prefix.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        parts[i + 1] = u64::from_le_bytes(word);
    }
    rng::hash(0, &parts)
}

impl Author {
    /// The author of index `i`, on `node`, with a key derived from the seed.
    pub(crate) fn new(seed: u64, i: u32, node: u32) -> Result<Self, SimError> {
        let mut secret = [0u8; 32];
        for (k, chunk) in secret.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&rng::hash(seed, &[0xa17, u64::from(i), k as u64]).to_le_bytes());
        }
        let keypair = Keypair::ed25519_from_bytes(secret).map_err(|e| SimError::Parameter {
            field: "seed",
            reason: format!("cannot derive a key: {e}"),
        })?;
        let agent = knack_protocol::agent_id(&keypair).ok_or(SimError::Parameter {
            field: "seed",
            reason: "derived key is not ed25519".into(),
        })?;
        Ok(Author {
            node,
            agent,
            keypair,
            clock: HybridClock::new(),
            ops: Vec::new(),
        })
    }

    /// A fresh timestamp at wall time `wall_ms`.
    pub(crate) fn now(&mut self, wall_ms: u64) -> Hlc {
        self.clock.now(wall_ms)
    }
}

impl Updates {
    /// An empty table for `authors`.
    pub(crate) fn new(space: SpaceName, authors: Vec<Author>) -> Self {
        let author_index = authors
            .iter()
            .enumerate()
            .map(|(i, a)| (a.agent, i as u32))
            .collect();
        Updates {
            space,
            list: Vec::new(),
            authors,
            author_index,
            by_key: BTreeMap::new(),
        }
    }

    /// Seals `delta` as the next op of author `a` and adds it to the table. Returns its index.
    pub(crate) fn push(
        &mut self,
        a: u32,
        hlc: Hlc,
        delta: Delta,
        created_us: u64,
    ) -> Result<u32, SimError> {
        let author = &mut self.authors[a as usize];
        let seq = author.ops.len() as u32 + 1;
        let envelope = Envelope::seal(
            &author.keypair,
            self.space.clone(),
            u64::from(seq),
            vec![(hlc, delta.clone())],
        )?;
        let index = self.list.len() as u32;
        author.ops.push(index);
        self.by_key
            .entry(envelope_key(envelope.as_bytes()))
            .or_default()
            .push(index);
        self.list.push(Update {
            author: a,
            seq,
            node: author.node,
            created_us,
            envelope,
            delta: Arc::new(delta),
        });
        Ok(index)
    }

    /// An envelope that decodes but fails verification (a flipped signature bit), signed by
    /// author 0's key over a real op: what a flooding adversary sends.
    pub(crate) fn invalid(&self) -> Result<Vec<u8>, SimError> {
        let author = &self.authors[0];
        let delta = Delta::new(vec![knack_crdt::Change::Used {
            id: knack_crdt::ProcedureId([7; 32]),
            at: Hlc::at(1),
        }]);
        let envelope = Envelope::seal_unchecked(
            &author.keypair,
            self.space.clone(),
            1,
            vec![(Hlc::at(1), delta)],
        )?;
        let mut bytes = envelope.into_bytes();
        if let Some(last) = bytes.last_mut() {
            *last ^= 1;
        }
        Ok(bytes)
    }

    /// The update whose envelope is exactly `bytes`, if any.
    pub(crate) fn find(&self, bytes: &[u8]) -> Option<u32> {
        self.by_key
            .get(&envelope_key(bytes))?
            .iter()
            .copied()
            .find(|&u| self.list[u as usize].envelope.as_bytes() == bytes)
    }

    /// The delta of update `u` (shared with the replica thread).
    pub(crate) fn delta(&self, u: u32) -> &Arc<Delta> {
        &self.list[u as usize].delta
    }

    /// Wire size of update `u`'s envelope.
    pub(crate) fn size(&self, u: u32) -> u32 {
        self.list[u as usize].envelope.encoded_len() as u32
    }
}

#[cfg(test)]
mod tests {
    use knack_crdt::{Change, Delta, Hlc, ProcedureId, SpaceName};

    use super::{Author, Updates};

    fn used(id: u8) -> Delta {
        Delta::new(vec![Change::Used {
            id: ProcedureId([id; 32]),
            at: Hlc::at(1),
        }])
    }

    #[test]
    fn envelopes_are_found_by_their_exact_bytes() {
        let authors = vec![Author::new(1, 0, 0).unwrap(), Author::new(1, 1, 5).unwrap()];
        let mut table = Updates::new(SpaceName::new("sim").unwrap(), authors);
        let mut indices = Vec::new();
        for (a, id) in [(0, 1), (1, 1), (0, 2), (1, 3)] {
            indices.push(
                table
                    .push(a, Hlc::at(10 + u64::from(id)), used(id), 0)
                    .unwrap(),
            );
        }
        for &u in &indices {
            let bytes = table.list[u as usize].envelope.as_bytes().to_vec();
            assert_eq!(table.find(&bytes), Some(u));
            let mut changed = bytes.clone();
            let last = changed.len() - 1;
            changed[last] ^= 1;
            assert_eq!(
                table.find(&changed),
                None,
                "a changed signature is another envelope"
            );
            assert_eq!(table.find(&bytes[..bytes.len() - 1]), None);
        }
        assert_eq!(table.find(&table.invalid().unwrap()), None);
    }
}
