//! One joined space: its CRDT state and the version vector of the ops it holds.

use knack_crdt::{AgentId, Change, Hlc, Membership, ProcedureId, Space, SpaceName};
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
    /// The procedures the ops touched, in id order, each once.
    pub(crate) procedures: Vec<ProcedureId>,
    /// The procedures whose searchable text (name, description, tags, body) may have
    /// changed: outcomes, uses and crystallization leave the search index alone. In id
    /// order, each once.
    pub(crate) texts: Vec<ProcedureId>,
    pub(crate) last_hlc: Option<Hlc>,
}

/// A space rebuilt from the store (see [`Replica::restore`]).
pub(crate) struct Restored {
    pub(crate) replica: Replica,
    /// The latest timestamp seen (to resume the clock past it).
    pub(crate) latest: Hlc,
    /// Bytes of the snapshot it started from (0 without one): the next snapshot is paced by
    /// it (`Config::snapshot_every_ops`), so a restarted node does not rewrite a large space's
    /// snapshot after only a few thousand ops.
    pub(crate) snapshot_bytes: u64,
}

impl Replica {
    /// Rebuilds a space from the store: its snapshot if there is a readable one, then every
    /// stored envelope past it replayed in (author, sequence) order.
    pub(crate) fn restore(store: &dyn Store, name: &SpaceName) -> Result<Restored, NodeError> {
        let mut snapshot_bytes = 0;
        let snapshot = store.snapshot(name)?.and_then(|bytes| {
            snapshot_bytes = bytes.len() as u64;
            decode_snapshot(&bytes)
                .map_err(|e| tracing::warn!(space = %name, error = %e, "snapshot ignored"))
                .ok()
        });
        let (mut replica, mut latest) = match snapshot {
            Some(restored) if restored.0.space.name() == name => restored,
            _ => (
                Replica {
                    space: Space::new(name.clone()),
                    vv: VersionVector::new(),
                },
                Hlc::default(),
            ),
        };
        // Per author, only the envelopes past what the snapshot covers: a restart reads the
        // tail of the log, not all of it.
        'authors: for author in store.authors(name)? {
            loop {
                let after = replica.vv.get(&author);
                let batch = store.envelopes_after(name, &author, after, RESTORE_BATCH_BYTES)?;
                let mut progressed = false;
                for (key, bytes) in batch {
                    if key.last_seq <= replica.vv.get(&author) {
                        continue; // covered by the snapshot
                    }
                    let envelope = decode_stored(&key, &bytes)?;
                    if !envelope.follows(replica.vv.get(&author)) {
                        // A hole in the log (not written by this node's code; a compacted log
                        // resumes at a checkpoint run, which `follows` accepts): stop this
                        // author here and let anti-entropy refetch the rest.
                        tracing::warn!(space = %name, %author, "gap in stored op log");
                        continue 'authors;
                    }
                    let applied = replica.apply(&envelope);
                    latest = latest.max(applied.last_hlc.unwrap_or_default());
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
        }
        Ok(Restored {
            replica,
            latest,
            snapshot_bytes,
        })
    }

    /// Rebuilds a members-only space from its whole stored log, keeping only the envelopes
    /// `membership` accepts (each author's ops up to its cutoff). The membership the result
    /// derives may differ (records in dropped envelopes are gone), so this repeats with it
    /// until it is stable (a few passes at most). Returns the replica and, per author whose
    /// envelopes were dropped, the sequence number its kept ops end at. The ops of `own`
    /// (this node) are always kept: its own state must hold every op it signed, or it would
    /// sign a sequence number twice once re-added.
    pub(crate) fn rebuild_accepting(
        store: &dyn Store,
        name: &SpaceName,
        root: AgentId,
        own: AgentId,
        mut membership: Membership,
    ) -> Result<Rebuilt, NodeError> {
        let mut pass = 0;
        loop {
            pass += 1;
            let mut replica = Replica {
                space: Space::with_root(name.clone(), root),
                vv: VersionVector::new(),
            };
            let mut dropped = Vec::new();
            'authors: for author in store.authors(name)? {
                let mut after = 0;
                loop {
                    let batch = store.envelopes_after(name, &author, after, RESTORE_BATCH_BYTES)?;
                    if batch.is_empty() {
                        break;
                    }
                    for (key, bytes) in batch {
                        after = key.last_seq;
                        if author != own && !membership.accepts(&author, key.last_seq) {
                            dropped.push((author, replica.vv.get(&author)));
                            continue 'authors;
                        }
                        let envelope = decode_stored(&key, &bytes)?;
                        if !envelope.follows(replica.vv.get(&author)) {
                            continue 'authors; // a hole: anti-entropy refetches the rest
                        }
                        replica.apply(&envelope);
                    }
                }
            }
            let derived = replica.space.membership().cloned();
            match derived {
                Some(derived) if derived != membership && pass < MAX_REBUILD_PASSES => {
                    membership = derived;
                }
                _ => return Ok(Rebuilt { replica, dropped }),
            }
        }
    }

