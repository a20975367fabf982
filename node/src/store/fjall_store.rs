//! The fjall backend: the product's store.
//!
//! fjall is an LSM tree: writes go to a journal and a memtable, memtables are flushed to sorted
//! tables, and compaction merges tables and drops what deletes and overwrites superseded. That
//! is why knack moved to it from sled: sled held 230 B per op but took 4.6-5.9 times that on
//! disk, because space freed by deleted tail envelopes and rewritten snapshots was not given
//! back (ARCHITECTURE.md, "Storage engine").
//!
//! Writes are visible at once and durable at [`Store::flush`] (`persist(SyncAll)`), as with
//! sled. A failed persist poisons the database (fjall refuses every later write rather than
//! risk an inconsistent journal): the node reports the store unusable, as it does for any
//! failed flush.

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use knack_crdt::{AgentId, ContentHash, SpaceName};

use super::keys::{
    authors_by_seek, decode_envelope, decode_key, envelope_key, envelope_prefix, envelope_value,
    take_within_budget,
};
use super::pieces::{End, PieceReader, PieceWriter, end_key, piece_key};
use super::{EnvelopeKey, SnapshotWrite, Store, StoreError, StoreUsage, StoredBytes};

/// The block cache, in bytes. The node reads the log in long sequential runs (a restart's
/// tail, a peer's sync, a checkpoint's replay), which the kernel's page cache serves as well,
/// and its point reads (metadata, pin jobs) are few: 64 MiB of cache held 42 MB of a
/// 100k-procedure node's heap after a restart, 16 MiB held 15 MB, all of it log blocks a
/// restart had read once.
const CACHE_BYTES: u64 = 4 * 1024 * 1024;
/// The most journal bytes kept before memtables are flushed to free them (fjall's floor).
const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// The memtable of the op log: the log's recent tail lives here until it is flushed.
const ENVELOPE_MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;
/// The memtable of the small keyspaces (spaces, pin jobs, metadata).
const SMALL_MEMTABLE_BYTES: u64 = 2 * 1024 * 1024;
/// The memtable of snapshots (which are ingested as tables, so it stays empty).
const SNAPSHOT_MEMTABLE_BYTES: u64 = 1024 * 1024;

/// A metadata key written by [`Store::reclaim`] only to run fjall's maintenance.
const RECLAIMED_KEY: &str = "store_reclaimed";

/// The keyspace names (the same trees sled had, so a migration copies entry for entry).
pub(crate) const KEYSPACES: [&str; 5] = ["envelopes", "spaces", "snapshots", "pin_jobs", "meta"];

/// A [`Store`] in a fjall database.
pub struct FjallStore {
    db: Database,
    envelopes: Keyspace,
    spaces: Keyspace,
    snapshots: Keyspace,
    pin_jobs: Keyspace,
    meta: Keyspace,
    /// Serialises "append unless present" (fjall has no compare-and-swap outside
    /// transactions).
    append_lock: Mutex<()>,
    /// Serialises snapshot replacement (ingest, then compact away the old one), apart from
    /// appends, so a compaction never holds up the op log.
    snapshot_lock: Mutex<()>,
}

impl std::fmt::Debug for FjallStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallStore").finish_non_exhaustive()
    }
}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

impl FjallStore {
    /// The end record of `space`'s snapshot, if it is stored in pieces.
    fn snapshot_end(&self, space: &SpaceName) -> Result<Option<End>, StoreError> {
        self.snapshots
            .get(end_key(space))?
            .map(|bytes| End::decode(space, &bytes))
            .transpose()
    }

