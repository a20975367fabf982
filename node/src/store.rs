//! Where a node keeps what must survive a restart: per-author op logs (as the signed envelopes
//! that carried them), space snapshots, small blobs and node metadata.
//!
//! The [`Store`] trait is small on purpose: the fjall backend is the product's
//! (opened with [`open`], which migrates a sled store written before knack moved to fjall),
//! the in-memory one serves tests and the model check that holds the disk backends to the
//! same behaviour, reboots included.

mod fjall_store;
pub mod integrity;
mod keys;
mod memory;
pub mod migrate;
mod pieces;
mod sled_store;

use std::io::{Read, Write};

use knack_crdt::{AgentId, ContentHash, SpaceName};
use thiserror::Error;

pub use fjall_store::FjallStore;
pub use memory::MemoryStore;
pub use migrate::open;
pub use sled_store::SledStore;

/// What writes a snapshot into the writer a store gives it (see [`Store::put_snapshot_with`]).
pub type SnapshotWrite<'a> = dyn FnMut(&mut dyn Write) -> std::io::Result<()> + 'a;

/// The bytes `write` writes, held whole: for the stores that keep a snapshot as one value
/// (the in-memory one, and sled, which only migrations read).
fn snapshot_whole(space: &SpaceName, write: &mut SnapshotWrite<'_>) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    write(&mut bytes).map_err(|e| StoreError::Write(format!("snapshot of {space}: {e}")))?;
    Ok(bytes)
}

/// A value as a store engine holds it (a fjall or sled slice, or a vector), read without a
/// copy.
pub struct StoredBytes(Box<dyn AsRef<[u8]> + Send + Sync>);

impl StoredBytes {
    /// Wraps an engine's value.
    pub fn new(bytes: impl AsRef<[u8]> + Send + Sync + 'static) -> Self {
        StoredBytes(Box::new(bytes))
    }
}

impl std::ops::Deref for StoredBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl std::fmt::Debug for StoredBytes {
    /// As the bytes themselves (`[1, 2, ...]`), whatever engine holds them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// What a disk store holds, against what it takes on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// Bytes of the keys and values it holds, as written.
    pub logical_bytes: u64,
    /// Envelope bytes among them (op-log tail and checkpoint runs).
    pub envelope_bytes: u64,
    /// Snapshot bytes among them.
    pub snapshot_bytes: u64,
    /// Bytes its files take on disk.
    pub disk_bytes: u64,
}

impl StoreUsage {
    /// Disk bytes per logical byte: the engine's space amplification.
    pub fn amplification(&self) -> f64 {
        self.disk_bytes as f64 / self.logical_bytes.max(1) as f64
    }
}

/// Which ops an envelope holds: `first_seq..=last_seq` of `author` in `space`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvelopeKey {
    /// The space.
    pub space: SpaceName,
    /// The author.
    pub author: AgentId,
    /// The first sequence number in the envelope.
    pub first_seq: u64,
    /// The last sequence number in the envelope.
    pub last_seq: u64,
}

/// A storage failure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The sled database (a store written before knack moved to fjall, being migrated) failed.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// The storage engine (fjall) failed.
    #[error("store engine: {0}")]
    Engine(String),
    /// A write or flush that did not complete (the store is unusable until it is fixed).
    #[error("store write failed: {0}")]
    Write(String),
    /// Stored bytes that do not decode (a corrupt or foreign database).
    #[error("corrupt store entry: {0}")]
    Corrupt(String),
}

