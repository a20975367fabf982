//! One joined space: its CRDT state and the version vector of the ops it holds.

use std::io::{BufReader, BufWriter, Read, Write};

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
        let snapshot = read_snapshot(store, name, &mut snapshot_bytes)
            .map_err(|e| tracing::warn!(space = %name, error = %e, "snapshot ignored"))
            .ok()
            .flatten();
        let (mut replica, mut latest) = match snapshot {
            Some(restored) => restored,
            None => (
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
        // A restored space's contagion neighbourhoods are all stale (the index is rebuilt from
        // the replicated state, not stored). Not summed here (0.9 s at 100k procedures, before
        // the node could answer): the actor's first tick sends out a settle job, and reads
        // meanwhile sum what they need.
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
                _ => {
                    // Summed here, off the actor (see `restore`).
                    replica.space.settle();
                    return Ok(Rebuilt { replica, dropped });
                }
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

    /// Takes in this node's own checkpoint run, ending at `last`, without merging its changes:
    /// the run is a replay of own ops this replica holds already, so merging it would leave
    /// the state as it is; only the version vector moves, when the run is handed to be sealed
    /// (the next own op is numbered after it). At 100k procedures a run restates over a
    /// million changes, which merging spent seconds of the actor confirming.
    pub(crate) fn reserve_own(&mut self, agent: AgentId, last: u64) {
        self.vv.observe(agent, last);
    }

    /// The version vector with `agent`'s entry lowered to `upto` (what the store surely holds
    /// of this node's own ops while a checkpoint run's reserved numbers are being stored).
    pub(crate) fn vv_with_own_upto(&self, agent: AgentId, upto: u64) -> VersionVector {
        let mut vv = VersionVector::new();
        for (author, seq) in self.vv.iter() {
            vv.observe(author, if author == agent { seq.min(upto) } else { seq });
        }
        vv
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

    /// Writes the snapshot to `out` as it is encoded (it is never held whole): a version
    /// byte, the head's length and bincode (version vector and latest timestamp seen), then
    /// the space's own snapshot encoding, then a blake3 checksum of all that.
    pub(crate) fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let head = SnapshotHead {
            vv: self.vv.clone(),
            latest: self.latest,
        };
        let head = bincode::serde::encode_to_vec(&head, bincode::config::standard())
            .map_err(std::io::Error::other)?;
        let mut out = HashingWriter {
            inner: BufWriter::with_capacity(STREAM_BUFFER_BYTES, out),
            hasher: blake3::Hasher::new(),
        };
        out.write_all(&[SNAPSHOT_VERSION])?;
        out.write_all(&(head.len() as u64).to_le_bytes())?;
        out.write_all(&head)?;
        self.space.encode_to(&mut out)?;
        let checksum = out.hasher.finalize();
        out.inner.write_all(checksum.as_bytes())?;
        out.inner.flush()
    }
}

/// Bytes of a snapshot read or written at a time.
const STREAM_BUFFER_BYTES: usize = 256 << 10;

/// A writer that hashes what goes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the stored snapshot of `name`, if any, into the replica it holds and the latest
/// timestamp seen; `bytes` gets its size. Two passes over the stored pieces, so it is never
/// held whole: the first checks the checksum (a snapshot that decodes but was damaged on disk
/// would otherwise restore a wrong state), the second decodes.
fn read_snapshot(
    store: &dyn Store,
    name: &SpaceName,
    bytes: &mut u64,
) -> Result<Option<(Replica, Hlc)>, String> {
    let Some(reader) = store.snapshot_reader(name).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let (version, size) = check_snapshot(reader)?;
    *bytes = size;
    let Some(reader) = store.snapshot_reader(name).map_err(|e| e.to_string())? else {
        return Ok(None); // replaced meanwhile: the caller replays the log
    };
    let mut reader = BufReader::with_capacity(STREAM_BUFFER_BYTES, reader);
    let read = |e: std::io::Error| format!("snapshot: {e}");
    let mut first = [0u8; 9];
    reader.read_exact(&mut first).map_err(read)?;
    let len = u64::from_le_bytes(first[1..].try_into().map_err(|_| "short snapshot")?);
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= MAX_HEAD_BYTES)
        .ok_or("snapshot head too long")?;
    let mut head = vec![0u8; len];
    reader.read_exact(&mut head).map_err(read)?;
    let (head, _): (SnapshotHead, usize) =
        bincode::serde::decode_from_slice(&head, bincode::config::standard())
            .map_err(|e| e.to_string())?;
    let space = Space::decode_from(&mut reader).map_err(|e| e.to_string())?;
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).map_err(read)?;
    let trailer = if version == SNAPSHOT_VERSION { 32 } else { 0 };
    if rest.len() != trailer {
        return Err(format!("{} bytes after the space", rest.len()));
    }
    if space.name() != name {
        return Err(format!("a snapshot of {}", space.name()));
    }
    Ok(Some((
        Replica {
            space,
            vv: head.vv.into_iter().collect(),
        },
        head.latest,
    )))
}