    /// Opens (or creates) the database in `dir`. Does not migrate a sled store found there:
    /// see [`super::open`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = Database::builder(dir)
            .cache_size(CACHE_BYTES)
            .max_journaling_size(MAX_JOURNAL_BYTES)
            .open()?;
        let keyspace = |name: &str, memtable: u64| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(memtable)
            })
        };
        Ok(FjallStore {
            envelopes: keyspace("envelopes", ENVELOPE_MEMTABLE_BYTES)?,
            spaces: keyspace("spaces", SMALL_MEMTABLE_BYTES)?,
            snapshots: keyspace("snapshots", SNAPSHOT_MEMTABLE_BYTES)?,
            pin_jobs: keyspace("pin_jobs", SMALL_MEMTABLE_BYTES)?,
            meta: keyspace("meta", SMALL_MEMTABLE_BYTES)?,
            db,
            append_lock: Mutex::new(()),
            snapshot_lock: Mutex::new(()),
        })
    }

    /// The keyspace named `name` (one of [`KEYSPACES`]).
    pub(crate) fn keyspace(&self, name: &str) -> Option<&Keyspace> {
        match name {
            "envelopes" => Some(&self.envelopes),
            "spaces" => Some(&self.spaces),
            "snapshots" => Some(&self.snapshots),
            "pin_jobs" => Some(&self.pin_jobs),
            "meta" => Some(&self.meta),
            _ => None,
        }
    }

    /// Takes `lock` (a panic while holding one of these locks leaves nothing half done).
    fn lock(lock: &Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
        lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `space` as holding something (once).
    fn note_space(&self, space: &SpaceName) -> Result<(), StoreError> {
        if !self.spaces.contains_key(space.as_str())? {
            self.spaces.insert(space.as_str(), [])?;
        }
        Ok(())
    }

    /// What the database holds and what it takes on disk: a scan of every keyspace (for
    /// benchmarks and diagnostics, not for a hot path).
    pub fn usage(&self) -> Result<StoreUsage, StoreError> {
        let bytes = |keyspace: &Keyspace| -> Result<u64, StoreError> {
            let mut total = 0;
            for entry in keyspace.iter() {
                let (k, v) = entry.into_inner()?;
                total += (k.len() + v.len()) as u64;
            }
            Ok(total)
        };
        let envelope_bytes = bytes(&self.envelopes)?;
        let snapshot_bytes = bytes(&self.snapshots)?;
        let mut logical_bytes = envelope_bytes + snapshot_bytes;
        for keyspace in [&self.spaces, &self.pin_jobs, &self.meta] {
            logical_bytes += bytes(keyspace)?;
        }
        Ok(StoreUsage {
            logical_bytes,
            envelope_bytes,
            snapshot_bytes,
            disk_bytes: self.db.disk_space()?,
        })
    }

    /// Removes every key of `keys` from the op log in one batch.
    fn remove_envelope_keys(&self, keys: Vec<fjall::UserKey>) -> Result<usize, StoreError> {
        let count = keys.len();
        if count > 0 {
            let mut batch = self.db.batch();
            for key in keys {
                batch.remove(&self.envelopes, key);
            }
            batch.commit()?;
        }
        Ok(count)
    }

    fn keys_in(
        &self,
        range: impl std::ops::RangeBounds<Vec<u8>>,
    ) -> Result<Vec<fjall::UserKey>, StoreError> {
        self.envelopes
            .range(range)
            .map(|guard| Ok(guard.key()?))
            .collect()
    }
}

impl Store for FjallStore {
    fn append_envelope(&self, key: &EnvelopeKey, bytes: &[u8]) -> Result<(), StoreError> {
        let k = envelope_key(&key.space, &key.author, key.last_seq);
        {
            let _guard = Self::lock(&self.append_lock);
            // Keep the first envelope stored under a key (see the trait's contract).
            if !self.envelopes.contains_key(&k)? {
                self.envelopes
                    .insert(k, envelope_value(key.first_seq, bytes))?;
            }
        }
        self.note_space(&key.space)
    }

    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError> {
        let start = envelope_key(space, author, after_seq.saturating_add(1));
        let entries = self
            .envelopes
            .range(start..)
            .map(|guard| guard.into_inner().map_err(StoreError::from));
        take_within_budget(space, author, entries, budget_bytes)
    }

    fn remove_envelopes_below(
        &self,
        space: &SpaceName,
        author: &AgentId,
        first: u64,
    ) -> Result<usize, StoreError> {
        let keys =
            self.keys_in(envelope_key(space, author, 0)..envelope_key(space, author, first))?;
        self.remove_envelope_keys(keys)
    }