/// Durable storage of a node. Writes become durable at [`Store::flush`]; a node answers a
/// recording call only after the flush that covers it.
pub trait Store: Send + Sync + 'static {
    /// Adds an encoded envelope. Idempotent; an envelope whose key is already stored is kept as
    /// first stored (an author who signs two different envelopes for the same ops gains
    /// nothing).
    fn append_envelope(&self, key: &EnvelopeKey, bytes: &[u8]) -> Result<(), StoreError>;

    /// The envelopes of `author` in `space` holding ops after `after_seq`, in sequence order,
    /// until `budget_bytes` is spent (always at least one when there is one).
    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError>;

    /// Deletes the envelopes of `author` in `space` whose ops all precede `first`: what a node
    /// does once it holds a whole checkpoint run of that author starting at `first`, which
    /// restates them. Returns how many were deleted (durable at the next flush).
    fn remove_envelopes_below(
        &self,
        space: &SpaceName,
        author: &AgentId,
        first: u64,
    ) -> Result<usize, StoreError>;

    /// Deletes the envelopes of `author` in `space` holding any op after `after_seq`: what a
    /// node does when a removed member's ops past its cutoff must go (see `node/actor/
    /// members.rs`). Returns how many were deleted (durable at the next flush).
    fn remove_envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
    ) -> Result<usize, StoreError>;

    /// Every envelope of `space`, by author then sequence: what a restart replays.
    fn scan_envelopes(&self, space: &SpaceName) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError>;

    /// The authors with envelopes stored in `space`, in order (without reading the envelopes).
    fn authors(&self, space: &SpaceName) -> Result<Vec<AgentId>, StoreError> {
        Ok(self
            .heads(space)?
            .into_iter()
            .map(|(author, _)| author)
            .collect())
    }

    /// The highest stored `last_seq` of each author in `space`.
    fn heads(&self, space: &SpaceName) -> Result<Vec<(AgentId, u64)>, StoreError>;

    /// The spaces with anything stored.
    fn spaces(&self) -> Result<Vec<SpaceName>, StoreError>;

    /// Replaces the snapshot of `space` with the bytes `write` writes, stored as they come
    /// (the fjall store keeps them in pieces: a snapshot is ~200 MB at 100k procedures, and
    /// holding it whole while writing doubled the node's memory for a moment). Returns how
    /// many bytes were written. If `write` fails, the previous snapshot stays.
    fn put_snapshot_with(
        &self,
        space: &SpaceName,
        write: &mut SnapshotWrite<'_>,
    ) -> Result<u64, StoreError>;

    /// The snapshot of `space`, if any, as a reader over what the engine holds (the fjall
    /// store reads it piece by piece: it is never held whole).
    fn snapshot_reader(&self, space: &SpaceName) -> Result<Option<Box<dyn Read + '_>>, StoreError>;

    /// Replaces the snapshot of `space` with `bytes`.
    fn put_snapshot(&self, space: &SpaceName, bytes: &[u8]) -> Result<(), StoreError> {
        self.put_snapshot_with(space, &mut |w| w.write_all(bytes))
            .map(|_| ())
    }

    /// The snapshot of `space`, if any, read whole (tests and tools; the node reads it with
    /// [`Store::snapshot_reader`]).
    fn snapshot(&self, space: &SpaceName) -> Result<Option<StoredBytes>, StoreError> {
        let Some(mut reader) = self.snapshot_reader(space)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some(StoredBytes::new(bytes)))
    }

    /// Stores (or replaces) the IPFS pin job of the body `hash`.
    fn put_pin_job(&self, hash: &ContentHash, job: &[u8]) -> Result<(), StoreError>;

    /// Removes the pin job of `hash` (done).
    fn remove_pin_job(&self, hash: &ContentHash) -> Result<(), StoreError>;

    /// Every pin job, by hash.
    fn pin_jobs(&self) -> Result<Vec<(ContentHash, Vec<u8>)>, StoreError>;

    /// Sets a metadata value.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// A metadata value.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Makes every earlier write durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// Bytes used on disk (0 for memory).
    fn size_on_disk(&self) -> u64;

    /// Gives back the disk space of deleted envelopes now rather than at the engine's next
    /// compaction: what a node does, off the actor, after deleting many envelopes (the ones a
    /// checkpoint run restates). Slow (it may rewrite the op log); a no-op where there is
    /// nothing to give back.
    fn reclaim(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