/// Longest snapshot head read: a version vector of a million authors.
const MAX_HEAD_BYTES: usize = 64 << 20;

/// Reads a whole stored snapshot once: its version, and its size after its checksum was found
/// to match (for [`SNAPSHOT_VERSION`]).
fn check_snapshot(mut reader: impl Read) -> Result<(u8, u64), String> {
    let mut buf = vec![0u8; STREAM_BUFFER_BYTES];
    let mut hasher = blake3::Hasher::new();
    // The last 32 bytes read, not hashed yet: the checksum, once the end is reached.
    let mut tail: Vec<u8> = Vec::with_capacity(64 + STREAM_BUFFER_BYTES);
    let mut version = None;
    let mut size = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("snapshot: {e}"))?;
        if n == 0 {
            break;
        }
        version = version.or(Some(buf[0]));
        size += n as u64;
        tail.extend_from_slice(&buf[..n]);
        let hashed = tail.len().saturating_sub(32);
        hasher.update(&tail[..hashed]);
        tail.drain(..hashed);
    }
    let version = version.ok_or("empty snapshot")?;
    match version {
        SNAPSHOT_VERSION => {
            if tail.len() < 32 {
                return Err("short snapshot".into());
            }
            if hasher.finalize().as_bytes() != &tail[..] {
                return Err("snapshot checksum mismatch (damaged on disk)".into());
            }
        }
        SNAPSHOT_VERSION_UNCHECKED => {}
        _ => return Err(format!("snapshot version {version}")),
    }
    Ok((version, size))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

    use knack_crdt::{Body, NewProcedure, ProcedureKind};

    use super::*;
    use crate::store::FjallStore;

    /// A replica of `n` procedures with 2 KB bodies: over a megabyte per 500, several pieces.
    fn replica(n: u64) -> Replica {
        let name = SpaceName::new("pieces").unwrap();
        let mut space = Space::new(name);
        let by = AgentId([7; 32]);
        for i in 0..n {
            let new = NewProcedure {
                nonce: i,
                name: format!("procedure {i}"),
                description: "restart the web tier".into(),
                kind: ProcedureKind::Script,
                tags: vec!["ops".into()],
                body: Body::Inline(format!("#!/bin/sh\n# {i}\n{}", "x".repeat(2000)).into()),
            };
            let (_, delta) = space
                .add_procedure(by, Hlc::at(1_000_000 + i), new)
                .unwrap();
            space.apply(&delta);
        }
        let mut vv = VersionVector::new();
        vv.observe(by, n);
        Replica { space, vv }
    }

    /// The bytes of a snapshot of `replica`, in one buffer.
    fn whole(replica: &Replica) -> Vec<u8> {
        let mut bytes = Vec::new();
        PendingSnapshot::of(replica, Hlc::at(5))
            .write_to(&mut bytes)
            .unwrap();
        bytes
    }

    #[test]
    fn a_snapshot_in_pieces_restores_the_replica() {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallStore::open(dir.path()).unwrap();
        let big = replica(2_000);
        let name = big.space.name().clone();
        let pending = PendingSnapshot::of(&big, Hlc::at(5));
        let written = store
            .put_snapshot_with(&name, &mut |out| pending.write_to(out))
            .unwrap();
        assert!(written > 3 << 20, "{written} bytes: several pieces");
        let mut bytes = 0;
        let (restored, latest) = read_snapshot(&store, &name, &mut bytes).unwrap().unwrap();
        assert_eq!(bytes, written);
        assert_eq!(latest, Hlc::at(5));
        assert_eq!(restored.space.digest(), big.space.digest());
        assert_eq!(restored.vv, big.vv);
        // The same bytes as one buffer: what a store that holds it whole returns.
        assert_eq!(&*store.snapshot(&name).unwrap().unwrap(), &whole(&big)[..]);

        // A smaller snapshot replaces it whole: no piece of the larger one is read back.
        let small = replica(3);
        let pending = PendingSnapshot::of(&small, Hlc::at(6));
        store
            .put_snapshot_with(&name, &mut |out| pending.write_to(out))
            .unwrap();
        let (restored, _) = read_snapshot(&store, &name, &mut bytes).unwrap().unwrap();
        assert_eq!(restored.space.digest(), small.space.digest());

        // A write that fails leaves the snapshot there was.
        let failed = store.put_snapshot_with(&name, &mut |out| {
            out.write_all(&[SNAPSHOT_VERSION; 10])?;
            Err(std::io::Error::other("encoder failed"))
        });
        assert!(failed.is_err());
        let (restored, _) = read_snapshot(&store, &name, &mut bytes).unwrap().unwrap();
        assert_eq!(restored.space.digest(), small.space.digest());
    }

    /// A restored space's contagion neighbourhoods are left stale by the restore (summing
    /// them cost 0.9 s at 100k procedures before the node could answer), for a settle job:
    /// at the size where there is one (6,000 procedures in a chain of `similar` links), the
    /// job's sums, installed, equal those of the replica that wrote the snapshot.
    #[test]
    fn a_restored_space_is_summed_by_a_settle_job() {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallStore::open(dir.path()).unwrap();
        let mut linked = replica(0);
        let by = AgentId([7; 32]);
        let mut ids = Vec::new();
        for i in 0..6_000u64 {
            let new = NewProcedure {
                nonce: i,
                name: format!("procedure {i}"),
                description: String::new(),
                kind: ProcedureKind::Script,
                tags: vec!["ops".into()],
                body: Body::Inline("true".into()),
            };
            let (id, delta) = linked
                .space
                .add_procedure(by, Hlc::at(2_000_000 + i), new)
                .unwrap();
            linked.space.apply(&delta);
            if let Some(&previous) = ids.last() {
                let delta = linked
                    .space
                    .link(
                        by,
                        Hlc::at(3_000_000 + i),
                        previous,
                        id,
                        knack_crdt::RelationKind::Similar,
                        0.9,
                    )
                    .unwrap();
                linked.space.apply(&delta);
            }
            if i % 3 == 0 {
                let outcome = knack_crdt::Outcome {
                    success: i % 2 == 0,
                    duration_ms: 1,
                    contexts: vec![],
                };
                let delta = linked
                    .space
                    .record_outcome(by, Hlc::at(4_000_000 + i), id, &outcome)
                    .unwrap();
                linked.space.apply(&delta);
            }
            ids.push(id);
        }
        linked.space.settle();
        let name = linked.space.name().clone();
        let pending = PendingSnapshot::of(&linked, Hlc::at(5));
        store
            .put_snapshot_with(&name, &mut |out| pending.write_to(out))
            .unwrap();
        let mut restored = Replica::restore(&store, &name).unwrap().replica;
        assert!(restored.space.needs_settle());
        let job = restored.space.settle_job_if_quiet().expect("a job");
        let summing = job.len();
        assert!(summing >= 6_000, "every procedure of the chain: {summing}");
        assert_eq!(restored.space.install_settled(job.run()), summing);
        assert!(!restored.space.needs_settle());
        assert!(restored.space.contagion_drift().is_empty());
        assert_eq!(restored.space.contagion_summed_here(), 0);
        assert_eq!(restored.space.digest(), linked.space.digest());
        let at = 5_000_000;
        for id in ids.iter().step_by(97) {
            assert_eq!(
                restored.space.procedure(id).unwrap().prior(None, at),
                linked.space.procedure(id).unwrap().prior(None, at)
            );
        }
    }

    #[test]
    fn a_damaged_snapshot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallStore::open(dir.path()).unwrap();
        let big = replica(600);
        let name = big.space.name().clone();
        let whole = whole(&big);
        // One byte flipped in the second piece, past the first megabyte.
        let mut damaged = whole.clone();
        damaged[(1 << 20) + 1000] ^= 0x40;
        store.put_snapshot(&name, &damaged).unwrap();
        let e = read_snapshot(&store, &name, &mut 0).unwrap_err();
        assert!(e.contains("checksum"), "{e}");
        store
            .put_snapshot(&name, &whole[..whole.len() - 1])
            .unwrap();
        assert!(read_snapshot(&store, &name, &mut 0).is_err());
        store.put_snapshot(&name, &whole).unwrap();
        assert!(read_snapshot(&store, &name, &mut 0).unwrap().is_some());
    }

    /// A data directory written before pieces holds the snapshot whole under the space's name:
    /// it is read, and the next snapshot written replaces it.
    #[test]
    fn a_snapshot_stored_whole_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallStore::open(dir.path()).unwrap();
        let old = replica(600);
        let name = old.space.name().clone();
        let whole = whole(&old);
        let snapshots = store.keyspace("snapshots").unwrap();
        snapshots.insert(name.as_str(), whole).unwrap();
        let (restored, _) = read_snapshot(&store, &name, &mut 0).unwrap().unwrap();
        assert_eq!(restored.space.digest(), old.space.digest());
        let new = replica(2);
        let pending = PendingSnapshot::of(&new, Hlc::at(6));
        store
            .put_snapshot_with(&name, &mut |out| pending.write_to(out))
            .unwrap();
        assert!(snapshots.get(name.as_str()).unwrap().is_none());
        let (restored, _) = read_snapshot(&store, &name, &mut 0).unwrap().unwrap();
        assert_eq!(restored.space.digest(), new.space.digest());
    }
}
