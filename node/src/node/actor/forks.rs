//! Forked authors and this node's own sequence numbers.
//!
//! An honest author signs each of its sequence numbers once (its envelopes are deterministic:
//! the same ops give the same bytes). An envelope that covers sequence numbers this replica
//! already holds, with other bytes than the stored envelope there, proves the author signed
//! two different ops for one `(author, seq)`: the author is **forked** in that space. It is
//! counted (`knack_integrity_faults_total{reason="forked_author"}`), reported in `status`,
//! kept across restarts (the store's metadata), and every later envelope of that author in
//! that space is refused (`knack_envelopes_rejected_total{reason="forked"}`): a fork is never
//! merged silently.
//!
//! The other half is not to fork oneself: see `node/own_seq.rs`. Envelopes of this node's own
//! author that come back from peers are taken like any (that is how a node that lost its log
//! recovers its own ops), and raise the mark of what it wrote.

use knack_crdt::{AgentId, SpaceName};
use knack_protocol::Envelope;

use super::Actor;
use crate::error::NodeError;
use crate::status::{ForkedAuthor, OwnOpsMissing};

/// The metadata key prefix of forked authors: `forked/<space>/<author hex>` -> seq (8 bytes BE).
const FORKED_PREFIX: &str = "forked/";

impl Actor {
    /// Whether `envelope` proves its author forked (it overlaps held ops with other bytes).
    /// Records the fork the first time. Envelopes of an author already known forked count as
    /// forks too.
    pub(super) fn is_fork(&mut self, envelope: &Envelope) -> bool {
        let space = envelope.space().clone();
        let author = envelope.author();
        if self.forks.contains_key(&(space.clone(), author)) {
            return true;
        }
        let held = self.spaces.get(&space).map_or(0, |r| r.vv.get(&author));
        if envelope.first_seq() > held {
            return false;
        }
        let stored = match self
            .store
            .envelopes_after(&space, &author, envelope.first_seq() - 1, 1)
        {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the stored envelope to compare");
                return false;
            }
        };
        let Some((key, bytes)) = stored.into_iter().next() else {
            return false;
        };
        if key.first_seq > envelope.last_seq() {
            return false; // compacted below a checkpoint run: nothing to compare with
        }
        let same = key.first_seq == envelope.first_seq()
            && key.last_seq == envelope.last_seq()
            && bytes == envelope.as_bytes();
        if same {
            return false;
        }
        let seq = envelope.first_seq().max(key.first_seq);
        self.record_fork(space, author, seq);
        true
    }

    /// Notes a forked author: counted, logged, kept in the store's metadata.
    fn record_fork(&mut self, space: SpaceName, author: AgentId, seq: u64) {
        crate::metrics::Metrics::count(&self.metrics.integrity_faults, "forked_author");
        tracing::error!(
            %space, %author, seq,
            own = (author == self.agent),
            "forked author: two different envelopes signed for one sequence number; its \
             later envelopes in this space are refused"
        );
        let key = format!("{FORKED_PREFIX}{space}/{}", author.to_hex());
        if let Err(e) = self.store.put_meta(&key, &seq.to_be_bytes()) {
            tracing::warn!(error = %e, "could not persist the forked author");
        }
        self.unflushed_remote = true;
        self.forks.insert((space, author), seq);
    }

    /// Loads the forked authors recorded in the store's metadata for the joined spaces.
    pub(super) fn load_forks(&mut self) {
        let names: Vec<SpaceName> = self.spaces.keys().cloned().collect();
        let agents: Vec<AgentId> = self
            .spaces
            .values()
            .flat_map(|r| r.vv.iter().map(|(a, _)| a))
            .collect();
        for space in names {
            for author in &agents {
                let key = format!("{FORKED_PREFIX}{space}/{}", author.to_hex());
                if let Ok(Some(bytes)) = self.store.meta(&key)
                    && let Ok(seq) = <[u8; 8]>::try_from(bytes.as_slice())
                {
                    self.forks
                        .insert((space.clone(), *author), u64::from_be_bytes(seq));
                }
            }
        }
    }

    /// The forked authors of `space`, for `status`.
    pub(super) fn forked_authors(&self, space: &SpaceName) -> Vec<ForkedAuthor> {
        self.forks
            .iter()
            .filter(|((s, _), _)| s == space)
            .map(|((_, author), seq)| ForkedAuthor {
                author: author.to_hex(),
                seq: *seq,
            })
            .collect()
    }

    /// An envelope of this node's own author came from a peer: what peers hold of it is
    /// written, whether this log has it yet or not.
    pub(super) fn note_own_from_peer(&mut self, envelope: &Envelope) {
        if envelope.author() != self.agent {
            return;
        }
        let space = envelope.space().clone();
        let held = self.spaces.get(&space).map_or(0, |r| r.vv.get(&self.agent));
        if envelope.last_seq() > held {
            let floor = self.own_floor.entry(space).or_insert(0);
            *floor = (*floor).max(envelope.last_seq());
        }
    }

    /// Refuses to author in `space` while this node's log lacks own ops it wrote before.
    pub(super) fn check_own_ops(&mut self, space: &SpaceName) -> Result<(), NodeError> {
        let Some(missing) = self.own_ops_missing(space) else {
            self.own_floor.remove(space);
            return Ok(());
        };
        Err(NodeError::RecoveringOwnOps {
            space: space.to_string(),
            held: missing.held,
            written: missing.written,
        })
    }

    /// Own ops this node wrote in `space` and its log lacks, if any.
    pub(super) fn own_ops_missing(&self, space: &SpaceName) -> Option<OwnOpsMissing> {
        let written = *self.own_floor.get(space)?;
        let held = self.spaces.get(space).map_or(0, |r| r.vv.get(&self.agent));
        (held < written).then_some(OwnOpsMissing { held, written })
    }
}