    fn remove_envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
    ) -> Result<usize, StoreError> {
        let from = envelope_key(space, author, after_seq.saturating_add(1));
        let to = envelope_key(space, author, u64::MAX);
        let keys = self.keys_in(from..=to)?;
        self.remove_envelope_keys(keys)
    }

    fn scan_envelopes(&self, space: &SpaceName) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError> {
        self.envelopes
            .prefix(envelope_prefix(space, None))
            .map(|guard| {
                let (key, value) = guard.into_inner()?;
                decode_envelope(space, &key, &value)
            })
            .collect()
    }

    fn authors(&self, space: &SpaceName) -> Result<Vec<AgentId>, StoreError> {
        authors_by_seek(space, |at| {
            self.envelopes
                .range(at.to_vec()..)
                .next()
                .map(|guard| guard.key())
                .transpose()
                .map_err(StoreError::from)
        })
    }

    fn heads(&self, space: &SpaceName) -> Result<Vec<(AgentId, u64)>, StoreError> {
        // The last key of each author, found by seeking backwards from past its keys.
        let mut heads = Vec::new();
        for author in self.authors(space)? {
            let from = envelope_key(space, &author, 0);
            let to = envelope_key(space, &author, u64::MAX);
            if let Some(guard) = self.envelopes.range(from..=to).next_back() {
                heads.push(decode_key(space, &guard.key()?)?);
            }
        }
        Ok(heads)
    }

    fn spaces(&self) -> Result<Vec<SpaceName>, StoreError> {
        self.spaces
            .iter()
            .map(|guard| {
                let key = guard.key()?;
                let name = String::from_utf8_lossy(&key).into_owned();
                SpaceName::new(name).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    fn put_snapshot_with(
        &self,
        space: &SpaceName,
        write: &mut SnapshotWrite<'_>,
    ) -> Result<u64, StoreError> {
        let _guard = Self::lock(&self.snapshot_lock);
        let replaced = self.snapshot_end(space)?;
        // A snapshot replaces the previous one whole and can be hundreds of MB: it is ingested
        // as tables of its own, piece by piece as it is encoded (not through the journal, which
        // would hold it until every memtable is flushed), with the deletion of what it replaces;
        // the keyspace is then merged so the replaced one leaves the disk now. (Callers write
        // snapshots off the actor's thread; see `node/actor.rs`.)
        let mut ingestion = self.snapshots.start_ingestion()?;
        ingestion.write_tombstone(space.as_str())?;
        let mut pieces = PieceWriter::new(|index, piece| {
            ingestion.write(piece_key(space, index), piece)?;
            Ok(())
        });
        write(&mut pieces).map_err(|e| StoreError::Write(format!("snapshot of {space}: {e}")))?;
        let end = pieces.finish()?;
        for index in end.pieces..replaced.map_or(0, |r| r.pieces) {
            ingestion.write_tombstone(piece_key(space, index))?;
        }
        ingestion.write(end_key(space), end.encode().to_vec())?;
        ingestion.finish()?;
        if self.snapshots.table_count() > 1 {
            self.snapshots.major_compact()?;
        }
        self.note_space(space)?;
        Ok(end.bytes)
    }

    fn snapshot_reader(&self, space: &SpaceName) -> Result<Option<Box<dyn Read + '_>>, StoreError> {
        let Some(end) = self.snapshot_end(space)? else {
            // Written whole, before pieces.
            return Ok(self
                .snapshots
                .get(space.as_str())?
                .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read>));
        };
        let pieces = self
            .snapshots
            .range(piece_key(space, 0)..piece_key(space, end.pieces))
            .map(move |guard| {
                let (key, bytes) = guard.into_inner()?;
                let index = key
                    .len()
                    .checked_sub(4)
                    .and_then(|at| <[u8; 4]>::try_from(&key[at..]).ok())
                    .map(u32::from_be_bytes)
                    .ok_or_else(|| StoreError::Corrupt("snapshot piece key".into()))?;
                Ok((index, StoredBytes::new(bytes)))
            });
        Ok(Some(Box::new(PieceReader::new(space.clone(), end, pieces))))
    }

    fn put_pin_job(&self, hash: &ContentHash, job: &[u8]) -> Result<(), StoreError> {
        self.pin_jobs.insert(hash.0, job)?;
        Ok(())
    }

    fn remove_pin_job(&self, hash: &ContentHash) -> Result<(), StoreError> {
        self.pin_jobs.remove(hash.0)?;
        Ok(())
    }

    fn pin_jobs(&self) -> Result<Vec<(ContentHash, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for guard in self.pin_jobs.iter() {
            let (key, value) = guard.into_inner()?;
            let hash = <[u8; 32]>::try_from(key.as_ref())
                .map_err(|_| StoreError::Corrupt("pin job key is not a hash".into()))?;
            out.push((ContentHash(hash), value.to_vec()));
        }
        Ok(out)
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(key, value)?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key)?.map(|v| v.to_vec()))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }

    fn reclaim(&self) -> Result<(), StoreError> {
        // Deletes are tombstones: the memtable holding them goes to a table, then every table
        // of the op log is merged into one, dropping what the tombstones shadow.
        // The other memtables go to tables too, so no journal is kept for them.
        for keyspace in [&self.spaces, &self.pin_jobs, &self.meta, &self.envelopes] {
            keyspace.rotate_memtable_and_wait()?;
        }
        self.envelopes.major_compact()?;
        // fjall deletes the tables a compaction replaced, and the journals no memtable needs,
        // in the maintenance that follows a memtable rotation: write one small entry and
        // rotate it away to run that maintenance now.
        self.meta.insert(RECLAIMED_KEY, 1u8.to_be_bytes())?;
        self.meta.rotate_memtable_and_wait()?;
        Ok(())
    }
}
