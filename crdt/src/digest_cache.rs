//! A cached hash of one procedure's state, cleared whenever the state changes.

use std::sync::OnceLock;

/// The blake3 hash of a procedure's canonical encoding, computed on first use after a change.
///
/// Not part of the replicated state: it compares equal to any other cache, is skipped by serde,
/// and is cleared by every mutation of the procedure (see `Space::apply_change`).
#[derive(Debug, Default)]
pub(crate) struct DigestCache(OnceLock<[u8; 32]>);

impl DigestCache {
    /// The cached hash, or `compute()` cached.
    pub(crate) fn get_or_compute(&self, compute: impl FnOnce() -> [u8; 32]) -> [u8; 32] {
        *self.0.get_or_init(compute)
    }

    /// Forgets the cached hash.
    pub(crate) fn clear(&mut self) {
        self.0 = OnceLock::new();
    }
}

impl Clone for DigestCache {
    fn clone(&self) -> Self {
        let cache = OnceLock::new();
        if let Some(hash) = self.0.get() {
            let _ = cache.set(*hash);
        }
        DigestCache(cache)
    }
}

impl PartialEq for DigestCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for DigestCache {}
