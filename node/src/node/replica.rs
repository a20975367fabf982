//! One joined space: its CRDT state and the version vector of the ops it holds.

use knack_crdt::{Hlc, ProcedureId, Space, SpaceName};
use knack_protocol::{Envelope, Op, VersionVector};

use crate::error::NodeError;
use crate::store::{EnvelopeKey, Store};

/// A space as this node holds it.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) space: Space,
    pub(crate) vv: VersionVector,
}

/// What applying ops changed.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub(crate) ops: u64,
    pub(crate) procedures: Vec<ProcedureId>,
    pub(crate) last_hlc: Option<Hlc>,
}

impl Replica {
    /// Rebuilds a space from the store: every stored envelope replayed in (author, sequence)
    /// order. Returns the replica and the latest timestamp seen (to resume the clock past it).
    pub(crate) fn restore(
        store: &dyn Store,
        name: &SpaceName,
    ) -> Result<(Replica, Hlc), NodeError> {
        let mut replica = Replica {
            space: Space::new(name.clone()),
            vv: VersionVector::new(),
        };
        let mut latest = Hlc::default();
        for (key, bytes) in store.scan_envelopes(name)? {
            let envelope = Envelope::decode(&bytes).map_err(|e| {
                NodeError::Store(crate::store::StoreError::Corrupt(format!(
                    "envelope {}..{} of {} in {name}: {e}",
                    key.first_seq, key.last_seq, key.author
                )))
            })?;
            if envelope.first_seq() > replica.vv.get(&key.author) + 1 {
                // A hole in the log (not written by this node's code): stop this author here
                // and let anti-entropy refetch the rest.
                tracing::warn!(space = %name, author = %key.author, "gap in stored op log");
                continue;
            }
            let applied = replica.apply(&envelope);
            latest = latest.max(applied.last_hlc.unwrap_or_default());
        }
        Ok((replica, latest))
    }

    /// Applies the ops of `envelope` this replica does not hold yet (the caller has checked
    /// the envelope starts at most one past what is held).
    pub(crate) fn apply(&mut self, envelope: &Envelope) -> Applied {
        let known = self.vv.get(&envelope.author());
        let ops: Vec<Op> = envelope.ops_after(known).collect();
        self.apply_ops(&ops)
    }

    /// Applies ops that directly follow what is held, in order.
    pub(crate) fn apply_ops(&mut self, ops: &[Op]) -> Applied {
        let mut applied = Applied::default();
        for op in ops {
            self.space.apply(&op.body);
            self.vv.observe(op.author, op.seq);
            applied.ops += 1;
            applied.last_hlc = applied.last_hlc.max(Some(op.hlc));
            for change in &op.body.changes {
                if let Some(id) = change.procedure()
                    && !applied.procedures.contains(&id)
                {
                    applied.procedures.push(id);
                }
            }
        }
        applied
    }
}

/// The store key of an envelope.
pub(crate) fn key_of(envelope: &Envelope) -> EnvelopeKey {
    EnvelopeKey {
        space: envelope.space().clone(),
        author: envelope.author(),
        first_seq: envelope.first_seq(),
        last_seq: envelope.last_seq(),
    }
}
