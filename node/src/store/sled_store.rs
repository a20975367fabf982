//! The sled backend: the store knack wrote before it moved to fjall, kept to migrate such
//! stores to fjall (`migrate.rs`) and checked against the model like the product's backend.
//!
//! Caveats measured on these machines (shared notes): sled flushes in the background only every
//! 500 ms, so [`Store::flush`] is called before any write is acknowledged; its default cache is
//! 1 GiB, so the capacity is set; one process per database (file lock).

use std::io::Read;
use std::path::Path;

use knack_crdt::{AgentId, ContentHash, SpaceName};

use super::keys::{
    authors_by_seek, decode_envelope, decode_key, envelope_key, envelope_prefix, envelope_value,
    take_within_budget,
};
use super::{EnvelopeKey, SnapshotWrite, Store, StoreError, StoreUsage};

/// Cache of the sled page cache, in bytes.
const SLED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// A [`Store`] in a sled database.
#[derive(Clone, Debug)]
pub struct SledStore {
    db: sled::Db,
    envelopes: sled::Tree,
    spaces: sled::Tree,
    snapshots: sled::Tree,
    pin_jobs: sled::Tree,
    meta: sled::Tree,
}

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(SLED_CACHE_BYTES)
            .mode(sled::Mode::LowSpace)
            .open()?;
        Ok(SledStore {
            envelopes: db.open_tree("envelopes")?,
            spaces: db.open_tree("spaces")?,
            snapshots: db.open_tree("snapshots")?,
            pin_jobs: db.open_tree("pin_jobs")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }
}

impl SledStore {
    /// The tree named `name` (one of the fjall backend's keyspace names).
    pub(crate) fn tree(&self, name: &str) -> Result<&sled::Tree, StoreError> {
        match name {
            "envelopes" => Ok(&self.envelopes),
            "spaces" => Ok(&self.spaces),
            "snapshots" => Ok(&self.snapshots),
            "pin_jobs" => Ok(&self.pin_jobs),
            "meta" => Ok(&self.meta),
            _ => Err(StoreError::Corrupt(format!("no tree {name}"))),
        }
    }

    /// What the database holds and what it takes on disk: a scan of every tree (for
    /// benchmarks and diagnostics, not for a hot path).
    pub fn usage(&self) -> Result<StoreUsage, StoreError> {
        let tree_bytes = |tree: &sled::Tree| -> Result<u64, StoreError> {
            let mut bytes = 0;
            for entry in tree.iter() {
                let (k, v) = entry?;
                bytes += (k.len() + v.len()) as u64;
            }
            Ok(bytes)
        };
        let envelope_bytes = tree_bytes(&self.envelopes)?;
        let snapshot_bytes = tree_bytes(&self.snapshots)?;
        let mut logical_bytes = envelope_bytes + snapshot_bytes;
        for tree in [&self.spaces, &self.pin_jobs, &self.meta] {
            logical_bytes += tree_bytes(tree)?;
        }
        logical_bytes += tree_bytes(&self.db)?;
        Ok(StoreUsage {
            logical_bytes,
            envelope_bytes,
            snapshot_bytes,
            disk_bytes: self.db.size_on_disk()?,
        })
    }
}

impl Store for SledStore {
    fn append_envelope(&self, key: &EnvelopeKey, bytes: &[u8]) -> Result<(), StoreError> {
        let k = envelope_key(&key.space, &key.author, key.last_seq);
        // Keep the first envelope stored under a key (see the trait's contract).
        let _ = self.envelopes.compare_and_swap(
            k,
            None as Option<&[u8]>,
            Some(envelope_value(key.first_seq, bytes)),
        )?;
        self.spaces.insert(key.space.as_str().as_bytes(), &[])?;
        Ok(())
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
            .map(|entry| entry.map_err(StoreError::from));
        take_within_budget(space, author, entries, budget_bytes)
    }

    fn remove_envelopes_below(
        &self,
        space: &SpaceName,
        author: &AgentId,
        first: u64,
    ) -> Result<usize, StoreError> {
        let range = envelope_key(space, author, 0)..envelope_key(space, author, first);
        let mut batch = sled::Batch::default();
        let mut count = 0;
        for key in self.envelopes.range(range).keys() {
            batch.remove(key?);
            count += 1;
        }
        self.envelopes.apply_batch(batch)?;
        Ok(count)
    }

    fn remove_envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
    ) -> Result<usize, StoreError> {
        let from = envelope_key(space, author, after_seq.saturating_add(1));
        let to = envelope_key(space, author, u64::MAX);
        let mut batch = sled::Batch::default();
        let mut count = 0;
        for key in self.envelopes.range(from..=to).keys() {
            batch.remove(key?);
            count += 1;
        }
        self.envelopes.apply_batch(batch)?;
        Ok(count)
    }

    fn scan_envelopes(&self, space: &SpaceName) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError> {
        self.envelopes
            .scan_prefix(envelope_prefix(space, None))
            .map(|entry| {
                let (key, value) = entry?;
                decode_envelope(space, &key, &value)
            })
            .collect()
    }

    fn authors(&self, space: &SpaceName) -> Result<Vec<AgentId>, StoreError> {
        authors_by_seek(space, |at| {
            self.envelopes
                .range(at..)
                .keys()
                .next()
                .transpose()
                .map_err(StoreError::from)
        })
    }

    fn heads(&self, space: &SpaceName) -> Result<Vec<(AgentId, u64)>, StoreError> {
        let mut heads: Vec<(AgentId, u64)> = Vec::new();
        for key in self
            .envelopes
            .scan_prefix(envelope_prefix(space, None))
            .keys()
        {
            let (author, last_seq) = decode_key(space, &key?)?;
            match heads.last_mut() {
                Some((held, last)) if *held == author => *last = last_seq,
                _ => heads.push((author, last_seq)),
            }
        }
        Ok(heads)
    }

    fn spaces(&self) -> Result<Vec<SpaceName>, StoreError> {
        self.spaces
            .iter()
            .keys()
            .map(|key| {
                let key = key?;
                let name = String::from_utf8_lossy(&key).into_owned();
                SpaceName::new(name).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Held whole: sled is kept only to migrate old data directories.
    fn put_snapshot_with(
        &self,
        space: &SpaceName,
        write: &mut SnapshotWrite<'_>,
    ) -> Result<u64, StoreError> {
        let bytes = super::snapshot_whole(space, write)?;
        self.snapshots
            .insert(space.as_str().as_bytes(), &bytes[..])?;
        self.spaces.insert(space.as_str().as_bytes(), &[])?;
        Ok(bytes.len() as u64)
    }

    fn snapshot_reader(&self, space: &SpaceName) -> Result<Option<Box<dyn Read + '_>>, StoreError> {
        Ok(self
            .snapshots
            .get(space.as_str().as_bytes())?
            .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read>))
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
        for entry in self.pin_jobs.iter() {
            let (key, value) = entry?;
            let hash = <[u8; 32]>::try_from(key.as_ref())
                .map_err(|_| StoreError::Corrupt("pin job key is not a hash".into()))?;
            out.push((ContentHash(hash), value.to_vec()));
        }
        Ok(out)
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(key.as_bytes(), value)?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}
