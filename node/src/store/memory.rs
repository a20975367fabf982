//! The in-memory backend: for tests, and the model the sled backend is checked against.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use knack_crdt::{AgentId, ContentHash, SpaceName};

use super::keys::{
    decode_envelope, envelope_key, envelope_prefix, envelope_value, take_within_budget,
};
use std::io::Read;

use super::{EnvelopeKey, SnapshotWrite, Store, StoreError};

/// A [`Store`] in memory (nothing survives the process).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    envelopes: BTreeMap<Vec<u8>, Vec<u8>>,
    spaces: BTreeMap<SpaceName, ()>,
    snapshots: BTreeMap<SpaceName, Vec<u8>>,
    pin_jobs: BTreeMap<ContentHash, Vec<u8>>,
    meta: BTreeMap<String, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps in a consistent state: recover.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemoryStore {
    fn append_envelope(&self, key: &EnvelopeKey, bytes: &[u8]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner
            .envelopes
            .entry(envelope_key(&key.space, &key.author, key.last_seq))
            .or_insert_with(|| envelope_value(key.first_seq, bytes));
        inner.spaces.insert(key.space.clone(), ());
        Ok(())
    }

    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError> {
        let inner = self.lock();
        let start = envelope_key(space, author, after_seq.saturating_add(1));
        let entries = inner.envelopes.range(start..).map(Ok);
        take_within_budget(space, author, entries, budget_bytes)
    }

    fn remove_envelopes_below(
        &self,
        space: &SpaceName,
        author: &AgentId,
        first: u64,
    ) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let range = envelope_key(space, author, 0)..envelope_key(space, author, first);
        let keys: Vec<Vec<u8>> = inner
            .envelopes
            .range(range)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &keys {
            inner.envelopes.remove(key);
        }
        Ok(keys.len())
    }

    fn remove_envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
    ) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let from = envelope_key(space, author, after_seq.saturating_add(1));
        let to = envelope_key(space, author, u64::MAX);
        let keys: Vec<Vec<u8>> = inner
            .envelopes
            .range(from..=to)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &keys {
            inner.envelopes.remove(key);
        }
        Ok(keys.len())
    }

    fn scan_envelopes(&self, space: &SpaceName) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError> {
        let inner = self.lock();
        let prefix = envelope_prefix(space, None);
        inner
            .envelopes
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, value)| decode_envelope(space, key, value))
            .collect()
    }

    fn heads(&self, space: &SpaceName) -> Result<Vec<(AgentId, u64)>, StoreError> {
        let mut heads: Vec<(AgentId, u64)> = Vec::new();
        for (key, _) in self.scan_envelopes(space)? {
            match heads.last_mut() {
                Some((author, last)) if *author == key.author => *last = key.last_seq,
                _ => heads.push((key.author, key.last_seq)),
            }
        }
        Ok(heads)
    }

    fn spaces(&self) -> Result<Vec<SpaceName>, StoreError> {
        Ok(self.lock().spaces.keys().cloned().collect())
    }

    /// Held whole: this store serves tests.
    fn put_snapshot_with(
        &self,
        space: &SpaceName,
        write: &mut SnapshotWrite<'_>,
    ) -> Result<u64, StoreError> {
        let bytes = super::snapshot_whole(space, write)?;
        let len = bytes.len() as u64;
        let mut inner = self.lock();
        inner.snapshots.insert(space.clone(), bytes);
        inner.spaces.insert(space.clone(), ());
        Ok(len)
    }

    fn snapshot_reader(&self, space: &SpaceName) -> Result<Option<Box<dyn Read + '_>>, StoreError> {
        Ok(self
            .lock()
            .snapshots
            .get(space)
            .cloned()
            .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read>))
    }

    fn put_pin_job(&self, hash: &ContentHash, job: &[u8]) -> Result<(), StoreError> {
        self.lock().pin_jobs.insert(*hash, job.to_vec());
        Ok(())
    }

    fn remove_pin_job(&self, hash: &ContentHash) -> Result<(), StoreError> {
        self.lock().pin_jobs.remove(hash);
        Ok(())
    }

    fn pin_jobs(&self) -> Result<Vec<(ContentHash, Vec<u8>)>, StoreError> {
        Ok(self
            .lock()
            .pin_jobs
            .iter()
            .map(|(h, j)| (*h, j.clone()))
            .collect())
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.lock().meta.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().meta.get(key).cloned())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        0
    }
}