    /// Applies the stored envelopes past this replica's version vector that its membership
    /// accepts (the ops of `own` always): what a replica rebuilt off the actor lacks of the
    /// envelopes stored while it was being rebuilt.
    pub(crate) fn catch_up(
        &mut self,
        store: &dyn Store,
        name: &SpaceName,
        own: AgentId,
    ) -> Result<(), NodeError> {
        'authors: for author in store.authors(name)? {
            loop {
                let after = self.vv.get(&author);
                let batch = store.envelopes_after(name, &author, after, RESTORE_BATCH_BYTES)?;
                let mut progressed = false;
                for (key, bytes) in batch {
                    if key.last_seq <= self.vv.get(&author) {
                        continue;
                    }
                    if author != own && !self.space.accepts(&author, key.last_seq) {
                        continue 'authors;
                    }
                    let Ok(envelope) = Envelope::decode(&bytes) else {
                        continue 'authors;
                    };
                    if !envelope.follows(self.vv.get(&author)) {
                        continue 'authors;
                    }
                    self.apply(&envelope);
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Applies the ops of `envelope` this replica does not hold yet (the caller has checked
    /// that it follows what is held: see `Envelope::follows`).
    pub(crate) fn apply(&mut self, envelope: &Envelope) -> Applied {
        let known = self.vv.get(&envelope.author());
        let ops: Vec<Op> = envelope.ops_after(known).collect();
        self.apply_ops(&ops)
    }

    /// Takes in one envelope of this node's own checkpoint run without merging its changes:
    /// the run is a replay of own ops this replica holds already, so merging it would leave
    /// the state as it is; only the version vector moves. (At 100k procedures a run restates
    /// over a million changes, which merging spent seconds of the actor confirming.)
    pub(crate) fn observe_own_restatement(&mut self, envelope: &Envelope) {
        self.vv.observe(envelope.author(), envelope.last_seq());
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
                if let Some(id) = change.procedure() {
                    applied.procedures.push(id);
                    let text = matches!(
                        change,
                        Change::Create { .. }
                            | Change::Name { .. }
                            | Change::Description { .. }
                            | Change::Tags { .. }
                            | Change::Body { .. }
                    );
                    if text {
                        applied.texts.push(id);
                    }
                }
            }
        }
        // Sorted once rather than searched per change: a checkpoint op restates thousands of
        // changes over as many procedures, where a search per change was quadratic.
        for ids in [&mut applied.procedures, &mut applied.texts] {
            ids.sort_unstable();
            ids.dedup();
        }
        applied
    }
}

/// A replica rebuilt without the ops its membership refuses.
#[derive(Debug)]
pub(crate) struct Rebuilt {
    /// The replica.
    pub(crate) replica: Replica,
    /// Per author whose envelopes were left out, the sequence number its kept ops end at.
    pub(crate) dropped: Vec<(AgentId, u64)>,
}

/// Most passes of [`Replica::rebuild_accepting`] (each one a scan of the space's log).
const MAX_REBUILD_PASSES: u32 = 4;

/// Bytes of stored envelopes read at a time while restoring.
const RESTORE_BATCH_BYTES: usize = 4 << 20;

/// Decodes an envelope read from the store under `key`; one that does not decode is a corrupt
/// store, named by its key.
pub(crate) fn decode_stored(key: &EnvelopeKey, bytes: &[u8]) -> Result<Envelope, NodeError> {
    Envelope::decode(bytes).map_err(|e| {
        NodeError::Store(crate::store::StoreError::Corrupt(format!(
            "envelope {}..{} of {} in {}: {e}",
            key.first_seq, key.last_seq, key.author, key.space
        )))
    })
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

/// Version byte of a replica snapshot: 2 adds a blake3 checksum of the rest at the end (a
/// snapshot that decodes but was damaged on disk would otherwise restore a wrong state).
const SNAPSHOT_VERSION: u8 = 2;
/// The version without a checksum, still read.
const SNAPSHOT_VERSION_UNCHECKED: u8 = 1;

/// What a snapshot holds besides the space: the version vector it covers and the latest
/// timestamp seen.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotHead {
    vv: Vec<(knack_crdt::AgentId, u64)>,
    latest: Hlc,
}

/// What a snapshot is made of, taken on the actor in a moment (procedure states are shared,
/// not copied) and encoded elsewhere.
pub(crate) struct PendingSnapshot {
    vv: Vec<(knack_crdt::AgentId, u64)>,
    latest: Hlc,
    space: knack_crdt::SpaceSnapshot,
}

impl PendingSnapshot {
    /// The parts of a snapshot of `replica`.
    pub(crate) fn of(replica: &Replica, latest: Hlc) -> Self {
        PendingSnapshot {
            vv: replica.vv.iter().collect(),
            latest,
            space: replica.space.snapshot(),
        }
    }

    /// The snapshot's bytes: a version byte, the head's length and bincode (version vector and
    /// latest timestamp seen), then the space's own snapshot encoding, then a blake3 checksum
    /// of all that. Written into one buffer of `size_hint` bytes ahead (the size of the last
    /// snapshot, say), so a large space is neither copied nor grown by doubling.
    pub(crate) fn encode(self, size_hint: usize) -> Result<Vec<u8>, NodeError> {
        let head = SnapshotHead {
            vv: self.vv,
            latest: self.latest,
        };
        let head =
            bincode::serde::encode_to_vec(&head, bincode::config::standard()).map_err(|e| {
                NodeError::Store(crate::store::StoreError::Write(format!("snapshot: {e}")))
            })?;
        let mut out = Vec::with_capacity(size_hint.max(64 + head.len()));
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&(head.len() as u64).to_le_bytes());
        out.extend_from_slice(&head);
        self.space.encode_into(&mut out);
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        Ok(out)
    }
}

/// Decodes a snapshot made by [`PendingSnapshot::encode`].
fn decode_snapshot(bytes: &[u8]) -> Result<(Replica, Hlc), String> {
    let (&version, _) = bytes.split_first().ok_or("empty snapshot")?;
    let checked = match version {
        SNAPSHOT_VERSION => {
            let split = bytes.len().checked_sub(32).ok_or("short snapshot")?;
            let (checked, checksum) = bytes.split_at(split);
            if blake3::hash(checked).as_bytes() != checksum {
                return Err("snapshot checksum mismatch (damaged on disk)".into());
            }
            checked
        }
        SNAPSHOT_VERSION_UNCHECKED => bytes,
        _ => return Err(format!("snapshot version {version}")),
    };
    let rest = &checked[1..];
    let len: [u8; 8] = rest
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("short snapshot")?;
    let len = usize::try_from(u64::from_le_bytes(len)).map_err(|e| e.to_string())?;
    let head = rest
        .get(8..8usize.saturating_add(len))
        .ok_or("short snapshot head")?;
    let (head, _): (SnapshotHead, usize) =
        bincode::serde::decode_from_slice(head, bincode::config::standard())
            .map_err(|e| e.to_string())?;
    let space = Space::decode(&rest[8 + len..]).map_err(|e| e.to_string())?;
    Ok((
        Replica {
            space,
            vv: head.vv.into_iter().collect(),
        },
        head.latest,
    ))
}
