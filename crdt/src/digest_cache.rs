//! A cached hash (or hasher state), cleared whenever what it hashes changes.

use std::sync::OnceLock;

/// A value computed from state on first use after a change: the blake3 hash of a procedure's
/// canonical encoding, or a space's digest hasher past its head (`Space::digest`).
///
/// Not part of the replicated state: it compares equal to any other cache, is skipped by serde,
/// and is cleared by every mutation of what it was computed from (see `Space::apply_change`).
#[derive(Debug)]
pub(crate) struct DigestCache<T = [u8; 32]>(OnceLock<T>);

impl<T> Default for DigestCache<T> {
    fn default() -> Self {
        DigestCache(OnceLock::new())
    }
}

impl<T> DigestCache<T> {
    /// The cached value, computed by `compute` if there is none.
    pub(crate) fn get_or_compute(&self, compute: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(compute)
    }

    /// Forgets the cached value.
    pub(crate) fn clear(&mut self) {
        self.0 = OnceLock::new();
    }
}

impl<T: Clone> Clone for DigestCache<T> {
    fn clone(&self) -> Self {
        let cache = OnceLock::new();
        if let Some(value) = self.0.get() {
            let _ = cache.set(value.clone());
        }
        DigestCache(cache)
    }
}

impl<T> PartialEq for DigestCache<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for DigestCache<T> {}
